"""The source's rate limit is never exceeded during a 30-page read, counted at the sandbox.

The throughput half of the requirement (no more than 10% slower than the limit allows)
is a timing claim, so it lives in benchmarks/ (b1), not here.
"""

from __future__ import annotations

import json
from datetime import datetime

import anyio
import pytest

from runtime.agentfile import AuthSpec, RateLimit
from runtime.clock import SystemClock
from runtime.config import ResolvedSource
from runtime.tools.http import HttpTool
from sandbox.data import generate_store
from sandbox.server import ServedApp
from sandbox.woocommerce import RateLimit as ServerLimit
from sandbox.woocommerce import WooCommerceSandbox


@pytest.mark.anyio
async def test_thirty_pages_never_exceed_the_limit() -> None:
    store = generate_store(
        7, customers=300, orders=20, anchor=datetime.fromisoformat("2026-11-30T00:00:00+00:00")
    )
    woo = WooCommerceSandbox(store=store, rate_limit=ServerLimit(requests=10, window=1.0))
    with ServedApp(woo.app) as served:
        source = ResolvedSource(
            name="woocommerce",
            base_url=f"{served.url}/wp-json",
            auth=AuthSpec(
                type="oauth1", key=woo.read_key.consumer_key, secret=woo.read_key.consumer_secret
            ),
            rate_limit=RateLimit(requests=10, per_seconds=1.0),
            write=False,
            allow_private=False,
            timeout_s=30,
        )
        results: list[dict] = []
        async with HttpTool({"woocommerce": source}, clock=SystemClock()) as tool:

            async def page(n: int) -> None:
                res = await tool.call(
                    {
                        "method": "GET",
                        "url": "wc/v3/customers",
                        "params": {"per_page": 10, "page": n},
                    }
                )
                results.append(json.loads(res.content))

            async with anyio.create_task_group() as tg:  # all 30 at once: the limiter spaces them
                for n in range(1, 31):
                    tg.start_soon(page, n)
    assert [r["status"] for r in results] == [200] * 30
    assert not any(r.rate_limited for r in woo.requests)  # the server never had to say 429
    assert woo.busiest_window(1.0) <= 10
    assert len({r["body"][0]["id"] for r in results}) == 30  # thirty different pages
