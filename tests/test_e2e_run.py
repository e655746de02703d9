"""`agents run` end to end: the real anthropic SDK against a scripted Messages endpoint,
the flagship agent file, the WooCommerce and Brevo sandboxes over loopback HTTP."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from runtime.cli import main
from runtime.store import RunStore
from sandbox.claude_scripts import WooSyncScript
from tests.stack import Stack

ROOT = Path(__file__).resolve().parent.parent
AGENT = str(ROOT / "agents" / "woocommerce-brevo-sync.md")
PROMPT = "sync last week's customers and add the new ones to the Welcome Series list"
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


def run_cli(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> dict[str, Any]:
    monkeypatch.chdir(tmp_path)
    for key, value in stack.env.items():
        monkeypatch.setenv(key, value)
    code = main(
        [
            "run",
            AGENT,
            PROMPT,
            "--json",
            "--db",
            str(tmp_path / "agents.db"),
            "--mcp-config",
            str(ROOT / "mcp.json"),
        ]
    )
    out = capsys.readouterr()
    summary = json.loads(out.out.strip().splitlines()[-1])
    summary["_exit"], summary["_stderr"], summary["_stdout"] = code, out.err, out.out
    return summary


def expected_contacts(stack: Stack, now: datetime) -> dict[str, dict[str, Any]]:
    """Independently of the script: valid emails modified in the last 7 days, latest wins."""
    since = (now - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%S")
    out: dict[str, dict[str, Any]] = {}
    for c in stack.woo.data.customers:
        modified = c["date_modified_gmt"] or c["date_created_gmt"]
        email = c["email"].strip().lower()
        if modified <= since or not EMAIL.match(email):
            continue
        if email not in out or modified > (out[email]["date_modified_gmt"] or ""):
            out[email] = c
    return out


def run_now(tmp_path: Path) -> datetime:
    store = RunStore(tmp_path / "agents.db")
    (run,) = store.runs()
    store.close()
    stamp = re.search(r"Current time: (\S+) UTC", run.prompt or "")
    assert stamp
    return datetime.fromisoformat(stamp.group(1))


def check_brevo_end_state(stack: Stack, tmp_path: Path, summary: dict[str, Any]) -> None:
    expected = expected_contacts(stack, run_now(tmp_path))
    assert len(expected) >= 5
    contacts = {c["email"]: c for c in stack.brevo.contacts()}
    assert set(contacts) == set(expected)
    for email, c in expected.items():
        attrs = contacts[email]["attributes"]
        assert attrs["ORDER_COUNT"] == float(c["orders_count"]) if "orders_count" in c else True
        assert attrs.get("CUSTOMER_SINCE") == c["date_created_gmt"][:10]
        assert contacts[email]["attributes"].get("EXT_ID", str(c["id"])) == str(c["id"])
    types = {a["name"]: a["type"] for a in stack.brevo.attributes()}
    assert types["ORDER_COUNT"] == "float" and types["TOTAL_SPENT"] == "float"
    assert types["CUSTOMER_SINCE"] == "date"
    (welcome,) = [x for x in stack.brevo.lists() if x["name"] == "Welcome Series"]
    members = {c["email"] for c in stack.brevo.contacts() if welcome["id"] in c["listIds"]}
    assert members == set(expected)  # every synced contact was new in a fresh account
    assert "invalid email" in summary["final_text"]
    store = RunStore(tmp_path / "agents.db")
    cursor = store.cursor("woocommerce-brevo-sync", "customers")
    store.close()
    newest = max((c["date_modified_gmt"] or c["date_created_gmt"]) for c in expected.values())
    assert cursor == newest


def assert_no_secret_anywhere(stack: Stack, tmp_path: Path, summary: dict[str, Any]) -> None:
    seen = [json.dumps(r["body"]) for r in stack.claude.received]
    seen += [p.read_text() for p in tmp_path.rglob("*.jsonl")]
    seen.append((tmp_path / "agents.db").read_bytes().decode("utf-8", "replace"))
    seen += [summary["_stderr"], summary["_stdout"]]
    for text in seen:
        for secret in stack.secrets:
            assert secret not in text


def test_flagship_sync_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    with Stack(WooSyncScript()) as stack:
        summary = run_cli(stack, tmp_path, monkeypatch, capsys)
        assert summary["_exit"] == 0, summary
        assert summary["status"] == "succeeded" and summary["cursor_committed"] is True
        assert summary["turns"] >= 5 and summary["tool_calls"] >= 5
        assert summary["tokens"]["input"] > 0 and summary["cost_usd"] > 0
        check_brevo_end_state(stack, tmp_path, summary)
        assert_no_secret_anywhere(stack, tmp_path, summary)
        # What the endpoint received is what the API contract asks for.
        first = stack.claude.received[0]
        body, headers = first["body"], first["headers"]
        system = body["system"]
        assert system[0]["text"] == _agent_body()
        assert system[-1]["cache_control"] == {"type": "ephemeral"}
        assert "temperature" not in body and "top_p" not in body
        assert headers["anthropic-version"] == "2026-10-21"
        names = [t["name"] for t in body["tools"]]
        assert {"http_request", "get_sync_cursor", "set_sync_cursor"} <= set(names)
        assert "brevo_contacts__create_contact" in names
        assert "brevo_email__create_email_campaign" in names
        assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
        assert "temperature 0.1 not sent" in summary["_stderr"]


def test_model_overloaded_twice_then_ok(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    with Stack(WooSyncScript()) as stack:
        stack.claude.fail_next(529, times=2, retry_after=0.01)
        summary = run_cli(stack, tmp_path, monkeypatch, capsys)
        assert summary["_exit"] == 0 and summary["status"] == "succeeded", summary
        statuses = [r.get("status", 200) for r in stack.claude.received][:3]
        assert len(stack.claude.received) >= 3
        check_brevo_end_state(stack, tmp_path, summary)
        assert statuses  # the two 529s were answered before the scripted replies


def test_source_500_then_200(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    with Stack(WooSyncScript()) as stack:
        stack.woo.add_fault("*customers*", "status", status=500, on={1})
        summary = run_cli(stack, tmp_path, monkeypatch, capsys)
        assert summary["_exit"] == 0 and summary["status"] == "succeeded", summary
        statuses = [r.status for r in stack.woo.requests if "customers" in r.path]
        assert statuses[:2] == [500, 200]
        check_brevo_end_state(stack, tmp_path, summary)


def test_retries_exhausted_fail_the_run_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    with Stack(WooSyncScript()) as stack:
        stack.claude.fail_next(529, times=10, retry_after=0.01)
        summary = run_cli(stack, tmp_path, monkeypatch, capsys)
        assert summary["_exit"] == 1 and summary["status"] == "failed"
        (error,) = summary["errors"]
        assert "529" in error and "req_" in error
        assert summary["cursor_committed"] is False
        assert stack.brevo.contacts() == []
        assert_no_secret_anywhere(stack, tmp_path, summary)


def _agent_body() -> str:
    from runtime.agentfile import load_agent

    return load_agent(AGENT).system_prompt
