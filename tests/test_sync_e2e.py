"""`agents run` of the flagship agent the bulk way: the real anthropic SDK against a
scripted Messages endpoint (WooBulkSyncScript), 2,000 WooCommerce customers, Brevo's
MCP server, all over loopback. One `sync_records` call moves every record; the model
only ever sees a summary."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

from runtime.store import RunStore
from sandbox.brevo import BrevoSandbox
from sandbox.claude import Message
from sandbox.claude_bulk import WooBulkSyncScript
from tests.sandbox.brevo_support import mcp_client
from tests.stack import Stack
from tests.test_e2e_run import assert_no_secret_anywhere, run_cli, run_now
from tests.test_sync_records import valid

AGENT = "woocommerce-brevo-sync"
# Contacts fast enough for a test; lists and attributes keep Brevo's 100 per hour.
LIMITS = {"contacts": (5000, 1.0), "lists": (100, 3600.0), "attributes": (100, 3600.0)}


class FreshScript:
    """A new WooBulkSyncScript for each conversation (one per `agents run`)."""

    def __init__(self) -> None:
        self.scripts: list[WooBulkSyncScript] = []

    def __call__(self, request: dict[str, Any]) -> Message:
        if not self.scripts or len(request["messages"]) == 1:
            self.scripts.append(WooBulkSyncScript(rate_limit=None))
        reply = self.scripts[-1](request)
        assert isinstance(reply, dict)
        return reply


class BulkStack(Stack):
    """The Stack with 2,000 customers, no store-side limit and a quicker Brevo."""

    def __init__(self, script: Any) -> None:
        super().__init__(script, customers=2000, orders=300, woo_options={"rate_limit": None})
        self.brevo.close()
        self.brevo = BrevoSandbox(rate_limits=LIMITS)


def expected(stack: Stack, since: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for c in stack.woo.store.all("customers"):
        modified = c["date_modified_gmt"] or c["date_created_gmt"]
        email = c["email"].strip().lower()
        if c["role"] != "customer" or modified <= since or not valid(email):
            continue
        if email not in out or modified > (out[email]["date_modified_gmt"] or ""):
            out[email] = c
    return out


def sync_results(stack: Stack) -> list[dict[str, Any]]:
    """Every sync_records result the model received, parsed."""
    ids: set[str] = set()
    out = []
    for body in stack.claude.requests:
        for message in body["messages"]:
            for block in message["content"] if isinstance(message["content"], list) else []:
                if block.get("type") == "tool_use" and block["name"] == "sync_records":
                    ids.add(block["id"])
                if block.get("type") == "tool_result" and block["tool_use_id"] in ids:
                    ids.discard(block["tool_use_id"])
                    out.append(json.loads(block["content"]))
    return out


def tool_result_bytes(stack: Stack) -> int:
    """Bytes of tool results that entered the model's context (each counted once)."""
    last = stack.claude.requests[-1]["messages"]
    return sum(
        len(str(b.get("content", "")).encode())
        for m in last if isinstance(m["content"], list)
        for b in m["content"] if b.get("type") == "tool_result"
    )  # fmt: skip


def seed_contacts(stack: Stack, emails: list[str]) -> None:
    """Contacts already in Brevo before the first run: they must come out as updates."""

    async def seed() -> None:
        async with mcp_client(stack.brevo_server, stack.brevo, "brevo_contacts") as client:
            for email in emails:
                await client.call_tool("create_contact", {"email": email})

    anyio.run(seed)


def test_bulk_sync_of_2000_customers_then_a_rerun_that_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    script = FreshScript()
    with BulkStack(script) as stack:
        recent = (datetime.now(UTC) - timedelta(days=5)).strftime("%Y-%m-%dT%H:%M:%S")
        first_pick = sorted(
            c["email"].lower()
            for c in stack.woo.store.all("customers")[20:400]
            if (c["date_modified_gmt"] or "") > recent and valid(c["email"].lower())
        )[:3]
        assert len(first_pick) == 3
        seed_contacts(stack, first_pick)
        summary = run_cli(stack, tmp_path, monkeypatch, capsys)
        assert summary["_exit"] == 0 and summary["status"] == "succeeded", summary
        assert summary["cursor_committed"] is True and summary["turns"] <= 4
        since = script.scripts[0].plans[0]["filter"][0]["if_no_cursor"]
        want = expected(stack, since)
        assert run_now(tmp_path).strftime("%Y-%m-%dT%H:%M:%S") > since
        (result,) = sync_results(stack)
        old = [e for e in first_pick if e in want]
        assert len(old) == 3 and result["fetched"] == 2000 and result["failed"] == 0
        assert result["created"] == len(want) - len(old) and result["updated"] == len(old)
        assert result["dead_letter_reasons"] == {"invalid email": 2, "missing email": 1}
        check_brevo(stack, want, set(want) - set(old))
        check_store(tmp_path, want)
        assert tool_result_bytes(stack) < 6000  # 2,000 records, a few KB of context
        assert "invalid email" in summary["final_text"]

        before = stack.brevo.snapshot()
        again = run_cli(stack, tmp_path, monkeypatch, capsys)
        assert again["_exit"] == 0 and again["status"] == "succeeded", again
        second = sync_results(stack)[-1]
        assert second["created"] == second["updated"] == second["dead_lettered"] == 0
        assert second["fetched"] == 2000 and sum(second["skipped"].values()) == 2000
        assert stack.brevo.snapshot() == before and stack.brevo.events() == []
        assert_no_secret_anywhere(stack, tmp_path, again)


def check_brevo(stack: Stack, want: dict[str, dict[str, Any]], created: set[str]) -> None:
    contacts = {c["email"]: c for c in stack.brevo.contacts()}
    assert set(contacts) == set(want)
    for email, c in want.items():
        attrs = contacts[email]["attributes"]
        assert attrs["EXT_ID"] == str(c["id"])
        assert attrs["CUSTOMER_SINCE"] == c["date_created_gmt"][:10]
        assert isinstance(attrs["ORDER_COUNT"], float) and isinstance(attrs["TOTAL_SPENT"], float)
    types = {a["name"]: a["type"] for a in stack.brevo.attributes()}
    assert types["ORDER_COUNT"] == "float" and types["TOTAL_SPENT"] == "float"
    assert types["CUSTOMER_SINCE"] == "date"
    (welcome,) = [x for x in stack.brevo.lists() if x["name"] == "Welcome Series"]
    members = {c["email"] for c in stack.brevo.contacts() if welcome["id"] in c["listIds"]}
    assert members == created  # new contacts only, not the ones that were already there


def check_store(tmp_path: Path, want: dict[str, dict[str, Any]]) -> None:
    store = RunStore(tmp_path / "agents.db")
    try:
        dead = {d["record_key"]: d["reason"] for d in store.dead_letters(agent=AGENT)}
        cursor = store.cursor(AGENT, "customers")
    finally:
        store.close()
    assert set(dead) == {"5", "6", "7"} and "'email' is empty" in dead["7"]
    assert cursor == max((c["date_modified_gmt"] or c["date_created_gmt"]) for c in want.values())
