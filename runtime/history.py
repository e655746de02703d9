"""The run history (`agents runs`, `agents runs show RUN_ID`, GET /runs): tables and JSON.

The list shows what every run did at a glance; `show` gives one run in full: its
summary, errors, final text and transcript path. The JSON row for GET /runs leaves
out the prompt and the final text, which carry customer data (webhook payloads).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from runtime.store import RunRecord

STATUS_STYLE = {
    "succeeded": "green",
    "failed": "red",
    "limit": "yellow",
    "cancelled": "magenta",
    "running": "cyan",
}
COLUMNS = [  # name, justify, min width; the trigger goes last: the one cut when narrow
    ("run", "left", 6),
    ("agent", "left", 8),
    ("status", "left", 9),
    ("started (UTC)", "left", 14),
    ("time", "right", 6),
    ("turns", "right", 5),
    ("cost $", "right", 6),
    ("cursor", "left", 6),
    ("trigger", "left", 8),
]
BRIEF_KEYS = ("turns", "tool_calls", "cost_usd", "duration_s", "cursor_committed", "tokens")


def run_row(record: RunRecord) -> dict[str, Any]:
    """One run as JSON for lists: no prompt, no final text."""
    summary = record.summary
    return {
        **_head(record),
        **{k: summary[k] for k in BRIEF_KEYS if k in summary},
        "errors": len(summary.get("errors") or []),
    }


def run_detail(record: RunRecord) -> dict[str, Any]:
    """One run as JSON, in full (the local history: the same trust as the database)."""
    return {
        **_head(record),
        "prompt": record.prompt,
        "summary": record.summary,
    }


def _head(record: RunRecord) -> dict[str, Any]:
    """The fields every view of a run starts with."""
    return {
        "id": record.id,
        "agent": record.agent,
        "trigger": record.trigger,
        "status": record.status,
        "stop_reason": record.stop_reason,
        "started_at": record.started_at,
        "ended_at": record.ended_at,
        "transcript_path": record.transcript_path,
    }


def runs_table(records: list[RunRecord]) -> Table:
    """The history as a table, newest first (id and status never cut on narrow screens)."""
    table = Table(title="runs", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for name, justify, width in COLUMNS:
        last = name == "trigger"
        table.add_column(name, justify=justify, no_wrap=not last, min_width=width)  # type: ignore[arg-type]
    for r in records:
        s = r.summary
        cost = s.get("cost_usd")
        table.add_row(
            r.id,
            escape(r.agent),
            _status(r.status),
            _when(r.started_at),
            _duration(s.get("duration_s")),
            _num(s.get("turns")),
            f"{cost:.4f}" if isinstance(cost, int | float) else "",
            _cursor(s.get("cursor_committed")),
            escape(r.trigger),
        )
    return table


def print_runs(records: list[RunRecord], console: Console, *, as_json: bool = False) -> None:
    """The history: a table for people, one JSON array for machines."""
    if as_json:
        console.file.write(json.dumps([run_row(r) for r in records]) + "\n")
        return
    if not records:
        console.print("No runs yet. Start one with 'agents run AGENT' or 'agents serve'.")
        return
    console.print(runs_table(records))


def print_run(record: RunRecord, console: Console, *, as_json: bool = False) -> None:
    """One run in detail: fields, tokens, errors, final text, transcript path."""
    if as_json:
        console.file.write(json.dumps(run_detail(record)) + "\n")
        return
    s = record.summary
    table = Table(title=f"run {record.id}", title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in [
        ("agent", escape(record.agent)),
        ("trigger", escape(record.trigger)),
        ("status", _status(record.status)),
        ("stop reason", escape(str(record.stop_reason or ""))),
        ("started", record.started_at),
        ("ended", record.ended_at or ""),
        *[(k.replace("_", " "), escape(_value(s[k]))) for k in BRIEF_KEYS if k in s],
        ("transcript", escape(record.transcript_path or "")),
    ]:
        table.add_row(key, value)
    for error in s.get("errors") or []:
        table.add_row("[red]error[/]", escape(str(error)))
    console.print(table)
    if s.get("final_text"):
        console.print(escape(str(s["final_text"])), soft_wrap=True)


def _status(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{escape(status)}[/]"


def _when(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).strftime("%m-%d %H:%M:%S")
    except ValueError:
        return escape(iso)


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return ""
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}m"


def _cursor(committed: Any) -> str:
    return "moved" if committed is True else "-" if committed is False else ""


def _num(value: Any) -> str:
    return "" if value is None else str(value)


def _value(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return str(value)
