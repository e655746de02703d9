"""Pytest fixtures serving each sandbox on a free loopback port (real uvicorn).

Register with `pytest_plugins = ["tests.fixtures_sandbox"]` in tests/conftest.py, or in a
test module. Each fixture yields a `Served`: `.url` (no trailing slash), `.sandbox` (the
instance, to arrange data or inspect what happened) and `.server` (the ServedApp).

    woo_server       WooCommerceSandbox: 30 customers, 60 orders, seed 7, no rate limit
    brevo_server     BrevoSandbox: in-memory SQLite, Brevo's default rate limits
    crm_server       CrmSandbox: 40 contacts, seed 7, 10 requests/s
    woo_mcp_server   WooCommerceMcpSandbox over woo_server's store; endpoint at .url + "/mcp"
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

import pytest

from sandbox.brevo import BrevoSandbox
from sandbox.crm import CrmSandbox
from sandbox.data import generate_store
from sandbox.server import ServedApp
from sandbox.woocommerce import WooCommerceSandbox
from sandbox.woocommerce_mcp import WooCommerceMcpSandbox

T = TypeVar("T")


@dataclass(frozen=True)
class Served(Generic[T]):
    """A sandbox being served: its base URL, the instance and the server."""

    url: str
    sandbox: T
    server: ServedApp


@pytest.fixture
def woo_server() -> Iterator[Served[WooCommerceSandbox]]:
    """The WooCommerce sandbox on a free port."""
    woo = WooCommerceSandbox(store=generate_store(7, customers=30, orders=60), rate_limit=None)
    with ServedApp(woo.app) as server:
        yield Served(server.url, woo, server)


@pytest.fixture
def brevo_server() -> Iterator[Served[BrevoSandbox]]:
    """The Brevo sandbox (MCP + REST mirror) on a free port."""
    with BrevoSandbox() as brevo, ServedApp(brevo.app) as server:
        yield Served(server.url, brevo, server)


@pytest.fixture
def crm_server() -> Iterator[Served[CrmSandbox]]:
    """The CRM sandbox on a free port."""
    crm = CrmSandbox(seed=7, contacts=40)
    with ServedApp(crm.app) as server:
        yield Served(server.url, crm, server)


@pytest.fixture
def woo_mcp_server(
    woo_server: Served[WooCommerceSandbox],
) -> Iterator[Served[WooCommerceMcpSandbox]]:
    """The WooCommerce MCP server over woo_server's store, on a free port."""
    mcp = WooCommerceMcpSandbox(woo_server.sandbox)
    with ServedApp(mcp.app) as server:
        yield Served(server.url, mcp, server)
