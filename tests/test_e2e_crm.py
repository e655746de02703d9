"""`agents run` of the generic template (agents/rest-brevo-connector.md) end to end: the CRM
sandbox (bearer auth, cursor pages) synced into the Brevo sandbox by a scripted policy
through the real anthropic SDK, the http_request tool and Brevo's MCP endpoints."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from runtime.cli import main
from runtime.store import RunStore
from sandbox.brevo import BrevoSandbox
from sandbox.claude import ScriptedClaude
from sandbox.claude_crm import CrmSyncScript, PerConversation
from sandbox.crm import CrmSandbox
from sandbox.server import ServedApp

if TYPE_CHECKING:  # importing it before pytest registers the plugin would skip its rewrite
    from tests.fixtures_sandbox import Served

pytest_plugins = ["tests.fixtures_sandbox"]

ROOT = Path(__file__).resolve().parent.parent
AGENT = str(ROOT / "agents" / "rest-brevo-connector.md")
API_KEY = "sk-ant-test-not-a-real-key-000000"
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


class World:
    """The served CRM, Brevo and scripted Claude, and how to run the agent against them."""

    def __init__(
        self,
        crm: Served[CrmSandbox],
        brevo: Served[BrevoSandbox],
        claude: ScriptedClaude,
        claude_url: str,
        tmp_path: Path,
    ) -> None:
        self.crm, self.brevo, self.claude = crm.sandbox, brevo.sandbox, claude
        self.tmp_path = tmp_path
        self.env = {
            "CRM_URL": crm.url,
            "CRM_TOKEN": crm.sandbox.token,
            "BREVO_MCP_BASE_URL": brevo.url,
            "BREVO_MCP_TOKEN": brevo.sandbox.token,
            "ANTHROPIC_BASE_URL": claude_url,
            "ANTHROPIC_API_KEY": API_KEY,
        }
        self.secrets = [crm.sandbox.token, brevo.sandbox.token, brevo.sandbox.api_key, API_KEY]

    def run(self, capsys: Any) -> dict[str, Any]:
        """One `agents run ... --json`; the summary plus exit code and output."""
        args = ["run", AGENT, "--json", "--db", str(self.tmp_path / "agents.db")]
        code = main([*args, "--mcp-config", str(ROOT / "mcp.json")])
        out = capsys.readouterr()
        summary: dict[str, Any] = json.loads(out.out.strip().splitlines()[-1])
        summary["_exit"], summary["_stderr"], summary["_stdout"] = code, out.err, out.out
        return summary

    def cursor(self) -> str | None:
        store = RunStore(self.tmp_path / "agents.db")
        try:
            return store.cursor("rest-brevo-connector", "contacts")
        finally:
            store.close()


@pytest.fixture
def world(
    crm_server: Served[CrmSandbox],
    brevo_server: Served[BrevoSandbox],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[World]:
    script = PerConversation(lambda: CrmSyncScript(limit=15))
    claude = ScriptedClaude(script, api_key=API_KEY)
    with ServedApp(claude.app) as served:
        w = World(crm_server, brevo_server, claude, served.url, tmp_path)
        monkeypatch.chdir(tmp_path)
        for key, value in w.env.items():
            monkeypatch.setenv(key, value)
        yield w


def expected_contacts(crm: CrmSandbox) -> dict[str, dict[str, Any]]:
    """Independently of the script: valid emails, lower-cased, the latest update wins."""
    out: dict[str, dict[str, Any]] = {}
    for c in sorted(crm.contacts(), key=lambda c: (c["updated_at"], c["id"])):
        email = c["email"].strip().lower()
        if EMAIL.match(email):
            out[email] = c
    return out


def check_brevo_matches_crm(world: World) -> None:
    expected = expected_contacts(world.crm)
    contacts = {c["email"]: c for c in world.brevo.contacts()}
    assert set(contacts) == set(expected)
    for email, source in expected.items():
        attrs = contacts[email]["attributes"]
        assert attrs["FIRSTNAME"] == source["first_name"]
        assert attrs["LASTNAME"] == source["last_name"]
        assert attrs.get("COMPANY") == source["company"]
        assert attrs.get("EXT_ID", source["id"]) == source["id"]
    types = {a["name"]: a["type"] for a in world.brevo.attributes()}
    assert types["COMPANY"] == "text"


def assert_no_secret_anywhere(world: World, summaries: list[dict[str, Any]]) -> None:
    seen = [json.dumps(r["body"]) for r in world.claude.received]
    seen += [p.read_text() for p in world.tmp_path.rglob("*.jsonl")]
    seen.append((world.tmp_path / "agents.db").read_bytes().decode("utf-8", "replace"))
    seen += [s["_stderr"] + s["_stdout"] for s in summaries]
    for text in seen:
        for secret in world.secrets:
            assert secret not in text


def test_template_syncs_the_crm_into_brevo_and_resumes_from_its_cursor(
    world: World, capsys: Any
) -> None:
    first = world.run(capsys)
    assert first["_exit"] == 0 and first["status"] == "succeeded", first
    assert first["cursor_committed"] is True
    check_brevo_matches_crm(world)
    assert world.crm.statuses == [200, 200, 200]  # 40 contacts in pages of 15
    newest = max(c["updated_at"] for c in world.crm.contacts())
    assert world.cursor() == newest
    invalid = world.crm.edge_cases["invalid_email"]
    assert f"skipped 3 (invalid email): {', '.join(invalid)}" in first["final_text"]
    assert "skipped 1 (duplicate email)" in first["final_text"]
    assert "created 36 contacts" in first["final_text"]
    calls = dict(world.brevo.call_counts())
    snapshot = world.brevo.snapshot()

    second = world.run(capsys)  # nothing changed: nothing is written
    assert second["status"] == "succeeded", second
    assert "read 0 contacts" in second["final_text"]
    assert world.brevo.snapshot() == snapshot
    assert world.brevo.call_counts().get("create_contact") == calls["create_contact"]
    assert world.cursor() == newest

    changed = world.crm.modify_contact("ct_00010", company="Acme Robotics")
    third = world.run(capsys)  # only the changed contact is read and updated
    assert third["status"] == "succeeded", third
    assert "read 1 contacts" in third["final_text"]
    assert "updated 1 contacts" in third["final_text"]
    assert world.cursor() == changed["updated_at"]
    check_brevo_matches_crm(world)
    assert world.crm.statuses == [200] * 5
    assert_no_secret_anywhere(world, [first, second, third])


def test_the_model_sees_the_crm_through_http_request_only(world: World, capsys: Any) -> None:
    summary = world.run(capsys)
    assert summary["status"] == "succeeded", summary
    body = world.claude.received[0]["body"]
    names = [t["name"] for t in body["tools"]]
    assert {"http_request", "get_sync_cursor", "set_sync_cursor"} <= set(names)
    assert "brevo_contacts__create_contact" in names
    assert not any(n.startswith("brevo_email") for n in names)  # only the tools it names
    http = next(t for t in body["tools"] if t["name"] == "http_request")
    assert world.env["CRM_URL"] + "/api" in http["description"]
    # The pages the model read went out with the cursor the CRM handed back.
    requests = [
        block["input"]
        for m in world.claude.received[-1]["body"]["messages"]
        if m["role"] == "assistant"
        for block in m["content"]
        if block.get("type") == "tool_use" and block["name"] == "http_request"
    ]
    cursors = [r["params"].get("cursor") for r in requests]
    assert len(cursors) == 3 and cursors[0] is None and all(cursors[1:])
