"""`get_sync_cursor` / `set_sync_cursor`: where the last sync stopped, per agent and stream.

`set` only stages a value. The runner commits staged cursors (compare-and-set against
the value read at stage time) after the run ended successfully, so a failed,
cancelled or crashed run never moves a cursor.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from runtime.clock import Clock
from runtime.store import RunStore
from runtime.tools import ToolResult
from runtime.tools.sync_transforms import parse_time

STREAM = {"type": "string", "pattern": "^[a-z0-9_.-]{1,64}$", "description": "e.g. customers"}
FUTURE_SLACK = timedelta(minutes=5)


@dataclass
class CursorStage:
    """Cursors staged by one run: stream -> (value committed when read, new value), and
    the marks (record id -> fingerprint) of the records synced at the new value."""

    staged: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    marks: dict[str, dict[str, str]] = field(default_factory=dict)

    def commit(self, store: RunStore, agent: str, run_id: str, at: datetime) -> list[str]:
        """Commit every staged cursor; returns the streams whose compare-and-set failed."""
        lost = []
        for stream, (expected, value) in sorted(self.staged.items()):
            marks = self.marks.get(stream)
            if not store.commit_cursor(agent, stream, expected, value, run_id, at, marks):
                lost.append(stream)
        self.staged.clear()  # committed (or lost): a later turn stages against the new value
        self.marks.clear()
        return lost


class GetCursorTool:
    """Read the committed (and any staged) cursor of a stream."""

    name = "get_sync_cursor"
    description = (
        "Read where the last successful sync of a stream stopped (an ISO 8601 UTC time or "
        "an opaque token). Returns {stream, cursor, staged}; cursor is null when the "
        "stream was never synced."
    )
    input_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {"stream": STREAM},
        "required": ["stream"],
    }
    destructive = False

    def __init__(self, store: RunStore, agent: str, stage: CursorStage) -> None:
        self._store, self._agent, self._stage = store, agent, stage

    async def call(self, arguments: dict[str, Any]) -> ToolResult:
        stream = str(arguments.get("stream", ""))
        value = self._store.cursor(self._agent, stream)
        staged = self._stage.staged.get(stream, (None, None))[1]
        return ToolResult(json.dumps({"stream": stream, "cursor": value, "staged": staged}))


class SetCursorTool:
    """Stage a new cursor, committed only if the whole run succeeds."""

    name = "set_sync_cursor"
    description = (
        "Stage the new cursor of a stream: the largest source modification time (UTC, "
        "ISO 8601, e.g. 2026-11-30T10:15:00) among the records you synced. It is committed "
        "only when the run ends successfully; a cursor in the future is refused."
    )
    input_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {"stream": STREAM, "cursor": {"type": "string", "minLength": 1}},
        "required": ["stream", "cursor"],
    }
    destructive = False

    def __init__(self, store: RunStore, agent: str, stage: CursorStage, clock: Clock) -> None:
        self._store, self._agent, self._stage, self._clock = store, agent, stage, clock

    async def call(self, arguments: dict[str, Any]) -> ToolResult:
        stream, value = str(arguments.get("stream", "")), str(arguments.get("cursor", ""))
        if not stream or not value:
            return ToolResult("Both 'stream' and 'cursor' are required.", is_error=True)
        when = parse_time(value)
        if when is not None and when > self._clock.now() + FUTURE_SLACK:
            return ToolResult(
                f"Cursor '{value}' is in the future (now is {self._clock.now():%Y-%m-%dT%H:%M:%S}"
                " UTC). Use the largest modification time among records you actually synced.",
                is_error=True,
            )
        expected = self._stage.staged.get(stream, (self._store.cursor(self._agent, stream), ""))[0]
        self._stage.staged[stream] = (expected, value)
        return ToolResult(json.dumps({"stream": stream, "staged": value, "committed": False}))
