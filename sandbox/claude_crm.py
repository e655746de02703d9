"""A scripted stand-in for Claude that follows agents/rest-brevo-connector.md (the CRM template).

NOT Claude: a small deterministic policy for end-to-end tests and demos. It reads the
cursor, pages through the CRM's `contacts` with `updated_since` and `next_cursor` through
`http_request`, skips invalid emails and case-duplicates (the latest `updated_at` wins),
makes sure the mapped attributes exist, upserts each contact with
`create_contact(updateEnabled=true, ext_id=<source id>)`, stages the largest
`updated_at` with `set_sync_cursor` and reports.

`PerConversation(CrmSyncScript)` starts a fresh script for each new conversation, so one
scripted endpoint can serve several `agents run`s in a row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator
from typing import Any

from sandbox.claude import ApiError, Message, reply
from sandbox.claude_scripts import Flow, ScriptBase

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
STREAM = "contacts"
MAPPING = (("first_name", "FIRSTNAME"), ("last_name", "LASTNAME"), ("company", "COMPANY"))
Row = dict[str, Any]


class CrmSyncScript(ScriptBase):
    """Sync CRM contacts into Brevo, as agents/rest-brevo-connector.md asks."""

    def __init__(self, limit: int = 50, per_turn: int = 25) -> None:
        super().__init__()
        self.limit, self.per_turn = limit, per_turn

    def flow(self) -> Flow:
        """Cursor, pages, attributes, upserts, cursor, report."""
        yield self.call(
            [("get_sync_cursor", {"stream": STREAM}), ("get_attributes", {})],
            "I'll read the sync cursor and the attributes Brevo already has.",
        )
        (cursor, _), (attrs, _) = self.results()
        since = cursor.get("cursor") if isinstance(cursor, dict) else None
        rows = yield from self.read_contacts(since)
        if rows is None:
            yield reply("The CRM could not be read; nothing was synced.")
            return
        picked, skipped = select(rows)
        if picked:
            yield from self.ensure_attributes(attrs)
        created, updated, failed = yield from self.upsert(picked)
        if rows and not failed:
            newest = max(r["updated_at"] for r in rows)
            yield self.call([("set_sync_cursor", {"stream": STREAM, "cursor": newest})])
        yield reply(report(len(rows), created, updated, skipped, failed, since))

    def read_contacts(
        self, since: str | None
    ) -> Generator[Message, dict[str, Any], list[Row] | None]:
        """Every page from `since`, following next_cursor; None when a page failed."""
        params: dict[str, Any] = {"limit": self.limit}
        if since:
            params["updated_since"] = since
        rows: list[Row] = []
        while True:
            request = {"method": "GET", "url": "crm:contacts", "params": params}
            yield self.call([("http_request", request)])
            ((page, err),) = self.results()
            if err or not isinstance(page, dict) or page.get("status") != 200:
                return None
            if page.get("truncated"):
                return None
            rows += page["body"]["data"]
            token = page["body"].get("next_cursor")
            if not token:
                return rows
            params = {**params, "cursor": token}

    def ensure_attributes(self, attrs: Any) -> Generator[Message, dict[str, Any], None]:
        """Create the text attributes of the mapping that Brevo lacks."""
        have = {a["name"] for a in (attrs or {}).get("attributes", [])}
        missing = [name for _, name in MAPPING if name not in have]
        if missing:
            calls = [("create_attribute", {"attributeName": n, "type": "text"}) for n in missing]
            yield self.call(calls, "Creating the attributes the mapping needs.")

    def upsert(
        self, picked: list[Row]
    ) -> Generator[Message, dict[str, Any], tuple[int, int, list[str]]]:
        """create_contact with updateEnabled for each contact, per_turn calls a turn."""
        created = updated = 0
        failed: list[str] = []
        for i in range(0, len(picked), self.per_turn):
            batch = picked[i : i + self.per_turn]
            yield self.call([("create_contact", contact(row)) for row in batch])
            for row, (result, err) in zip(batch, self.results(), strict=True):
                if err:
                    failed.append(f"{row['id']}: {str(result)[:200]}")
                elif isinstance(result, dict) and result.get("updated"):
                    updated += 1
                else:
                    created += 1
        return created, updated, failed


def select(rows: list[Row]) -> tuple[list[Row], dict[str, list[str]]]:
    """Valid emails, one contact per lower-cased email (latest updated_at, then id, wins)."""
    skipped: dict[str, list[str]] = {}
    best: dict[str, Row] = {}
    for row in rows:
        email = str(row.get("email") or "").strip().lower()
        if not EMAIL.match(email):
            skipped.setdefault("invalid email", []).append(row["id"])
            continue
        current = best.get(email)
        if current is not None:
            older = min(current, row, key=lambda r: (r["updated_at"], r["id"]))
            skipped.setdefault("duplicate email", []).append(older["id"])
            if older is row:
                continue
        best[email] = {**row, "email": email}
    return sorted(best.values(), key=lambda r: r["id"]), skipped


def contact(row: Row) -> dict[str, Any]:
    """create_contact arguments for a CRM contact (the agent file's mapping table)."""
    attributes = {name: row[field] for field, name in MAPPING if row.get(field)}
    return {
        "email": row["email"],
        "ext_id": str(row["id"]),
        "attributes": attributes,
        "updateEnabled": True,
    }


def report(
    read: int,
    created: int,
    updated: int,
    skipped: dict[str, list[str]],
    failed: list[str],
    since: str | None,
) -> str:
    """The closing summary."""
    lines = [
        f"Sync done (contacts updated after {since or 'the beginning'}).",
        f"- read {read} contacts from the CRM",
        f"- created {created} contacts in Brevo",
        f"- updated {updated} contacts",
    ]
    for reason, ids in sorted(skipped.items()):
        lines.append(f"- skipped {len(ids)} ({reason}): {', '.join(ids)}")
    lines += [f"- failed: {f}" for f in failed]
    return "\n".join(lines)


class PerConversation:
    """A Script that starts a fresh `factory()` script whenever a new conversation begins."""

    def __init__(self, factory: Callable[[], ScriptBase]) -> None:
        self.factory = factory
        self.runs = 0
        self._script: ScriptBase | None = None

    def __call__(self, request: dict[str, Any]) -> Message | ApiError:
        if self._script is None or len(request["messages"]) == 1:
            self._script = self.factory()
            self.runs += 1
        return self._script(request)
