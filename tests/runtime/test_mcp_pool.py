"""McpPool against real MCP servers: streamable HTTP and SSE on loopback, stdio, in-memory.

The test server sits behind a small bearer-token ASGI gate, like Brevo's MCP server.
"""

from __future__ import annotations

import asyncio
import gc
import json
import re
import socket
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, MCPError, types
from mcp.client._memory import InMemoryTransport
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.utilities.types import Image

from runtime.config import ServerConfig
from runtime.errors import McpConnectError
from runtime.mcp import McpPool, McpTool
from runtime.mcp_errors import call_reason, connect_reason, is_dropped
from runtime.mcp_tools import looks_destructive, render_result, tool_name
from sandbox.server import ServedApp

TOKEN = "test-token-5f2a9c"
API_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
LONG_TOOL = "get_email_campaign_statistics_grouped_by_recipient_domain_and_device_type_v2"
STDIO_SERVER = Path(__file__).with_name("mcp_stdio_server.py")
Asgi = Callable[..., Any]

pytestmark = pytest.mark.anyio


def make_server(name: str = "test", *, tools: bool = True) -> MCPServer:
    """A Brevo-like MCP server: a write, a failing tool, a slow one, a delete_*."""
    server = MCPServer(name, log_level="WARNING")
    if not tools:
        return server

    @server.tool()
    def create_contact(email: str, list_ids: list[int] | None = None) -> str:
        """Create a contact."""
        return json.dumps({"id": 7, "email": email, "listIds": list_ids or []})

    @server.tool()
    def get_contact_info(identifier: str) -> str:
        """Fail the way Brevo does for an unknown contact."""
        raise ToolError('{"code": "document_not_found", "message": "Contact does not exist"}')

    @server.tool()
    async def slow_export() -> str:
        """Never finishes: the caller's timeout must."""
        await anyio.Event().wait()
        return "unreachable"

    @server.tool()
    def delete_contact(identifier: str) -> str:
        """Delete a contact."""
        return "deleted"

    @server.tool(name=LONG_TOOL)
    def long_named() -> str:
        """A tool whose namespaced name is over 64 characters."""
        return "ok"

    @server.tool(name="lists.get", annotations=types.ToolAnnotations(destructive_hint=True))
    def dotted() -> str:
        """A dotted name, explicitly destructive."""
        return "lists"

    return server


def gate(
    app: Asgi, token: str = TOKEN, *, get_stream: bool = True, tokens: list[str] | None = None
) -> Asgi:
    """Bearer-token check in front of `app`; lifespan passes through to run its sessions.

    `tokens`, if given, is the live list of accepted tokens (a test may revoke one).
    `get_stream=False` answers the legacy GET stream with 405 (allowed by the spec), so
    no response stays open and the server can stop at once for restart tests.
    """
    accepted = tokens if tokens is not None else [token]

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            auth = dict(scope["headers"]).get(b"authorization", b"").decode()
            if auth not in [f"Bearer {t}" for t in accepted]:
                body = b'{"error":{"code":"INVALID_TOKEN","message":"Invalid token"}}'
                return await _respond(send, 401, body)
            if not get_stream and scope["method"] == "GET":
                return await _respond(send, 405, b"")
        await app(scope, receive, send)

    return asgi


async def _respond(send: Any, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def http_config(name: str, url: str, token: str = TOKEN, **kw: Any) -> ServerConfig:
    return ServerConfig(name=name, url=url, headers={"Authorization": f"Bearer {token}"}, **kw)


@pytest.fixture(scope="module")
def mcp_server() -> MCPServer:
    return make_server()


@pytest.fixture
def served(mcp_server: MCPServer) -> Iterator[ServedApp]:
    with ServedApp(gate(mcp_server.streamable_http_app())) as app:
        yield app


@asynccontextmanager
async def serving(app: Asgi) -> AsyncIterator[ServedApp]:
    """ServedApp started and stopped off the event loop (both block)."""
    served = await anyio.to_thread.run_sync(ServedApp(app).start)
    try:
        yield served
    finally:
        await anyio.to_thread.run_sync(served.stop)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def by_original(pool: McpPool, server: str, original: str) -> McpTool:
    return next(t for t in pool.tools if t.server == server and t.original_name == original)


# --- connect, list, call over streamable HTTP -------------------------------------------


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_connects_in_parallel_and_lists_namespaced_tools(
    served: ServedApp, mode: Any
) -> None:
    servers = [
        http_config("brevo_contacts", served.url + "/mcp"),
        http_config("crm", served.url + "/mcp"),
    ]
    async with McpPool(servers, mode=mode) as pool:
        names = [t.name for t in pool.tools]
        assert "brevo_contacts__create_contact" in names
        assert "crm__create_contact" in names
        assert "brevo_contacts__lists_get" in names  # '.' sanitized
        assert all(API_NAME.match(n) for n in names)
        assert len(set(names)) == len(names) == 12
        assert pool.summary() == [
            ("brevo_contacts", served.url + "/mcp", 6),
            ("crm", served.url + "/mcp", 6),
        ]
        digest = pool.tool_list_hash("brevo_contacts")
        assert re.fullmatch(r"[0-9a-f]{64}", digest)
        assert digest == pool.tool_list_hash("crm")  # same tools, same hash
        create = by_original(pool, "crm", "create_contact")
        assert create.description == "Create a contact."
        assert create.input_schema["required"] == ["email"]


class BarrierTransport:
    """An in-memory transport that opens only once `needed` of them are opening."""

    def __init__(self, server: MCPServer, arrived: list[str], all_here: anyio.Event) -> None:
        self._inner = InMemoryTransport(server)
        self._arrived, self._all_here = arrived, all_here

    async def __aenter__(self) -> Any:
        self._arrived.append("x")
        if len(self._arrived) == 2:
            self._all_here.set()
        await self._all_here.wait()  # sequential connects would stop here until timeout
        return await self._inner.__aenter__()

    async def __aexit__(self, *exc: Any) -> Any:
        return await self._inner.__aexit__(*exc)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_servers_connect_in_parallel_in_memory(mode: Any) -> None:
    arrived: list[str] = []
    all_here = anyio.Event()
    server = make_server("mem")

    def factory(config: ServerConfig) -> Client:
        return Client(BarrierTransport(server, arrived, all_here), mode=mode)

    configs = [ServerConfig(name=n, url=f"http://{n}.invalid/mcp") for n in ("one", "two")]
    async with McpPool(configs, client_factory=factory, connect_timeout=10) as pool:
        assert [s[2] for s in pool.summary()] == [6, 6]
        result = await by_original(pool, "two", "create_contact").call({"email": "m@x.io"})
    assert json.loads(result.content)["email"] == "m@x.io"


async def test_long_names_are_shortened_with_a_hash_and_stay_unique(served: ServedApp) -> None:
    prefix = "brevo_email_campaign_management"
    async with McpPool([http_config(prefix, served.url + "/mcp")]) as pool:
        tool = by_original(pool, prefix, LONG_TOOL)
    assert len(tool.name) == 64 and API_NAME.match(tool.name)
    assert tool.name.startswith(prefix + "__get_email")
    assert tool.name == tool_name(prefix, LONG_TOOL)  # stable across runs
    assert tool_name(prefix, LONG_TOOL + "_v3") != tool.name
    # Two names that sanitize alike stay distinct.
    first = tool_name("s", "a.b")
    assert tool_name("s", "a_b", taken={first}) != first


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_call_ok_tool_error_and_timeout(served: ServedApp, mode: Any) -> None:
    config = http_config("brevo_contacts", served.url + "/mcp")
    async with McpPool([config], mode=mode, call_timeout=0.5) as pool:
        ok = await by_original(pool, "brevo_contacts", "create_contact").call(
            {"email": "ann@example.com", "list_ids": [3]}
        )
        failed = await by_original(pool, "brevo_contacts", "get_contact_info").call(
            {"identifier": "nobody@example.com"}
        )
        slow = await by_original(pool, "brevo_contacts", "slow_export").call({})
        after = await by_original(pool, "brevo_contacts", "create_contact").call(
            {"email": "b@x.io"}
        )
    assert not ok.is_error
    assert json.loads(ok.content) == {"id": 7, "email": "ann@example.com", "listIds": [3]}
    assert ok.meta["server"] == "brevo_contacts" and ok.meta["tool"] == "create_contact"
    assert ok.meta["duration_s"] >= 0 and "reconnect" not in ok.meta
    assert failed.is_error and "document_not_found" in failed.content
    assert slow.is_error and "timed out after 0.5s" in slow.content
    assert "slow_export" in slow.content and "brevo_contacts" in slow.content
    assert not after.is_error  # a timed-out call leaves the session usable


# --- connection failures -----------------------------------------------------------------


async def test_bad_token_is_unauthorised_without_the_token(served: ServedApp) -> None:
    config = http_config("brevo_contacts", served.url + "/mcp?key=abc123xyz", token="wrong-token")
    with pytest.raises(McpConnectError) as caught:
        async with McpPool([config], connect_timeout=10):
            pass
    message = str(caught.value)
    assert "unauthorised (401): check the token" in message
    assert f"'brevo_contacts' at {served.url}/mcp " in message
    assert "wrong-token" not in message and "abc123xyz" not in message


async def test_unreachable_port_names_server_and_url() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1/brevo_contacts/mcp"
    with pytest.raises(McpConnectError) as caught:
        async with McpPool([http_config("brevo_contacts", url)], connect_timeout=10):
            pass
    message = str(caught.value)
    assert f"MCP server 'brevo_contacts' at {url} could not be reached" in message
    assert "connection refused" in message
    assert TOKEN not in message


async def test_several_failures_are_reported_together(served: ServedApp) -> None:
    down = f"http://127.0.0.1:{free_port()}/mcp"
    servers = [
        http_config("good", served.url + "/mcp"),
        http_config("locked", served.url + "/mcp", token="nope-nope"),
        http_config("gone", down),
    ]
    with pytest.raises(McpConnectError) as caught:
        async with McpPool(servers, connect_timeout=10):
            pass
    message = str(caught.value)
    assert message.startswith("2 MCP servers could not be reached:")
    assert "'locked'" in message and "unauthorised (401)" in message
    assert f"'gone' at {down}" in message and "connection refused" in message
    assert "'good'" not in message


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_token_revoked_mid_session_is_an_unauthorised_result(
    mcp_server: MCPServer, mode: Any
) -> None:
    tokens = [TOKEN]
    app = await anyio.to_thread.run_sync(
        ServedApp(gate(mcp_server.streamable_http_app(), tokens=tokens)).start
    )
    try:
        async with McpPool([http_config("crm", app.url + "/mcp")], mode=mode) as pool:
            tokens.clear()
            result = await by_original(pool, "crm", "create_contact").call({"email": "a@x.io"})
    finally:
        await anyio.to_thread.run_sync(app.stop)
    assert result.is_error and "unauthorised (401): check the token" in result.content
    assert "reconnect" not in result.meta and TOKEN not in result.content


async def test_connect_timeout_is_reported() -> None:
    # A listening socket that never answers: the TCP connect succeeds, HTTP never does.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/mcp"
        with pytest.raises(McpConnectError, match=r"timed out after 0\.3s"):
            async with McpPool([http_config("slow", url)], connect_timeout=0.3):
                pass


def test_connect_reasons_unwrap_groups_and_causes() -> None:
    dns = socket.gaierror(-2, "Name or service not known")
    try:
        raise OSError("All connection attempts failed") from dns
    except OSError as exc:
        wrapped = ExceptionGroup("tg", [ExceptionGroup("tg", [exc])])
    assert connect_reason(wrapped, None, 5) == "DNS lookup failed: check the host name"
    hidden = ExceptionGroup("tg", [MCPError(-32603, "Server returned an error response")])
    assert connect_reason(hidden, 403, 5).startswith("forbidden (403)")
    assert call_reason(hidden, 401, 5) == "unauthorised (401): check the token"
    assert call_reason(MCPError(-32001, "Request 'tools/call' timed out"), None, 2) == (
        "timed out after 2s"
    )
    assert is_dropped(MCPError(-32600, "Session not found"))
    assert is_dropped(ExceptionGroup("tg", [MCPError(-32000, "Connection closed")]))
    assert not is_dropped(MCPError(-32001, "timed out"))


async def test_zero_tools_warns_loudly() -> None:
    warnings: list[str] = []
    async with serving(gate(make_server("empty", tools=False).streamable_http_app())) as app:
        config = http_config("brevo_contacts", app.url + "/mcp")
        async with McpPool([config], warn=warnings.append) as pool:
            assert pool.tools == []
            assert pool.summary() == [("brevo_contacts", app.url + "/mcp", 0)]
    assert len(warnings) == 1
    assert "WARNING" in warnings[0] and "'brevo_contacts'" in warnings[0]
    assert "lists NO tools" in warnings[0] and "IP address" in warnings[0]


# --- reconnect ---------------------------------------------------------------------------


async def _serve(mcp_server: MCPServer, port: int = 0) -> ServedApp:
    app = ServedApp(gate(mcp_server.streamable_http_app(), get_stream=False), port=port)
    return await anyio.to_thread.run_sync(app.start)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_server_restart_between_calls_reconnects_once(
    mcp_server: MCPServer, mode: Any
) -> None:
    first = await _serve(mcp_server)
    config = http_config("brevo_contacts", first.url + "/mcp")
    try:
        async with McpPool([config], mode=mode) as pool:
            tool = by_original(pool, "brevo_contacts", "create_contact")
            assert not (await tool.call({"email": "a@x.io"})).is_error
            await anyio.to_thread.run_sync(first.stop)
            second = await _serve(mcp_server, port=first.port)
            try:
                again = await tool.call({"email": "b@x.io"})
                third = await tool.call({"email": "c@x.io"})
            finally:
                await anyio.to_thread.run_sync(second.stop)
    finally:
        await anyio.to_thread.run_sync(first.stop)
    assert not again.is_error, again.content
    assert json.loads(again.content)["email"] == "b@x.io"
    if mode == "legacy":  # the old session id is unknown to the new server
        assert again.meta["reconnect"] == "ok"
    assert not third.is_error and "reconnect" not in third.meta


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_server_down_gives_an_error_result_then_recovers(
    mcp_server: MCPServer, mode: Any
) -> None:
    first = await _serve(mcp_server)
    config = http_config("brevo_contacts", first.url + "/mcp")
    async with McpPool([config], mode=mode, connect_timeout=10) as pool:
        tool = by_original(pool, "brevo_contacts", "create_contact")
        await anyio.to_thread.run_sync(first.stop)
        down = await tool.call({"email": "a@x.io"})
        second = await _serve(mcp_server, port=first.port)
        try:
            back = await tool.call({"email": "b@x.io"})
        finally:
            await anyio.to_thread.run_sync(second.stop)
    assert down.is_error and "could not be reached: connection refused" in down.content
    assert down.meta["reconnect"] == "failed" and TOKEN not in down.content
    assert not back.is_error and back.meta["reconnect"] == "ok"


# --- destructive flags, close ------------------------------------------------------------


async def test_destructive_flags(served: ServedApp) -> None:
    config = http_config("brevo_contacts", served.url + "/mcp")
    extra = ["create_contact", "brevo_contacts__slow_export"]
    async with McpPool([config], extra_destructive=extra) as pool:
        flags = {t.original_name: t.destructive for t in pool.tools}
    assert flags == {
        "create_contact": True,  # listed by original name
        "slow_export": True,  # listed by namespaced name
        "get_contact_info": False,
        "delete_contact": True,  # by name
        LONG_TOOL: False,
        "lists.get": True,  # destructiveHint=True
    }
    assert looks_destructive("contacts_delete_contact")
    assert looks_destructive("email_campaign_management_remove_sender")
    assert looks_destructive("bulkRemoveContacts")
    assert not looks_destructive("get_deleted_contacts")
    assert not looks_destructive("list_delete_requests")


async def test_close_leaves_no_tasks_or_open_resources(served: ServedApp) -> None:
    before = asyncio.all_tasks()
    servers = [http_config(f"s{i}", served.url + "/mcp") for i in range(3)]
    async with McpPool(servers, mode="legacy") as pool:
        assert not (await pool.tools[0].call({"email": "a@x.io"})).is_error
        assert len(asyncio.all_tasks() - before) > 0
    await anyio.sleep(0)  # let finished tasks be reaped
    assert asyncio.all_tasks() - before == set()
    gc.collect()  # an unclosed client or socket would warn here (warnings are errors)
    assert pool.summary()[0][2] == 6  # the summary survives the close
    with pytest.raises(RuntimeError, match="not open"):
        await pool.tools[0].call({"email": "late@x.io"})


# --- other transports ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_stdio_server(mode: Any) -> None:
    config = ServerConfig(
        name="local",
        command=sys.executable,
        args=[str(STDIO_SERVER)],
        env={"GREETING": "hi"},
    )
    async with McpPool([config], mode=mode) as pool:
        assert [(t.name, t.destructive) for t in pool.tools] == [
            ("local__greet", False),
            ("local__remove_everything", True),
        ]
        result = await pool.tools[0].call({"name": "Ann"})
    assert result.content == "hi, Ann" and not result.is_error
    assert pool.summary() == [("local", sys.executable, 2)]


async def test_stdio_command_not_found() -> None:
    config = ServerConfig(name="local", command="/nonexistent/mcp-server")
    with pytest.raises(McpConnectError, match=r"'local' at /nonexistent/mcp-server .*not found"):
        async with McpPool([config]):
            pass


async def test_sse_server(mcp_server: MCPServer) -> None:
    async with serving(gate(mcp_server.sse_app())) as app:
        config = http_config("legacy_sse", app.url + "/sse", type="sse")
        async with McpPool([config]) as pool:
            result = await by_original(pool, "legacy_sse", "create_contact").call(
                {"email": "s@x.io"}
            )
        bad = http_config("legacy_sse", app.url + "/sse", token="wrong-token", type="sse")
        with pytest.raises(McpConnectError, match=r"unauthorised \(401\)") as caught:
            async with McpPool([bad]):
                pass
    assert json.loads(result.content)["email"] == "s@x.io"
    assert "wrong-token" not in str(caught.value)


# --- in memory: result rendering -----------------------------------------------------------


async def test_in_memory_results_render_text_structured_and_images() -> None:
    server = MCPServer("mem", log_level="WARNING")

    @server.tool()
    def stats() -> dict[str, int]:
        """Structured output only."""
        return {"sent": 3, "opened": 1}

    @server.tool()
    def picture() -> Image:
        """An image."""
        return Image(data=b"\x89PNG....", format="png")

    config = ServerConfig(name="mem", url="http://in-memory/mcp")
    async with McpPool([config], client_factory=lambda _: Client(server)) as pool:
        stats_result = await by_original(pool, "mem", "stats").call({})
        image = await by_original(pool, "mem", "picture").call({})
        missing = await pool.call_tool(McpTool("mem__nope", "mem", "nope", "", {}, False, pool), {})
    assert json.loads(stats_result.content) == {"sent": 3, "opened": 1}
    assert image.content.startswith("[image image/png,") and "not shown" in image.content
    assert missing.is_error and "nope" in missing.content


def test_render_result_structured_only_and_empty_error() -> None:
    structured = types.CallToolResult(content=[], structured_content={"id": 1})
    assert render_result(structured) == '{"id": 1}'
    empty_error = types.CallToolResult(content=[], is_error=True)
    assert "without a message" in render_result(empty_error)
    both = types.CallToolResult(
        content=[types.TextContent(type="text", text='{"id": 1}')], structured_content={"id": 1}
    )
    assert render_result(both) == '{"id": 1}'  # not said twice
