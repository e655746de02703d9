"""runtime/wire.py: the SSE stream it writes is what the real SDK's accumulator rebuilds."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import anthropic
import httpx2
import pytest
from anthropic.types import TextBlock, ToolUseBlock

from runtime.wire import (
    encode_sse,
    error_body,
    retry_after_seconds,
    sse_events,
    stream_events,
    to_wire_content,
)

USAGE = {
    "input_tokens": 120,
    "cache_creation_input_tokens": 30,
    "cache_read_input_tokens": 400,
    "output_tokens": 57,
}


def message(*content: dict[str, Any], stop_reason: str = "end_turn") -> dict[str, Any]:
    return {
        "id": "msg_01abc",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-6",
        "content": list(content),
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": USAGE,
    }


async def through_sdk(msg: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Serve sse_events(msg) to the real SDK's messages.stream and return what it rebuilt."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        headers = {"content-type": "text/event-stream", "request-id": "req_wire"}
        return httpx2.Response(200, headers=headers, content=sse_events(msg))

    http = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    async with anthropic.AsyncAnthropic(api_key="k", http_client=http, max_retries=0) as client:
        params: dict[str, Any] = {"model": msg["model"], "max_tokens": 100, "messages": []}
        async with client.messages.stream(**params) as stream:
            texts = [t async for t in stream.text_stream]
            final = await stream.get_final_message()
            assert stream.request_id == "req_wire"
    return final.to_dict(mode="json", exclude_none=True), texts


def strip_none(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if v is not None}


@pytest.mark.anyio
async def test_text_message_round_trips_with_several_deltas() -> None:
    text = "Synced 42 customers into Brevo; 3 were skipped (invalid email). Café ✓"
    msg = message({"type": "text", "text": text})
    final, texts = await through_sdk(msg)
    assert final == strip_none(msg)
    assert len(texts) > 1
    assert "".join(texts) == text


@pytest.mark.anyio
async def test_tool_use_input_is_rebuilt_from_json_deltas() -> None:
    tool_input = {"method": "GET", "url": "/wp-json/wc/v3/customers", "params": {"page": 2}}
    msg = message(
        {"type": "tool_use", "id": "toolu_01x", "name": "http_request", "input": tool_input},
        stop_reason="tool_use",
    )
    final, texts = await through_sdk(msg)
    assert final == strip_none(msg)
    assert texts == []
    deltas = [e for e in stream_events(msg) if e["type"] == "content_block_delta"]
    assert len(deltas) > 1
    assert all(d["delta"]["type"] == "input_json_delta" for d in deltas)


@pytest.mark.anyio
async def test_multiple_blocks_round_trip_including_empty_tool_input() -> None:
    msg = message(
        {"type": "thinking", "thinking": "Wants last week's customers.", "signature": "s1"},
        {"type": "text", "text": "Fetching both pages."},
        {"type": "tool_use", "id": "toolu_01a", "name": "list", "input": {}},
        {"type": "tool_use", "id": "toolu_01b", "name": "get", "input": {"ids": [1, 2, 3]}},
        stop_reason="tool_use",
    )
    final, texts = await through_sdk(msg)
    assert final == strip_none(msg)
    assert "".join(texts) == "Fetching both pages."


def test_stream_shape_matches_the_api() -> None:
    msg = message({"type": "text", "text": "hi"})
    kinds = [e["type"] for e in stream_events(msg)]
    assert kinds == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start, delta = stream_events(msg)[0], stream_events(msg)[-2]
    assert start["message"]["content"] == [] and start["message"]["stop_reason"] is None
    assert delta["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert delta["usage"] == USAGE


def test_encode_sse_writes_event_and_data_lines() -> None:
    raw = encode_sse({"type": "message_stop"})
    assert raw == b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    assert sse_events(message()).count(b"\n\n") == 3  # start, delta, stop: no blocks
    assert b"event: ping" not in sse_events(message())


def test_error_body() -> None:
    body = error_body("overloaded_error", "Overloaded")
    assert body == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    assert json.loads(json.dumps(body)) == body


def test_to_wire_content_drops_response_only_fields() -> None:
    blocks = [
        TextBlock.construct(type="text", text="hi", citations=[]),
        ToolUseBlock.construct(
            type="tool_use",
            id="toolu_01",
            name="http_request",
            input={"url": "/x"},
            caller={"type": "direct"},
            toolset_name="woo",
        ),
        {"type": "tool_use", "id": "toolu_02", "name": "n", "input": {}, "caller": None},
        {"type": "redacted_thinking", "data": "opaque"},
    ]
    assert to_wire_content(blocks) == [
        {"type": "text", "text": "hi"},
        {"type": "tool_use", "id": "toolu_01", "name": "http_request", "input": {"url": "/x"}},
        {"type": "tool_use", "id": "toolu_02", "name": "n", "input": {}},
        {"type": "redacted_thinking", "data": "opaque"},
    ]


def test_to_wire_content_refuses_unknown_blocks() -> None:
    with pytest.raises(ValueError, match="'server_tool_use'"):
        to_wire_content([{"type": "server_tool_use", "id": "x"}])


def test_retry_after_seconds() -> None:
    now = datetime(2026, 11, 2, 9, 0, 0, tzinfo=UTC)
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}, now) == 1.5
    assert retry_after_seconds({"retry-after": "2"}, now) == 2.0
    assert retry_after_seconds({"retry-after": "Mon, 02 Nov 2026 09:00:30 GMT"}, now) == 30.0
    assert retry_after_seconds({"retry-after": "soon"}, now) is None
    assert retry_after_seconds({}, now) is None
