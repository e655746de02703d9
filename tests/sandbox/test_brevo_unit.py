"""Fast Brevo sandbox tests: the in-memory MCP transport, rules, limits, storage, snapshots."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer

from sandbox.brevo import BrevoSandbox
from sandbox.brevo_ratelimit import RateLimiter, RateLimitExceeded
from sandbox.brevo_rules import BrevoError, check_attribute, normalize_email, normalize_phone
from tests.sandbox.brevo_support import START, FakeClock, error, ok


async def sync_two_contacts(sandbox: BrevoSandbox) -> None:
    """What an agent run does, through the in-process transport (no HTTP, no token)."""
    async with Client(sandbox.mcp_server()) as client:
        ok(await client.call_tool("lists_create_list", {"name": "Shop", "folderId": 1}))
        for email, name in (("a@example.com", "Ann"), ("b@example.com", "Bob")):
            create = {"email": email, "attributes": {"FIRSTNAME": name}, "listIds": [1]}
            ok(await client.call_tool("contacts_create_contact", create))
        ok(
            await client.call_tool(
                "events_create_event",
                {"event_name": "synced", "identifiers": {"email_id": "a@example.com"}},
            )
        )


@pytest.mark.anyio
async def test_in_memory_transport_runs_the_tools() -> None:
    with BrevoSandbox(clock=FakeClock()) as sandbox:
        async with Client(sandbox.mcp_server("brevo_contacts"), mode="legacy") as client:
            assert ok(await client.call_tool("create_contact", {"email": "a@example.com"})) == {
                "id": 1
            }
            body = error(await client.call_tool("create_contact", {"email": "a@example.com"}))
        assert body["code"] == "duplicate_parameter"
        assert sandbox.call_counts() == {"create_contact": 2}


@pytest.mark.anyio
async def test_snapshot_leaves_out_volatile_timestamps() -> None:
    snapshots = []
    for offset in (0, 86400):
        clock = FakeClock(START + timedelta(seconds=offset))
        with BrevoSandbox(clock=clock) as sandbox:
            await sync_two_contacts(sandbox)
            snapshots.append(sandbox.snapshot())
            assert sandbox.contacts()[0]["createdAt"].startswith(clock.now.date().isoformat())
    assert snapshots[0] == snapshots[1]
    contact = snapshots[0]["contacts"][0]
    assert contact == {
        "email": "a@example.com",
        "id": 1,
        "emailBlacklisted": False,
        "smsBlacklisted": False,
        "listIds": [1],
        "attributes": {"FIRSTNAME": "Ann"},
    }
    assert snapshots[0]["events"][0]["event_date"] is None


@pytest.mark.anyio
async def test_state_persists_in_a_database_file(tmp_path: Path) -> None:
    path = str(tmp_path / "brevo.sqlite3")
    with BrevoSandbox(db_path=path, clock=FakeClock()) as sandbox:
        await sync_two_contacts(sandbox)
        before = sandbox.snapshot()
    with BrevoSandbox(db_path=path, clock=FakeClock()) as reopened:
        assert reopened.snapshot() == before
        assert len(reopened.folders()) == 1


@pytest.mark.anyio
async def test_complete_imports_runs_queued_imports() -> None:
    with BrevoSandbox(clock=FakeClock()) as sandbox:
        async with Client(sandbox.mcp_server("brevo_contact_import_export")) as client:
            request = {
                "jsonBody": [{"email": "a@example.com"}],
                "newList": {"listName": "L", "folderId": 1},
            }
            ok(await client.call_tool("import_contacts", request))
        assert sandbox.processes()[0]["status"] == "queued"
        sandbox.complete_imports()
        assert sandbox.processes()[0]["status"] == "completed"
        assert [c["email"] for c in sandbox.contacts()] == ["a@example.com"]


def test_constructing_the_sandbox_leaves_root_logging_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = logging.getLogger()
    level = root.level
    monkeypatch.setattr(root, "handlers", [])  # as in a CLI process: pytest's handlers aside
    try:
        MCPServer("plain")  # the trap: basicConfig() installs a rich handler on the root logger
        assert [type(h).__name__ for h in root.handlers] == ["RichHandler"]
        root.handlers.clear()
        BrevoSandbox().close()
        assert root.handlers == []
    finally:
        root.handlers.clear()
        root.setLevel(level)


def test_rate_limiter_windows() -> None:
    limiter = RateLimiter({"contacts": (2, 1.0), "lists": None})
    assert limiter.hit("lists", 0.0) is None
    assert limiter.hit("contacts", 100.0) is not None
    second = limiter.hit("contacts", 100.4)
    assert second is not None and (second.remaining, second.reset) == (0, 1)
    with pytest.raises(RateLimitExceeded) as refused:
        limiter.hit("contacts", 100.9)
    assert refused.value.status == 429 and refused.value.body()["reset"] == 1
    third = limiter.hit("contacts", 101.0)
    assert third is not None and third.remaining == 1


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("+33612345678", "+33612345678"),
        ("0033612345678", "+33612345678"),
        ("+14155550123", "+14155550123"),
    ],
)
def test_international_phone_numbers(raw: str, stored: str) -> None:
    assert normalize_phone(raw) == stored


@pytest.mark.parametrize(
    "raw", ["0612345678", "+33 6 12 34 56 78", "+1234", "phone", "+0612345678"]
)
def test_other_phone_numbers_are_invalid(raw: str) -> None:
    with pytest.raises(BrevoError) as caught:
        normalize_phone(raw)
    assert caught.value.body() == {"code": "invalid_parameter", "message": "Invalid phone number"}


def test_emails_are_lower_cased() -> None:
    assert normalize_email(" Ann@Example.COM ") == "ann@example.com"


@pytest.mark.parametrize(
    ("kind", "value"),
    [("text", "x"), ("float", 3), ("float", 2.5), ("date", "2024-02-29"), ("boolean", False)],
)
def test_attribute_values_of_the_right_type(kind: str, value: object) -> None:
    assert check_attribute("X", kind, value) == value
