"""The model port: the real anthropic SDK against the scripted endpoint over loopback."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import anthropic
import anyio
import httpx2
import pytest

from runtime.catalog import LEGACY_API_VERSION
from runtime.clock import FrozenClock
from runtime.errors import ModelError
from runtime.model import (
    ClaudeModel,
    ModelCallError,
    ModelRequest,
    ModelResponse,
    ScriptedModel,
    Usage,
)
from sandbox.claude import (
    ApiError,
    ScriptedClaude,
    last_tool_results,
    reply,
    text,
    tool_names,
    tool_use,
    user_text,
)

KEY = "sk-ant-test-SECRET-0123456789"
MODEL = "claude-sonnet-4-6"
TOOLS = [
    {"name": "http_request", "description": "GET a source URL", "input_schema": {"type": "object"}},
    {"name": "brevo_upsert", "description": "Upsert contacts", "input_schema": {"type": "object"}},
]
Serve = Callable[..., tuple[ScriptedClaude, str]]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start ScriptedClaude endpoints on free loopback ports; all stopped after the test."""
    with ExitStack() as stack:

        def start(script: Any, **kwargs: Any) -> tuple[ScriptedClaude, str]:
            claude = ScriptedClaude(script, **kwargs)
            return claude, stack.enter_context(claude.serve()).url

        yield start


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))


@asynccontextmanager
async def claude_model(url: str, clock: FrozenClock, **kwargs: Any) -> AsyncIterator[ClaudeModel]:
    model = ClaudeModel(kwargs.pop("api_key", KEY), url, clock=clock, **kwargs)
    try:
        yield model
    finally:
        await model.aclose()


def ask(prompt: str = "Sync last week's customers", **kwargs: Any) -> ModelRequest:
    fields: dict[str, Any] = {
        "model": MODEL,
        "system": "You sync WooCommerce into Brevo.",
        "messages": [{"role": "user", "content": prompt}],
        "tools": TOOLS,
    }
    return ModelRequest(**(fields | kwargs))


def agent_script(request: dict[str, Any]) -> dict[str, Any]:
    results = last_tool_results(request)
    if not results:
        return reply(text("Looking up customers."), tool_use("http_request", {"url": "/c"}))
    return reply(f"Found {results[0]['content']} for: {user_text(request)}")


@pytest.mark.anyio
async def test_tool_use_round_trip(serve: Serve, clock: FrozenClock) -> None:
    claude, url = serve(agent_script)
    async with claude_model(url, clock) as model:
        first = await model.complete(ask())
        assert first.stop_reason == "tool_use"
        call = first.tool_calls[0]
        assert call["id"] == "toolu_01000001"
        assert call == {**tool_use("http_request", {"url": "/c"}), "id": call["id"]}
        result = {"type": "tool_result", "tool_use_id": call["id"], "content": "3 customers"}
        messages = [
            *ask().messages,
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": [result]},
        ]
        second = await model.complete(ask(messages=messages))
    assert second.stop_reason == "end_turn"
    assert second.text == "Found 3 customers for: Sync last week's customers"
    assert claude.requests[1]["messages"][1]["content"] == first.content
    assert tool_names(claude.requests[0]) == ["http_request", "brevo_upsert"]


@pytest.mark.anyio
async def test_text_deltas_reach_on_text(serve: Serve, clock: FrozenClock) -> None:
    long_text = "Synced 120 customers; 4 skipped for invalid emails; list 7 updated."
    _, url = serve(lambda request: reply(long_text))
    seen: list[str] = []
    async with claude_model(url, clock) as model:
        response = await model.complete(ask(), on_text=seen.append)
    assert len(seen) > 1
    assert "".join(seen) == long_text == response.text


@pytest.mark.anyio
async def test_raw_request_is_the_body_sent(serve: Serve, clock: FrozenClock) -> None:
    claude, url = serve(agent_script)
    async with claude_model(url, clock) as model:
        response = await model.complete(ask())
    assert response.raw_request == claude.requests[0]
    assert response.raw_request["stream"] is True
    assert response.raw_response["id"] == "msg_01000001"
    assert response.request_id == "req_01000001"
    assert response.model == MODEL


@pytest.mark.anyio
async def test_concurrent_calls_capture_their_own_body(serve: Serve, clock: FrozenClock) -> None:
    _, url = serve(lambda request: reply(user_text(request)))
    responses: dict[str, ModelResponse] = {}
    async with claude_model(url, clock) as model:

        async def one(prompt: str) -> None:
            responses[prompt] = await model.complete(ask(prompt))

        async with anyio.create_task_group() as tg:
            for prompt in ("first", "second", "third"):
                tg.start_soon(one, prompt)
    for prompt, response in responses.items():
        assert response.text == prompt
        assert response.raw_request["messages"][0]["content"] == prompt


@pytest.mark.anyio
async def test_prompt_caching_marks_system_and_last_tool(serve: Serve, clock: FrozenClock) -> None:
    claude, url = serve(agent_script)
    request = ask()
    async with claude_model(url, clock) as model:
        await model.complete(request)
    body = claude.requests[0]
    assert body["system"] == [
        {"type": "text", "text": request.system, "cache_control": {"type": "ephemeral"}}
    ]
    assert "cache_control" not in body["tools"][0]
    assert body["tools"][1]["cache_control"] == {"type": "ephemeral"}
    assert "cache_control" not in request.tools[1]  # the caller's list is untouched


@pytest.mark.anyio
async def test_usage_and_cost_from_a_known_response(serve: Serve, clock: FrozenClock) -> None:
    usage = {
        "input_tokens": 1000,
        "output_tokens": 500,
        "cache_read_input_tokens": 2000,
        "cache_creation_input_tokens": 100,
    }
    _, url = serve(lambda request: reply("ok", usage=usage))
    async with claude_model(url, clock) as model:
        response = await model.complete(ask())
    assert response.usage == Usage(input=1000, output=500, cache_read=2000, cache_write=100)
    # sonnet-4-6: $3 in, $15 out, cache read 0.1x, cache write 1.25x (per million)
    assert response.cost_usd == pytest.approx((3000 + 7500 + 600 + 375) / 1_000_000)


@pytest.mark.anyio
async def test_second_call_reads_the_cache(serve: Serve, clock: FrozenClock) -> None:
    _, url = serve(lambda request: reply("ok"))
    async with claude_model(url, clock) as model:
        first = await model.complete(ask())
        second = await model.complete(ask())
    assert first.usage.cache_write > 0 and first.usage.cache_read == 0
    assert second.usage.cache_read == first.usage.cache_write and second.usage.cache_write == 0
    assert second.cost_usd < first.cost_usd
    total = first.usage + second.usage
    assert total.cache_read == second.usage.cache_read
    assert total.output == first.usage.output + second.usage.output


@pytest.mark.anyio
async def test_overloaded_twice_then_success(serve: Serve, clock: FrozenClock) -> None:
    claude, url = serve(agent_script)
    claude.fail_next(529, times=2, retry_after=3)
    notices: list[str] = []
    async with claude_model(url, clock, notice=notices.append) as model:
        response = await model.complete(ask())
    assert response.stop_reason == "tool_use"
    assert len(claude.received) == 3
    assert clock.monotonic() == 6.0  # two retry-after waits of 3 s, on the fake clock
    assert [n for n in notices if "529" in n] == [
        "Model call failed (529 overloaded_error: Overloaded); retrying in 3.0s (1/4)",
        "Model call failed (529 overloaded_error: Overloaded); retrying in 3.0s (2/4)",
    ]


@pytest.mark.anyio
async def test_error_event_mid_stream_is_retried(serve: Serve, clock: FrozenClock) -> None:
    claude, url = serve(lambda request: reply("Complete answer"))
    claude.fail_next(529, mid_stream=True)
    seen: list[str] = []
    notices: list[str] = []
    async with claude_model(url, clock, notice=notices.append) as model:
        response = await model.complete(ask(), on_text=seen.append)
    assert response.text == "Complete answer"
    assert seen == ["Partial answer", "Complete answer"]  # on_text saw the broken attempt too
    assert notices[0].startswith("Model call failed (mid-stream overloaded_error: Overloaded)")
    assert len(claude.received) == 2


@pytest.mark.anyio
async def test_backoff_without_retry_after_grows(serve: Serve, clock: FrozenClock) -> None:
    claude, url = serve(agent_script)
    claude.fail_next(500, times=1)
    claude.fail_next(429, times=1)
    async with claude_model(url, clock) as model:
        await model.complete(ask())
    # 0.5 s then 1 s, each with up to a quarter taken off by jitter
    assert 0.375 + 0.75 <= clock.monotonic() <= 1.5
    assert len(claude.received) == 3


@pytest.mark.anyio
async def test_retries_exhausted(serve: Serve, clock: FrozenClock) -> None:
    claude, url = serve(agent_script)
    claude.fail_next(529, times=4)
    async with claude_model(url, clock, max_attempts=4) as model:
        with pytest.raises(ModelCallError) as caught:
            await model.complete(ask())
    error = caught.value
    assert isinstance(error, ModelError)
    assert error.status == 529 and error.error_type == "overloaded_error"
    assert error.request_id == "req_01000004"
    message = str(error)
    assert "529 overloaded_error: Overloaded" in message
    assert "Gave up after 4 attempts" in message
    assert "req_01000004" in message
    assert KEY not in message and "SECRET" not in message
    assert len(claude.received) == 4


@pytest.mark.anyio
async def test_wrong_key_is_not_retried(serve: Serve, clock: FrozenClock) -> None:
    claude, url = serve(agent_script, api_key="sk-ant-the-right-one")
    async with claude_model(url, clock) as model:
        with pytest.raises(ModelCallError) as caught:
            await model.complete(ask())
    message = str(caught.value)
    assert message.startswith("The Anthropic API rejected the key (401). Check ANTHROPIC_API_KEY.")
    assert caught.value.status == 401 and KEY not in message
    assert len(claude.received) == 1 and clock.monotonic() == 0.0


@pytest.mark.anyio
async def test_bad_request_is_not_retried(serve: Serve, clock: FrozenClock) -> None:
    claude, url = serve(lambda request: ApiError(400, "invalid_request_error", "prompt is bad"))
    async with claude_model(url, clock) as model:
        with pytest.raises(ModelCallError, match="400 invalid_request_error: prompt is bad"):
            await model.complete(ask())
    assert len(claude.received) == 1


@pytest.mark.anyio
async def test_unanswered_tool_use_is_rejected_like_the_api(
    serve: Serve, clock: FrozenClock
) -> None:
    _, url = serve(agent_script)
    messages = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [tool_use("http_request", {}, id="toolu_01x")]},
        {"role": "user", "content": [text("and?")]},
    ]
    async with claude_model(url, clock) as model:
        with pytest.raises(ModelCallError, match="toolu_01x") as caught:
            await model.complete(ask(messages=messages))
    assert "without `tool_result` blocks immediately after" in str(caught.value)
    assert caught.value.status == 400


@pytest.mark.anyio
async def test_roles_must_alternate(serve: Serve, clock: FrozenClock) -> None:
    _, url = serve(agent_script)
    messages = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    async with claude_model(url, clock) as model:
        with pytest.raises(ModelCallError, match="roles must alternate"):
            await model.complete(ask(messages=messages))


@pytest.mark.anyio
async def test_connection_failures_retry_then_fail(clock: FrozenClock) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with claude_model(f"http://127.0.0.1:{port}", clock, max_attempts=3) as model:
        with pytest.raises(ModelCallError) as caught:
            await model.complete(ask())
    message = str(caught.value)
    assert message.startswith("Could not reach the Anthropic API")
    assert "Gave up after 3 attempts" in message and "ANTHROPIC_BASE_URL" in message
    assert caught.value.status is None
    assert clock.monotonic() > 0


@pytest.mark.anyio
async def test_temperature_is_refused_by_the_endpoint_when_sent(serve: Serve) -> None:
    _, url = serve(agent_script)
    http = httpx2.AsyncClient()
    async with anthropic.AsyncAnthropic(api_key=KEY, base_url=url, http_client=http) as client:
        with pytest.raises(anthropic.BadRequestError) as caught:
            await client.messages.create(
                model=MODEL,
                max_tokens=10,
                messages=[{"role": "user", "content": "hi"}],
                extra_body={"temperature": 0.1},
            )
    assert caught.value.api_message == "temperature: Extra inputs are not permitted"
    assert caught.value.request_id == "req_01000001"


@pytest.mark.anyio
async def test_temperature_left_out_with_one_notice(serve: Serve, clock: FrozenClock) -> None:
    claude, url = serve(agent_script)
    notices: list[str] = []
    async with claude_model(url, clock, notice=notices.append) as model:
        await model.complete(ask(temperature=0.1))
        await model.complete(ask(temperature=0.1))
    assert all("temperature" not in body for body in claude.requests)
    assert notices == [
        "temperature 0.1 not sent: API version 2026-10-21 rejects 'temperature' for every model"
    ]


@pytest.mark.anyio
async def test_temperature_sent_where_the_legacy_api_accepts_it(
    serve: Serve, clock: FrozenClock
) -> None:
    claude, url = serve(agent_script)
    notices: list[str] = []
    async with claude_model(
        url, clock, api_version=LEGACY_API_VERSION, notice=notices.append
    ) as model:
        await model.complete(ask(temperature=0.1))
        await model.complete(ModelRequest("claude-opus-4-7", "s", ask().messages, temperature=0.1))
    assert claude.received[0]["headers"]["anthropic-version"] == LEGACY_API_VERSION
    assert claude.requests[0]["temperature"] == 0.1
    assert "temperature" not in claude.requests[1]
    assert notices == [
        "temperature 0.1 not sent: model 'claude-opus-4-7' rejects 'temperature' "
        "(deprecated for this model)"
    ]


@pytest.mark.anyio
async def test_sdk_headers_and_environment(
    serve: Serve, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    claude, url = serve(agent_script)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", url)
    model = ClaudeModel(clock=clock)
    try:
        await model.complete(ask())
    finally:
        await model.aclose()
    headers = claude.received[0]["headers"]
    assert headers["authorization"] == f"Bearer {KEY}"
    assert headers["anthropic-version"] == "2026-10-21"
    assert headers["x-stainless-retry-count"] == "0"


@pytest.mark.anyio
async def test_no_key_is_a_model_error(clock: FrozenClock) -> None:
    async with claude_model("http://127.0.0.1:9", clock, api_key=None) as model:
        with pytest.raises(ModelCallError, match="Set ANTHROPIC_API_KEY"):
            await model.complete(ask())


@pytest.mark.anyio
async def test_passed_http_client_stays_open(serve: Serve, clock: FrozenClock) -> None:
    claude, url = serve(agent_script)
    async with httpx2.AsyncClient() as http:
        async with claude_model(url, clock, http_client=http) as model:
            response = await model.complete(ask())
        assert not http.is_closed
    assert response.raw_request == claude.requests[0]


@pytest.mark.anyio
async def test_scripted_model_from_a_list() -> None:
    model = ScriptedModel(
        [reply(text("Checking."), tool_use("http_request", {"url": "/c"})), reply("Done.")]
    )
    seen: list[str] = []
    first = await model.complete(ask(), on_text=seen.append)
    second = await model.complete(ask())
    assert first.tool_calls == [tool_use("http_request", {"url": "/c"}, id="toolu_scripted_0001")]
    assert (first.stop_reason, second.stop_reason) == ("tool_use", "end_turn")
    assert seen == ["Checking."]
    assert first.raw_request["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert len(model.requests) == 2
    with pytest.raises(ModelCallError, match="no reply left after 2 calls"):
        await model.complete(ask())


@pytest.mark.anyio
async def test_scripted_model_from_a_function_and_errors() -> None:
    usage = {"input_tokens": 10, "output_tokens": 20}
    model = ScriptedModel(lambda request: reply(request.messages[-1]["content"], usage=usage))
    response = await model.complete(ask("echo"))
    assert response.text == "echo"
    assert response.usage == Usage(input=10, output=20)
    assert response.cost_usd == pytest.approx((30 + 300) / 1_000_000)
    failing = ScriptedModel([ModelCallError("overloaded", status=529)])
    with pytest.raises(ModelCallError, match="overloaded"):
        await failing.complete(ask())


@pytest.mark.anyio
async def test_endpoint_answers_non_streamed_calls_from_a_list(serve: Serve) -> None:
    claude, url = serve([reply(tool_use("http_request", {"url": "/c"})), reply("second")])
    http = httpx2.AsyncClient()
    async with anthropic.AsyncAnthropic(api_key=KEY, base_url=url, http_client=http) as client:
        first = await client.messages.create(
            model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
        assert first.stop_reason == "tool_use" and first.content[0].type == "tool_use"
        assert first.usage.input_tokens > 0 and first.usage.output_tokens > 0
    assert "stream" not in claude.requests[0]


@pytest.mark.anyio
async def test_endpoint_checks_key_and_version_headers(serve: Serve) -> None:
    claude, url = serve(agent_script)
    body = {"model": MODEL, "max_tokens": 10, "messages": ask().messages}
    async with httpx2.AsyncClient(base_url=url) as http:
        no_key = await http.post("/v1/messages", json=body, headers={"anthropic-version": "x"})
        no_version = await http.post("/v1/messages", json=body, headers={"x-api-key": KEY})
    assert no_key.status_code == 401
    assert no_key.json()["error"]["type"] == "authentication_error"
    assert no_key.headers["request-id"] == no_key.json()["request_id"] == "req_01000001"
    assert no_version.status_code == 400
    assert "anthropic-version" in no_version.json()["error"]["message"]
    assert len(claude.received) == 2
