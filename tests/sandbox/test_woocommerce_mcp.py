"""The WooCommerce MCP sandbox through the mcp SDK's own client over streamable HTTP.

Every answer is checked against the WooCommerce REST API of the same sandbox, read
directly over loopback HTTP: the MCP server must be a window on the same store.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from mcp import Client
from mcp_types import CallToolResult

from sandbox.data import generate_store
from sandbox.server import ServedApp
from sandbox.woocommerce import RateLimit, WooCommerceSandbox
from sandbox.woocommerce_mcp import WooCommerceMcpSandbox
from tests.sandbox.brevo_support import FakeClock, text

if TYPE_CHECKING:  # importing it before pytest registers the plugin would skip its rewrite
    from tests.fixtures_sandbox import Served

pytest_plugins = ["tests.fixtures_sandbox"]

TOOLS = [
    "get_customers",
    "get_customer",
    "get_orders",
    "get_order",
    "create_customer",
    "update_customer",
]


@asynccontextmanager
async def connect(
    served: Served[WooCommerceMcpSandbox], mode: str = "auto"
) -> AsyncIterator[Client]:
    async with Client(served.url + served.sandbox.mcp_path, mode=mode) as client:
        yield client


def rest(woo: Served[WooCommerceSandbox], path: str, **params: Any) -> httpx.Response:
    """GET the REST API directly (Basic auth over loopback; the sandbox is not strict)."""
    key = woo.sandbox.read_key
    return httpx.get(
        f"{woo.url}/wp-json/wc/v3/{path}",
        params=params,
        auth=(key.consumer_key, key.consumer_secret),
    )


def ok(result: CallToolResult) -> Any:
    assert not result.is_error, text(result)
    return json.loads(text(result))


def failure(result: CallToolResult) -> tuple[int, dict[str, Any]]:
    """(HTTP status, WooCommerce error body) of a failed tool call."""
    assert result.is_error, text(result)
    message = text(result)
    assert message.startswith("Error executing tool ")
    head, _, body = message.partition("WooCommerce API error ")[2].partition(": ")
    return int(head.split()[0]), json.loads(body)


def without_links(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "_links"} for r in rows]


@pytest.mark.anyio
async def test_lists_the_techspawn_tool_names_with_rest_parameters(
    woo_mcp_server: Served[WooCommerceMcpSandbox],
) -> None:
    async with connect(woo_mcp_server) as client:
        listed = await client.list_tools()
    tools = {t.name: t for t in listed.tools}
    assert list(tools) == TOOLS
    assert all(t.description for t in listed.tools)
    customers = tools["get_customers"].input_schema["properties"]
    assert {"page", "per_page", "search", "orderby", "order", "email", "role"} <= set(customers)
    orders = tools["get_orders"].input_schema
    expected = {"after", "before", "modified_after", "modified_before", "dates_are_gmt", "status"}
    assert expected <= set(orders["properties"])
    assert not orders.get("required")
    assert tools["get_order"].input_schema["required"] == ["id"]
    assert tools["create_customer"].input_schema["required"] == ["email"]


@pytest.mark.anyio
async def test_get_customers_pages_through_the_same_customers_as_rest(
    woo_server: Served[WooCommerceSandbox], woo_mcp_server: Served[WooCommerceMcpSandbox]
) -> None:
    pages: list[list[dict[str, Any]]] = []
    async with connect(woo_mcp_server) as client:
        page = 1
        while True:
            args = {"page": page, "per_page": 7, "orderby": "id", "order": "asc"}
            rows = ok(await client.call_tool("get_customers", args))
            pages.append(rows)
            if len(rows) < 7:
                break
            page += 1
    direct = rest(woo_server, "customers", per_page=100, orderby="id", order="asc")
    everything = [row for rows in pages for row in rows]
    assert without_links(everything) == without_links(direct.json())
    assert len(everything) == int(direct.headers["x-wp-total"])
    assert [len(p) for p in pages][:-1] == [7] * (len(pages) - 1)
    ids = [r["id"] for r in everything]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert everything[0]["_links"]["self"][0]["href"].startswith("https://shop.example.com/")


@pytest.mark.anyio
async def test_get_customer_and_get_order_match_the_store(
    woo_server: Served[WooCommerceSandbox], woo_mcp_server: Served[WooCommerceMcpSandbox]
) -> None:
    order_id = woo_server.sandbox.data.orders[0]["id"]
    customer_id = woo_server.sandbox.data.customers[0]["id"]
    async with connect(woo_mcp_server, mode="legacy") as client:
        order = ok(await client.call_tool("get_order", {"id": order_id}))
        customer = ok(await client.call_tool("get_customer", {"id": customer_id}))
        missing = await client.call_tool("get_order", {"id": 999_999})
    assert order["id"] == order_id
    assert without_links([order]) == without_links([rest(woo_server, f"orders/{order_id}").json()])
    assert customer["email"] == woo_server.sandbox.data.customers[0]["email"]
    status, body = failure(missing)
    assert status == 404 and body["code"] == "woocommerce_rest_shop_order_invalid_id"


@pytest.mark.anyio
async def test_get_orders_passes_the_date_and_status_filters_through(
    woo_server: Served[WooCommerceSandbox], woo_mcp_server: Served[WooCommerceMcpSandbox]
) -> None:
    orders = sorted(woo_server.sandbox.data.orders, key=lambda o: o["date_modified_gmt"])
    since = orders[len(orders) // 2]["date_modified_gmt"]
    args = {
        "modified_after": since,
        "dates_are_gmt": True,
        "status": ["completed", "processing"],
        "orderby": "id",
        "order": "asc",
        "per_page": 100,
    }
    async with connect(woo_mcp_server) as client:
        rows = ok(await client.call_tool("get_orders", args))
    direct = rest(
        woo_server,
        "orders",
        modified_after=since,
        dates_are_gmt="true",
        status="completed,processing",
        orderby="id",
        order="asc",
        per_page=100,
    ).json()
    assert [r["id"] for r in rows] == [r["id"] for r in direct]
    assert rows and all(r["status"] in ("completed", "processing") for r in rows)
    assert all(r["date_modified_gmt"] > since for r in rows)


@pytest.mark.anyio
async def test_rest_validation_errors_come_back_as_tool_errors(
    woo_mcp_server: Served[WooCommerceMcpSandbox],
) -> None:
    async with connect(woo_mcp_server) as client:
        too_big = await client.call_tool("get_customers", {"per_page": 500})
        bad_date = await client.call_tool("get_orders", {"after": "yesterday"})
    status, body = failure(too_big)
    assert status == 400 and body["code"] == "rest_invalid_param"
    assert "per_page" in body["data"]["params"]
    assert failure(bad_date)[1]["data"]["params"] == {"after": "Invalid date."}


@pytest.mark.anyio
async def test_writes_change_the_shared_store(
    woo_server: Served[WooCommerceSandbox], woo_mcp_server: Served[WooCommerceMcpSandbox]
) -> None:
    woo = woo_server.sandbox
    target = woo.data.customers[1]["id"]
    async with connect(woo_mcp_server) as client:
        updated = ok(await client.call_tool("update_customer", {"id": target, "first_name": "Zed"}))
        created = ok(
            await client.call_tool(
                "create_customer", {"email": "new.buyer@shop.test", "first_name": "New"}
            )
        )
        duplicate = await client.call_tool("create_customer", {"email": "NEW.buyer@shop.test"})
    assert updated["first_name"] == "Zed"
    stored = woo.get("customers", target)
    assert stored is not None and stored["first_name"] == "Zed"
    assert stored["date_modified_gmt"] > woo.data.customers[1]["date_modified_gmt"]
    assert woo.get("customers", created["id"]) is not None
    assert failure(duplicate)[1]["code"] == "registration-error-email-exists"
    methods = [(r.method, r.path) for r in woo.requests]
    assert ("PUT", f"/wp-json/wc/v3/customers/{target}") in methods  # logged like any client


@pytest.mark.anyio
async def test_the_store_rate_limit_applies_to_mcp_calls() -> None:
    clock = FakeClock(datetime(2026, 3, 1, tzinfo=UTC))
    store = generate_store(7, customers=5, orders=5, anchor=datetime(2026, 3, 1, tzinfo=UTC))
    woo = WooCommerceSandbox(store=store, clock=clock, rate_limit=RateLimit(2, 10.0))
    mcp = WooCommerceMcpSandbox(woo)
    with ServedApp(mcp.app) as served:
        async with Client(served.url + "/mcp") as client:
            first = [await client.call_tool("get_customers", {}) for _ in range(2)]
            limited = await client.call_tool("get_customers", {})
            clock.advance(10)
            again = await client.call_tool("get_customers", {})
    assert not any(r.is_error for r in first) and not again.is_error
    assert limited.is_error and "WooCommerce API error 429 (Retry-After: 10 s)" in text(limited)
    assert [r.status for r in woo.requests] == [200, 200, 429, 200]


def test_dns_rebinding_protection_is_on(woo_mcp_server: Served[WooCommerceMcpSandbox]) -> None:
    response = httpx.post(woo_mcp_server.url + "/mcp", json={}, headers={"Host": "evil.example"})
    assert response.status_code == 421
