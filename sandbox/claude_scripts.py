"""Scripted stand-ins for Claude, used by the scripted endpoint (sandbox/claude.py).

These are NOT Claude. Each is a small, deterministic policy that reads the
conversation it receives (the user's request, the tool list, the tool results) and
answers with the tool calls the flagship agent's prompt asks for, so the runtime can
be exercised end to end without the real API. Transcripts made with them are labelled
`"source": "scripted"`.

`WooSyncScript` follows agents/woocommerce-brevo-sync.md: cursor, customers pages
(wc/v2, which carries orders_count and total_spent), client-side date filter,
email checks and case-insensitive dedupe, attributes, upserts, the Welcome Series
list for new contacts, the staged cursor, a report.
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator, Iterable
from datetime import datetime, timedelta
from typing import Any

from sandbox.claude import ApiError, Message, last_tool_results, reply, tool_names, tool_use
from sandbox.claude import user_text as latest_user_text

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
NOW = re.compile(r"Current time: (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)")
FIELDS = (
    "id,email,first_name,last_name,role,billing.phone,billing.country,"
    "date_created_gmt,date_modified_gmt,orders_count,total_spent"
)
ATTRIBUTES = {
    "ORDER_COUNT": "float",
    "TOTAL_SPENT": "float",
    "CUSTOMER_SINCE": "date",
    "CUSTOMER_TYPE": "text",
}
Flow = Generator[Message | ApiError, dict[str, Any], None]


class ScriptBase:
    """Turns a generator of replies into a `Script` for ScriptedClaude."""

    def __init__(self) -> None:
        self._ids = 0
        self._pending: list[str] = []
        self._flow = self.flow()
        self._started = False

    def __call__(self, request: dict[str, Any]) -> Message | ApiError:
        if not self._started:
            self._started = True
            self.request = request
            return next(self._flow)
        self.request = request
        return self._flow.send(request)

    def flow(self) -> Flow:
        """The conversation, one yielded reply per model call."""
        raise NotImplementedError

    def call(self, calls: Iterable[tuple[str, dict[str, Any]]], note: str = "") -> Message:
        """A reply calling these tools (names resolved against the offered tools)."""
        blocks: list[dict[str, Any] | str] = [note] if note else []
        self._pending = []
        for name, args in calls:
            self._ids += 1
            call_id = f"toolu_script_{self._ids:05d}"
            self._pending.append(call_id)
            blocks.append(tool_use(self.tool(name), args, id=call_id))
        return reply(*blocks)

    def results(self) -> list[tuple[Any, bool]]:
        """(parsed JSON or text, is_error) for each call of the last reply, in order."""
        by_id = {r["tool_use_id"]: r for r in last_tool_results(self.request)}
        out = []
        for call_id in self._pending:
            r = by_id.get(call_id, {"content": "missing result", "is_error": True})
            out.append((_parse(r["content"]), r["is_error"]))
        return out

    def tool(self, name: str) -> str:
        """The offered tool called `name`, or namespaced as 'server__name'."""
        offered = tool_names(self.request)
        for t in offered:
            if t == name or t.endswith(f"__{name}"):
                return t
        return name  # not offered: the runtime answers with an error the script can read


class WooSyncScript(ScriptBase):
    """Sync WooCommerce customers into Brevo, as agents/woocommerce-brevo-sync.md asks."""

    def __init__(self, list_name: str = "Welcome Series", per_turn: int = 25) -> None:
        super().__init__()
        self.list_name, self.per_turn = list_name, per_turn

    def flow(self) -> Flow:
        prompt = latest_user_text(self.request)
        now = _now(prompt)
        yield self.call(
            [
                ("get_sync_cursor", {"stream": "customers"}),
                ("get_attributes", {}),
                ("get_lists", {"limit": 50}),
            ],
            "I'll check the cursor and what Brevo already has.",
        )
        (cursor, _), (attrs, _), (lists, _) = self.results()
        since = _since(cursor, prompt, now)
        customers = yield from self.read_customers()
        if customers is None:
            yield reply("The store could not be read; nothing was synced.")
            return
        picked, skipped = select(customers, since)
        yield from self.ensure_attributes(attrs)
        created, updated, failed = yield from self.upsert(picked)
        yield from self.welcome(lists, created)
        if picked and not failed:
            newest = max(_modified(c) for c in picked)
            yield self.call([("set_sync_cursor", {"stream": "customers", "cursor": newest})])
        yield reply(report(len(customers), created, updated, skipped, failed, since))

    def read_customers(self) -> Generator[Message, dict[str, Any], list[dict[str, Any]] | None]:
        """Page 1, then every other page at once; None when the store failed."""
        params = {"per_page": 100, "page": 1, "orderby": "id", "order": "asc", "_fields": FIELDS}
        first: Any = None
        for _attempt in range(2):  # a failed page is asked for once more
            yield self.call([("http_request", _get("wc/v2/customers", params))])
            ((first, err),) = self.results()
            if not err and _ok(first):
                break
        if not _ok(first):
            return None
        pages = int(first["headers"].get("x-wp-totalpages", 1))
        rows = list(first["body"])
        if pages > 1:
            rest = [_get("wc/v2/customers", {**params, "page": p}) for p in range(2, pages + 1)]
            yield self.call(
                [("http_request", r) for r in rest], f"{pages} pages; reading the rest."
            )
            for page, err in self.results():
                if err or not _ok(page):
                    return None
                rows.extend(page["body"])
        return rows

    def ensure_attributes(self, attrs: Any) -> Generator[Message, dict[str, Any], None]:
        """Create the attributes the mapping needs that Brevo lacks."""
        have = {a["name"] for a in (attrs or {}).get("attributes", [])}
        missing = [(n, t) for n, t in ATTRIBUTES.items() if n not in have]
        if missing:
            calls = [("create_attribute", {"attributeName": n, "type": t}) for n, t in missing]
            yield self.call(calls, "Creating the attributes the mapping needs.")

    def upsert(
        self, picked: list[dict[str, Any]]
    ) -> Generator[Message, dict[str, Any], tuple[list[str], int, list[str]]]:
        """Create or update each contact; a refused SMS is retried once without it."""
        created: list[str] = []
        updated, failed = 0, []
        for i in range(0, len(picked), self.per_turn):
            batch = picked[i : i + self.per_turn]
            yield self.call([("create_contact", contact(c)) for c in batch])
            retry = []
            for c, (res, err) in zip(batch, self.results(), strict=True):
                if err and _about_sms(res) and contact(c)["attributes"].get("SMS"):
                    retry.append(c)
                elif err:
                    failed.append(f"{c['email']}: {_message(res)}")
                else:
                    created, updated = _tally(res, c, created, updated)
            if retry:
                yield self.call([("create_contact", contact(c, sms=False)) for c in retry])
                for c, (res, err) in zip(retry, self.results(), strict=True):
                    if err:
                        failed.append(f"{c['email']}: {_message(res)}")
                    else:
                        created, updated = _tally(res, c, created, updated)
        return created, updated, failed

    def welcome(self, lists: Any, created: list[str]) -> Generator[Message, dict[str, Any], None]:
        """Add new contacts to the welcome list, creating it in folder 1 if needed."""
        if not created:
            return
        found = [x for x in (lists or {}).get("lists", []) if x.get("name") == self.list_name]
        if found:
            list_id = found[0]["id"]
        else:
            yield self.call([("create_list", {"name": self.list_name, "folderId": 1})])
            ((made, _),) = self.results()
            list_id = made["id"]
        chunks = [created[i : i + 150] for i in range(0, len(created), 150)]
        yield self.call([("add_contact_to_list", {"listId": list_id, "emails": c}) for c in chunks])


def select(
    customers: list[dict[str, Any]], since: str | None
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Customers modified after `since` with a valid email, one per lower-cased email."""
    skipped: dict[str, int] = {}
    best: dict[str, dict[str, Any]] = {}
    for c in customers:
        if since and _modified(c) <= since:
            continue
        email = (c.get("email") or "").strip().lower()
        if not EMAIL.match(email):
            skipped["invalid email"] = skipped.get("invalid email", 0) + 1
            continue
        if email in best:
            skipped["duplicate email"] = skipped.get("duplicate email", 0) + 1
            if _modified(c) <= _modified(best[email]):
                continue
        best[email] = {**c, "email": email}
    return sorted(best.values(), key=lambda c: c["id"]), skipped


def contact(c: dict[str, Any], sms: bool = True) -> dict[str, Any]:
    """The create_contact arguments for a customer (the agent file's mapping table)."""
    attrs: dict[str, Any] = {
        "FIRSTNAME": c.get("first_name") or None,
        "LASTNAME": c.get("last_name") or None,
        "ORDER_COUNT": float(c.get("orders_count") or 0),
        "TOTAL_SPENT": float(c.get("total_spent") or 0),
        "CUSTOMER_SINCE": (c.get("date_created_gmt") or "")[:10] or None,
        "CUSTOMER_TYPE": c.get("role") or None,
    }
    phone = e164((c.get("billing") or {}).get("phone"), (c.get("billing") or {}).get("country"))
    if sms and phone:
        attrs["SMS"] = phone
    return {
        "email": c["email"],
        "ext_id": str(c["id"]),
        "attributes": {k: v for k, v in attrs.items() if v is not None},
        "updateEnabled": True,
    }


def e164(phone: str | None, country: str | None) -> str | None:
    """A phone in international format, or None when it cannot be made one."""
    if not phone:
        return None
    digits = re.sub(r"[\s().-]", "", phone)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    prefixes = {"FR": "33", "DE": "49", "GB": "44", "ES": "34", "IT": "39", "BE": "32"}
    if digits.startswith("0") and country in prefixes:
        digits = f"+{prefixes[country]}{digits[1:]}"
    return digits if re.fullmatch(r"\+[1-9]\d{7,14}", digits) else None


def report(
    read: int,
    created: list[str],
    updated: int,
    skipped: dict[str, int],
    failed: list[str],
    since: str | None,
) -> str:
    """The closing summary."""
    lines = [
        f"Sync done (records modified after {since or 'the beginning'}).",
        f"- read {read} customers from WooCommerce",
        f"- created {len(created)} contacts (added to the Welcome Series list)",
        f"- updated {updated} contacts",
    ]
    for reason, n in sorted(skipped.items()):
        lines.append(f"- skipped {n}: {reason}")
    lines += [f"- failed: {f}" for f in failed]
    return "\n".join(lines)


def _ok(page: Any) -> bool:
    """A whole 200 page (a cut body would silently lose records)."""
    return isinstance(page, dict) and page.get("status") == 200 and not page.get("truncated")


def _get(url: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"method": "GET", "url": url, "params": params}


def _parse(content: str) -> Any:
    try:
        return json.loads(content)
    except (json.JSONDecodeError, TypeError):
        return content


def _now(prompt: str) -> datetime:
    m = NOW.search(prompt)
    return datetime.fromisoformat(m.group(1)) if m else datetime(2026, 1, 1)


def _since(cursor: Any, prompt: str, now: datetime) -> str:
    if isinstance(cursor, dict) and cursor.get("cursor"):
        return str(cursor["cursor"])
    days = 7 if re.search(r"last week|past week|7 days", prompt, re.I) else 1
    return (now - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S")


def _modified(c: dict[str, Any]) -> str:
    return str(c.get("date_modified_gmt") or c.get("date_created_gmt") or "")


def _about_sms(res: Any) -> bool:
    text = json.dumps(res) if not isinstance(res, str) else res
    return "SMS" in text or "phone" in text.lower()


def _message(res: Any) -> str:
    if isinstance(res, dict):
        return str(res.get("message") or res)
    return str(res)[:200]


def _tally(res: Any, c: dict[str, Any], created: list[str], updated: int) -> tuple[list[str], int]:
    if isinstance(res, dict) and res.get("updated"):
        return created, updated + 1
    return [*created, c["email"]], updated


class ChatScript(WooSyncScript):
    """A chat: answers questions about the store and Brevo, and syncs when asked."""

    def flow(self) -> Flow:
        while True:
            text = latest_user_text(self.request).lower()
            if "sync" in text:
                yield from super().flow()
            elif "how many" in text:
                params = {"per_page": 1, "_fields": "id"}
                yield self.call([("http_request", _get("wc/v3/customers", params))])
                ((page, _),) = self.results()
                total = page["headers"].get("x-wp-total", "?") if isinstance(page, dict) else "?"
                yield reply(f"The store has {total} customers.")
            elif "list" in text:
                yield from self.describe_list()
            else:
                yield reply("I can sync customers, count them, or show the Welcome Series list.")

    def describe_list(self) -> Flow:
        """Who is in the welcome list."""
        yield self.call([("get_lists", {"limit": 50})])
        ((lists, _),) = self.results()
        found = [x for x in (lists or {}).get("lists", []) if x.get("name") == self.list_name]
        if not found:
            yield reply(f"There is no '{self.list_name}' list yet.")
            return
        args = {"listId": found[0]["id"], "limit": 500}
        yield self.call([("get_contacts_from_list", args)])
        ((members, _),) = self.results()
        emails = sorted(c["email"] for c in (members or {}).get("contacts", []))
        yield reply(f"'{self.list_name}' has {len(emails)} contacts: {', '.join(emails[:5])}...")
