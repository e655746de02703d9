"""The model port: a ModelRequest in, a ModelResponse out.

`ClaudeModel` talks to the Messages API through the anthropic SDK (always streaming,
prompt caching on, our own bounded retries on the injected clock); `ScriptedModel`
answers from a script in-process, for fast tests of the loop. Errors from the SDK are
translated once, here, into `ModelCallError` (a `runtime.errors.ModelError`).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import asdict, astuple, dataclass, field, replace
from itertools import count
from typing import Any, Protocol

import anthropic
import anyio
import httpx2
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from runtime import catalog
from runtime.clock import Clock
from runtime.errors import ModelError
from runtime.wire import retry_after_seconds, to_wire_content

EPHEMERAL = {"type": "ephemeral"}
INITIAL_BACKOFF = 0.5  # seconds, doubled per attempt (as the SDK does)
MAX_BACKOFF = 8.0
MAX_RETRY_AFTER = 60.0  # a server hint longer than this is capped
JITTER = 0.25  # up to a quarter of the backoff is taken off at random
RETRYABLE_TYPES = {"overloaded_error", "api_error", "rate_limit_error"}  # also mid-stream
HINTS = {
    403: "Check the key's workspace and permissions.",
    404: "Check the model name and ANTHROPIC_BASE_URL.",
    413: "Shorten the conversation or tool results.",
}


@dataclass(frozen=True)
class ModelRequest:
    """One call: model, system prompt, conversation (wire dicts) and tool definitions."""

    model: str
    system: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] = field(default_factory=list)
    max_tokens: int = 8192
    temperature: float | None = None


@dataclass(frozen=True)
class Usage:
    """Tokens as the API reports them: uncached input, output, cache reads and writes."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))

    @classmethod
    def from_api(cls, usage: Any) -> Usage:
        """From an SDK usage object or a usage dict."""
        get = usage.get if isinstance(usage, dict) else lambda k: getattr(usage, k, None)
        return cls(
            input=get("input_tokens") or 0,
            output=get("output_tokens") or 0,
            cache_read=get("cache_read_input_tokens") or 0,
            cache_write=get("cache_creation_input_tokens") or 0,
        )

    def cost_usd(self, model: str) -> float:
        """What these tokens cost on `model` (catalog prices)."""
        return catalog.cost_usd(model, **asdict(self))


@dataclass(frozen=True)
class ModelResponse:
    """The assistant turn as wire blocks, with usage, cost and what went over the wire."""

    content: list[dict[str, Any]]
    stop_reason: str
    usage: Usage
    cost_usd: float
    request_id: str | None
    model: str
    raw_request: dict[str, Any]
    raw_response: dict[str, Any]

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        """The tool_use blocks, in order."""
        return [b for b in self.content if b["type"] == "tool_use"]

    @property
    def text(self) -> str:
        """All text blocks joined."""
        return "".join(b["text"] for b in self.content if b["type"] == "text")


class Model(Protocol):
    """Anything that answers a ModelRequest."""

    async def complete(
        self, request: ModelRequest, on_text: Callable[[str], None] | None = None
    ) -> ModelResponse:
        """Answer `request`; text deltas go to `on_text` as they arrive."""
        ...


_Result = tuple[anthropic.types.Message, str | None]  # final message, request id


class ModelCallError(ModelError):
    """A model call failed; carries the HTTP status, error type and request id."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_type: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.request_id = request_id


def request_body(request: ModelRequest, *, temperature: bool = False) -> dict[str, Any]:
    """The Messages API body for `request`: system and last tool marked for prompt caching."""
    body: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens,
        "messages": request.messages,
    }
    if request.system:
        body["system"] = [{"type": "text", "text": request.system, "cache_control": EPHEMERAL}]
    if request.tools:
        body["tools"] = [*request.tools[:-1], {**request.tools[-1], "cache_control": EPHEMERAL}]
    if temperature and request.temperature is not None:
        body["temperature"] = request.temperature
    return body


def response_from_message(
    message: dict[str, Any],
    request: ModelRequest,
    raw_request: dict[str, Any],
    request_id: str | None = None,
) -> ModelResponse:
    """A ModelResponse from a final Message JSON."""
    usage = Usage.from_api(message.get("usage") or {})
    model = message.get("model") or request.model
    return ModelResponse(
        content=to_wire_content(message["content"]),
        stop_reason=message.get("stop_reason") or "end_turn",
        usage=usage,
        cost_usd=usage.cost_usd(model),
        request_id=request_id,
        model=model,
        raw_request=raw_request,
        raw_response=message,
    )


class ClaudeModel:
    """The Anthropic Messages API through the anthropic SDK (SDK retries off, ours on)."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        clock: Clock,
        http_client: httpx2.AsyncClient | None = None,
        max_attempts: int = 4,
        notice: Callable[[str], None] | None = None,
        api_version: str = catalog.API_VERSION,
        rng: random.Random | None = None,
    ) -> None:
        self._clock = clock
        self._max_attempts = max_attempts
        self._notice = notice or (lambda _message: None)
        self._api_version = api_version
        self._rng = rng or random.Random()
        self._noticed: set[str] = set()
        self._sent: ContextVar[dict[str, Any] | None] = ContextVar("sent", default=None)
        self._owns_http = http_client is None
        http = http_client or anthropic.DefaultAsyncHttpxClient()
        http.event_hooks["request"].append(self._capture)
        version = {} if api_version == catalog.API_VERSION else {"anthropic-version": api_version}
        # api_key/base_url None: the SDK reads ANTHROPIC_API_KEY / ANTHROPIC_BASE_URL itself.
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            http_client=http,
            default_headers=version,
        )

    async def __aenter__(self) -> ClaudeModel:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client, unless the caller passed one in (theirs to close)."""
        if self._owns_http:
            await self._client.close()

    async def complete(
        self, request: ModelRequest, on_text: Callable[[str], None] | None = None
    ) -> ModelResponse:
        """Stream one call, retrying overloads, rate limits, 5xx and connection failures."""
        if not (self._client.api_key or self._client.auth_token or self._client.credentials):
            raise ModelCallError("No Anthropic API key. Set ANTHROPIC_API_KEY.")
        params = request_body(request, temperature=self._temperature_ok(request))
        extra = {"temperature": params.pop("temperature")} if "temperature" in params else None
        sent: dict[str, Any] = {}
        token = self._sent.set(sent)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._max_attempts),
            wait=self._wait,
            retry=retry_if_exception(_retryable),
            sleep=self._clock.sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        try:
            result: _Result = await retrying(self._stream_once, params, extra, on_text)
        except json.JSONDecodeError as exc:  # a broken event stream: a failed call, not a bug
            raise ModelCallError(
                f"The Anthropic API sent a malformed response: {exc.msg}."
            ) from exc
        except (anthropic.APIError, httpx2.TransportError) as exc:
            raise self._translate(exc, retrying.statistics.get("attempt_number", 1)) from exc
        finally:
            self._sent.reset(token)
        raw: dict[str, Any] = result[0].to_dict(mode="json")
        return response_from_message(raw, request, sent.get("body", {}), result[1])

    async def _stream_once(
        self,
        params: dict[str, Any],
        extra: dict[str, Any] | None,
        on_text: Callable[[str], None] | None,
    ) -> _Result:
        async with self._client.messages.stream(**params, extra_body=extra) as stream:
            async for event in stream:
                if on_text is not None and event.type == "text":
                    on_text(event.text)
            return await stream.get_final_message(), stream.request_id

    async def _capture(self, request: httpx2.Request) -> None:
        """httpx2 request hook: keep the JSON body actually sent for this call."""
        sent = self._sent.get()
        if sent is not None and request.url.path.endswith("/messages"):
            try:
                sent["body"] = json.loads(request.content)
            except (httpx2.RequestNotRead, ValueError):
                sent["body"] = {"unreadable": True}  # a streamed or non-JSON body

    def _temperature_ok(self, request: ModelRequest) -> bool:
        if request.temperature is None:
            return False
        reason = catalog.temperature_refusal(request.model, self._api_version)
        if reason is None:
            return True
        if request.model not in self._noticed:
            self._noticed.add(request.model)
            self._notice(f"temperature {request.temperature} not sent: {reason}")
        return False

    def _wait(self, state: RetryCallState) -> float:
        """The server's retry-after(-ms) hint (capped), else exponential backoff with jitter."""
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, anthropic.APIStatusError):
            hinted = retry_after_seconds(exc.response.headers, self._clock.now())
            if hinted is not None:
                return min(max(hinted, 0.0), MAX_RETRY_AFTER)
        backoff = min(INITIAL_BACKOFF * 2 ** (state.attempt_number - 1), MAX_BACKOFF)
        return backoff * (1 - JITTER * self._rng.random())

    def _before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        what = _describe(exc) if isinstance(exc, anthropic.APIError) else type(exc).__name__
        n, total = state.attempt_number, self._max_attempts
        self._notice(f"Model call failed ({what}); retrying in {delay:.1f}s ({n}/{total})")

    def _translate(self, exc: Exception, attempts: int) -> ModelCallError:
        """One clear ModelCallError for an SDK error; never carries the key."""
        tried = f" Gave up after {attempts} attempts." if attempts > 1 else ""
        if not isinstance(exc, anthropic.APIStatusError):
            reason = (getattr(exc, "message", None) or str(exc) or type(exc).__name__).rstrip(".")
            text = f"Could not reach the Anthropic API: {reason}.{tried}"
            return ModelCallError(self._redact(f"{text} Check ANTHROPIC_BASE_URL and the network."))
        status, rid = exc.status_code, exc.request_id
        if status == 401:
            text = "The Anthropic API rejected the key (401). Check ANTHROPIC_API_KEY."
        elif _retryable(exc):
            text = f"The Anthropic API failed: {_describe(exc)}.{tried}"
        else:
            text = (
                f"The Anthropic API rejected the request: {_describe(exc)}. {HINTS.get(status, '')}"
            )
        text = text.rstrip() + (f" Request id '{rid}'." if rid else "")
        code = status if status >= 400 else None  # an error event inside a 200 stream
        return ModelCallError(self._redact(text), status=code, error_type=exc.type, request_id=rid)

    def _redact(self, text: str) -> str:
        for secret in (self._client.api_key, self._client.auth_token):
            if secret:
                text = text.replace(secret, "***")
        return text


ScriptReply = ModelResponse | dict[str, Any] | BaseException


class ScriptedModel:
    """A deterministic in-process model: replies from a list or a function of the request.

    A reply is a ModelResponse, a Message dict ({"content": [...], "stop_reason": ...,
    "usage": ...}, e.g. from sandbox.claude.reply) or an exception to raise.
    """

    def __init__(
        self, script: Sequence[ScriptReply] | Callable[[ModelRequest], ScriptReply]
    ) -> None:
        self._script = script
        self._position = 0
        self._tool_ids = count(1)
        self.requests: list[ModelRequest] = []

    async def complete(
        self, request: ModelRequest, on_text: Callable[[str], None] | None = None
    ) -> ModelResponse:
        """The next scripted reply; text blocks go to `on_text` whole."""
        await anyio.lowlevel.checkpoint()
        self.requests.append(request)
        reply = self._next(request)
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, dict):
            reply = response_from_message(self._complete(reply, request), request, {})
        raw = {**request_body(request), "stream": True}
        reply = replace(reply, raw_request=reply.raw_request or raw)
        for block in reply.content:
            if on_text is not None and block["type"] == "text":
                on_text(block["text"])
        return reply

    def _next(self, request: ModelRequest) -> ScriptReply:
        if callable(self._script):
            return self._script(request)
        if self._position >= len(self._script):
            raise ModelCallError(f"ScriptedModel has no reply left after {self._position} calls")
        self._position += 1
        return self._script[self._position - 1]

    def _complete(self, message: dict[str, Any], request: ModelRequest) -> dict[str, Any]:
        content = [dict(b) for b in message["content"]]
        for block in content:
            if block["type"] == "tool_use" and not block.get("id"):
                block["id"] = f"toolu_scripted_{next(self._tool_ids):04d}"
        calls = any(b["type"] == "tool_use" for b in content)
        stop = message.get("stop_reason") or ("tool_use" if calls else "end_turn")
        head = {"type": "message", "role": "assistant", "model": request.model}
        return {**head, **message, "content": content, "stop_reason": stop}


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, anthropic.APIStatusError):
        should = exc.response.headers.get("x-should-retry")
        if should in ("true", "false"):
            return should == "true"
        return exc.status_code == 429 or exc.status_code >= 500 or exc.type in RETRYABLE_TYPES
    return isinstance(exc, anthropic.APIConnectionError | httpx2.TransportError)


def _describe(exc: anthropic.APIError) -> str:
    if not isinstance(exc, anthropic.APIStatusError):
        return exc.message.rstrip(".")
    detail = (exc.api_message or str(exc.body or "")[:200]).rstrip(".")
    where = str(exc.status_code) if exc.status_code >= 400 else "mid-stream"
    return f"{where} {exc.type or 'error'}: {detail}"
