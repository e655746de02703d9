"""B1 source throughput: read 10,000 customers through the data plane under a rate limit.

The WooCommerce sandbox enforces the limit too (it answers 429 past it), the data
plane's reader (HttpTool's request path: rate limiter, OAuth 1.0a, retries) pages with
per_page=100. Goal: at least 95% of the request rate the limit allows, zero 429s.

    python benchmarks/b1_source_throughput.py [--customers 10000] [--limit 25/1s] [--limit 25/10s]

"The rate the limit allows": a sliding window of R requests per W seconds lets request
k (0-based) start no earlier than floor(k / R) * W, so P pages need at least
floor((P - 1) / R) * W plus one page's latency (measured without a limit first).
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime
from typing import Any

import anyio
import httpx
from common import World, bench, emit, median, serve_elsewhere

from runtime.agentfile import RateLimit
from runtime.tools.sync_plan import SourcePlan
from runtime.tools.sync_source import PageReader
from sandbox.faults import busiest_window

PARAMS = {"per_page": 100, "orderby": "id", "order": "asc"}


async def page_latency(world: World) -> float:
    """The median time of one page request, alone and unlimited."""
    async with bench(world, None) as b:
        laps = []
        for page in range(1, 12):
            start = time.perf_counter()
            await b.http.fetch_json("woocommerce", "wc/v3/customers", {**PARAMS, "page": page})
            laps.append(time.perf_counter() - start)
        return median(laps[1:])  # the first one opens the connection


async def read_all(world: World, limit: RateLimit) -> tuple[int, float]:
    """(records, seconds) for one pass over every page with the data plane's reader."""
    async with bench(world, limit) as b:
        plan = SourcePlan(source="woocommerce", path="wc/v3/customers", params=PARAMS)
        reader = PageReader(b.http, plan, None, None)
        records = 0
        start = time.perf_counter()
        async for page in reader.pages():
            records += len(page.items)
        return records, time.perf_counter() - start


async def measure(customers: int, text: str) -> dict[str, object]:
    limit = RateLimit.parse(text)
    r, w = limit.requests, limit.per_seconds
    with serve_elsewhere(customers) as world:  # unlimited: a page's latency, alone
        latency = await page_latency(world)
    with serve_elsewhere(customers, woo_limit=(r, w)) as world:
        records, seconds = await read_all(world, limit)
        log = await server_log(world)
    pages = len(log)
    allowed = ((pages - 1) // r) * w + latency
    return {
        "limit": text,
        "customers": records,
        "pages": pages,
        "seconds": round(seconds, 3),
        "limit_optimal_seconds": round(allowed, 3),
        "share_of_allowed_rate": round(allowed / seconds, 4),
        "requests_429": sum(1 for x in log if x["rate_limited"] or x["status"] == 429),
        "busiest_window": busiest_window([datetime.fromisoformat(x["at"]) for x in log], w),
        "page_latency_ms": round(latency * 1000, 2),
        "goal_met": allowed / seconds >= 0.95 and not any(x["status"] == 429 for x in log),
    }


async def server_log(world: World) -> list[dict[str, Any]]:
    """The store's request log (its admin route)."""
    async with httpx.AsyncClient(base_url=world.woo_url, trust_env=False) as client:
        rows: list[dict[str, Any]] = (await client.get("/__sandbox/requests")).json()
    return rows


def main() -> None:
    """Run B1 for each limit and print the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--limit", action="append", help="e.g. 25/1s (repeatable)")
    options = parser.parse_args()
    for text in options.limit or ["25/1s", "25/10s"]:
        emit("B1 source throughput", anyio.run(measure, options.customers, text))


if __name__ == "__main__":
    main()
