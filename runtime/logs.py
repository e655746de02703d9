"""Event logs of `agents serve`: one event per line, JSON when not on a TTY, rich when on one.

Every record is {"ts": ISO 8601 UTC, "level": "info"|"warning"|"error", "event": NAME,
...fields}. Before it is written, every secret and `${VAR}` value the logger knows
(`Secrets`, from the agents' sources, MCP config and webhook secrets) is replaced by
its `${NAME}` placeholder, so a log line never carries a credential.

    log = event_log(clock)                            # stderr; JSON or rich by TTY
    run_log = log.bind(agent.secrets, agent="x", run_id="r1")
    run_log.info("run_started", trigger="schedule")
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from typing import IO, Any

from rich.console import Console
from rich.markup import escape

from runtime.clock import Clock
from runtime.config import Secrets
from runtime.tools import ToolResult
from runtime.transcript import redact

Record = dict[str, Any]
Sink = Callable[[Record], None]
STYLES = {"info": "cyan", "warning": "yellow", "error": "bold red"}


class EventLog:
    """Structured events to a sink, redacted with the secrets it knows."""

    def __init__(
        self,
        sink: Sink,
        clock: Clock,
        secrets: Secrets | None = None,
        context: dict[str, Any] | None = None,
    ) -> None:
        self._sink, self._clock = sink, clock
        self._secrets = secrets or Secrets()
        self._context = context or {}

    def bind(self, secrets: Secrets | None = None, **context: Any) -> EventLog:
        """A logger that also redacts `secrets` and adds `context` to every record."""
        merged = Secrets()
        merged.merge(self._secrets)
        if secrets is not None:
            merged.merge(secrets)
        return EventLog(self._sink, self._clock, merged, {**self._context, **context})

    def info(self, event: str, **fields: Any) -> None:
        """Log an info event."""
        self.emit("info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        """Log a warning event."""
        self.emit("warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        """Log an error event."""
        self.emit("error", event, fields)

    def emit(self, level: str, event: str, fields: dict[str, Any]) -> None:
        """Write one record (redacted)."""
        ts = self._clock.now().isoformat(timespec="milliseconds")
        record = {"ts": ts, "level": level, "event": event, **self._context, **fields}
        self._sink(redact(record, self._secrets))


class JsonLinesSink:
    """One compact JSON object per line, flushed at once."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def __call__(self, record: Record) -> None:
        line = json.dumps(record, ensure_ascii=False, default=str)
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()


class RichSink:
    """`12:00:05 run_ended agent=x status=succeeded ...` for people at a terminal."""

    def __init__(self, console: Console) -> None:
        self._console = console

    def __call__(self, record: Record) -> None:
        rest = {k: v for k, v in record.items() if k not in ("ts", "level", "event")}
        style = STYLES.get(record["level"], "white")
        pairs = " ".join(f"[dim]{escape(k)}=[/]{escape(_short(v))}" for k, v in rest.items())
        when = str(record["ts"])[11:19]
        self._console.print(f"[dim]{when}[/] [{style}]{record['event']}[/] {pairs}", soft_wrap=True)


class MemorySink:
    """Keeps records in memory; `wait_for` blocks until one matches (tests, embedding)."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self._cond = threading.Condition()

    def __call__(self, record: Record) -> None:
        with self._cond:
            self.records.append(record)
            self._cond.notify_all()

    def events(self, event: str) -> list[Record]:
        """Records of one event name, in order."""
        with self._cond:
            return [r for r in self.records if r["event"] == event]

    def wait_for(self, match: Callable[[Record], bool], timeout: float = 30.0) -> Record:
        """The first record matching `match`, waiting up to `timeout` seconds for it."""
        with self._cond:
            found: list[Record] = []
            ok = self._cond.wait_for(lambda: _first(self.records, match, found), timeout)
        if not ok:
            raise TimeoutError(f"No matching log record within {timeout:g} s")
        return found[0]


def event_log(clock: Clock, stream: IO[str] | None = None) -> EventLog:
    """Stderr (or `stream`): rich on a TTY, JSON lines otherwise."""
    out = stream or sys.stderr
    if out.isatty():
        return EventLog(RichSink(Console(file=out, highlight=False)), clock)
    return EventLog(JsonLinesSink(out), clock)


class LogObserver:
    """A run observer: a `tool_call` event per finished tool call, a heartbeat per step."""

    def __init__(self, log: EventLog, heartbeat: Callable[[], None] | None = None) -> None:
        self._log = log
        self._heartbeat = heartbeat or (lambda: None)

    def model_turn(self, response: Any, duration_s: float) -> None:
        self._heartbeat()

    def text_delta(self, text: str) -> None:
        return None

    def tool_start(self, call_id: str, name: str, arguments: dict[str, Any]) -> None:
        return None

    def tool_end(self, call_id: str, name: str, result: ToolResult, duration_s: float) -> None:
        # Arguments and results stay out of the log: they carry customer data.
        self._log.info(
            "tool_call",
            tool=name,
            is_error=result.is_error,
            duration_s=round(duration_s, 3),
            chars=len(result.content),
        )
        self._heartbeat()


def _first(records: list[Record], match: Callable[[Record], bool], out: list[Record]) -> bool:
    for r in records:
        if match(r):
            out.append(r)
            return True
    return False


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 200 else text[:197] + "..."
