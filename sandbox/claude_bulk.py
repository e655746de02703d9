"""`WooBulkSyncScript`: a scripted stand-in for Claude that syncs customers in bulk.

NOT Claude: a small deterministic policy (see sandbox/claude_scripts.py) following
agents/woocommerce-brevo-sync.md the bulk way. It reads the cursor and the attributes,
creates the attributes the mapping needs, sends ONE `sync_records` plan (the records
never pass through it) and reports from the summary the runtime returns.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sandbox.claude import reply
from sandbox.claude import user_text as latest_user_text
from sandbox.claude_scripts import ATTRIBUTES, Flow, ScriptBase

NOW = re.compile(r"Current time: (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)")
MODIFIED = "date_modified_gmt || date_created_gmt"
FIELDS = (
    "id,email,first_name,last_name,role,billing.phone,billing.country,"
    "date_created_gmt,date_modified_gmt,orders_count,total_spent"
)


def customer_map() -> dict[str, Any]:
    """The agent file's mapping table as a sync_records map."""
    return {
        "email": {"from": "email", "transform": ["trim", "lower"]},
        "ext_id": {"from": "id", "transform": ["str"]},
        "attributes.FIRSTNAME": "first_name || null",
        "attributes.LASTNAME": "last_name || null",
        "attributes.SMS": {"from": "billing.phone", "transform": ["e164"]},
        "attributes.ORDER_COUNT": {"from": "orders_count", "transform": ["float"]},
        "attributes.TOTAL_SPENT": {"from": "total_spent", "transform": ["float"]},
        "attributes.CUSTOMER_SINCE": {"from": "date_created_gmt", "transform": ["date"]},
        "attributes.CUSTOMER_TYPE": "role || null",
    }


def bulk_plan(
    since: str, *, list_name: str, rate_limit: str | None, dry_run: bool = False
) -> dict[str, Any]:
    """The plan: customers modified after the cursor (else `since`) into Brevo contacts."""
    contact = {
        "email": "$record.email",
        "ext_id": "$record.ext_id",
        "attributes": "$record.attributes",
    }
    sink: dict[str, Any] = {
        "tool": "brevo_contacts__create_contact",
        "arguments": {**contact, "updateEnabled": True},
        "retry_without": ["attributes.SMS"],
        "lookup": {
            "tool": "brevo_contacts__get_contacts",
            "compare": {"attributes": "attributes", "ext_id": "attributes.EXT_ID"},
        },
        "batch": {"tool": "brevo_contacts__update_batch_contacts", "item": contact, "size": 100},
    }
    if rate_limit:
        sink["rate_limit"] = rate_limit
    return {
        "source": {
            "source": "woocommerce",
            "path": "wc/v2/customers",
            "params": {"per_page": 100, "orderby": "id", "order": "asc", "_fields": FIELDS},
        },
        "filter": [{"field": MODIFIED, "after": "cursor", "if_no_cursor": since}],
        "map": customer_map(),
        "dedupe": {"key": "email", "latest_by": MODIFIED},
        "cursor": {"stream": "customers", "field": MODIFIED},
        "sink": sink,
        "then": [{"add_to_list": list_name, "folder_id": 1, "on": "created"}],
        "dry_run": dry_run,
    }


class WooBulkSyncScript(ScriptBase):
    """Cursor and attributes, one sync_records call, a report: a handful of turns."""

    def __init__(self, list_name: str = "Welcome Series", rate_limit: str | None = "10/s") -> None:
        super().__init__()
        self.list_name, self.rate_limit = list_name, rate_limit
        self.plans: list[dict[str, Any]] = []

    def flow(self) -> Flow:
        prompt = latest_user_text(self.request)
        yield self.call(
            [("get_sync_cursor", {"stream": "customers"}), ("get_attributes", {})],
            "I'll check the cursor and the attributes Brevo already has.",
        )
        (cursor, _), (attrs, _) = self.results()
        have = (
            {a["name"] for a in (attrs or {}).get("attributes", [])}
            if isinstance(attrs, dict)
            else set()
        )
        missing = [(n, t) for n, t in ATTRIBUTES.items() if n not in have]
        if missing:
            calls = [("create_attribute", {"attributeName": n, "type": t}) for n, t in missing]
            yield self.call(calls, "Creating the attributes the mapping needs.")
        since = window_start(prompt)
        plan = bulk_plan(since, list_name=self.list_name, rate_limit=self.rate_limit)
        self.plans.append(plan)
        yield self.call([("sync_records", plan)], "Running the sync in bulk with sync_records.")
        ((summary, failed),) = self.results()
        if failed or not isinstance(summary, dict):
            yield reply(f"The sync could not run, nothing was written:\n{summary}")
            return
        yield reply(report(summary, cursor, since, self.list_name))


def window_start(prompt: str) -> str:
    """The window's start when there is no cursor: 7 days for 'last week', else 24 hours."""
    match = NOW.search(prompt)
    now = datetime.fromisoformat(match.group(1)) if match else datetime(2026, 1, 1)
    days = 7 if re.search(r"last week|past week|7 days", prompt, re.I) else 1
    return (now - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S")


def report(summary: dict[str, Any], cursor: Any, since: str, list_name: str) -> str:
    """The closing summary, from the sync's counts."""
    start = cursor.get("cursor") if isinstance(cursor, dict) and cursor.get("cursor") else since
    added = summary.get("then", {}).get(f"list '{list_name}'", {})
    lines = [
        f"Sync done (customers modified after {start}).",
        f"- read {summary.get('fetched', 0)} customers from WooCommerce",
        f"- created {summary.get('created', 0)} contacts "
        f"({added.get('added', 0)} added to the {list_name} list)",
        f"- updated {summary.get('updated', 0)}, unchanged {summary.get('unchanged', 0)}",
    ]
    for reason, n in summary.get("skipped", {}).items():
        lines.append(f"- skipped {n}: {reason}")
    for reason, n in summary.get("dead_letter_reasons", {}).items():
        lines.append(f"- quarantined {n}: {reason}")
    if summary.get("failed"):
        lines.append(f"- failed {summary['failed']}: {summary.get('sample_errors', [])}")
    lines.append(f"- cursor: {summary.get('cursor_staged') or summary.get('cursor_note')}")
    return "\n".join(lines)
