"""Bad input at every boundary: mcp.json fuzzing, malformed source responses through
HttpTool, MCP servers that hang, die mid-call or list no tools through McpPool, and a
Messages endpoint that answers garbage, refuses or stops at max_tokens mid-tool-call.
Real parts throughout: uvicorn on loopback, the real MCP client and server, the real
anthropic SDK, `agents run --json` in process."""

from __future__ import annotations

import json
import string
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runtime.agentfile import AuthSpec
from runtime.clock import FrozenClock
from runtime.config import ResolvedSource, ServerConfig, load_mcp_config
from runtime.errors import ConfigError, McpConnectError
from runtime.mcp import McpPool
from runtime.tools.http import HttpTool
from sandbox.brevo import BrevoSandbox
from sandbox.brevo_mcp import LOOPBACK_HOSTS, new_server
from sandbox.claude import last_tool_results, reply, tool_use
from sandbox.server import ServedApp
from tests.stack import API_KEY, Stack
from tests.test_e2e_run import run_cli

SECRET = "src-token-0123456789abcdef-secret"
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip
CONFIG_KEYS = st.sampled_from(["type", "url", "headers", "command", "args", "env", "timeout_s"])
SERVER = st.dictionaries(CONFIG_KEYS | st.text(max_size=6), JSON_VALUES, max_size=4)
CONFIGS = (
    JSON_VALUES
    | st.fixed_dictionaries({"mcpServers": st.dictionaries(st.text(max_size=8), SERVER, max_size=3)})
    | st.fixed_dictionaries({"mcpServers": JSON_VALUES})
)  # fmt: skip
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip


# --- mcp.json ---------------------------------------------------------------------------


def check_config(path: Path) -> None:
    """Either a config or a ConfigError with a short, sentence-case message; nothing else."""
    try:
        load_mcp_config(path, {"TOKEN": "t"})
    except ConfigError as exc:
        message = str(exc)
        assert message and len(message) < 2000 and "Traceback" not in message


@FUZZ
@given(config=CONFIGS)
def test_random_mcp_json_gives_a_config_or_a_config_error(tmp_path: Path, config: Any) -> None:
    """Scenario: mcp.json fuzzing (JSON) | Fault: random JSON documents shaped like mcp.json | Outcome: a config or a ConfigError with a clear message, never another exception."""
    path = tmp_path / "mcp.json"
    path.write_text(json.dumps(config))
    check_config(path)


@FUZZ
@given(raw=st.binary(max_size=200) | st.text(string.printable + '{}[]":,é\x00', max_size=200))
def test_random_mcp_text_gives_a_config_error(tmp_path: Path, raw: bytes | str) -> None:
    """Scenario: mcp.json fuzzing (text) | Fault: random bytes and text, bad UTF-8, NULs | Outcome: a ConfigError with a clear message, never another exception."""
    path = tmp_path / "mcp.json"
    path.write_bytes(raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass"))
    check_config(path)


# --- malformed source responses ---------------------------------------------------------

BODIES: dict[str, tuple[bytes, str]] = {
    "json-lie": (b"<html>not json</html>", "application/json"),
    "empty-json": (b"", "application/json"),
    "truncated-json": (b'{"items": [1, 2, ', "application/json; charset=utf-8"),
    "huge": (b"[" + b'{"a": "' + b"x" * 200 + b'"},' * 1 + b"1," * 600_000 + b"1]", "application/json"),
    "binary": (bytes(range(256)) * 64, "application/octet-stream"),
    "bad-utf8": (b'{"name": "\xff\xfe\xc3("}', "application/json"),
    "wrong-type": (b'{"ok": true}', "image/png"),
    "nul-text": (b"a\x00b\x00" * 100, "text/plain"),
}  # fmt: skip


async def malformed(request: Request) -> Response:
    kind = request.path_params["kind"]
    if kind == "gzip-lie":  # says gzip, is not
        return Response(b"plain", headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})  # fmt: skip
    body, ctype = BODIES[kind]
    return Response(body, headers={"Content-Type": ctype})


def source(url: str) -> dict[str, ResolvedSource]:
    auth = AuthSpec(type="bearer", token=SECRET)
    return {"shop": ResolvedSource("shop", url, auth, None, False, True, 10.0)}


@pytest.mark.anyio
async def test_malformed_source_responses_are_tool_results(tmp_path: Path) -> None:
    """Scenario: malformed source responses | Fault: non-JSON under a JSON content type, empty and truncated JSON, a 1 MB body, binary, invalid UTF-8, a wrong content type, NULs, a false gzip encoding | Outcome: always a ToolResult (never an exception), bounded in size, with no secret in it."""
    app = Starlette(routes=[Route("/{kind}", malformed)])
    with ServedApp(app) as server:
        async with HttpTool(source(server.url), clock=FrozenClock(datetime.now(UTC))) as http:
            for kind in [*BODIES, "gzip-lie"]:
                result = await http.call({"method": "GET", "url": f"shop:{kind}"})
                assert isinstance(result.content, str) and len(result.content) < 100_000, kind
                assert SECRET not in result.content and SECRET not in json.dumps(result.meta)
                if kind == "gzip-lie":
                    assert result.is_error
                else:
                    json.dumps(result.content)  # serialisable for the model: valid text


# --- MCP servers that misbehave ---------------------------------------------------------


class Flaky:
    """A tiny MCP server: 'ok' answers, 'hang' never does, 'die' tells the test it started."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.server = new_server("flaky", "A misbehaving server")
        self.server.add_tool(self.ok, name="ok", description="Answers.", structured_output=False)
        self.server.add_tool(self.hang, name="hang", description="Never answers.", structured_output=False)  # fmt: skip
        self.server.add_tool(self.die, name="die", description="Dies.", structured_output=False)
        from mcp.server.transport_security import TransportSecuritySettings

        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=list(LOOPBACK_HOSTS),
            allowed_origins=[f"http://{h}" for h in LOOPBACK_HOSTS],
        )
        self.app = self.server.streamable_http_app(transport_security=security)

    async def ok(self) -> str:
        return "fine"

    async def hang(self) -> str:
        await anyio.sleep_forever()
        return "never"

    async def die(self) -> str:
        self.started.set()
        await anyio.sleep_forever()
        return "never"


@contextmanager
def flaky_server() -> Iterator[tuple[Flaky, ServedApp]]:
    flaky = Flaky()
    with ServedApp(flaky.app) as served:
        yield flaky, served


def pool_tools(pool: McpPool) -> dict[str, Any]:
    return {t.name: t for t in pool.tools}


@pytest.mark.anyio
async def test_an_mcp_call_that_hangs_times_out_as_an_error_result() -> None:
    """Scenario: MCP server hangs | Fault: a tool call never answers | Outcome: an error tool result naming the timeout after the call timeout; the next call on the same server still works."""
    with flaky_server() as (_, served):
        config = ServerConfig(name="flaky", url=served.url + "/mcp", timeout_s=0.5)
        async with McpPool([config], connect_timeout=10) as pool:
            tools = pool_tools(pool)
            hung = await tools["flaky__hang"].call({})
            fine = await tools["flaky__ok"].call({})
    assert hung.is_error and "time" in hung.content.lower(), hung.content
    assert not fine.is_error and "fine" in fine.content


@pytest.mark.anyio
async def test_an_mcp_server_that_dies_mid_call_gives_an_error_result() -> None:
    """Scenario: MCP server dies mid-call | Fault: the server process stops while a tool call is in flight | Outcome: an error tool result saying the server could not be reached; no exception, the pool closes cleanly."""
    with flaky_server() as (flaky, served):
        config = ServerConfig(name="flaky", url=served.url + "/mcp", timeout_s=20)
        async with McpPool([config], connect_timeout=5) as pool:
            tools = pool_tools(pool)
            results: list[Any] = []

            async def call() -> None:
                results.append(await tools["flaky__die"].call({}))

            async with anyio.create_task_group() as tg:
                tg.start_soon(call)
                await anyio.to_thread.run_sync(flaky.started.wait, 10)
                await anyio.to_thread.run_sync(served.stop)
            after = await tools["flaky__ok"].call({})
    (died,) = results
    assert died.is_error and died.content, died.content
    assert after.is_error  # still down: an error result, not an exception


@pytest.mark.anyio
async def test_brevo_listing_no_tools_warns_loudly() -> None:
    """Scenario: MCP server lists zero tools | Fault: Brevo's IP allow-list blocks the caller (tools/list is empty) | Outcome: the pool opens with no tools from it and warns, naming the server; no crash."""
    brevo = BrevoSandbox()
    brevo.ip_authorised = False
    warnings: list[str] = []
    try:
        with ServedApp(brevo.app) as served:
            headers = {"Authorization": f"Bearer {brevo.token}"}
            url = served.url + brevo.mcp_path("brevo_contacts")
            config = ServerConfig(name="brevo_contacts", url=url, headers=headers)
            async with McpPool([config], warn=warnings.append) as pool:
                assert pool.tools == []
    finally:
        brevo.close()
    assert warnings and "brevo_contacts" in " ".join(warnings)
    assert brevo.token not in " ".join(warnings)


@pytest.mark.anyio
async def test_an_unreachable_mcp_server_is_a_clear_connect_error() -> None:
    """Scenario: MCP server unreachable | Fault: nothing listens at the configured URL | Outcome: McpConnectError naming the server and why, with no header secret in it."""
    with ServedApp(Starlette()) as served:
        url = served.url
    config = ServerConfig(
        name="gone", url=url + "/mcp", headers={"Authorization": f"Bearer {SECRET}"}
    )
    with pytest.raises(McpConnectError) as caught:
        async with McpPool([config], connect_timeout=5):
            pass
    assert "gone" in str(caught.value) and SECRET not in str(caught.value)


# --- a misbehaving Messages endpoint ----------------------------------------------------


class GarbageClaude:
    """A Messages endpoint answering 200 with a malformed body (stream or not)."""

    def __init__(self) -> None:
        self.calls = 0
        self.app = Starlette(routes=[Route("/v1/messages", self.messages, methods=["POST"])])

    async def messages(self, request: Request) -> Response:
        self.calls += 1
        body = await request.json()
        if body.get("stream"):
            garbage = b'event: message_start\ndata: {"type": "message_start", "message": {\n\n'
            return Response(garbage, headers={"Content-Type": "text/event-stream"})
        return Response(b'{"id": "msg_1", "content": [', headers={"Content-Type": "application/json"})  # fmt: skip


class GarbageStack(Stack):
    """The Stack with GarbageClaude in place of the scripted endpoint."""

    def __enter__(self) -> GarbageStack:
        super().__enter__()
        self.garbage = GarbageClaude()
        self.claude_server = self._exit.enter_context(ServedApp(self.garbage.app))
        return self


def check_failed_run(summary: dict[str, Any], reason: str) -> None:
    assert summary["_exit"] == 1, summary
    assert summary["status"] == "failed" and summary["cursor_committed"] is False, summary
    errors = " ".join(summary.get("errors") or [])
    assert reason in (errors + " " + summary.get("stop_reason", "")).lower(), summary
    assert "Traceback" not in summary["_stderr"] + summary["_stdout"]
    assert API_KEY not in summary["_stderr"] + summary["_stdout"]


def test_a_malformed_model_response_fails_the_run_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """Scenario: model endpoint sends garbage | Fault: 200 with truncated JSON / a broken event stream | Outcome: `agents run --json` exits 1 with status 'failed' and a readable error; no traceback, no cursor."""
    with GarbageStack(lambda r: reply("unused")) as stack:
        summary = run_cli(stack, tmp_path, monkeypatch, capsys)
        assert stack.garbage.calls >= 1
    check_failed_run(summary, "")
    assert summary["errors"] and all(len(e) < 2000 for e in summary["errors"])


def test_a_refusal_ends_the_run_with_a_clear_failed_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """Scenario: model refuses | Fault: the first answer has stop_reason 'refusal' | Outcome: exit 1, status 'failed', an error that says the model refused; no traceback, no cursor."""
    refusal = reply("I can't help with that.", stop_reason="refusal")
    with Stack([refusal]) as stack:
        summary = run_cli(stack, tmp_path, monkeypatch, capsys)
    check_failed_run(summary, "refus")


def test_max_tokens_mid_tool_call_fails_the_run_and_runs_no_tool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """Scenario: max_tokens mid-tool-call | Fault: an answer stops at max_tokens inside a tool_use block, the next one at max_tokens in text | Outcome: the cut call is not run (the model is told why); the run ends with exit 1, status 'failed', stop reason max_tokens; no traceback, no cursor."""
    cut = reply(
        tool_use("brevo_contacts__create_contact", {"email": "half@exa"}), stop_reason="max_tokens"
    )
    with Stack([cut, reply("Let me expl", stop_reason="max_tokens")]) as stack:
        summary = run_cli(stack, tmp_path, monkeypatch, capsys)
        created = stack.brevo.call_counts().get("create_contact", 0)
        told = last_tool_results(stack.claude.requests[-1])
    check_failed_run(summary, "max_tokens")
    assert created == 0 and summary["stop_reason"] == "max_tokens"
    assert told and told[0]["is_error"] and "max_tokens" in told[0]["content"]
