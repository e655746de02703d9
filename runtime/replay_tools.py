"""Tool-side replay: compare live tool calls with the recording, or answer from it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runtime.replay_match import Divergence, first_difference, normalize_result
from runtime.tools import Tool, ToolResult, WrappedTool
from runtime.transcript import Transcript

if TYPE_CHECKING:
    from runtime.replay import ReplayReport


class ToolChecker:
    """An observer comparing each live tool call and result with the recorded one (by id)."""

    def __init__(self, t: Transcript, report: ReplayReport, update: bool) -> None:
        self._calls = {e["id"]: e for e in t.of("tool_call")}
        self._results = {e["id"]: e for e in t.of("tool_result")}
        self._report, self._update = report, update
        self.redact: Any = lambda value: value

    def model_turn(self, response: Any, duration_s: float) -> None:
        return None

    def text_delta(self, text: str) -> None:
        return None

    def tool_start(self, call_id: str, name: str, arguments: dict[str, Any]) -> None:
        recorded = self._calls.get(call_id)
        actual = {"name": name, "input": self.redact(arguments)}
        expected = {"name": recorded["name"], "input": recorded["input"]} if recorded else None
        self._compare("tool_input", recorded, expected, actual)

    def tool_end(self, call_id: str, name: str, result: ToolResult, duration_s: float) -> None:
        recorded = self._results.get(call_id)
        content = normalize_result(name, self.redact(result.content))
        actual = {"content": content, "is_error": result.is_error}
        expected = None
        if recorded:
            old = normalize_result(recorded["name"], recorded["content"])
            expected = {"content": old, "is_error": recorded["is_error"]}
        self._compare("tool_result", recorded, expected, actual)

    def _compare(self, matcher: str, recorded: Any, expected: Any, actual: Any) -> None:
        step = self._report.step()
        if self._update:
            return
        line = recorded.get("_line") if recorded else None
        found = first_difference(expected, actual) if expected is not None else ("$", None, actual)
        if found:
            path, a, b = found
            self._report.diverge(Divergence(step, line, matcher, path, a, b))


class RecordedTools:
    """Offline mode: every tool answers with its recorded result (matched by name and input)."""

    def __init__(self, t: Transcript, report: ReplayReport) -> None:
        results = {e["id"]: e for e in t.of("tool_result")}
        self._pending = [(c, results.get(c["id"])) for c in t.of("tool_call")]
        self._report = report
        self.redact: Any = lambda value: value  # set to the session's redaction once open

    def wrap(self, tools: list[Tool]) -> list[Tool]:
        """The same tools (names, schemas) answering from the transcript."""
        return [_Recorded(t, self) for t in tools]

    def answer(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        """The recorded result of the first unused call with this name and input."""
        args = self.redact(arguments)
        for i, (call, result) in enumerate(self._pending):
            if call["name"] == name and call["input"] == args and result is not None:
                del self._pending[i]
                return ToolResult(result["content"], is_error=bool(result["is_error"]))
        step = self._report.step()
        note = "no recorded call with this name and input"
        self._report.diverge(Divergence(step, None, "tool_input", "$", None, args, note))
        return ToolResult("Replay: no recorded result for this call.", is_error=True)


class _Recorded(WrappedTool):
    """A tool whose calls are answered by `RecordedTools`."""

    def __init__(self, tool: Tool, book: RecordedTools) -> None:
        super().__init__(tool)
        self._book = book

    async def call(self, arguments: dict[str, Any]) -> ToolResult:
        return self._book.answer(self.name, arguments)
