"""One live MCP client per server, owned by its own task.

Each connection runs in a runner task of the pool's task group: the runner enters the
`mcp.Client` (and the httpx2 client it uses, which the SDK does not close for us),
lists the tools, reports them, and waits to be stopped. Keeping the client's task
groups inside that task matters: when the transport fails (server gone), the SDK
cancels the scope the client was entered in, and that must be the runner, not the
code using the pool. Callers in other tasks then see `MCPError(CONNECTION_CLOSED)`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import anyio
import httpx2
from anyio.abc import TaskGroup, TaskStatus
from mcp import Client, StdioServerParameters, types
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from runtime.config import ServerConfig
from runtime.errors import McpConnectError
from runtime.mcp_errors import connect_reason

log = logging.getLogger(__name__)

Mode = Literal["auto", "legacy"]
ClientFactory = Callable[[ServerConfig], Client]
"""Builds an un-entered `mcp.Client` for a server: tests pass in-process servers here."""
Opener = Callable[[ServerConfig, AsyncExitStack, "StatusLog"], Awaitable[Client]]

SSE_READ_TIMEOUT_S = 300.0  # the SDK's default: a server may keep a stream quiet that long
CLOSE_TIMEOUT_S = 10.0  # how long a graceful close may take before it is cancelled
MAX_TOOL_PAGES = 100  # a tools/list paginator that never ends cannot hang a connect


class StatusLog:
    """The HTTP error statuses of one connection: the SDK turns them into a bare -32603."""

    def __init__(self) -> None:
        self.statuses: list[int] = []

    async def hook(self, response: httpx2.Response) -> None:
        """httpx2 response hook: remember 4xx/5xx statuses (the last 20)."""
        if response.status_code >= 400:
            self.statuses = [*self.statuses[-19:], response.status_code]

    def worst(self) -> int | None:
        """401/403 if seen (they explain everything after them), else the last error."""
        for status in (401, 403):
            if status in self.statuses:
                return status
        return self.statuses[-1] if self.statuses else None

    def last(self) -> int | None:
        """The most recent error status, if any."""
        return self.statuses[-1] if self.statuses else None


def default_opener(mode: Mode, connect_timeout: float, call_timeout: float | None) -> Opener:
    """Open streamable HTTP, SSE or stdio clients from the server's config."""

    async def open_client(server: ServerConfig, stack: AsyncExitStack, status: StatusLog) -> Client:
        hooks: dict[str, list[Any]] = {"response": [status.hook]}
        # Our per-call timeout governs calls: the HTTP read timeout must not cut in first.
        read = max(SSE_READ_TIMEOUT_S, (call_timeout or server.timeout_s) + 5)
        timeout = httpx2.Timeout(connect_timeout, read=read)
        if server.transport == "stdio":
            assert server.command is not None  # guaranteed by ServerConfig.transport
            params = StdioServerParameters(
                command=server.command, args=server.args, env=server.env or None
            )
            return Client(params, mode=mode)
        assert server.url is not None
        if server.transport == "sse":
            transport = _sse_transport(server.url, server.headers, connect_timeout, read, hooks)
            return Client(transport, mode=mode)
        # A client we pass in is not closed by the SDK: the stack closes it.
        http = await stack.enter_async_context(
            httpx2.AsyncClient(headers=server.headers, timeout=timeout, event_hooks=hooks)
        )
        return Client(streamable_http_client(server.url, http_client=http), mode=mode)

    return open_client


def _sse_transport(
    url: str, headers: dict[str, str], connect_s: float, read_s: float, hooks: dict[str, Any]
) -> Any:
    """The SDK's SSE transport, with our timeouts and status hook on its httpx2 client."""

    def factory(
        headers: dict[str, str] | None = None,
        timeout: httpx2.Timeout | None = None,
        auth: httpx2.Auth | None = None,
    ) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(headers=headers, timeout=timeout, auth=auth, event_hooks=hooks)

    return sse_client(
        url,
        headers=dict(headers),
        timeout=connect_s,
        sse_read_timeout=read_s,
        httpx_client_factory=factory,
    )


def factory_opener(factory: ClientFactory) -> Opener:
    """An opener around a caller-supplied client factory."""

    async def open_client(server: ServerConfig, stack: AsyncExitStack, status: StatusLog) -> Client:
        return factory(server)

    return open_client


@dataclass
class Connection:
    """A connected client, its tool listing, and the handles that stop its runner."""

    server: ServerConfig
    client: Client
    tools: list[types.Tool]
    status: StatusLog
    _stop: anyio.Event = field(default_factory=anyio.Event, repr=False)
    _done: anyio.Event = field(default_factory=anyio.Event, repr=False)
    _scope: anyio.CancelScope = field(default_factory=anyio.CancelScope, repr=False)

    @property
    def alive(self) -> bool:
        """False once the runner has ended (stopped, or the transport failed)."""
        return not self._done.is_set()

    async def close(self) -> None:
        """Stop the runner gracefully (session DELETE, process exit); cancel if it hangs."""
        self._stop.set()
        with anyio.move_on_after(CLOSE_TIMEOUT_S, shield=True):
            await self._done.wait()
        if not self._done.is_set():
            log.warning("MCP server '%s' did not close in time; cancelling", self.server.name)
            self._scope.cancel()
            with anyio.CancelScope(shield=True):
                await self._done.wait()


async def open_connection(
    tg: TaskGroup, server: ServerConfig, opener: Opener, timeout: float
) -> Connection:
    """Connect and list tools within `timeout`, or raise McpConnectError with the reason."""
    status = StatusLog()
    try:
        with anyio.fail_after(timeout):
            conn: Connection = await tg.start(_run, server, opener, status)
            return conn
    except Exception as exc:  # boundary: the SDK wraps causes in groups; name this server
        reason = scrub(connect_reason(exc, status.worst(), timeout), server)
        raise ServerUnreachableError(server, reason) from exc


class ServerUnreachableError(McpConnectError):
    """One server could not be reached; `reason` is scrubbed of credentials."""

    def __init__(self, server: ServerConfig, reason: str) -> None:
        self.server_name = server.name
        self.display = server.display
        self.reason = reason
        super().__init__(
            f"MCP server '{server.name}' at {server.display} could not be reached: {reason}"
        )


def scrub(text: str, server: ServerConfig) -> str:
    """Remove the server's credentials (headers, env, URL query and password) from `text`."""
    secrets: set[str] = set()
    if server.url:
        text = text.replace(server.url, server.display)
        parts = urlsplit(server.url)
        secrets.update(v for v in (parts.query, parts.password) if v)
    for value in [*server.headers.values(), *server.env.values()]:
        secrets.update(v for v in (value, value.split(" ", 1)[-1]) if len(v) >= 4)
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


async def _run(
    server: ServerConfig,
    opener: Opener,
    status: StatusLog,
    *,
    task_status: TaskStatus[Connection],
) -> None:
    conn: Connection | None = None
    scope = anyio.CancelScope()
    done = anyio.Event()
    try:
        with scope:
            async with AsyncExitStack() as stack:
                client = await opener(server, stack, status)
                await stack.enter_async_context(client)
                tools = await list_all_tools(client)
                status.statuses.clear()  # e.g. a legacy server's 4xx to the discover probe
                conn = Connection(server, client, tools, status, _done=done, _scope=scope)
                task_status.started(conn)
                await conn._stop.wait()
    except Exception as exc:
        if conn is None:
            raise  # before started(): open_connection reports it
        # After started(): the transport failed (server gone). Calls in flight got
        # CONNECTION_CLOSED; the pool reconnects on the next call.
        log.info("MCP server '%s' connection ended: %r", server.name, scrub(repr(exc), server))
    finally:
        done.set()


async def list_all_tools(client: Client) -> list[types.Tool]:
    """Every tool of the server, following pagination cursors (bounded)."""
    tools: list[types.Tool] = []
    cursor: str | None = None
    for _ in range(MAX_TOOL_PAGES):
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if cursor is None:
            break
    return tools
