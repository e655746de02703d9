"""Events (POST and GET /v3/events) and email campaigns (/v3/emailCampaigns) over a `Tx`.

Events: the contact is found through `identifiers`; an unknown email_id, ext_id or
phone_id creates the contact (as Brevo's event tracking does), an unknown contact_id is
404. contact_properties are validated and saved like contact attributes.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time
from typing import Any

from sandbox.brevo_contacts import (
    apply_changes,
    check_unique,
    find_contact,
    insert_contact,
    parse_changes,
    require_lists,
)
from sandbox.brevo_rules import (
    IDENTIFIER_TYPES,
    check_event_name,
    check_page,
    check_sort,
    invalid,
    missing,
    normalize_email,
    not_found,
    parse_datetime,
)
from sandbox.brevo_store import Tx, dumps, iso, loads

CREATING_IDENTIFIERS = {"email_id": "email", "ext_id": "ext_id", "phone_id": "SMS"}
CAMPAIGN_STATUSES = ("draft", "sent", "archive", "queued", "suspended", "in_process")


def create_event(tx: Tx, request: Mapping[str, Any]) -> dict[str, Any]:
    """POST /events: 204; the result is {'status': 204, 'accepted': True}."""
    name = check_event_name(str(request.get("event_name") or ""))
    identifiers = {
        k: v for k, v in (request.get("identifiers") or {}).items() if v not in (None, "")
    }
    unknown = sorted(set(identifiers) - set(IDENTIFIER_TYPES))
    if unknown:
        raise invalid(f"Unknown identifier '{unknown[0]}': use {', '.join(IDENTIFIER_TYPES)}")
    if not identifiers:
        raise missing(f"identifiers needs at least one of {', '.join(IDENTIFIER_TYPES)}")
    when = request.get("event_date")
    event_date = iso(parse_datetime(when, "event_date")) if when else None
    properties = request.get("event_properties")
    if properties is not None and not isinstance(properties, Mapping):
        raise invalid("event_properties should be an object")
    contact_id = _event_contact(tx, identifiers, request.get("contact_properties") or {})
    tx.run(
        "INSERT INTO events (event_name, contact_id, identifiers, event_date, contact_properties,"
        " event_properties, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        name, contact_id, dumps(identifiers), event_date,
        dumps(request.get("contact_properties")), dumps(properties), tx.stamp,
    )  # fmt: skip
    return {"status": 204, "accepted": True}


def _event_contact(tx: Tx, identifiers: Mapping[str, Any], properties: Mapping[str, Any]) -> int:
    changes = parse_changes(tx, {"attributes": properties}, updating=False)
    for kind in IDENTIFIER_TYPES:
        if kind in identifiers:
            row = find_contact(tx, str(identifiers[kind]), kind)
            if row is not None:
                check_unique(tx, changes.columns, row["id"], "update")
                apply_changes(tx, row, changes)
                return int(row["id"])
    creating = {k: v for k, v in identifiers.items() if k in CREATING_IDENTIFIERS}
    if not creating:
        raise not_found("Contact does not exist")
    request = {"attributes": dict(properties)}
    if "email_id" in creating:
        request["email"] = creating["email_id"]
    if "ext_id" in creating:
        request["ext_id"] = creating["ext_id"]
    if "phone_id" in creating:
        request["attributes"]["SMS"] = creating["phone_id"]
    changes = parse_changes(tx, request, updating=False)
    check_unique(tx, changes.columns, None, "create")
    return insert_contact(tx, changes)


def event_view(row: Any) -> dict[str, Any]:
    """A stored event, in the POST /events field names."""
    return {
        "id": row["id"],
        "event_name": row["event_name"],
        "contact_id": row["contact_id"],
        "identifiers": loads(row["identifiers"]),
        "event_date": row["event_date"] or row["received_at"],
        "contact_properties": loads(row["contact_properties"]),
        "event_properties": loads(row["event_properties"]),
    }


# GET /v3/events lists custom events newest first. Each item has the fields of Brevo's
# getEventsList schema the sandbox can know: contact_id, event_date (the sender's, else
# the time received: the value the date window filters on), event_name, event_properties
# and contact_properties ({} when none were sent). ASSUMPTIONS: the sandbox account has no
# custom objects, so Brevo would ignore an event's `object` and no event has an
# object_type: the field is left out and an object_type filter matches nothing;
# event_filter_id is Brevo-internal and left out too. A bare date bound (YYYY-MM-DD) is a
# UTC day, whole at both ends; without both bounds the window is the 6 calendar months up
# to now. Events of the same date come newest received first.
EVENTS_MAX_LIMIT = 10000
SQL_INT_MAX = 2**63 - 1
EVENT_WHEN = "COALESCE(event_date, received_at)"
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def listed_event(row: Any) -> dict[str, Any]:
    """A stored event as an item of GET /v3/events."""
    return {
        "contact_id": row["contact_id"],
        "event_date": row["event_date"] or row["received_at"],
        "event_name": row["event_name"],
        "event_properties": loads(row["event_properties"]) or {},
        "contact_properties": loads(row["contact_properties"]) or {},
    }


def get_events(
    tx: Tx,
    limit: int = 100,
    offset: int = 0,
    *,
    contact_id: Sequence[int] = (),
    event_name: Sequence[str] = (),
    object_type: Sequence[str] = (),
    start_date: str | None = None,
    end_date: str | None = None,
) -> dict[str, Any]:
    """GET /events: {'events': [...] newest event_date first, 'count': all matching}."""
    if not 1 <= limit <= EVENTS_MAX_LIMIT:
        raise invalid(f"limit should be between 1 and {EVENTS_MAX_LIMIT}")
    if offset < 0:
        raise invalid("offset should be 0 or more")
    low, high = event_window(tx.now, start_date or None, end_date or None)
    clause, params = _event_filters(low, high, contact_id, event_name, object_type)
    rows = tx.all(
        f"SELECT * FROM events WHERE {clause} ORDER BY {EVENT_WHEN} DESC, id DESC"
        " LIMIT ? OFFSET ?",
        *params, limit, min(offset, SQL_INT_MAX),
    )  # fmt: skip
    count = tx.scalar(f"SELECT COUNT(*) FROM events WHERE {clause}", *params)
    return {"events": [listed_event(row) for row in rows], "count": count}


def _event_filters(
    low: str, high: str, ids: Sequence[int], names: Sequence[str], types: Sequence[str]
) -> tuple[str, list[Any]]:
    """The WHERE clause and its parameters: the window AND each filter given (values ORed)."""
    if any(not -SQL_INT_MAX - 1 <= value <= SQL_INT_MAX for value in ids):
        raise invalid("contact_id should be a 64-bit integer")
    where: list[str] = [f"{EVENT_WHEN} BETWEEN ? AND ?"]
    params: list[Any] = [low, high]
    for column, values in (("contact_id", ids), ("event_name", names)):
        wanted = [value for value in values if value != ""]
        if wanted:
            where.append(f"{column} IN ({', '.join('?' * len(wanted))})")
            params.extend(wanted)
    if any(value != "" for value in types):
        where.append("0")  # no event carries an object (see above)
    return " AND ".join(where), params


def event_window(now: datetime, start: str | None, end: str | None) -> tuple[str, str]:
    """The inclusive (low, high) stamps of startDate/endDate; the last 6 months by default."""
    if start is None and end is None:
        return iso(months_before(now, 6)), iso(now)
    if start is None:
        raise missing("startDate is mandatory when endDate is used")
    if end is None:
        raise missing("endDate is mandatory when startDate is used")
    low, high = _date_bound(start, "startDate", False), _date_bound(end, "endDate", True)
    if low > high:
        raise invalid("startDate should be before or equal to endDate")
    return iso(low), iso(high)


def _date_bound(value: str, field: str, end: bool) -> datetime:
    if not DAY.match(value):
        if "T" not in value.upper() and " " not in value:
            raise invalid(f"Invalid {field}: expected YYYY-MM-DD or RFC3339")
        return parse_datetime(value, field)
    try:
        day = date.fromisoformat(value)
    except ValueError as exc:
        raise invalid(f"Invalid {field}: expected YYYY-MM-DD or RFC3339") from exc
    moment = time(23, 59, 59, 999000, UTC) if end else time(0, 0, tzinfo=UTC)
    return datetime.combine(day, moment)


def months_before(moment: datetime, months: int) -> datetime:
    """The same time `months` calendar months earlier (the day clamped to the month's end)."""
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def create_campaign(tx: Tx, request: Mapping[str, Any]) -> dict[str, Any]:
    """POST /emailCampaigns: {'id': N}."""
    if not str(request.get("name") or "").strip():
        raise missing("name is required")
    sender = request.get("sender") or {}
    if not sender.get("email"):
        raise missing("sender.email is required")
    if request.get("templateId") is not None:
        raise not_found("Template ID does not exist")
    if not request.get("htmlContent") and not request.get("htmlUrl"):
        raise missing("htmlContent (or htmlUrl) is required")
    recipients = request.get("recipients") or {}
    require_lists(tx, [*recipients.get("listIds", []), *recipients.get("exclusionListIds", [])])
    scheduled = request.get("scheduledAt")
    body = {
        "name": request["name"].strip(),
        "subject": request.get("subject"),
        "sender": {"name": sender.get("name"), "email": normalize_email(sender["email"])},
        "htmlContent": request.get("htmlContent"),
        "htmlUrl": request.get("htmlUrl"),
        "previewText": request.get("previewText"),
        "replyTo": request.get("replyTo"),
        "tag": request.get("tag"),
        "scheduledAt": iso(parse_datetime(scheduled, "scheduledAt")) if scheduled else None,
        "status": "queued" if scheduled else "draft",
        "recipients": {
            "lists": list(recipients.get("listIds", [])),
            "exclusionLists": list(recipients.get("exclusionListIds", [])),
        },
        "testSent": False,
    }
    campaign_id = tx.run(
        "INSERT INTO campaigns (body, created_at, modified_at) VALUES (?, ?, ?)",
        dumps(body),
        tx.stamp,
        tx.stamp,
    )
    return {"id": campaign_id}


def campaign_view(row: Any) -> dict[str, Any]:
    """A campaign in GET /emailCampaigns shape."""
    body = loads(row["body"])
    return {
        "id": row["id"],
        "type": "classic",
        **body,
        "createdAt": row["created_at"],
        "modifiedAt": row["modified_at"],
    }


def get_campaigns(
    tx: Tx, status: str | None = None, limit: int = 50, offset: int = 0, sort: str = "desc"
) -> dict[str, Any]:
    """GET /emailCampaigns: {'campaigns': [...], 'count': N}."""
    check_page(limit, offset, 100)
    if status is not None and status not in CAMPAIGN_STATUSES:
        raise invalid(f"status should be one of {', '.join(CAMPAIGN_STATUSES)}")
    order = "DESC" if check_sort(sort) else "ASC"
    views = [campaign_view(row) for row in tx.all(f"SELECT * FROM campaigns ORDER BY id {order}")]
    matching = [view for view in views if status is None or view["status"] == status]
    return {"campaigns": matching[offset : offset + limit], "count": len(matching)}


def send_test(tx: Tx, campaign_id: int, email_to: list[str]) -> dict[str, Any]:
    """POST /emailCampaigns/{id}/sendTest {emailTo}: {'status': 204, 'sent': True, ...}."""
    row = tx.one("SELECT * FROM campaigns WHERE id = ?", campaign_id)
    if row is None:
        raise not_found("Campaign ID does not exist")
    if not email_to:
        raise missing("emailTo is required: the sandbox account has no test list")
    recipients = [normalize_email(email) for email in email_to]
    for email in recipients:
        tx.run(
            "INSERT INTO test_emails (campaign_id, email_to, sent_at) VALUES (?, ?, ?)",
            campaign_id,
            email,
            tx.stamp,
        )
    body = loads(row["body"]) | {"testSent": True}
    tx.run(
        "UPDATE campaigns SET body = ?, modified_at = ? WHERE id = ?",
        dumps(body),
        tx.stamp,
        campaign_id,
    )
    return {"status": 204, "sent": True, "campaignId": campaign_id, "emailTo": recipients}
