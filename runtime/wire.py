"""Messages API wire format: SSE streams, error bodies and content blocks as plain JSON.

Pure format code (no IO), shared by the model port and the scripted endpoint in
sandbox/claude.py, so that what the sandbox streams is what the SDK reassembles.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

TEXT_CHUNK = 24  # characters per text_delta, so a stream carries several deltas
JSON_CHUNK = 16  # characters per input_json_delta

_USAGE_KEYS = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


def encode_sse(event: dict[str, Any]) -> bytes:
    """One server-sent event: `event: TYPE` and a JSON `data:` line."""
    data = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    return f"event: {event['type']}\ndata: {data}\n\n".encode()


def stream_events(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The events the API streams for a final `message`, in order."""
    usage: dict[str, Any] = dict(message.get("usage") or {})
    start_usage = {**usage, "output_tokens": min(1, int(usage.get("output_tokens", 0)))}
    head: dict[str, Any] = {k: message[k] for k in ("id", "type", "role", "model") if k in message}
    start: dict[str, Any] = {**head, "content": [], "stop_reason": None, "stop_sequence": None}
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": {**start, "usage": start_usage}}
    ]
    for index, block in enumerate(message.get("content") or []):
        events.extend(_block_events(index, block))
        if index == 0:
            events.insert(2, {"type": "ping"})  # the API pings after the first block starts
    delta_usage = {k: usage[k] for k in _USAGE_KEYS if usage.get(k) is not None}
    delta_usage["output_tokens"] = int(usage.get("output_tokens", 0))
    stop = {
        "stop_reason": message.get("stop_reason"),
        "stop_sequence": message.get("stop_sequence"),
    }
    events.append({"type": "message_delta", "delta": stop, "usage": delta_usage})
    events.append({"type": "message_stop"})
    return events


def sse_events(message: dict[str, Any]) -> bytes:
    """The exact SSE body the API sends for a final `message` (stream: true)."""
    return b"".join(encode_sse(event) for event in stream_events(message))


def error_body(type: str, message: str) -> dict[str, Any]:
    """The JSON body of an API error response."""
    return {"type": "error", "error": {"type": type, "message": message}}


def retry_after_seconds(headers: Mapping[str, str], now: datetime) -> float | None:
    """A response's retry-after-ms or retry-after (seconds or HTTP date) as seconds, or None."""
    try:
        if "retry-after-ms" in headers:
            return float(headers["retry-after-ms"]) / 1000
        if "retry-after" in headers:
            return float(headers["retry-after"])
    except ValueError:
        pass
    try:
        return (parsedate_to_datetime(headers["retry-after"]) - now).total_seconds()
    except (KeyError, TypeError, ValueError):
        return None


def to_wire_content(blocks: Iterable[Any]) -> list[dict[str, Any]]:
    """SDK content blocks (or dicts) as plain request blocks, without response-only fields."""
    return [_wire_block(block) for block in blocks]


def _wire_block(block: Any) -> dict[str, Any]:
    get = block.get if isinstance(block, dict) else lambda key: getattr(block, key, None)
    kind = get("type")
    if kind == "text":
        return {"type": "text", "text": get("text")}
    if kind == "tool_use":
        return {"type": "tool_use", "id": get("id"), "name": get("name"), "input": get("input")}
    if kind == "thinking":
        return {"type": "thinking", "thinking": get("thinking"), "signature": get("signature")}
    if kind == "redacted_thinking":
        return {"type": "redacted_thinking", "data": get("data")}
    raise ValueError(f"Content block type '{kind}' cannot be sent back to the API")


def _block_events(index: int, block: dict[str, Any]) -> Iterator[dict[str, Any]]:
    kind = block["type"]
    if kind == "text":
        start: dict[str, Any] = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": c} for c in _chunks(block["text"], TEXT_CHUNK)]
    elif kind == "tool_use":
        start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
        raw = json.dumps(block.get("input") or {}, ensure_ascii=False) if block.get("input") else ""
        deltas = [{"type": "input_json_delta", "partial_json": c} for c in _chunks(raw, JSON_CHUNK)]
        deltas = deltas or [{"type": "input_json_delta", "partial_json": ""}]
    elif kind == "thinking":
        start = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [{"type": "thinking_delta", "thinking": c} for c in _chunks(block["thinking"], 64)]
        deltas.append({"type": "signature_delta", "signature": block.get("signature", "")})
    else:  # blocks that arrive whole (redacted_thinking, server tool results)
        start, deltas = dict(block), []
    yield {"type": "content_block_start", "index": index, "content_block": start}
    for delta in deltas:
        yield {"type": "content_block_delta", "index": index, "delta": delta}
    yield {"type": "content_block_stop", "index": index}


def _chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]
