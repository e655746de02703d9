"""`agents runs` and `agents runs show RUN_ID`: the run history from a real SQLite file."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from runtime.cli_ops import build_runs, build_serve, run_standalone
from runtime.store import RunStore

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def parser() -> argparse.ArgumentParser:
    """The `agents` parser as runtime/cli.py builds it, with our two commands."""
    p = argparse.ArgumentParser(prog="agents")
    sub = p.add_subparsers(dest="command")
    build_runs(sub.add_parser("runs"))
    build_serve(sub.add_parser("serve"))
    return p


def agents(argv: list[str], capsys: Any) -> tuple[int, str, str]:
    code = run_standalone(parser().parse_args(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = tmp_path / "agents.db"
    store = RunStore(path)
    summary = {
        "turns": 6,
        "tool_calls": 9,
        "cost_usd": 0.0123,
        "duration_s": 12.5,
        "cursor_committed": True,
        "tokens": {"input": 900, "output": 120},
        "errors": [],
        "final_text": "Synced 4 customers.",
    }
    store.start_run("aaa111", "woo-sync", "schedule:0 */6 * * *", "Sync.", T0)
    store.finish_run(
        "aaa111", "succeeded", "end_turn", summary, T0 + timedelta(seconds=12), "/t/aaa111.jsonl"
    )
    failed = {
        **summary,
        "cursor_committed": False,
        "errors": ["Turn limit of 4 reached."],
        "final_text": "",
    }
    store.start_run(
        "bbb222", "crm-sync", "webhook:/hooks/crm", "Sync [bold]it[/].", T0 + timedelta(hours=1)
    )
    store.finish_run("bbb222", "limit", "max_turns", failed, T0 + timedelta(hours=1, seconds=3))
    store.start_run("bbb333", "woo-sync", "cli", "Go.", T0 + timedelta(hours=2))
    store.close()
    return str(path)


def test_runs_table_newest_first(db: str, capsys: Any) -> None:
    code, out, _ = agents(["runs", "--db", db], capsys)
    assert code == 0
    lines = [line for line in out.splitlines() if "sync" in line]
    assert [line.split()[0] for line in lines] == ["bbb333", "bbb222", "aaa111"]
    assert "succeeded" in lines[2] and "moved" in lines[2] and "0.0123" in lines[2]
    assert "limit" in lines[1] and "running" in lines[0]


def test_runs_filter_limit_and_json(db: str, capsys: Any) -> None:
    code, out, _ = agents(
        ["runs", "--db", db, "--agent", "woo-sync", "--limit", "1", "--json"], capsys
    )
    (row,) = json.loads(out)
    assert code == 0 and row["id"] == "bbb333" and row["status"] == "running"
    code, out, _ = agents(["runs", "--db", db, "--json"], capsys)
    rows = json.loads(out)
    assert [r["id"] for r in rows] == ["bbb333", "bbb222", "aaa111"]
    assert rows[2]["turns"] == 6 and rows[1]["errors"] == 1 and "final_text" not in rows[2]


def test_show_one_run_in_detail(db: str, capsys: Any) -> None:
    code, out, _ = agents(["runs", "show", "bbb2", "--db", db], capsys)
    assert code == 0
    assert "run bbb222" in out and "crm-sync" in out and "max_turns" in out
    assert "Turn limit of 4 reached." in out
    code, out, _ = agents(["runs", "--db", db, "show", "aaa111", "--json"], capsys)
    detail = json.loads(out)
    assert detail["summary"]["final_text"] == "Synced 4 customers."
    assert detail["transcript_path"] == "/t/aaa111.jsonl" and detail["prompt"] == "Sync."


def test_show_unknown_or_ambiguous_run(db: str, capsys: Any) -> None:
    code, _, err = agents(["runs", "show", "zzz", "--db", db], capsys)
    assert code == 1 and "No run 'zzz'" in err and "agents runs" in err
    code, _, err = agents(["runs", "show", "bbb", "--db", db], capsys)  # two runs start so
    assert code == 1 and "not unique" in err


def test_no_database_yet(tmp_path: Path, capsys: Any) -> None:
    missing = str(tmp_path / "none.db")
    code, _, err = agents(["runs", "--db", missing], capsys)
    assert code == 0 and "No runs yet" in err
    code, _, err = agents(["runs", "show", "abc", "--db", missing], capsys)
    assert code == 1 and not Path(missing).exists()


def test_serve_options_and_bad_values(tmp_path: Path, capsys: Any) -> None:
    args = parser().parse_args(["serve", str(tmp_path), "--port", "0", "--grace", "2.5"])
    assert (args.agents_dir, args.port, args.grace, args.host) == (
        str(tmp_path),
        0,
        2.5,
        "127.0.0.1",
    )
    code, _, err = agents(["serve", str(tmp_path), "--workers", "0"], capsys)
    assert code == 2 and "--workers" in err
    code, _, err = agents(
        ["serve", str(tmp_path / "empty"), "--db", str(tmp_path / "a.db")], capsys
    )
    assert code == 2 and "No agent files" in err


def test_cli_ops_imports_stay_light() -> None:
    code = "import sys, runtime.cli_ops; print(sorted(m for m in ('starlette', 'uvicorn', 'anthropic', 'rich', 'runtime.serve') if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_wired_into_the_agents_command(
    db: str, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    from runtime import cli

    # The two lines runtime/cli.py's COMMANDS table gets.
    monkeypatch.setitem(
        cli.COMMANDS, "serve", (build_serve, "cron and webhook triggers of every agent")
    )
    monkeypatch.setitem(
        cli.COMMANDS, "runs", (build_runs, "run history; 'runs show RUN_ID' for one")
    )
    assert cli.main(["runs", "--db", db, "--json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == ["bbb333", "bbb222", "aaa111"]
    assert cli.main(["runs", "show", "nope", "--db", db]) == 1
    with pytest.raises(SystemExit):
        cli.main(["serve", "--help"])
    assert "--grace" in capsys.readouterr().out
