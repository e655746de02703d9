"""B4 memory: peak RSS of the process running the sync, for 100,000 customers.

The sandboxes run in child processes (their data is not counted); this process runs
one `sync_records` call (lookup + batch + import, no rate limits so it ends quickly)
and reports its peak resident set size (ru_maxrss), with the baseline measured just
before the call (Python, the libraries, the open connections). Goal: under 200 MB.

    python benchmarks/b4_memory.py [--customers 100000]
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from typing import Any

import anyio
from common import bench, customers_plan, emit, make_attributes, serve_elsewhere


def rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def measure(customers: int) -> dict[str, Any]:
    with serve_elsewhere(customers) as world:
        async with bench(world, None) as b:
            await make_attributes(b)
            baseline = rss_mb()
            started = time.perf_counter()
            plan = customers_plan(bulk=True, rate_limit=None)
            result = await b.sync().call(plan)
            seconds = time.perf_counter() - started
    summary = json.loads(result.content)
    peak = rss_mb()
    return {
        "customers": customers,
        "fetched": summary["fetched"],
        "created": summary["created"],
        "failed": summary["failed"],
        "seconds": round(seconds, 1),
        "baseline_rss_mb": round(baseline, 1),
        "peak_rss_mb": round(peak, 1),
        "growth_mb": round(peak - baseline, 1),
        "goal_met": peak < 200 and summary["failed"] == 0,
    }


def main() -> None:
    """Run B4 and print the result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    emit("B4 memory", anyio.run(measure, parser.parse_args().customers))


if __name__ == "__main__":
    main()
