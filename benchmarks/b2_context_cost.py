"""B2 context cost: bytes of tool results entering the model's context per synced record.

Two ways to sync the same customers into a fresh Brevo sandbox:
- data plane: one `sync_records` call; the model reads its summary only;
- per-record path: what the model would do by hand -- `http_request` for every page
  (with `_fields`, so pages are as small as they can be) and one `create_contact` per
  customer; every one of those results enters the context.
Both run for real (loopback HTTP, MCP). The per-record path also costs the model the
tool-call arguments it has to write (output tokens), reported separately.

    python benchmarks/b2_context_cost.py [--customers 1000 --customers 10000]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import anyio
from common import Bench, bench, customers_plan, emit, make_attributes, serve_elsewhere

from runtime.tools.sync_map import Mapped, Mapper, compile_plan
from runtime.tools.sync_plan import parse_plan
from runtime.tools.sync_template import fill
from sandbox.claude_bulk import FIELDS


async def data_plane(customers: int) -> dict[str, Any]:
    with serve_elsewhere(customers) as world:
        async with bench(world, None) as b:
            await make_attributes(b)
            started = time.perf_counter()
            result = await b.sync().call(customers_plan(bulk=False, rate_limit=None))
            seconds = time.perf_counter() - started
    summary = json.loads(result.content)
    synced = summary["created"] + summary["updated"] + summary["unchanged"]
    return {"result_bytes": len(result.content.encode()), "synced": synced,
            "tool_calls_by_model": 1, "seconds": round(seconds, 2)}  # fmt: skip


async def per_record(customers: int) -> dict[str, Any]:
    plan = parse_plan(customers_plan(bulk=False, rate_limit=None))
    exprs, _ = compile_plan(plan)
    mapper = Mapper(plan, exprs, None)
    with serve_elsewhere(customers) as world:
        async with bench(world, None) as b:
            await make_attributes(b)
            started = time.perf_counter()
            totals = await by_hand(b, mapper, plan.sink.arguments)
            totals["seconds"] = round(time.perf_counter() - started, 2)
    return totals


async def by_hand(b: Bench, mapper: Mapper, template: Any) -> dict[str, Any]:
    """Read every page with http_request and create each contact; count what comes back."""
    result_bytes = argument_bytes = calls = synced = 0
    page, pages = 1, 1
    gate = anyio.CapacityLimiter(8)  # the loop runs up to 8 tool calls of a turn at once
    while page <= pages:
        params = {"per_page": 100, "page": page, "orderby": "id", "_fields": FIELDS}
        args = {"method": "GET", "url": "wc/v2/customers", "params": params}
        result = await b.http.call(args)
        result_bytes += len(result.content.encode())
        argument_bytes += len(json.dumps(args).encode())
        calls += 1
        body = json.loads(result.content)
        pages = int(body["headers"]["x-wp-totalpages"])
        mapped = [m for m in map(mapper.apply, body["body"]) if isinstance(m, Mapped)]
        sizes: list[tuple[int, int]] = []

        async def create(item: Mapped, out: list[tuple[int, int]] = sizes) -> None:
            arguments = fill(template, {"record": item.record, "source": item.source})
            async with gate:
                done = await b.tools["brevo_contacts__create_contact"].call(arguments)
            out.append((len(done.content.encode()), len(json.dumps(arguments).encode())))

        async with anyio.create_task_group() as tg:
            for item in mapped:
                tg.start_soon(create, item)
        result_bytes += sum(r for r, _ in sizes)
        argument_bytes += sum(a for _, a in sizes)
        calls += len(sizes)
        synced += len(sizes)
        page += 1
    return {"result_bytes": result_bytes, "argument_bytes": argument_bytes, "synced": synced,
            "tool_calls_by_model": calls}  # fmt: skip


async def measure(customers: int) -> dict[str, Any]:
    plane = await data_plane(customers)
    manual = await per_record(customers)
    plane["bytes_per_record"] = round(plane["result_bytes"] / plane["synced"], 3)
    manual["bytes_per_record"] = round(manual["result_bytes"] / manual["synced"], 1)
    return {
        "customers": customers,
        "data_plane": plane,
        "per_record_path": manual,
        "context_ratio": round(manual["result_bytes"] / plane["result_bytes"], 1),
        "goal_met": plane["result_bytes"] < 4000,
    }


def main() -> None:
    """Run B2 for each size and print the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, action="append")
    for n in parser.parse_args().customers or [1000, 10_000]:
        emit("B2 context cost", anyio.run(measure, n))


if __name__ == "__main__":
    main()
