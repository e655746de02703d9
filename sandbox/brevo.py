"""A faithful local Brevo: its MCP server (per module and combined) and a read-only REST mirror.

    sandbox = BrevoSandbox(clock=frozen.now)
    with ServedApp(sandbox.app) as served:
        url = served.url + sandbox.mcp_path("brevo_contacts")   # Bearer sandbox.token
        rest = served.url + "/v3/contacts"                      # api-key: sandbox.api_key

Layers: brevo_rules (errors, value rules) < brevo_store (SQLite) < brevo_contacts,
brevo_lists, brevo_activity, brevo_imports (REST v3 operations) < brevo_account (limits,
counts, transactions) < brevo_tools*, brevo_mcp (MCP) and brevo_rest (REST) < this module.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from sandbox import brevo_inspect as inspect
from sandbox.brevo_account import BrevoAccount
from sandbox.brevo_imports import settle_imports
from sandbox.brevo_mcp import COMBINED, LOOPBACK_HOSTS, McpEndpoints, build_servers
from sandbox.brevo_ratelimit import DEFAULT_RATE_LIMITS, RateLimit, RateLimiter
from sandbox.brevo_rest import RestMirror
from sandbox.brevo_store import BrevoStore

__all__ = ["DEFAULT_RATE_LIMITS", "BrevoSandbox", "RateLimit"]

RateLimits = Mapping[str, RateLimit | tuple[int, float] | None]


def utc_now() -> datetime:
    """The real clock (the default)."""
    return datetime.now(UTC)


class BrevoSandbox:
    """Brevo for tests and demos: `.app` serves MCP at /v1/{module}/mcp and REST at /v3.

    rate_limits: None for Brevo's general tier (DEFAULT_RATE_LIMITS); a mapping replaces
    it, and categories left out (or None) are unlimited, so {} disables rate limiting.
    import_delay: seconds on `clock` after which a queued import runs on its own.
    """

    def __init__(
        self,
        token: str | None = None,
        api_key: str | None = None,
        db_path: str = ":memory:",
        rate_limits: RateLimits | None = None,
        clock: Callable[[], datetime] = utc_now,
        import_delay: float = 1.0,
        allowed_hosts: Sequence[str] = LOOPBACK_HOSTS,
    ) -> None:
        self.token = token or "sandbox-mcp-" + secrets.token_urlsafe(24)
        self.api_key = api_key or "xkeysib-sandbox-" + secrets.token_hex(24)
        self._store = BrevoStore(db_path)
        limits = DEFAULT_RATE_LIMITS if rate_limits is None else rate_limits
        self._account = BrevoAccount(self._store, clock, RateLimiter(limits), import_delay)
        self._servers = build_servers(self._account)
        self._mcp = McpEndpoints(self._servers, self.token, allowed_hosts)
        rest = RestMirror(self._account, self.api_key)
        self.app = Starlette(
            routes=[Route("/v1/{module}/mcp", self._mcp), Mount("/v3", routes=rest.routes())],
            lifespan=self._lifespan,
        )

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        async with self._mcp.running():
            yield

    @staticmethod
    def mcp_path(module: str = COMBINED) -> str:
        """The endpoint path of a module: /v1/brevo_contacts/mcp; /v1/brevo/mcp for all."""
        return f"/v1/{module}/mcp"

    def modules(self) -> list[str]:
        """The module names served (without the combined 'brevo')."""
        return [name for name in self._servers if name != COMBINED]

    def mcp_server(self, module: str = COMBINED) -> MCPServer:
        """The MCPServer behind a module, for in-process clients (no token, no HTTP)."""
        return self._servers[module]

    @property
    def ip_authorised(self) -> bool:
        """False makes every endpoint list zero tools, as Brevo does for an unknown IP."""
        return self._mcp.ip_authorised

    @ip_authorised.setter
    def ip_authorised(self, value: bool) -> None:
        self._mcp.ip_authorised = value

    def contacts(self) -> list[dict[str, Any]]:
        """Every contact in GET /v3/contacts/{id} shape, by id."""
        return self._account.read(inspect.all_contacts)

    def lists(self) -> list[dict[str, Any]]:
        """Every list, by id."""
        return self._account.read(inspect.all_lists)

    def folders(self) -> list[dict[str, Any]]:
        """Every folder, by id."""
        return self._account.read(inspect.all_folders)

    def attributes(self) -> list[dict[str, Any]]:
        """Every contact attribute: name, category, type."""
        return self._account.read(inspect.all_attributes)

    def events(self) -> list[dict[str, Any]]:
        """Every event received, oldest first."""
        return self._account.read(inspect.all_events)

    def campaigns(self) -> list[dict[str, Any]]:
        """Every email campaign, by id."""
        return self._account.read(inspect.all_campaigns)

    def processes(self) -> list[dict[str, Any]]:
        """Every import process with its report (created, updated, skipped, invalid rows)."""
        return self._account.read(inspect.all_processes)

    def test_emails(self) -> list[dict[str, Any]]:
        """Every test email sent by send_test_email."""
        return self._account.read(inspect.all_test_emails)

    def snapshot(self) -> dict[str, Any]:
        """The whole account as comparable data, minus the sandbox's own timestamps."""
        return self._account.read(inspect.snapshot)

    def call_counts(self) -> dict[str, int]:
        """MCP tool calls by tool name without module prefix (create_contact, get_lists ...)."""
        return self._account.call_counts()

    def complete_imports(self) -> None:
        """Run every queued import now, whatever the clock says."""
        self._account.read(lambda tx: settle_imports(tx, None))

    def close(self) -> None:
        """Close the database."""
        self._store.close()

    def __enter__(self) -> BrevoSandbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
