"""A community-style WooCommerce MCP server (the seed's "approach 1") over a WooCommerceSandbox.

    woo = WooCommerceSandbox()
    mcp = WooCommerceMcpSandbox(woo)
    with ServedApp(woo.app) as shop, ServedApp(mcp.app) as served:
        Client(served.url + "/mcp")            # streamable HTTP, no auth (loopback only)

Tool names follow techspawn/woocommerce-mcp-server (get_customers, get_customer,
get_orders, get_order, create_customer, update_customer); their arguments are the
WooCommerce REST parameters themselves (page, per_page, search, orderby, order, status,
after, before, modified_after, dates_are_gmt ...) rather than techspawn's camelCase
wrappers, so what the model learns about the REST API carries over.

How it reaches the store: like the real server, every tool call is a wc/v3 REST request
with the store's API keys (read key for reads, write key for writes), sent in-process to
the sandbox's own ASGI app (httpx.ASGITransport, HTTPS so Basic auth is accepted). So the
MCP tools see exactly the REST behaviour: validation errors, the rate limit, injected
faults, the request log. A list tool returns the JSON array of the page, as techspawn's
does (page on until a page is shorter than per_page); a REST error becomes a tool error
whose text holds the status and WooCommerce's JSON body.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import httpx
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import Field
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from sandbox.brevo_mcp import LOOPBACK_HOSTS, describe, new_server
from sandbox.woo_auth import ApiKey
from sandbox.woocommerce import WooCommerceSandbox

MCP_PATH = "/mcp"
ORDER_STATUS = Literal[
    "any",
    "pending",
    "processing",
    "on-hold",
    "completed",
    "cancelled",
    "refunded",
    "failed",
    "checkout-draft",
    "trash",
]

Page = Annotated[int | None, Field(description="Page of the collection (>= 1; default 1).")]
PerPage = Annotated[int | None, Field(description="Items per page (1..100; default 10).")]
Search = Annotated[str | None, Field(description="Limit results to those matching a string.")]
Order = Annotated[
    Literal["asc", "desc"] | None,
    Field(description="Sort direction (customers: asc; orders: desc)."),
]
Ids = Annotated[list[int] | None, Field(description="Ids, e.g. [12, 15].")]
Offset = Annotated[int | None, Field(description="Skip this many items (overrides page).")]
Date = Annotated[
    str | None,
    Field(description="ISO 8601 date-time, e.g. 2026-01-31T00:00:00; bounds are exclusive."),
]
Address = Annotated[
    dict[str, str] | None,
    Field(description="first_name, last_name, company, address_1, city, postcode, country ..."),
]
Meta = Annotated[list[dict[str, Any]] | None, Field(description='[{"key": "k", "value": "v"}]')]


class WooTools:
    """The tools; each is one wc/v3 request to the sandbox."""

    def __init__(self, woo: WooCommerceSandbox, site_url: str) -> None:
        self.woo = woo
        parts = urlsplit(site_url)
        self.base = f"https://{parts.netloc or 'shop.example.com'}/wp-json/wc/v3/"

    def functions(self) -> list[tuple[str, Callable[..., Any]]]:
        """(name, bound method) for every tool."""
        names = (
            "get_customers",
            "get_customer",
            "get_orders",
            "get_order",
            "create_customer",
            "update_customer",
        )
        return [(name, getattr(self, name)) for name in names]

    async def get_customers(
        self,
        page: Page = None,
        per_page: PerPage = None,
        search: Search = None,
        email: Annotated[str | None, Field(description="Exact email address.")] = None,
        role: Annotated[
            str | None, Field(description="User role (default customer; 'all' for every user).")
        ] = None,
        orderby: Annotated[
            Literal["id", "include", "name", "registered_date"] | None,
            Field(description="Sort by (default name)."),
        ] = None,
        order: Order = None,
        include: Ids = None,
        exclude: Ids = None,
        offset: Offset = None,
    ) -> str:
        """List customers (GET /wc/v3/customers). Returns a JSON array of customers. There is
        no date filter on customers: filter on date_modified_gmt yourself."""
        return await self._request("GET", "customers", _query(locals()))

    async def get_customer(self, id: Annotated[int, Field(description="Customer id.")]) -> str:
        """Get one customer by id (GET /wc/v3/customers/{id})."""
        return await self._request("GET", f"customers/{id}")

    async def get_orders(
        self,
        page: Page = None,
        per_page: PerPage = None,
        search: Search = None,
        after: Date = None,
        before: Date = None,
        modified_after: Date = None,
        modified_before: Date = None,
        dates_are_gmt: Annotated[
            bool | None, Field(description="true: the date bounds are UTC, not site time.")
        ] = None,
        status: Annotated[
            list[ORDER_STATUS] | None, Field(description="Statuses to include (default any).")
        ] = None,
        customer: Annotated[int | None, Field(description="Orders of this customer id.")] = None,
        product: Annotated[int | None, Field(description="Orders with this product id.")] = None,
        orderby: Annotated[
            Literal["date", "id", "include", "title", "slug", "modified"] | None,
            Field(description="Sort by (default date)."),
        ] = None,
        order: Order = None,
        include: Ids = None,
        exclude: Ids = None,
        offset: Offset = None,
        parent: Ids = None,
    ) -> str:
        """List orders (GET /wc/v3/orders). Returns a JSON array of orders."""
        return await self._request("GET", "orders", _query(locals()))

    async def get_order(self, id: Annotated[int, Field(description="Order id.")]) -> str:
        """Get one order by id (GET /wc/v3/orders/{id})."""
        return await self._request("GET", f"orders/{id}")

    async def create_customer(
        self,
        email: Annotated[str, Field(description="The new customer's email.")],
        first_name: str | None = None,
        last_name: str | None = None,
        username: str | None = None,
        billing: Address = None,
        shipping: Address = None,
        meta_data: Meta = None,
    ) -> str:
        """Create a customer (POST /wc/v3/customers). Returns the new customer."""
        return await self._request("POST", "customers", body=_body(locals()))

    async def update_customer(
        self,
        id: Annotated[int, Field(description="Customer id.")],
        email: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        billing: Address = None,
        shipping: Address = None,
        meta_data: Meta = None,
    ) -> str:
        """Update a customer (PUT /wc/v3/customers/{id}); only the fields given change."""
        fields = _body(locals())
        fields.pop("id", None)
        return await self._request("PUT", f"customers/{id}", body=fields)

    async def _request(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> str:
        key = self.woo.read_key if method == "GET" else self.woo.write_key
        transport = httpx.ASGITransport(app=self.woo.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=self.base) as client:
            response = await client.request(
                method, path, params=params, json=body, auth=_basic(key), timeout=60
            )
        if response.status_code >= 400:
            raise ToolError(_error_text(response))
        return response.text


def _basic(key: ApiKey) -> httpx.BasicAuth:
    return httpx.BasicAuth(key.consumer_key, key.consumer_secret)


def _query(arguments: dict[str, Any]) -> dict[str, str]:
    """Tool arguments as WordPress query parameters (lists comma-joined, booleans words)."""
    out = {}
    for name, value in arguments.items():
        if name == "self" or value is None:
            continue
        if isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, list):
            out[name] = ",".join(str(v) for v in value)
        else:
            out[name] = str(value)
    return out


def _body(arguments: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in arguments.items() if k != "self" and v is not None}


def _error_text(response: httpx.Response) -> str:
    """'WooCommerce API error 404: {"code": ...}' (plus Retry-After on a 429)."""
    try:
        detail = json.dumps(response.json(), separators=(",", ":"))
    except ValueError:
        detail = response.text[:500]
    retry = response.headers.get("retry-after")
    suffix = f" (Retry-After: {retry} s)" if retry else ""
    return f"WooCommerce API error {response.status_code}{suffix}: {detail}"


def build_server(tools: WooTools) -> MCPServer:
    """The MCPServer with every WooCommerce tool."""
    server = new_server("woocommerce", "WooCommerce store (sandbox): customers and orders")
    for name, fn in tools.functions():
        server.add_tool(fn, name=name, description=describe(fn), structured_output=False)
    return server


class WooCommerceMcpSandbox:
    """`.app` serves the WooCommerce MCP server at /mcp (streamable HTTP) over `woo`'s store."""

    def __init__(
        self,
        woo: WooCommerceSandbox,
        *,
        allowed_hosts: Sequence[str] = LOOPBACK_HOSTS,
    ) -> None:
        self.woo = woo
        self.tools = WooTools(woo, woo.site_url)
        self.server = build_server(self.tools)
        self._security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=list(allowed_hosts),
            allowed_origins=[f"http://{host}" for host in allowed_hosts],
        )
        self.app = Starlette(
            routes=[Route(MCP_PATH, _Endpoint(self.server), methods=["GET", "POST", "DELETE"])],
            lifespan=self._lifespan,
        )

    @property
    def mcp_path(self) -> str:
        """Where the endpoint is: /mcp."""
        return MCP_PATH

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        # A fresh session manager each time the app is served (run() works once per manager).
        self.server.streamable_http_app(transport_security=self._security)
        async with self.server.session_manager.run():
            yield


class _Endpoint:
    """ASGI endpoint handing /mcp to the server's current session manager."""

    def __init__(self, server: MCPServer) -> None:
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.server.session_manager.handle_request(scope, receive, send)
