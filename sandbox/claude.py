"""A scripted Anthropic-compatible Messages endpoint (POST /v1/messages) for tests and demos.

It checks requests the way the real API does (version header, key, body shape, tool
result pairing, no temperature under 2026-10-21) and answers with whatever its script
returns, streamed or not. It imports runtime/wire.py, which is pure format code, so the
stream it sends is the one the model port's tests reason about; nothing else in runtime.

    claude = ScriptedClaude(lambda req: reply(text("Hello")))
    with claude.serve() as server:
        AsyncAnthropic(api_key="k", base_url=server.url) ...
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from itertools import count
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from runtime.wire import encode_sse, error_body, stream_events
from sandbox.server import ServedApp

CURRENT_VERSION = "2026-10-21"
SAMPLING_KEYS = ("temperature", "top_p", "top_k")
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
DEFAULT_MESSAGES = {429: "Rate limit exceeded", 500: "Internal server error", 529: "Overloaded"}


@dataclass(frozen=True)
class ApiError:
    """An error answer: HTTP status, error type and message (plus retry-after seconds)."""

    status: int
    type: str
    message: str
    retry_after: float | None = None
    mid_stream: bool = False  # a streamed request gets 200, some text, then an error event


Message = dict[str, Any]
Script = Callable[[dict[str, Any]], Message | ApiError]


def text(value: str) -> dict[str, Any]:
    """A text content block."""
    return {"type": "text", "text": value}


def tool_use(name: str, input: dict[str, Any], id: str | None = None) -> dict[str, Any]:
    """A tool_use block; without `id` the endpoint numbers it (toolu_01000001, ...)."""
    return {"type": "tool_use", "id": id, "name": name, "input": input}


def reply(
    *blocks: dict[str, Any] | str,
    stop_reason: str | None = None,
    usage: dict[str, int] | None = None,
) -> Message:
    """A reply message; stop_reason defaults to tool_use when a tool is called, else end_turn."""
    content = [text(b) if isinstance(b, str) else b for b in blocks]
    if stop_reason is None:
        calls = any(b["type"] == "tool_use" for b in content)
        stop_reason = "tool_use" if calls else "end_turn"
    message: Message = {"role": "assistant", "content": content, "stop_reason": stop_reason}
    if usage is not None:
        message["usage"] = usage
    return message


def last_tool_results(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The last user turn's tool results as {tool_use_id, content (text), is_error}."""
    last = request["messages"][-1]
    if last["role"] != "user" or isinstance(last["content"], str):
        return []
    return [
        {
            "tool_use_id": b["tool_use_id"],
            "content": _block_text(b.get("content", "")),
            "is_error": bool(b.get("is_error", False)),
        }
        for b in last["content"]
        if b.get("type") == "tool_result"
    ]


def tool_names(request: dict[str, Any]) -> list[str]:
    """Names of the tools offered in the request."""
    return [t["name"] for t in request.get("tools") or []]


def user_text(request: dict[str, Any]) -> str:
    """Text of the latest user message that has any (tool-result-only turns skipped)."""
    for message in reversed(request["messages"]):
        if message["role"] != "user":
            continue
        content = message["content"]
        if isinstance(content, str):
            return content
        found = [b["text"] for b in content if b.get("type") == "text"]
        if found:
            return "\n".join(found)
    return ""


class ScriptedClaude:
    """The endpoint: `script(request_json)` returns a reply message or an ApiError."""

    def __init__(
        self, script: Script | Sequence[Message | ApiError], *, api_key: str | None = None
    ) -> None:
        self._script = script if callable(script) else _sequence_script(script)
        self._api_key = api_key
        self.received: list[dict[str, Any]] = []
        self._faults: list[ApiError] = []
        self._cached: set[str] = set()
        self._request_ids = count(1)
        self._message_ids = count(1)
        self._tool_ids = count(1)
        self.app = Starlette(routes=[Route("/v1/messages", self._messages, methods=["POST"])])

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Bodies of every request received, in order."""
        return [r["body"] for r in self.received]

    def fail_next(
        self,
        status: int,
        times: int = 1,
        retry_after: float | None = None,
        message: str = "",
        mid_stream: bool = False,
    ) -> None:
        """Answer the next `times` requests with an error of `status` (before any checks)."""
        kind = ERROR_TYPES.get(status, "api_error")
        text = message or DEFAULT_MESSAGES.get(status, f"Error {status}")
        self._faults.extend([ApiError(status, kind, text, retry_after, mid_stream)] * times)

    def serve(self, port: int = 0) -> ServedApp:
        """A ServedApp for this endpoint on 127.0.0.1 (use it as a context manager)."""
        return ServedApp(self.app, port=port)

    async def _messages(self, request: Request) -> Response:
        request_id = f"req_01{next(self._request_ids):06d}"
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        self.received.append({"body": body, "headers": dict(request.headers)})
        answer = self._decide(request, body)
        if isinstance(answer, ApiError) and answer.mid_stream and body.get("stream"):
            partial = self._complete(reply("Partial answer"), body)
            return self._answer(partial, body, request_id, error=answer)
        if isinstance(answer, ApiError):
            return _error_response(answer, request_id)
        return self._answer(self._complete(answer, body), body, request_id)

    def _decide(self, request: Request, body: Any) -> Message | ApiError:
        """Check the request like the API, then ask the script."""
        problem = _check_headers(request, self._api_key) or self._next_fault()
        if problem is not None:
            return problem
        if not isinstance(body, dict):
            return ApiError(400, "invalid_request_error", "There was an issue with the JSON body")
        message = _check_body(body, request.headers.get("anthropic-version", ""))
        if message is not None:
            return ApiError(400, "invalid_request_error", message)
        return self._script(body)

    def _next_fault(self) -> ApiError | None:
        return self._faults.pop(0) if self._faults else None

    def _answer(
        self, message: Message, body: dict[str, Any], request_id: str, error: ApiError | None = None
    ) -> Response:
        headers = {"request-id": request_id}
        if not body.get("stream"):
            return JSONResponse(message, headers=headers)
        events_out = stream_events(message)
        if error is not None:  # cut after the first delta, as an overloaded stream is
            events_out = [*events_out[:4], error_body(error.type, error.message)]

        async def events() -> AsyncIterator[bytes]:
            for event in events_out:
                yield encode_sse(event)

        headers["cache-control"] = "no-cache"
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    def _complete(self, answer: Message, body: dict[str, Any]) -> Message:
        content = [dict(b) for b in answer.get("content", [])]
        for block in content:
            if block["type"] == "tool_use" and not block.get("id"):
                block["id"] = f"toolu_01{next(self._tool_ids):06d}"
        calls = any(b["type"] == "tool_use" for b in content)
        return {
            "id": answer.get("id") or f"msg_01{next(self._message_ids):06d}",
            "type": "message",
            "role": "assistant",
            "model": answer.get("model") or body["model"],
            "content": content,
            "stop_reason": answer.get("stop_reason") or ("tool_use" if calls else "end_turn"),
            "stop_sequence": answer.get("stop_sequence"),
            "usage": answer.get("usage") or self._usage(body, content),
        }

    def _usage(self, body: dict[str, Any], content: list[dict[str, Any]]) -> dict[str, int]:
        """Token counts from sizes; a cache_control prefix is written once, then read."""
        prefix = [body.get("system"), body.get("tools")]
        prefix_tokens, rest = _tokens(prefix), _tokens(body["messages"])
        usage = {"input_tokens": prefix_tokens + rest, "output_tokens": _tokens(content)}
        usage |= {"cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        if "cache_control" in json.dumps(prefix):
            key = json.dumps(prefix, sort_keys=True)
            hit = key in self._cached
            self._cached.add(key)
            usage["input_tokens"] = rest
            usage["cache_read_input_tokens" if hit else "cache_creation_input_tokens"] = (
                prefix_tokens
            )
        return usage


def _sequence_script(replies: Sequence[Message | ApiError]) -> Script:
    queue = list(replies)

    def script(request: dict[str, Any]) -> Message | ApiError:
        if not queue:
            return ApiError(500, "api_error", "ScriptedClaude has no more replies")
        return queue.pop(0)

    return script


def _check_headers(request: Request, api_key: str | None) -> ApiError | None:
    if not request.headers.get("anthropic-version"):
        return ApiError(400, "invalid_request_error", "anthropic-version: header is required")
    bearer = request.headers.get("authorization", "")
    key = bearer[7:] if bearer.lower().startswith("bearer ") else request.headers.get("x-api-key")
    if not key:
        return ApiError(401, "authentication_error", "x-api-key header is required")
    if api_key is not None and key != api_key:
        return ApiError(401, "authentication_error", "invalid x-api-key")
    return None


def _check_body(body: dict[str, Any], version: str) -> str | None:
    """The message of the 400 the real API would give this body, or None."""
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required"
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        return "max_tokens: Field required (an integer of at least 1)"
    for key in SAMPLING_KEYS:
        if key in body and version >= CURRENT_VERSION:
            return f"{key}: Extra inputs are not permitted"
    if "temperature" in body and _rejects_temperature(body["model"]):
        return "temperature is deprecated for this model"
    return _check_tools(body.get("tools")) or _check_messages(body.get("messages"), version)


def _rejects_temperature(model: str) -> bool:
    gen5 = any(model.startswith(f"claude-{f}-5") for f in ("sonnet", "opus", "haiku"))
    return gen5 or model.startswith(("claude-opus-4-7", "claude-opus-4-8", "claude-fable"))


def _check_tools(tools: Any) -> str | None:
    if tools is None:
        return None
    names: set[str] = set()
    for i, tool in enumerate(tools):
        if "name" not in tool:
            return f"tools.{i}.name: Field required"
        if "input_schema" not in tool and "type" not in tool:
            return f"tools.{i}.custom.input_schema: Field required"
        if tool["name"] in names:
            return "tools: Tool names must be unique."
        names.add(tool["name"])
    return None


def _check_messages(messages: Any, version: str) -> str | None:
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    pending: set[str] = set()
    for i, message in enumerate(messages):
        role = message.get("role")
        if role != ("user" if i % 2 == 0 else "assistant"):
            return f"messages.{i}.role: roles must alternate between 'user' and 'assistant'"
        blocks = message["content"] if isinstance(message.get("content"), list) else []
        problem = _check_pairing(i, blocks, pending) or _check_blocks(i, role, blocks, version)
        if problem:
            return problem
        pending = {b.get("id", "") for b in blocks if b.get("type") == "tool_use"}
    return None


def _check_pairing(i: int, blocks: list[dict[str, Any]], pending: set[str]) -> str | None:
    answered = {b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"}
    if pending - answered:
        missing = ", ".join(sorted(pending - answered))
        return (
            f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately "
            f"after: {missing}. Each `tool_use` block must have a corresponding `tool_result` "
            "block in the next message."
        )
    for j, block in enumerate(blocks):
        if block.get("type") == "tool_result" and block.get("tool_use_id") not in pending:
            return (
                f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` "
                f"blocks: {block.get('tool_use_id')}. Each `tool_result` block must have a "
                "corresponding `tool_use` block in the previous message."
            )
    return None


def _check_blocks(i: int, role: str, blocks: list[dict[str, Any]], version: str) -> str | None:
    if version < CURRENT_VERSION:
        return None
    for j, block in enumerate(blocks):
        if role == "assistant" and block.get("type") == "document":
            return f"messages.{i}.content.{j}: document blocks are not permitted in assistant turns"
        if role == "user" and block.get("type") == "text" and "citations" in block:
            return f"messages.{i}.content.{j}.text.citations: Extra inputs are not permitted"
    return None


def _error_response(error: ApiError, request_id: str) -> Response:
    headers = {"request-id": request_id}
    if error.retry_after is not None:
        headers["retry-after"] = f"{error.retry_after:g}"
    if error.status == 429 or error.status >= 500:
        headers["x-should-retry"] = "true"
    body = {**error_body(error.type, error.message), "request_id": request_id}
    return JSONResponse(body, status_code=error.status, headers=headers)


def _tokens(value: Any) -> int:
    return max(1, len(json.dumps(value, ensure_ascii=False)) // 4) if value else 0


def _block_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(b.get("text", "") for b in content if b.get("type") == "text")
