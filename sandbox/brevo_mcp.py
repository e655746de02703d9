"""Brevo's MCP endpoints: one MCPServer per module at /v1/{module}/mcp, all tools at /v1/brevo/mcp.

A bearer-token gate answers 401 `{"error": {"code": "INVALID_TOKEN", ...}}` before the SDK
sees a request. Each server's session manager is created afresh and entered in the
parent app's lifespan (Starlette does not run a mounted app's lifespan).
"""

from __future__ import annotations

import inspect
import logging
import secrets
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from sandbox.brevo_account import BrevoAccount
from sandbox.brevo_tools import ContactsTools, ImportExportTools, ModuleTools
from sandbox.brevo_tools_more import (
    AttributesTools,
    CampaignsTools,
    EventsTools,
    FoldersTools,
    ListsTools,
)

MODULES: tuple[type[ModuleTools], ...] = (
    ContactsTools,
    AttributesTools,
    ListsTools,
    FoldersTools,
    ImportExportTools,
    CampaignsTools,
    EventsTools,
)
COMBINED = "brevo"
LOOPBACK_HOSTS = ("127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost")


@contextmanager
def root_logging_untouched() -> Iterator[None]:
    """Keep MCPServer() from installing a rich handler on the root logger.

    MCPServer.__init__ calls logging.basicConfig(handlers=[RichHandler]), which does nothing
    while the root logger has a handler: lend it a NullHandler for the construction.
    """
    root = logging.getLogger()
    placeholder = logging.NullHandler()
    root.addHandler(placeholder)
    try:
        yield
    finally:
        root.removeHandler(placeholder)


def new_server(name: str, instructions: str) -> MCPServer:
    """An MCPServer without the logging side effect."""
    with root_logging_untouched():
        return MCPServer(name, instructions=instructions, warn_on_duplicate_tools=False)


def describe(fn: Callable[..., Any]) -> str:
    """A tool's description: its docstring without the source indentation."""
    return inspect.cleandoc(fn.__doc__ or "")


def module_server(tools: ModuleTools) -> MCPServer:
    """The server of one module: its tools without prefix."""
    server = new_server(tools.module, f"Brevo {tools.module} (sandbox)")
    for name, fn in tools.functions():
        server.add_tool(fn, name=name, description=describe(fn), structured_output=False)
    return server


def combined_server(all_tools: Sequence[ModuleTools]) -> MCPServer:
    """The /v1/brevo/mcp server: every tool, prefixed with its module (contacts_create_contact)."""
    server = new_server(COMBINED, "Brevo, all modules (sandbox)")
    for tools in all_tools:
        for name, fn in tools.functions():
            server.add_tool(
                fn,
                name=f"{tools.prefix()}_{name}",
                description=describe(fn),
                structured_output=False,
            )
    return server


def build_servers(account: BrevoAccount) -> dict[str, MCPServer]:
    """Servers by URL segment: each module name, plus 'brevo' for all of them."""
    all_tools = [module(account) for module in MODULES]
    servers = {tools.module: module_server(tools) for tools in all_tools}
    servers[COMBINED] = combined_server(all_tools)
    return servers


def error(status: int, code: str, message: str) -> JSONResponse:
    """An error in the MCP server's HTTP envelope: {"error": {"code", "message"}}."""
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


class McpEndpoints:
    """ASGI endpoint for /v1/{module}/mcp: token gate, then the module's session manager."""

    def __init__(self, servers: dict[str, MCPServer], token: str, hosts: Sequence[str]) -> None:
        self.servers = servers
        self.token = token
        self.ip_authorised = True
        # Brevo answers an unauthorised IP with an empty tools/list: one server with no tools.
        self._no_tools = new_server(
            "brevo-ip-not-authorised", "No tools: this IP is not authorised"
        )
        self._security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=list(hosts),
            allowed_origins=[f"http://{host}" for host in hosts],
        )

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Start a fresh session manager for every server; stop them on exit."""
        async with AsyncExitStack() as stack:
            for server in [*self.servers.values(), self._no_tools]:
                server.streamable_http_app(transport_security=self._security)
                await stack.enter_async_context(server.session_manager.run())
            yield

    def _authorised(self, header: str | None) -> bool:
        scheme, _, credential = (header or "").partition(" ")
        return scheme.lower() == "bearer" and secrets.compare_digest(
            credential.strip().encode(), self.token.encode()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = self._refusal(scope)
        if response is not None:
            await response(scope, receive, send)
            return
        server = self.servers[scope["path_params"]["module"]]
        if not self.ip_authorised:
            server = self._no_tools
        await server.session_manager.handle_request(scope, receive, send)

    def _refusal(self, scope: Scope) -> JSONResponse | None:
        if not self._authorised(Headers(scope=scope).get("authorization")):
            return error(401, "INVALID_TOKEN", "The MCP token is missing or invalid")
        module: Any = scope.get("path_params", {}).get("module")
        if module not in self.servers:
            return error(404, "NOT_FOUND", f"Unknown MCP module '{module}'")
        return None
