"""Lists, folders and attributes as Brevo's REST v3 handles them (/v3/contacts/lists ...)."""

from __future__ import annotations

from typing import Any

from sandbox.brevo_contacts import contact_view, since_filter
from sandbox.brevo_rules import (
    ATTRIBUTE_TYPES,
    BrevoError,
    check_attribute_name,
    check_page,
    check_sort,
    duplicate,
    invalid,
    missing,
    normalize_email,
    not_found,
)
from sandbox.brevo_store import Tx

LIST_ADD_MAX = 150


def require_list(tx: Tx, list_id: int) -> Any:
    """The list row, or 404 'List ID does not exist'."""
    row = tx.one("SELECT * FROM lists WHERE id = ?", list_id)
    if row is None:
        raise not_found("List ID does not exist")
    return row


def _counts(tx: Tx, where: str, key: int) -> dict[str, int]:
    row = tx.one(
        "SELECT COUNT(DISTINCT c.id) AS total,"
        " COALESCE(SUM(c.email_blacklisted), 0) AS blacklisted "
        f"FROM memberships m JOIN contacts c ON c.id = m.contact_id WHERE {where}",
        key,
    )
    total = int(row["total"]) if row else 0
    blacklisted = int(row["blacklisted"]) if row else 0
    return {
        "uniqueSubscribers": total,
        "totalBlacklisted": blacklisted,
        "totalSubscribers": total - blacklisted,
    }


def list_view(tx: Tx, row: Any) -> dict[str, Any]:
    """A list in Brevo's GET /contacts/lists shape."""
    base = {"id": row["id"], "name": row["name"], "folderId": row["folder_id"]}
    return base | _counts(tx, "m.list_id = ?", row["id"])


def get_lists(tx: Tx, limit: int = 10, offset: int = 0, sort: str = "desc") -> dict[str, Any]:
    """GET /contacts/lists: {'lists': [...], 'count': N}."""
    check_page(limit, offset, 50)
    order = "DESC" if check_sort(sort) else "ASC"
    rows = tx.all(f"SELECT * FROM lists ORDER BY id {order} LIMIT ? OFFSET ?", limit, offset)
    count = tx.scalar("SELECT COUNT(*) FROM lists")
    return {"lists": [list_view(tx, row) for row in rows], "count": count}


def get_list(tx: Tx, list_id: int) -> dict[str, Any]:
    """GET /contacts/lists/{listId}."""
    row = require_list(tx, list_id)
    details = {"createdAt": row["created_at"], "campaignStats": [], "dynamicList": False}
    return list_view(tx, row) | details


def create_list(tx: Tx, name: str, folder_id: int | None) -> dict[str, Any]:
    """POST /contacts/lists {name, folderId}: {'id': N}."""
    if not name or not name.strip():
        raise missing("name is required")
    if folder_id is None:
        raise missing(
            "folderId is required: every list lives in a folder (id 1 is 'Your first folder')"
        )
    if tx.one("SELECT 1 FROM folders WHERE id = ?", folder_id) is None:
        raise not_found("Folder ID does not exist")
    list_id = tx.run(
        "INSERT INTO lists (name, folder_id, created_at) VALUES (?, ?, ?)",
        name.strip(),
        folder_id,
        tx.stamp,
    )
    return {"id": list_id}


def get_contacts_from_list(
    tx: Tx,
    list_id: int,
    limit: int = 50,
    offset: int = 0,
    sort: str = "desc",
    modified_since: str | None = None,
) -> dict[str, Any]:
    """GET /contacts/lists/{listId}/contacts: {'contacts': [...], 'count': N}."""
    require_list(tx, list_id)
    check_page(limit, offset, 500)
    where, params = since_filter(modified_since, None)
    order = "DESC" if check_sort(sort) else "ASC"
    members = (
        f"FROM contacts c JOIN memberships m ON m.contact_id = c.id WHERE m.list_id = ? AND {where}"
    )
    count = tx.scalar(f"SELECT COUNT(*) {members}", list_id, *params)
    rows = tx.all(
        f"SELECT c.* {members} ORDER BY c.id {order} LIMIT ? OFFSET ?",
        list_id,
        *params,
        limit,
        offset,
    )
    return {"contacts": [contact_view(tx, row) for row in rows], "count": count}


def _targets(emails: list[str] | None, ids: list[int] | None) -> list[str | int]:
    if emails and ids:
        raise invalid("Send either emails or ids, not both")
    targets: list[str | int] = list(emails or []) or list(ids or [])
    if not targets:
        raise missing("emails or ids is required")
    if len(targets) > LIST_ADD_MAX:
        raise invalid(f"You can add or remove at most {LIST_ADD_MAX} contacts per request")
    return targets


def _contact_id(tx: Tx, target: str | int) -> int | None:
    if isinstance(target, int):
        return int(tx.scalar("SELECT id FROM contacts WHERE id = ?", target) or 0) or None
    try:
        email = normalize_email(target)
    except BrevoError:  # an invalid address is a 'failure' entry, as Brevo reports it
        return None
    return tx.scalar("SELECT id FROM contacts WHERE email = ?", email)


def add_contacts(
    tx: Tx, list_id: int, emails: list[str] | None, ids: list[int] | None
) -> dict[str, Any]:
    """POST /contacts/lists/{id}/contacts/add: {'contacts': {'success': [..], 'failure': [..]}}."""
    require_list(tx, list_id)
    success: list[str | int] = []
    failure: list[str | int] = []
    for target in _targets(emails, ids):
        contact_id = _contact_id(tx, target)
        member = contact_id and tx.one(
            "SELECT 1 FROM memberships WHERE list_id = ? AND contact_id = ?", list_id, contact_id
        )
        if contact_id is None or member:
            failure.append(target)
            continue
        tx.run("INSERT INTO memberships (list_id, contact_id) VALUES (?, ?)", list_id, contact_id)
        success.append(target)
    if not success:
        raise invalid("Contact already in list and/or does not exist")
    return {"contacts": {"success": success, "failure": failure}}


def remove_contacts(
    tx: Tx, list_id: int, emails: list[str] | None, ids: list[int] | None, remove_all: bool
) -> dict[str, Any]:
    """POST /contacts/lists/{id}/contacts/remove: success/failure lists, or {'total': N} for all."""
    require_list(tx, list_id)
    if remove_all:
        total = tx.scalar("SELECT COUNT(*) FROM memberships WHERE list_id = ?", list_id)
        tx.run("DELETE FROM memberships WHERE list_id = ?", list_id)
        return {"contacts": {"total": total}}
    success: list[str | int] = []
    failure: list[str | int] = []
    for target in _targets(emails, ids):
        contact_id = _contact_id(tx, target)
        removed = (
            contact_id
            and tx.conn.execute(
                "DELETE FROM memberships WHERE list_id = ? AND contact_id = ?",
                (list_id, contact_id),
            ).rowcount
        )
        (success if removed else failure).append(target)
    if not success:
        raise invalid("Contact does not exist and/or is not in the list")
    return {"contacts": {"success": success, "failure": failure}}


def get_folders(tx: Tx, limit: int = 10, offset: int = 0, sort: str = "desc") -> dict[str, Any]:
    """GET /contacts/folders: {'folders': [...], 'count': N}."""
    check_page(limit, offset, 50)
    order = "DESC" if check_sort(sort) else "ASC"
    rows = tx.all(f"SELECT * FROM folders ORDER BY id {order} LIMIT ? OFFSET ?", limit, offset)
    folders = [
        {"id": row["id"], "name": row["name"]}
        | _counts(tx, "m.list_id IN (SELECT id FROM lists WHERE folder_id = ?)", row["id"])
        for row in rows
    ]
    return {"folders": folders, "count": tx.scalar("SELECT COUNT(*) FROM folders")}


def create_folder(tx: Tx, name: str) -> dict[str, Any]:
    """POST /contacts/folders {name}: {'id': N}."""
    if not name or not name.strip():
        raise missing("name is required")
    return {"id": tx.run("INSERT INTO folders (name) VALUES (?)", name.strip())}


def get_attributes(tx: Tx) -> dict[str, Any]:
    """GET /contacts/attributes: {'attributes': [{'name', 'category', 'type'}]}."""
    rows = tx.all("SELECT name, category, type FROM attributes ORDER BY position")
    return {"attributes": [dict(row) for row in rows]}


def create_attribute(tx: Tx, category: str, name: str, kind: str) -> dict[str, Any]:
    """POST /contacts/attributes/{category}/{name} {type}: 201 without a body."""
    if category != "normal":
        raise invalid(f"attributeCategory '{category}' is not supported here: use 'normal'")
    if kind not in ATTRIBUTE_TYPES:
        raise invalid(f"type should be one of {', '.join(ATTRIBUTE_TYPES)}")
    upper = check_attribute_name(name)
    if upper == "EMAIL" or tx.one("SELECT 1 FROM attributes WHERE name = ?", upper):
        raise duplicate(f"Attribute '{upper}' already exists")
    position = tx.scalar("SELECT COALESCE(MAX(position), -1) + 1 FROM attributes")
    tx.run(
        "INSERT INTO attributes (name, category, type, position) VALUES (?, ?, ?, ?)",
        upper,
        category,
        kind,
        position,
    )
    return {
        "status": 201,
        "created": True,
        "attributeName": upper,
        "attributeCategory": category,
        "type": kind,
    }
