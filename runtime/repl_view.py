"""What `agents chat` shows. `ChatView` is an Observer of the run (runtime.loop).

Inside a turn a transient live region shows what is under way: the text streaming
in, a spinner per running tool call, a progress bar for a wide batch of calls or for
a bulk sync reporting through `sync_progress()`. Finished steps are printed above it
for good: the text as Markdown, one line per tool call outcome, a summary table.
Without a terminal only those lines are written; rich honours NO_COLOR and width.
"""

from __future__ import annotations

import json
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import astuple, dataclass
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.json import JSON
from rich.live import Live
from rich.markdown import Markdown
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from runtime.agentfile import AgentSpec
from runtime.loop import LoopResult
from runtime.model import ModelResponse
from runtime.tools import Tool, ToolResult

if TYPE_CHECKING:
    from runtime.repl import Meter
    from runtime.tools.sync_report import SyncProgress

OUTCOMES = ("created", "updated", "deleted")
VERBS = {"create": "created", "update": "updated", "delete": "deleted", "remove": "deleted"}
BATCH = 4  # a model turn with at least this many tool calls gets a progress bar
BANNER_HINT = "Type a request or /help. Esc-Enter new line, Ctrl-C interrupts, Ctrl-D leaves."
SHOWN_RUNNING = 6  # spinners shown at once; the rest are counted


@dataclass
class CallRecord:
    """One tool call as the chat saw it."""

    call_id: str
    name: str
    arguments: dict[str, Any]
    spinner: Spinner
    result: ToolResult | None = None
    duration_s: float = 0.0


def split_name(name: str) -> tuple[str, str]:
    """('server', 'tool') from 'server__tool'; ('', name) for a built-in tool."""
    server, sep, tool = name.partition("__")
    return (server, tool) if sep else ("", name)


def label(name: str) -> str:
    """'server › tool', or the built-in tool's name."""
    server, tool = split_name(name)
    return f"{server} › {tool}" if server else tool


def compact(value: Any, depth: int = 0) -> str:
    """Arguments on one line: k=v pairs, long values cut, nesting summarised."""
    if isinstance(value, dict):
        if depth > 1:
            return "{…}"
        inner = ", ".join(f"{k}={compact(v, depth + 1)}" for k, v in value.items())
        return inner if depth == 0 else "{" + inner + "}"
    if isinstance(value, list):
        if depth > 1 or len(value) > 3:
            return f"[{len(value)} items]"
        return "[" + ", ".join(compact(v, depth + 1) for v in value) + "]"
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 40 else text[:39] + "…"


def size(text: str) -> str:
    """Human size of a tool result."""
    n = len(text.encode("utf-8"))
    return f"{n} B" if n < 1000 else f"{n / 1000:.1f} kB" if n < 1_000_000 else f"{n / 1e6:.1f} MB"


def outcomes(name: str, result: ToolResult) -> Counter[str]:
    """created/updated/deleted counts a successful call reports (or its verb implies)."""
    found: Counter[str] = Counter()
    if result.is_error:
        return found
    try:
        data = json.loads(result.content)
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in OUTCOMES:
            value = data.get(key)
            if value is True:
                found[key] += 1
            elif isinstance(value, int) and not isinstance(value, bool) and value > 0:
                found[key] += value
    if not found:
        verb = split_name(name)[1].split("_", 1)[0].lower()
        if verb in VERBS:
            found[VERBS[verb]] += 1
    return found


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


class ChatView:
    """Renders one chat on a rich Console; an Observer of every step of its turns."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.redact: Callable[[str], str] = lambda text: text  # the chat scrubs credentials
        self.calls: list[CallRecord] = []  # every call of the chat, for /last
        self._turn: list[CallRecord] = []
        self._stream = ""
        self._batch = (0, 0)  # (calls in the model's last turn, finished)
        self._model = ""
        self._sync: SyncProgress | None = None
        self._waiting = Spinner("dots", style="cyan")
        self._live: Live | None = None
        self._lock = threading.Lock()  # the live region renders from rich's refresh thread

    # -- Observer -----------------------------------------------------------
    def model_turn(self, response: ModelResponse, duration_s: float) -> None:
        with self._lock:
            self._stream = ""
            self._batch = (len(response.tool_calls), 0)
        if response.text.strip():
            self.console.print(Markdown(self.redact(response.text)))

    def text_delta(self, text: str) -> None:
        with self._lock:
            self._stream += text

    def tool_start(self, call_id: str, name: str, arguments: dict[str, Any]) -> None:
        spinner = Spinner("dots", style="cyan")
        record = CallRecord(call_id, name, arguments, spinner)
        spinner.text = Text(self._call_line(record, 4), no_wrap=True, overflow="ellipsis")
        with self._lock:
            self._turn.append(record)
            self.calls.append(record)

    def tool_end(self, call_id: str, name: str, result: ToolResult, duration_s: float) -> None:
        record = next((c for c in reversed(self._turn) if c.call_id == call_id), None)
        if record is None:
            return
        with self._lock:
            record.result, record.duration_s = result, duration_s
            self._batch = (self._batch[0], self._batch[1] + 1)
        self._print_outcome(record)

    def sync_progress(self, progress: SyncProgress) -> None:
        """The hook a bulk sync tool reports to (runtime/tools/sync.py): a progress bar."""
        with self._lock:
            self._sync = None if progress.done else progress

    # -- turns --------------------------------------------------------------
    def begin_turn(self, model: str) -> None:
        """A user turn starts: show the live region (on a terminal)."""
        self._turn, self._stream, self._batch, self._model = [], "", (0, 0), model
        self._sync = None
        self._start_live()

    def end_turn(self) -> None:
        """The turn is over (done, failed or interrupted): drop the live region."""
        if self._live is not None:
            self._live.stop()
            self._live = None

    @contextmanager
    def paused(self) -> Iterator[None]:
        """No live region while the user answers a question."""
        live = self._live is not None
        self.end_turn()
        try:
            yield
        finally:
            if live:
                self._start_live()

    def _start_live(self) -> None:
        if self.console.is_terminal and not self.console.is_dumb_terminal:
            self._live = Live(console=self.console, get_renderable=self.activity, transient=True)
            self._live.start()

    def activity(self) -> RenderableType:
        """What the live region shows now."""
        with self._lock:
            stream, running = self._stream, [c for c in self._turn if c.result is None]
            (total, done), sync = self._batch, self._sync
        parts: list[RenderableType] = []
        if stream.strip():
            tail = "\n".join(stream.rstrip().splitlines()[-6:])
            parts.append(Text(self.redact(tail), style="dim"))
        parts.extend(record.spinner for record in running[:SHOWN_RUNNING])
        if len(running) > SHOWN_RUNNING:
            parts.append(Text(f"  … and {len(running) - SHOWN_RUNNING} more running", "dim"))
        if total >= BATCH:
            parts.append(self._bar(done, total, f"{done}/{total} tool calls"))
        if sync is not None:
            read = f"{sync.fetched}/{sync.total}" if sync.total else str(sync.fetched)
            note = f"{read} read · {sync.written} written · {sync.failed} failed"
            parts.append(self._bar(sync.fetched, sync.total, note))
        if not running and not stream.strip():
            self._waiting.text = Text(f"waiting for {self._model}…", style="dim")
            parts.append(self._waiting)
        return Group(*parts)

    def _bar(self, done: float, total: float | None, text: str) -> RenderableType:
        grid = Table.grid(padding=(0, 1))
        grid.add_row(Text("  "), ProgressBar(total=total, completed=done, width=30), Text(text))
        return grid

    # -- tool lines ---------------------------------------------------------
    def _call_line(self, record: CallRecord, reserved: int) -> str:
        room = self.console.width - reserved - len(label(record.name)) - 2
        args = self.redact(compact(record.arguments))
        return f"{label(record.name)}  {_fit(args, max(room, 10))}"

    def _print_outcome(self, record: CallRecord) -> None:
        assert record.result is not None
        res = record.result
        tail = f" {record.duration_s:6.2f}s {size(res.content):>8}"  # right-aligned
        line = self._call_line(record, 4 + len(tail)).ljust(self.console.width - 4 - len(tail))
        text = Text.assemble(
            ("  ✗ " if res.is_error else "  ✓ ", "red" if res.is_error else "green"),
            (line, "bold red" if res.is_error else ""),
            (tail, "dim"),
        )
        text.no_wrap, text.overflow = True, "ellipsis"
        self.console.print(text)
        if res.is_error:
            first = self.redact(res.content).strip().splitlines()[0:1] or ["(no message)"]
            self.console.print(Text(_fit("    " + first[0], self.console.width), style="red"))

    # -- the end of a turn ----------------------------------------------------
    def turn_summary(self, result: LoopResult, used: Meter, duration_s: float) -> None:
        """The turn's tool calls by tool (with what they created/updated), then one line."""
        if self._turn:
            self.console.print(self._table(self._turn))
        status = {"succeeded": "[green]done[/]", "cancelled": "[yellow]interrupted[/]"}.get(
            result.status, f"[red]{escape(result.status)}[/] ({escape(result.stop_reason)})"
        )
        calls = [_n(used.requests, "model call"), _n(len(self._turn), "tool call")]
        tokens = f"{sum(astuple(used.usage)):,} tokens"
        facts = [status, *calls, tokens, f"${used.cost_usd:.4f}"]
        self.console.print(" · ".join([*facts, f"{duration_s:.1f}s"]), style="dim")
        for error in result.errors:
            self.console.print(f"[red]{escape(self.redact(error))}[/]")

    def _table(self, records: Sequence[CallRecord]) -> Table:
        rows: dict[str, defaultdict[str, float]] = {}
        for r in records:
            row = rows.setdefault(r.name, defaultdict(float))
            row["calls"] += 1
            if r.result is None:
                row["interrupted"] += 1
                continue
            row["errors"] += r.result.is_error
            row["time"] += r.duration_s
            for key, n in outcomes(r.name, r.result).items():
                row[key] += n
        extra = ("errors", *OUTCOMES, "interrupted")
        cols = ["calls", *(c for c in extra if any(row[c] for row in rows.values()))]
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        table.add_column("tool", overflow="ellipsis", no_wrap=True)
        for c in [*cols, "time"]:
            table.add_column(c, justify="right")
        for name, row in rows.items():
            cells = [f"{row[c]:g}" if row[c] else "" for c in cols]
            table.add_row(label(name), *cells, f"{row['time']:.2f}s")
        return table

    # -- commands -----------------------------------------------------------
    def banner(
        self, spec: AgentSpec, servers: Sequence[tuple[str, str, int]], builtins: str
    ) -> None:
        """Who we are talking to and which MCP servers connected."""
        self.console.print(
            f"[bold]{escape(spec.name)}[/] {escape(spec.version)} · {escape(spec.model)}"
        )
        rows = [(name, url, f"{count} tools", bool(count)) for name, url, count in servers]
        if builtins:
            rows.append(("built-in", builtins, "", True))
        name_w = max((len(r[0]) for r in rows), default=0)
        for name, where, count, ok in rows:
            room = self.console.width - name_w - len(count) - 8
            line = Text.assemble(
                ("  ✓ " if ok else "  ! ", "green" if ok else "yellow"),
                name.ljust(name_w + 2),
                (_fit(where, max(room, 10)).ljust(max(room, 10) + 2), "dim"),
                count,
            )
            self.console.print(line, no_wrap=True, overflow="ellipsis")
        self.hint(BANNER_HINT)

    def help(self, commands: Mapping[str, tuple[str, str]], keys: Sequence[str]) -> None:
        """The slash commands and the key bindings."""
        for name, (args, summary) in commands.items():
            self.console.print(f"[bold]{f'{name} {args}'.rstrip():<14}[/] {escape(summary)}")
        for key in keys:
            self.console.print(f"  {key}", style="dim")

    def tools(self, tools: Mapping[str, Tool]) -> None:
        """Every tool by server; destructive ones marked (they ask before running)."""
        by_server: dict[str, list[Tool]] = {}
        for tool in tools.values():
            by_server.setdefault(split_name(tool.name)[0] or "built-in", []).append(tool)
        width = max((len(split_name(t)[1]) for t in tools), default=0) + 2
        for server, group in by_server.items():
            self.console.print(f"[bold]{escape(server)}[/] ({_n(len(group), 'tool')})")
            for tool in group:
                mark = ("⚠ ", "yellow") if tool.destructive else "  "
                first = (tool.description or "").strip().split("\n")[0]
                room = max(self.console.width - width - 4, 10)
                line = Text.assemble("  ", split_name(tool.name)[1].ljust(width), mark)
                line.append(_fit(first, room), style="dim")
                self.console.print(line, no_wrap=True, overflow="ellipsis")
        self.hint("⚠ destructive: asks y/N before it runs.")

    def sources(self, spec: AgentSpec) -> None:
        """The APIs the http_request tool may reach, as the agent file declares them."""
        if not spec.sources:
            self.hint("This agent declares no sources.")
        for name, src in spec.sources.items():
            limit = src.rate_limit
            rate = f"{limit.requests}/{limit.per_seconds:g}s" if limit else "no limit"
            access = "read-write" if src.write else "read-only"
            self.console.print(f"[bold]{escape(name)}[/]  {escape(src.base_url)}")
            self.console.print(f"  auth {src.auth.type} · {rate} · {access}", style="dim")

    def cost(self, m: Meter, model: str) -> None:
        """Tokens and USD so far, with prompt-cache hits."""
        u = m.usage
        self.console.print(
            f"tokens  input {u.input:,} · output {u.output:,} · cache read {u.cache_read:,}"
            f" · cache write {u.cache_write:,}\n"
            f"calls   {_n(m.requests, 'model call')} ({m.cache_hits} read the prompt cache)"
            f" · {_n(m.tool_calls, 'tool call')}\n"
            f"cost    [bold]${m.cost_usd:.4f}[/] at catalog prices (model now {escape(model)})"
        )

    def last(self, n: int) -> None:
        """The n-th last tool call in full: arguments and result."""
        if not 0 < n <= len(self.calls):
            self.hint(f"There are {_n(len(self.calls), 'tool call')} so far.")
            return
        r = self.calls[-n]
        res = r.result
        state = "running" if res is None else "error" if res.is_error else "ok"
        more = f", {r.duration_s:.2f}s, {size(res.content)}" if res is not None else ""
        self.console.print(f"[bold]{escape(label(r.name))}[/] ({state}{more})")
        self.console.print("arguments", style="dim")
        self.console.print(JSON(self.redact(json.dumps(r.arguments)), highlight=False))
        if res is not None:
            self.console.print("result", style="dim")
            text = self.redact(res.content)
            try:
                self.console.print(JSON(text, highlight=False))
            except ValueError:
                self.console.print(Text(text))

    def confirm_request(self, name: str, arguments: dict[str, Any]) -> None:
        """Say which destructive call waits for a yes, with its arguments in full."""
        self.console.print(Text.assemble(("  ⚠ destructive: ", "bold yellow"), label(name)))
        args = json.dumps(arguments, ensure_ascii=False)
        self.console.print(Text("    " + self.redact(args)), overflow="fold")

    def info(self, message: str) -> None:
        """A plain line."""
        self.console.print(escape(self.redact(message)))

    def hint(self, message: str) -> None:
        """A dim line."""
        self.console.print(escape(message), style="dim")

    def warn(self, message: str) -> None:
        """A warning (MCP servers listing no tools, model notes)."""
        self.console.print(f"[bold yellow]warning[/] {escape(self.redact(message))}")

    def error(self, message: str) -> None:
        """An error the user can act on."""
        self.console.print(f"[bold red]error[/] {escape(self.redact(message))}")


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
