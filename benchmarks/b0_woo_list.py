"""B0: list 10,000 WooCommerce customers from the sandbox over loopback HTTP.

Generates the store, serves it with uvicorn, walks GET /wp-json/wc/v3/customers?per_page=100
page by page (keep-alive client, rate limit off) and prints p50/p95 latency per page.

    python benchmarks/b0_woo_list.py [--customers 10000] [--passes 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import httpx

from sandbox.data import generate_store
from sandbox.server import ServedApp
from sandbox.woocommerce import WooCommerceSandbox


def percentile(samples: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[max(0, round(share * len(ordered)) - 1)]


def walk(client: httpx.Client, path: str) -> tuple[list[float], int]:
    """Fetch every page; returns the per-page latencies and the customers seen."""
    latencies, seen, page, pages = [], 0, 1, 1
    while page <= pages:
        start = time.perf_counter()
        response = client.get(path, params={"per_page": 100, "page": page})
        latencies.append(time.perf_counter() - start)
        response.raise_for_status()
        seen += len(response.json())
        pages = int(response.headers["X-WP-TotalPages"])
        page += 1
    return latencies, seen


def main() -> None:
    """Run the benchmark and print the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--passes", type=int, default=3)
    options = parser.parse_args()

    start = time.perf_counter()
    data = generate_store(customers=options.customers)
    generated = time.perf_counter() - start
    sandbox = WooCommerceSandbox(data, rate_limit=None)
    auth = (sandbox.read_key.consumer_key, sandbox.read_key.consumer_secret)
    samples: list[float] = []
    with (
        ServedApp(sandbox.app) as served,
        httpx.Client(base_url=served.url, auth=auth, trust_env=False) as client,
    ):
        walk(client, "/wp-json/wc/v3/customers")  # warm-up pass
        for _ in range(options.passes):
            latencies, seen = walk(client, "/wp-json/wc/v3/customers")
            assert seen == options.customers, seen
            samples += latencies
    print(f"generate_store({options.customers} customers): {generated * 1000:.0f} ms")
    print(f"pages: {len(samples)} ({options.passes} passes of {len(samples) // options.passes})")
    print(f"p50: {percentile(samples, 0.50) * 1000:.1f} ms")
    print(f"p95: {percentile(samples, 0.95) * 1000:.1f} ms")
    print(f"mean: {statistics.fmean(samples) * 1000:.1f} ms, max: {max(samples) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
