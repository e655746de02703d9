"""Transcripts: one JSONL file per run, redacted, self-describing, safe to load.

    {"type": "header", "format": 1, "source": "recorded"|"scripted", "agent": ..., ...}
    {"type": "user", "content": "..."}
    {"type": "model_request", "body": {...}, "prefix": N}  the Messages API body as sent;
                                                       its first N messages are those of
                                                       the previous request (not repeated),
                                                       and keys listed in "same" (system,
                                                       tools) are the previous request's
    {"type": "model_response", "body": {...}, ...}     the final message, wire format
    {"type": "tool_call", "id": ..., "name": ..., "input": {...}}
    {"type": "tool_result", "id": ..., "name": ..., "content": "...", "is_error": false}
    {"type": "summary", ...}

Every line is written and flushed as it happens, so a crashed run leaves a readable
transcript. Redaction comes from configuration (`Secrets`): every credential and every
value substituted from a `${VAR}` is replaced by `${NAME}` before anything is written.
Loading parses JSON only (a transcript is untrusted input) and checks each line's shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from runtime.config import Secrets
from runtime.errors import UsageError
from runtime.model import ModelResponse
from runtime.tools import ToolResult

FORMAT = 1
FIXED = ("system", "tools")  # request keys that rarely change within a session
KINDS = {"header", "user", "model_request", "model_response", "tool_call", "tool_result", "summary"}


class TranscriptError(UsageError):
    """A transcript file cannot be read."""


def redact(value: Any, secrets: Secrets) -> Any:
    """`value` with every secret and variable replaced by its `${NAME}` placeholder."""
    pairs = secrets.replacements()
    if not pairs:
        return value
    return _walk(value, pairs)


def _walk(value: Any, pairs: list[tuple[str, str]]) -> Any:
    if isinstance(value, str):
        for secret, placeholder in pairs:
            if secret in value:
                value = value.replace(secret, placeholder)
        return value
    if isinstance(value, list):
        return [_walk(v, pairs) for v in value]
    if isinstance(value, dict):
        return {_walk(k, pairs): _walk(v, pairs) for k, v in value.items()}
    return value


class TranscriptWriter:
    """An observer that writes the run as it happens."""

    def __init__(self, path: str | Path, header: dict[str, Any], secrets: Secrets) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._secrets = secrets
        self._file: IO[str] | None = self.path.open("w", encoding="utf-8")
        self._last_messages: list[Any] = []
        self._last_fixed: dict[str, Any] = {}
        self._write({"type": "header", "format": FORMAT, **header})

    def _write(self, event: dict[str, Any]) -> None:
        if self._file is None:
            return
        # Key order is kept: tool inputs replay exactly as the model wrote them.
        line = json.dumps(redact(event, self._secrets), ensure_ascii=False)
        self._file.write(line + "\n")
        self._file.flush()

    def user(self, content: Any) -> None:
        """A user turn."""
        self._write({"type": "user", "content": content})

    def model_turn(self, response: ModelResponse, duration_s: float) -> None:
        body = dict(response.raw_request)
        messages = list(body.get("messages", []))
        prefix = len(self._last_messages)
        if messages[:prefix] != self._last_messages:  # a new conversation (chat /clear)
            prefix = 0
        self._last_messages = messages
        body["messages"] = messages[prefix:]  # keeps transcripts linear, not quadratic
        same = [k for k in FIXED if k in body and self._last_fixed.get(k) == body[k]]
        self._last_fixed = {k: body[k] for k in FIXED if k in body}
        for k in same:
            del body[k]
        event = {"type": "model_request", "body": body, "prefix": prefix}
        self._write(event | ({"same": same} if same else {}))
        self._write(
            {
                "type": "model_response",
                "body": response.raw_response,
                "request_id": response.request_id,
                "duration_s": round(duration_s, 3),
            }
        )

    def text_delta(self, text: str) -> None:
        return None

    def tool_start(self, call_id: str, name: str, arguments: dict[str, Any]) -> None:
        self._write({"type": "tool_call", "id": call_id, "name": name, "input": arguments})

    def tool_end(self, call_id: str, name: str, result: ToolResult, duration_s: float) -> None:
        self._write(
            {
                "type": "tool_result",
                "id": call_id,
                "name": name,
                "content": result.content,
                "is_error": result.is_error,
                "duration_s": round(duration_s, 3),
            }
        )

    def summary(self, summary: dict[str, Any]) -> None:
        """The run's summary; the last line."""
        self._write({"type": "summary", **summary})

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._file is not None:
            self._file.close()
            self._file = None


@dataclass
class Transcript:
    """A loaded transcript."""

    path: str
    header: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)

    def of(self, kind: str) -> list[dict[str, Any]]:
        """Events of one type, in order."""
        return [e for e in self.events if e["type"] == kind]


def load_transcript(path: str | Path) -> Transcript:
    """Parse and check a transcript file (JSON only: no code is ever executed)."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise TranscriptError(f"Cannot read transcript '{p}': {exc}") from None
    events = [_parse_line(p, n, line) for n, line in enumerate(lines, 1) if line.strip()]
    _expand_prefixes(p, events)
    if not events or events[0]["type"] != "header":
        raise TranscriptError(f"{p}:1: the first line must be the header")
    header = events[0]
    if header.get("format") != FORMAT:
        raise TranscriptError(f"{p}:1: transcript format {header.get('format')!r} not supported")
    if header.get("source") not in ("recorded", "scripted"):
        raise TranscriptError(f"{p}:1: 'source' must be 'recorded' or 'scripted'")
    return Transcript(str(p), header, events[1:])


def _expand_prefixes(p: Path, events: list[dict[str, Any]]) -> None:
    """Give every model_request its whole message list back."""
    previous: list[Any] = []
    fixed: dict[str, Any] = {}
    for e in events:
        if e["type"] != "model_request":
            continue
        body, prefix, same = e.get("body"), e.get("prefix", 0), e.get("same", [])
        if not isinstance(body, dict) or not isinstance(prefix, int) or prefix > len(previous):
            raise TranscriptError(f"{p}:{e['_line']}: malformed model_request")
        if not isinstance(same, list) or any(k not in fixed for k in same):
            raise TranscriptError(f"{p}:{e['_line']}: 'same' names keys no request had")
        body.update({k: fixed[k] for k in same})
        fixed = {k: body[k] for k in FIXED if k in body}
        messages = body.get("messages", [])
        if not isinstance(messages, list):
            raise TranscriptError(f"{p}:{e['_line']}: 'messages' must be a list")
        body["messages"] = previous = previous[:prefix] + messages


def _parse_line(p: Path, n: int, line: str) -> dict[str, Any]:
    try:
        event = json.loads(line)
    except json.JSONDecodeError as exc:
        raise TranscriptError(f"{p}:{n}: not JSON ({exc.msg})") from None
    if not isinstance(event, dict) or event.get("type") not in KINDS:
        raise TranscriptError(f"{p}:{n}: expected an object with 'type' in {sorted(KINDS)}")
    event["_line"] = n
    return event
