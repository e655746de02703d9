"""The MCP client pool: connect to every server, list their tools, call them, reconnect.

    async with McpPool(servers, warn=print) as pool:
        tools = pool.tools                      # McpTool, one per server tool
        result = await tools[0].call({...})     # ToolResult; never raises for a failed call

Servers connect in parallel, each within `connect_timeout`; any that cannot be reached
fail the whole pool with one `McpConnectError` naming every such server and why. A
server listing no tools gets a loud warning (Brevo lists none when the caller's IP is
not on the account's allow-list). A call whose session dropped reconnects that server
once and retries once. Helpers: mcp_connect (runner tasks), mcp_errors (reasons),
mcp_tools (names, destructive flags, result text).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import anyio
import httpx2
from anyio.abc import TaskGroup
from mcp import MCPError, types
from pydantic import ValidationError

from runtime.clock import Clock, SystemClock
from runtime.config import ServerConfig
from runtime.errors import McpConnectError
from runtime.mcp_connect import (
    ClientFactory,
    Connection,
    Mode,
    Opener,
    ServerUnreachableError,
    default_opener,
    factory_opener,
    open_connection,
    scrub,
)
from runtime.mcp_errors import call_reason, is_dropped, rate_limit_wait
from runtime.mcp_tools import is_destructive, render_result, tool_list_hash, tool_name
from runtime.tools import ToolResult

log = logging.getLogger(__name__)

RATE_LIMIT_ATTEMPTS = 4  # a rate-limited call is tried at most this often
MAX_CONCURRENT_CALLS = 8
CALL_GRACE_S = 5.0  # our own deadline sits past the SDK's, in case a write blocks
# Failures a call can end with that the model should read about rather than crash on:
# protocol errors, timeouts, transport and validation errors, and the RuntimeError the
# SDK raises for results that break the tool's output schema.
_CALL_FAILURES = (
    MCPError,
    TimeoutError,
    httpx2.HTTPError,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    ValidationError,
    RuntimeError,
    OSError,
)

ZERO_TOOLS_WARNING = (
    "WARNING: MCP server '{name}' at {url} lists NO tools. Brevo's MCP server lists none "
    "when this machine's IP address is not on the account's authorised IPs: add the IP "
    "in Brevo's security settings, or check the token and the module in the URL."
)


@dataclass(frozen=True, eq=False)  # identity semantics: input_schema is a dict
class McpTool:
    """One tool of one MCP server, namespaced for the Messages API (implements Tool)."""

    name: str
    server: str
    original_name: str
    description: str
    input_schema: dict[str, Any]
    destructive: bool
    _pool: McpPool = field(repr=False, compare=False)

    async def call(self, arguments: dict[str, Any]) -> ToolResult:
        """Call the tool; failures come back as ToolResult(is_error=True)."""
        return await self._pool.call_tool(self, arguments)


class McpPool:
    """Connections to a set of MCP servers and their tools; an async context manager."""

    def __init__(
        self,
        servers: list[ServerConfig],
        *,
        connect_timeout: float = 15,
        call_timeout: float | None = None,
        extra_destructive: Sequence[str] = (),
        warn: Callable[[str], None] | None = None,
        mode: Mode = "auto",
        client_factory: ClientFactory | None = None,
        clock: Clock | None = None,
    ) -> None:
        names = [_server_key(s) for s in servers]
        if len(set(names)) != len(names):
            raise ValueError(f"MCP server names must be unique, got {names}")
        pairs = zip(names, servers, strict=True)
        self._servers = {n: s.model_copy(update={"name": n}) for n, s in pairs}
        self._connect_timeout = connect_timeout
        self._call_timeout = call_timeout
        self._extra_destructive = frozenset(extra_destructive)
        self._warn = warn or log.warning
        self._clock = clock or SystemClock()
        self._opener: Opener = (
            factory_opener(client_factory)
            if client_factory
            else default_opener(mode, connect_timeout, call_timeout)
        )
        self._conns: dict[str, Connection] = {}
        self._listed: dict[str, list[types.Tool]] = {}  # as listed at connect time
        self._locks = {n: anyio.Lock() for n in names}
        # Brevo allows 10 concurrent connections per token; stay under it per server.
        self._gates = {n: anyio.CapacityLimiter(MAX_CONCURRENT_CALLS) for n in names}
        self._stack: AsyncExitStack | None = None
        self._tg: TaskGroup | None = None
        self.tools: list[McpTool] = []

    async def __aenter__(self) -> McpPool:
        stack = AsyncExitStack()
        self._tg = await stack.enter_async_context(anyio.create_task_group())
        stack.push_async_callback(self._close_all)  # runs before the task group exits
        try:
            await self._connect_all()
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        self.tools = self._build_tools()
        self._warn_empty()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.__aexit__(exc_type, exc, tb)

    def summary(self) -> list[tuple[str, str, int]]:
        """(name, display URL, tool count) per server, for the CLI and the REPL."""
        return [(n, s.display, len(self._listed.get(n, ()))) for n, s in self._servers.items()]

    def tool_list_hash(self, server: str) -> str:
        """sha256 of the canonical JSON of the server's tools (names, descriptions, schemas)."""
        return tool_list_hash(self._listed[server])

    async def call_tool(self, tool: McpTool, arguments: dict[str, Any]) -> ToolResult:
        """Call `tool` with a timeout; reconnect its server once if the session dropped."""
        if self._stack is None:
            raise RuntimeError("McpPool is not open: call tools inside 'async with McpPool(...)'")
        start = self._clock.monotonic()
        server = self._servers[tool.server]
        timeout = self._call_timeout or server.timeout_s
        meta: dict[str, Any] = {"server": tool.server, "tool": tool.original_name}
        for attempt in range(1, RATE_LIMIT_ATTEMPTS + 1):
            try:
                async with self._gates[tool.server]:
                    result = await self._call_with_reconnect(tool, arguments, timeout, meta)
            except McpConnectError as exc:
                result = ToolResult(f"{exc} The tool '{tool.name}' was not called.", is_error=True)
            wait = rate_limit_wait(result.content) if result.is_error else None
            if wait is None or attempt == RATE_LIMIT_ATTEMPTS:
                break
            meta["rate_limited"] = attempt  # the server said when to come back: wait, retry
            await self._clock.sleep(wait)
        meta["duration_s"] = round(self._clock.monotonic() - start, 3)
        result.meta.update(meta)
        return result

    async def _call_with_reconnect(
        self, tool: McpTool, arguments: dict[str, Any], timeout: float, meta: dict[str, Any]
    ) -> ToolResult:
        conn = self._conns[tool.server]
        if not conn.alive:  # the transport failed since the last call
            conn = await self._reconnect(conn, meta)
        try:
            return await self._call_once(conn, tool, arguments, timeout)
        except _CALL_FAILURES as exc:
            if "reconnect" in meta or not is_dropped(exc):
                return self._failure(conn, tool, exc, timeout)
            log.info("MCP server '%s' session dropped; reconnecting once", tool.server)
        conn = await self._reconnect(conn, meta)
        try:
            return await self._call_once(conn, tool, arguments, timeout)
        except _CALL_FAILURES as exc:
            return self._failure(conn, tool, exc, timeout)

    async def _call_once(
        self, conn: Connection, tool: McpTool, arguments: dict[str, Any], timeout: float
    ) -> ToolResult:
        with anyio.fail_after(timeout + CALL_GRACE_S):
            result = await conn.client.call_tool(
                tool.original_name, arguments, read_timeout_seconds=timeout
            )
        return ToolResult(render_result(result), is_error=bool(result.is_error))

    def _failure(
        self, conn: Connection, tool: McpTool, exc: BaseException, timeout: float
    ) -> ToolResult:
        reason = scrub(call_reason(exc, conn.status.last(), timeout), conn.server)
        return ToolResult(
            f"Calling '{tool.original_name}' on MCP server '{tool.server}' failed: {reason}",
            is_error=True,
        )

    async def _reconnect(self, old: Connection, meta: dict[str, Any]) -> Connection:
        """Replace `old` with a fresh connection, unless another call already did.

        meta["reconnect"] records the attempt ('failed', then 'ok'): at most one a call.
        """
        meta["reconnect"] = "failed"
        conn = await self._replace(old)
        meta["reconnect"] = "ok"
        return conn

    async def _replace(self, old: Connection) -> Connection:
        name = old.server.name
        async with self._locks[name]:
            current = self._conns[name]
            if current is not old and current.alive:
                return current
            await current.close()
            assert self._tg is not None
            conn = await open_connection(
                self._tg, current.server, self._opener, self._connect_timeout
            )
            self._conns[name] = conn
            return conn

    async def _connect_all(self) -> None:
        assert self._tg is not None
        tg_pool = self._tg
        failures: dict[str, ServerUnreachableError] = {}

        async def connect(name: str, server: ServerConfig) -> None:
            try:
                conn = await open_connection(tg_pool, server, self._opener, self._connect_timeout)
            except ServerUnreachableError as exc:
                failures[name] = exc
            else:
                self._conns[name] = conn
                self._listed[name] = conn.tools

        async with anyio.create_task_group() as tg:
            for name, server in self._servers.items():
                tg.start_soon(connect, name, server)
        ordered = [failures[n] for n in self._servers if n in failures]
        if len(ordered) == 1:
            raise ordered[0]
        if ordered:
            lines = [f"  '{e.server_name}' at {e.display}: {e.reason}" for e in ordered]
            raise McpConnectError(
                f"{len(ordered)} MCP servers could not be reached:\n" + "\n".join(lines)
            )

    async def _close_all(self) -> None:
        async with anyio.create_task_group() as tg:
            for conn in self._conns.values():
                tg.start_soon(conn.close)

    def _build_tools(self) -> list[McpTool]:
        tools: list[McpTool] = []
        taken: set[str] = set()
        for name in self._servers:  # config order, not connect order: names are stable
            for spec in self._listed.get(name, []):
                tools.append(self._tool(name, spec, taken))
                taken.add(tools[-1].name)
        return tools

    def _tool(self, server: str, spec: types.Tool, taken: set[str]) -> McpTool:
        namespaced = tool_name(server, spec.name, taken)
        return McpTool(
            name=namespaced,
            server=server,
            original_name=spec.name,
            description=spec.description or spec.title or "",
            input_schema=dict(spec.input_schema),
            destructive=is_destructive(spec, namespaced, self._extra_destructive),
            _pool=self,
        )

    def _warn_empty(self) -> None:
        for name, server in self._servers.items():
            if name in self._listed and not self._listed[name]:
                self._warn(ZERO_TOOLS_WARNING.format(name=name, url=server.display))


def _server_key(server: ServerConfig) -> str:
    """The server's name, else its URL module, else its command: the tool-name prefix."""
    return server.name or server.module or (server.command or "mcp").rsplit("/", 1)[-1]
