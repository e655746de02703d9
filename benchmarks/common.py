"""Shared pieces of the benchmarks: the sandboxes on loopback, the data plane's tools.

`serve(...)` serves the WooCommerce and Brevo sandboxes in this process; `python
benchmarks/common.py --customers N` serves them in a child process instead (B4 measures
the sync's own memory) and prints one JSON line describing them. `bench(world)` opens
what a session would: HttpTool, the MCP pool, a SQLite store, a cursor stage.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runtime.agentfile import AuthSpec, RateLimit  # noqa: E402
from runtime.clock import SystemClock  # noqa: E402
from runtime.config import ResolvedSource, ServerConfig  # noqa: E402
from runtime.mcp import McpPool  # noqa: E402
from runtime.store import RunStore  # noqa: E402
from runtime.tools import Tool  # noqa: E402
from runtime.tools.http import HttpTool  # noqa: E402
from runtime.tools.state import CursorStage  # noqa: E402
from runtime.tools.sync import SyncTool  # noqa: E402
from sandbox.brevo import BrevoSandbox  # noqa: E402
from sandbox.data import generate_store  # noqa: E402
from sandbox.server import ServedApp  # noqa: E402
from sandbox.woocommerce import RateLimit as WooLimit  # noqa: E402
from sandbox.woocommerce import WooCommerceSandbox  # noqa: E402

MODULES = ("brevo_contacts", "brevo_attributes", "brevo_lists", "brevo_contact_import_export")
ATTRIBUTES = {"ORDER_COUNT": "float", "TOTAL_SPENT": "float", "CUSTOMER_SINCE": "date"}
ATTRIBUTES |= {"CUSTOMER_TYPE": "text"}
CONTACT = {"email": "$record.email", "ext_id": "$record.ext_id", "attributes": "$record.attributes"}


@dataclass
class World:
    """Where the sandboxes are served and how to reach them."""

    woo_url: str
    brevo_url: str
    woo_key: str
    woo_secret: str
    brevo_token: str


@dataclass
class Served:
    """Sandboxes served in this process (their objects, for counting)."""

    world: World
    woo: WooCommerceSandbox
    brevo: BrevoSandbox


@contextmanager
def serve(
    customers: int,
    *,
    orders: int = 200,
    brevo_limits: Any = None,
    woo_limit: tuple[int, float] | None = None,
    only: str | None = None,
) -> Iterator[Served]:
    """Both sandboxes (or `only` one) on 127.0.0.1; brevo_limits None = Brevo's general
    tier, {} = none."""
    data = generate_store(7, customers=customers if only != "brevo" else 1, orders=orders)
    woo = WooCommerceSandbox(data, rate_limit=WooLimit(*woo_limit) if woo_limit else None)
    brevo = BrevoSandbox(rate_limits=brevo_limits)
    with ExitStack() as stack:
        woo_url = stack.enter_context(ServedApp(woo.app)).url if only != "brevo" else ""
        brevo_url = stack.enter_context(ServedApp(brevo.app)).url if only != "woo" else ""
        stack.callback(brevo.close)
        key = woo.read_key
        yield Served(World(woo_url, brevo_url, key.consumer_key, key.consumer_secret, brevo.token),
                     woo, brevo)  # fmt: skip


@contextmanager
def serve_elsewhere(
    customers: int, orders: int = 200, woo_limit: tuple[int, float] | None = None,
    brevo_general_tier: bool = False,
) -> Iterator[World]:  # fmt: skip
    """Each sandbox in a child process of its own, so this one measures only the sync (its
    memory, its CPU) and neither sandbox slows the other down (one GIL each)."""
    args = [sys.executable, __file__, "--customers", str(customers), "--orders", str(orders)]
    if woo_limit:
        args += ["--woo-limit", f"{woo_limit[0]}/{woo_limit[1]}"]
    if brevo_general_tier:
        args.append("--brevo-general-tier")
    children = [
        subprocess.Popen(
            [*args, "--only", only], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        for only in ("woo", "brevo")
    ]
    try:
        woo, brevo = (World(**json.loads(c.stdout.readline())) for c in children if c.stdout)
        yield World(woo.woo_url, brevo.brevo_url, woo.woo_key, woo.woo_secret, brevo.brevo_token)
    finally:
        for child in children:
            assert child.stdin is not None
            child.stdin.close()
            child.wait(timeout=60)


@dataclass
class Bench:
    """What a session holds for the data plane."""

    http: HttpTool
    tools: dict[str, Tool]
    store: RunStore
    stage: CursorStage
    clock: SystemClock
    source: ResolvedSource

    def sync(self, run_id: str = "bench") -> SyncTool:
        """A SyncTool over these tools, as the session builds it."""
        return SyncTool(self.http, self.tools, self.store, self.stage, "bench", run_id,
                        self.clock, sources={"woocommerce": self.source})  # fmt: skip

    async def call(self, name: str, **arguments: Any) -> Any:
        """A tool call that must succeed; its parsed result."""
        result = await self.tools[name].call(arguments)
        assert not result.is_error, result.content
        return json.loads(result.content)


@asynccontextmanager
async def bench(world: World, source_limit: RateLimit | None) -> AsyncIterator[Bench]:
    """HttpTool (the woocommerce source under `source_limit`), the MCP pool, a store."""
    auth = AuthSpec(type="oauth1", key=world.woo_key, secret=world.woo_secret)
    base = world.woo_url + "/wp-json"
    source = ResolvedSource("woocommerce", base, auth, source_limit, False, True, 60.0)
    headers = {"Authorization": f"Bearer {world.brevo_token}"}
    servers = [
        ServerConfig(name=m, url=f"{world.brevo_url}/v1/{m}/mcp", headers=headers, timeout_s=120)
        for m in MODULES
    ]
    clock = SystemClock()
    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(Path(tmp) / "bench.db")
        try:
            async with (
                HttpTool({"woocommerce": source}, clock=clock) as http,
                McpPool(servers, clock=clock) as pool,
            ):
                tools = {t.name: t for t in pool.tools}
                yield Bench(http, tools, store, CursorStage(), clock, source)
        finally:
            store.close()


async def make_attributes(b: Bench) -> None:
    """The attributes the customer mapping needs."""
    for name, kind in ATTRIBUTES.items():
        await b.call("brevo_attributes__create_attribute", attributeName=name, type=kind)


def customers_plan(
    *, bulk: bool, rate_limit: str | None, import_size: int = 1000
) -> dict[str, Any]:
    """Every customer into Brevo: per record, or lookup + batch + import."""
    from sandbox.claude_bulk import bulk_plan

    plan = bulk_plan("2000-01-01T00:00:00", list_name="Welcome Series", rate_limit=rate_limit)
    plan["filter"] = []
    if not bulk:
        del plan["sink"]["lookup"], plan["sink"]["batch"]
        return plan
    plan["sink"]["import"] = {
        "tool": "brevo_contact_import_export__import_contacts",
        "poll_tool": "brevo_contact_import_export__get_process",
        "item": CONTACT,
        "size": import_size,
    }
    return plan


def percentile(samples: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[max(0, round(share * len(ordered)) - 1)]


def median(samples: list[float]) -> float:
    """The median."""
    return statistics.median(samples)


def emit(name: str, result: dict[str, Any]) -> None:
    """Print a benchmark's result as one JSON line (benchmarks/run.py collects them)."""
    print("RESULT " + json.dumps({"benchmark": name, **result}), flush=True)


def _serve_forever(options: argparse.Namespace) -> None:
    woo_limit = None
    if options.woo_limit:
        requests, window = options.woo_limit.split("/")
        woo_limit = (int(requests), float(window))
    limits = None if options.brevo_general_tier else {}
    with serve(options.customers, orders=options.orders, brevo_limits=limits,
               woo_limit=woo_limit, only=options.only) as served:  # fmt: skip
        print(json.dumps(asdict(served.world)), flush=True)
        sys.stdin.read()  # until the parent closes our stdin


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Serve the sandboxes for a benchmark.")
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--woo-limit", help="REQUESTS/SECONDS, e.g. 25/10")
    parser.add_argument("--brevo-general-tier", action="store_true")
    parser.add_argument("--only", choices=("woo", "brevo"))
    _serve_forever(parser.parse_args())
