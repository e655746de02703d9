"""Human output with rich: check reports, tool traces (stderr), run summaries (stdout).

Results go to stdout, progress and traces to stderr. rich honours NO_COLOR and plain
pipes by itself.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from runtime.check import CheckResult
from runtime.tools import ToolResult


def stdout() -> Console:
    """A console on stdout."""
    return Console(highlight=False, soft_wrap=False)


def stderr() -> Console:
    """A console on stderr."""
    return Console(stderr=True, highlight=False)


def print_check(results: list[CheckResult]) -> None:
    """One block per file: its problems, or a short summary of a valid agent."""
    out, err = stdout(), stderr()
    for r in results:
        if not r.ok:
            err.print(f"[bold red]✗[/] {escape(r.path)}")
            for p in r.problems:
                err.print(f"  {escape(str(p))}", soft_wrap=True)
            continue
        assert r.spec is not None
        s = r.spec
        out.print(f"[bold green]✓[/] {escape(r.path)}  [bold]{s.name}[/] {s.version}")
        out.print(f"    model     {s.model} (max_tokens {s.max_tokens}, max_turns {s.max_turns})")
        tools = ", ".join(f"{t} -> {r.servers.get(t, '?')}" for t in s.tools) or "none"
        out.print(f"    tools     {escape(tools)}", soft_wrap=True)
        for t in s.triggers:
            what = getattr(t, "schedule", None) or f"{t.method} {t.webhook}"  # type: ignore[union-attr]
            out.print(f"    trigger   {escape(str(what))}")
        for name, src in s.sources.items():
            limit = (
                f", {src.rate_limit.requests}/{src.rate_limit.per_seconds:g}s"
                if src.rate_limit
                else ""
            )
            out.print(f"    source    {name}: {escape(src.base_url)} ({src.auth.type}{limit})")
        for w in r.warnings:
            err.print(f"    [yellow]warning[/] {escape(w)}", soft_wrap=True)
    bad = sum(not r.ok for r in results)
    if bad:
        err.print(f"[red]{bad} of {len(results)} agent file(s) invalid[/]")


def print_summary(summary: dict[str, Any], *, as_json: bool) -> None:
    """The run summary: a table for people, one JSON line for machines (last on stdout)."""
    if as_json:
        sys.stdout.write(json.dumps(summary, sort_keys=True) + "\n")
        sys.stdout.flush()
        return
    out = stdout()
    if summary.get("final_text"):
        out.print(summary["final_text"], soft_wrap=True)
    table = Table(title=f"run {summary['run_id']}", show_header=False)
    for key in (
        "agent",
        "status",
        "stop_reason",
        "turns",
        "tool_calls",
        "cost_usd",
        "duration_s",
        "cursor_committed",
    ):
        table.add_row(key, str(summary.get(key)))
    tok = summary.get("tokens", {})
    table.add_row("tokens", ", ".join(f"{k} {v}" for k, v in tok.items()))
    for e in summary.get("errors", []):
        table.add_row("error", escape(str(e)))
    out.print(table)


class ConsoleObserver:
    """Shows each tool call as it starts and ends (stderr)."""

    def __init__(self, console: Console | None = None, quiet: bool = False) -> None:
        from runtime.tools.sync_progress import SyncProgressBar

        self.console = console or stderr()
        self.quiet = quiet
        live = self.console.is_terminal and not quiet  # a bar only where someone watches
        self.sync_progress = SyncProgressBar(self.console) if live else None

    def model_turn(self, response: Any, duration_s: float) -> None:
        if self.quiet:
            return
        for block in response.content:
            if block.get("type") == "text" and block.get("text", "").strip():
                self.console.print(
                    f"[dim]model:[/] {escape(block['text'].strip())}", soft_wrap=True
                )

    def text_delta(self, text: str) -> None:
        return None

    def tool_start(self, call_id: str, name: str, arguments: dict[str, Any]) -> None:
        if not self.quiet:
            args = json.dumps(arguments, ensure_ascii=False)
            args = args if len(args) < 100 else args[:97] + "..."
            self.console.print(f"[cyan]→[/] {escape(name)} {escape(args)}")

    def tool_end(self, call_id: str, name: str, result: ToolResult, duration_s: float) -> None:
        if self.quiet:
            return
        mark = "[red]✗ error[/]" if result.is_error else "[green]✓ ok[/]"
        size = len(result.content)
        self.console.print(f"  {mark} {escape(name)} ({duration_s:.2f}s, {size} chars)")


def print_replay(report: Any, *, updated: bool) -> None:
    """One line per transcript, and the first divergence in full."""
    out = stdout()
    if report.ok:
        verb = "updated" if updated else "ok"
        out.print(f"[green]✓ {verb}[/] {escape(report.path)} ({report.mode}, {report.steps} steps)")
        return
    out.print(f"[red]✗ diverged[/] {escape(report.path)} ({report.mode})")
    out.print(escape(str(report.divergences[0])), soft_wrap=True)
