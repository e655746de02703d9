"""Contact operations as Brevo's REST v3 performs them (/v3/contacts...), over a `Tx`.

Choices where Brevo is vague: attribute names are matched case-insensitively and stored
upper-case; EMAIL inside attributes is rejected on create (use `email`) and changes the
email on update (Brevo's documented way); SMS is stored as '+<digits>'.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sandbox.brevo_rules import (
    IDENTIFIER_TYPES,
    BrevoError,
    check_attribute,
    check_page,
    check_sort,
    duplicate,
    guess_identifier_type,
    invalid,
    missing,
    normalize_email,
    normalize_phone,
    not_found,
    parse_datetime,
)
from sandbox.brevo_store import Tx, dumps, iso, loads

UNIQUE_LABELS = {"email": "email", "ext_id": "ext_id", "sms": "SMS"}
BATCH_MAX = 100
PHONE_ATTRIBUTES = {
    "phone_id": "SMS",
    "whatsapp_id": "WHATSAPP",
    "landline_number_id": "LANDLINE_NUMBER",
}


@dataclass
class ContactChanges:
    """What a create/update request changes: columns, other attributes, list links."""

    columns: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    list_ids: list[int] = field(default_factory=list)
    unlink_list_ids: list[int] = field(default_factory=list)


def parse_changes(tx: Tx, request: Mapping[str, Any], *, updating: bool) -> ContactChanges:
    """Validate a contact request body (REST v3 field names) into changes."""
    changes = ContactChanges(
        list_ids=list(request.get("listIds") or []),
        unlink_list_ids=list(request.get("unlinkListIds") or []),
    )
    if request.get("email") is not None:
        changes.columns["email"] = normalize_email(request["email"])
    if request.get("ext_id") is not None:
        changes.columns["ext_id"] = str(request["ext_id"])
    for flag, column in (
        ("emailBlacklisted", "email_blacklisted"),
        ("smsBlacklisted", "sms_blacklisted"),
    ):
        if request.get(flag) is not None:
            changes.columns[column] = bool(request[flag])
    attributes = request.get("attributes") or {}
    if not isinstance(attributes, Mapping):
        raise invalid("attributes should be an object of UPPERCASE attribute names to values")
    for name, value in attributes.items():
        _parse_attribute(tx, changes, str(name).upper(), value, updating=updating)
    require_lists(tx, changes.list_ids + changes.unlink_list_ids)
    return changes


def _parse_attribute(
    tx: Tx, changes: ContactChanges, name: str, value: Any, *, updating: bool
) -> None:
    if name == "EMAIL":
        if not updating:
            raise invalid(
                "EMAIL cannot be set inside attributes when creating a contact: use 'email'"
            )
        changes.columns["email"] = normalize_email(check_attribute(name, "text", value))
        return
    kind = tx.scalar("SELECT type FROM attributes WHERE name = ?", name)
    if kind is None:
        raise invalid(
            f"Attribute '{name}' does not exist: create it first (create_attribute) or leave it out"
        )
    value = check_attribute(name, kind, value)
    if name == "SMS":
        changes.columns["sms"] = normalize_phone(value) if value else None
    elif name == "EXT_ID":
        changes.columns.setdefault("ext_id", value or None)
    else:
        changes.attributes[name] = None if value == "" else value


def require_lists(tx: Tx, list_ids: Iterable[int]) -> None:
    """404 unless every list exists."""
    for list_id in list_ids:
        if tx.one("SELECT 1 FROM lists WHERE id = ?", list_id) is None:
            raise not_found("List ID does not exist")


def check_unique(tx: Tx, columns: Mapping[str, Any], contact_id: int | None, verb: str) -> None:
    """duplicate_parameter when an email, ext_id or SMS belongs to another contact."""
    for column, label in UNIQUE_LABELS.items():
        value = columns.get(column)
        if value is None:
            continue
        sql = f"SELECT id FROM contacts WHERE {column} = ? AND id IS NOT ?"
        if tx.one(sql, value, contact_id) is not None:
            raise duplicate(
                f"Unable to {verb} contact, {label} is already associated with another Contact",
                label,
            )


def find_contact(tx: Tx, identifier: str, identifier_type: str | None = None) -> Any:
    """The contact row for an identifier (Brevo's identifierType values), or None."""
    kind = identifier_type or guess_identifier_type(identifier)
    if kind not in IDENTIFIER_TYPES:
        raise invalid(f"identifierType should be one of {', '.join(IDENTIFIER_TYPES)}")
    if kind == "contact_id":
        return (
            tx.one("SELECT * FROM contacts WHERE id = ?", int(identifier))
            if identifier.isdigit()
            else None
        )
    if kind == "email_id":
        return tx.one("SELECT * FROM contacts WHERE email = ?", identifier.strip().lower())
    if kind == "ext_id":
        return tx.one("SELECT * FROM contacts WHERE ext_id = ?", identifier)
    digits = identifier.strip().removeprefix("+").removeprefix("00")
    if kind == "phone_id":
        return tx.one("SELECT * FROM contacts WHERE sms = ?", "+" + digits)
    path = "$." + PHONE_ATTRIBUTES[kind]
    return tx.one(
        "SELECT * FROM contacts WHERE json_extract(attributes, ?) IN (?, ?)",
        path,
        identifier,
        "+" + digits,
    )


def require_contact(tx: Tx, identifier: str, identifier_type: str | None = None) -> Any:
    """The contact row, or 404 'Contact does not exist'."""
    row = find_contact(tx, str(identifier), identifier_type)
    if row is None:
        raise not_found("Contact does not exist")
    return row


def contact_view(tx: Tx, row: Any) -> dict[str, Any]:
    """A contact in Brevo's response shape."""
    attributes = loads(row["attributes"])
    if row["sms"]:
        attributes["SMS"] = row["sms"]
    if row["ext_id"]:
        attributes["EXT_ID"] = row["ext_id"]
    list_ids = [
        r[0]
        for r in tx.all(
            "SELECT list_id FROM memberships WHERE contact_id = ? ORDER BY list_id", row["id"]
        )
    ]
    view = {
        "email": row["email"],
        "id": row["id"],
        "emailBlacklisted": bool(row["email_blacklisted"]),
        "smsBlacklisted": bool(row["sms_blacklisted"]),
        "createdAt": row["created_at"],
        "modifiedAt": row["modified_at"],
        "listIds": list_ids,
        "attributes": dict(sorted(attributes.items())),
    }
    if row["email"] is None:
        del view["email"]
    return view


def insert_contact(tx: Tx, changes: ContactChanges) -> int:
    """Insert a new contact and link its lists; returns its id."""
    columns = {
        "email": None,
        "ext_id": None,
        "sms": None,
        "email_blacklisted": False,
        "sms_blacklisted": False,
    }
    columns |= changes.columns
    if not (columns["email"] or columns["ext_id"] or columns["sms"]):
        raise missing("An email, an ext_id or the SMS attribute is required to create a contact")
    attributes = {k: v for k, v in changes.attributes.items() if v is not None}
    contact_id = tx.run(
        "INSERT INTO contacts (email, ext_id, sms, attributes, email_blacklisted, sms_blacklisted,"
        " created_at, modified_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        columns["email"], columns["ext_id"], columns["sms"], dumps(attributes),
        columns["email_blacklisted"], columns["sms_blacklisted"], tx.stamp, tx.stamp,
    )  # fmt: skip
    link_lists(tx, contact_id, changes.list_ids)
    return contact_id


def apply_changes(tx: Tx, row: Any, changes: ContactChanges) -> None:
    """Update an existing contact: columns, merged attributes, list links, modifiedAt."""
    attributes = loads(row["attributes"])
    for name, value in changes.attributes.items():
        if value is None:
            attributes.pop(name, None)
        else:
            attributes[name] = value
    columns = {**changes.columns, "attributes": dumps(attributes), "modified_at": tx.stamp}
    assignments = ", ".join(f"{column} = ?" for column in columns)
    tx.run(f"UPDATE contacts SET {assignments} WHERE id = ?", *columns.values(), row["id"])
    link_lists(tx, row["id"], changes.list_ids)
    placeholders = ", ".join("?" for _ in changes.unlink_list_ids)
    if placeholders:
        tx.run(
            f"DELETE FROM memberships WHERE contact_id = ? AND list_id IN ({placeholders})",
            row["id"], *changes.unlink_list_ids,
        )  # fmt: skip


def link_lists(tx: Tx, contact_id: int, list_ids: Iterable[int]) -> None:
    """Add a contact to lists (already a member is fine)."""
    for list_id in list_ids:
        tx.run(
            "INSERT OR IGNORE INTO memberships (list_id, contact_id) VALUES (?, ?)",
            list_id,
            contact_id,
        )


def create_contact(tx: Tx, request: Mapping[str, Any]) -> dict[str, Any]:
    """POST /contacts: {'id': N} if created, {'status': 204, 'updated': True, 'id': N} if not."""
    changes = parse_changes(tx, request, updating=False)
    existing = None
    if request.get("updateEnabled"):
        for column in ("email", "ext_id"):
            if existing is None and changes.columns.get(column) is not None:
                existing = tx.one(
                    f"SELECT * FROM contacts WHERE {column} = ?", changes.columns[column]
                )
    if existing is None:
        check_unique(tx, changes.columns, None, "create")
        return {"id": insert_contact(tx, changes)}
    check_unique(tx, changes.columns, existing["id"], "update")
    apply_changes(tx, existing, changes)
    return {"status": 204, "updated": True, "id": existing["id"]}


def update_contact(
    tx: Tx, identifier: str, identifier_type: str | None, request: Mapping[str, Any]
) -> dict[str, Any]:
    """PUT /contacts/{identifier}: {'status': 204, 'updated': True, 'id': N}."""
    row = require_contact(tx, identifier, identifier_type)
    changes = parse_changes(tx, request, updating=True)
    check_unique(tx, changes.columns, row["id"], "update")
    apply_changes(tx, row, changes)
    return {"status": 204, "updated": True, "id": row["id"]}


def delete_contact(tx: Tx, identifier: str, identifier_type: str | None) -> dict[str, Any]:
    """DELETE /contacts/{identifier}: {'status': 204, 'deleted': True, 'id': N}."""
    row = require_contact(tx, identifier, identifier_type)
    tx.run("DELETE FROM contacts WHERE id = ?", row["id"])
    return {"status": 204, "deleted": True, "id": row["id"]}


def update_batch(tx: Tx, contacts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """POST /contacts/batch: all or nothing; {'status': 204, 'updated': N}."""
    if not contacts:
        raise missing("contacts is required: a list of 1 to 100 contacts")
    if len(contacts) > BATCH_MAX:
        raise invalid(f"A batch can update at most {BATCH_MAX} contacts")
    for index, item in enumerate(contacts):
        try:
            update_contact(tx, *_batch_identifier(item), item)
        except BrevoError as exc:
            raise BrevoError(
                exc.status, exc.code, f"contacts[{index}]: {exc.message}", **exc.extra
            ) from exc
    return {"status": 204, "updated": len(contacts)}


def _batch_identifier(item: Mapping[str, Any]) -> tuple[str, str]:
    for key, kind in (
        ("id", "contact_id"),
        ("email", "email_id"),
        ("ext_id", "ext_id"),
        ("sms", "phone_id"),
    ):
        if item.get(key) not in (None, ""):
            return str(item[key]), kind
    raise missing("Each contact needs one of id, email, ext_id or sms")


def get_contact(tx: Tx, identifier: str, identifier_type: str | None) -> dict[str, Any]:
    """GET /contacts/{identifier}."""
    row = require_contact(tx, identifier, identifier_type)
    return contact_view(tx, row) | {"listUnsubscribed": [], "statistics": {}}


def get_contacts(
    tx: Tx,
    limit: int = 50,
    offset: int = 0,
    sort: str = "desc",
    modified_since: str | None = None,
    created_since: str | None = None,
) -> dict[str, Any]:
    """GET /contacts: {'contacts': [...], 'count': total matching}."""
    check_page(limit, offset, 1000)
    where, params = since_filter(modified_since, created_since)
    order = "DESC" if check_sort(sort) else "ASC"
    count = tx.scalar(f"SELECT COUNT(*) FROM contacts c WHERE {where}", *params)
    rows = tx.all(
        f"SELECT * FROM contacts c WHERE {where} ORDER BY id {order} LIMIT ? OFFSET ?",
        *params,
        limit,
        offset,
    )
    return {"contacts": [contact_view(tx, row) for row in rows], "count": count}


def since_filter(modified_since: str | None, created_since: str | None) -> tuple[str, list[Any]]:
    """SQL for the modifiedSince/createdSince filters on table alias 'c'."""
    clauses, params = ["1 = 1"], []
    if modified_since:
        clauses.append("c.modified_at >= ?")
        params.append(iso(parse_datetime(modified_since, "modifiedSince")))
    if created_since:
        clauses.append("c.created_at >= ?")
        params.append(iso(parse_datetime(created_since, "createdSince")))
    return " AND ".join(clauses), params
