"""B3 end to end: 10,000 customers into the Brevo sandbox under Brevo's general-tier limits.

One `sync_records` call with the batch tools: a lookup (get_contacts) tells new from
existing, new contacts go through import_contacts (polled with get_process, verified
with counts), existing ones through update_batch_contacts; the sink is paced at 10
calls a second, Brevo's contacts limit. Both sandboxes run in a child process with
their limits on: Brevo's general tier (contacts 10/s, processes/lists/attributes
100/h) and the store's limit.

"The time the limits allow" for the calls this sync made: Brevo's fixed 1 s window lets
n contacts calls finish no sooner than ceil(n / 10) - 1 seconds after the first; the
source's sliding window lets P pages finish no sooner than floor((P - 1) / R) * W. The
sync pipelines reading and writing, so the bound is the larger of the two.

    python benchmarks/b3_end_to_end.py [--customers 10000] [--source-limit 25/10s]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections import Counter
from typing import Any

import anyio
from common import bench, customers_plan, emit, make_attributes, serve_elsewhere

from runtime.agentfile import RateLimit
from runtime.tools import Tool, ToolResult

IMPORT_SIZE = 1000  # the plan's default
CONTACTS_CATEGORY = {"get_contacts", "get_contact_info", "create_contact", "update_contact",
                     "update_batch_contacts", "import_contacts"}  # fmt: skip


class Counted:
    """A tool that counts its calls and the rate-limited answers the pool retried."""

    def __init__(self, tool: Tool, calls: Counter[str], limited: Counter[str]) -> None:
        self._tool, self._calls, self._limited = tool, calls, limited
        self.name, self.description = tool.name, tool.description
        self.input_schema, self.destructive = tool.input_schema, tool.destructive

    async def call(self, arguments: dict[str, Any]) -> ToolResult:
        result = await self._tool.call(arguments)
        short = self.name.split("__")[-1]
        self._calls[short] += 1
        self._limited[short] += int(result.meta.get("rate_limited", 0))
        return result


async def measure(customers: int, source_limit: str) -> dict[str, Any]:
    limit = RateLimit.parse(source_limit)
    calls: Counter[str] = Counter()
    limited: Counter[str] = Counter()
    woo_limit = (limit.requests, limit.per_seconds)
    with serve_elsewhere(customers, woo_limit=woo_limit, brevo_general_tier=True) as world:
        async with bench(world, limit) as b:
            await make_attributes(b)
            b.tools = {n: Counted(t, calls, limited) for n, t in b.tools.items()}  # type: ignore[misc]
            started = time.perf_counter()
            plan = customers_plan(bulk=True, rate_limit="10/s", import_size=IMPORT_SIZE)
            result = await b.sync().call(plan)
            seconds = time.perf_counter() - started
    summary = json.loads(result.content)
    contacts_calls = sum(n for tool, n in calls.items() if tool in CONTACTS_CATEGORY)
    pages = summary["pages"]
    bound_brevo = max(math.ceil(contacts_calls / 10) - 1, 0)
    bound_source = ((pages - 1) // limit.requests) * limit.per_seconds
    bound = max(bound_brevo, bound_source)
    return {
        "customers": customers,
        "source_limit": source_limit,
        "seconds": round(seconds, 2),
        "created": summary["created"],
        "updated": summary["updated"],
        "failed": summary["failed"],
        "brevo_calls": dict(calls),
        "brevo_429_retries": sum(limited.values()),
        "limit_bound_seconds": {"brevo": bound_brevo, "source": bound_source},
        "over_bound": round(seconds / bound - 1, 3) if bound else None,
        "goal_met": bool(bound) and seconds <= bound * 1.10 and summary["failed"] == 0,
    }


def main() -> None:
    """Run B3 and print the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--source-limit", action="append", help="e.g. 25/10s (repeatable)")
    options = parser.parse_args()
    for text in options.source_limit or ["25/10s", "1000/1s"]:
        emit("B3 end to end", anyio.run(measure, options.customers, text))


if __name__ == "__main__":
    main()
