"""B5 overhead: what the runtime adds to a call, over loopback to the sandboxes.

- http_request: `HttpTool.call` (parse, NetGuard, limiter, auth, retries wrapper, body
  rendering, redaction) against a plain httpx GET of the same URL with the same Basic
  credentials; goal: p50 under 2 ms beyond the network call.
- MCP: `McpTool.call` of Brevo's get_attributes through the pool (streamable HTTP,
  bearer token); goal: p50 under 5 ms.
The sandboxes run in child processes; calls alternate so both see the same conditions.

    python benchmarks/b5_overhead.py [--samples 400]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import anyio
import httpx
from common import emit, percentile, serve_elsewhere

from runtime.agentfile import AuthSpec
from runtime.clock import SystemClock
from runtime.config import ResolvedSource, ServerConfig
from runtime.mcp import McpPool
from runtime.tools.http import HttpTool

PARAMS = {"per_page": 10, "page": 1}


async def http_overhead(world: Any, samples: int) -> dict[str, Any]:
    auth = AuthSpec(type="basic", key=world.woo_key, secret=world.woo_secret)
    base = world.woo_url + "/wp-json"
    source = ResolvedSource("woocommerce", base, auth, None, False, True, 30.0)
    url = base + "/wc/v3/customers"
    raw_times, tool_times = [], []
    async with (
        HttpTool({"woocommerce": source}, clock=SystemClock()) as tool,
        httpx.AsyncClient(auth=(world.woo_key, world.woo_secret), trust_env=False) as raw,
    ):
        for i in range(samples + 20):
            start = time.perf_counter()
            response = await raw.get(url, params=PARAMS, headers={"Accept": "application/json"})
            response.json()
            middle = time.perf_counter()
            result = await tool.call({"method": "GET", "url": "wc/v3/customers", "params": PARAMS})
            end = time.perf_counter()
            assert response.status_code == 200 and not result.is_error, result.content[:200]
            if i >= 20:  # warm-up done
                raw_times.append(middle - start)
                tool_times.append(end - middle)
    raw_p50, tool_p50 = percentile(raw_times, 0.5), percentile(tool_times, 0.5)
    return {
        "raw_get_p50_ms": round(raw_p50 * 1000, 3),
        "http_request_p50_ms": round(tool_p50 * 1000, 3),
        "http_request_p95_ms": round(percentile(tool_times, 0.95) * 1000, 3),
        "overhead_p50_ms": round((tool_p50 - raw_p50) * 1000, 3),
    }


async def mcp_latency(world: Any, samples: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {world.brevo_token}"}
    server = ServerConfig(name="brevo_attributes", url=f"{world.brevo_url}/v1/brevo_attributes/mcp",
                          headers=headers)  # fmt: skip
    times = []
    async with McpPool([server]) as pool:
        (tool,) = [t for t in pool.tools if t.name.endswith("__get_attributes")]
        for i in range(samples + 20):
            start = time.perf_counter()
            result = await tool.call({})
            elapsed = time.perf_counter() - start
            assert not result.is_error
            if i >= 20:
                times.append(elapsed)
    return {
        "mcp_call_p50_ms": round(percentile(times, 0.5) * 1000, 3),
        "mcp_call_p95_ms": round(percentile(times, 0.95) * 1000, 3),
    }


async def measure(samples: int) -> dict[str, Any]:
    with serve_elsewhere(200) as world:
        http = await http_overhead(world, samples)
        mcp = await mcp_latency(world, samples)
    met = http["overhead_p50_ms"] < 2 and mcp["mcp_call_p50_ms"] < 5
    return {"samples": samples, **http, **mcp, "goal_met": met}


def main() -> None:
    """Run B5 and print the result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=400)
    emit("B5 overhead", anyio.run(measure, parser.parse_args().samples))


if __name__ == "__main__":
    main()
