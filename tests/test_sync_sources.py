"""Source paging modes, and the plans the agent files document, run as written.

- cursor pages (the CRM sandbox: `{"data": [...], "next_cursor"}`, `updated_since`
  filled from the committed cursor with "$cursor") with the template's plan;
- Link rel="next" pages from an API that sends no page count;
- the flagship agent's documented plan against the WooCommerce sandbox.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from runtime.agentfile import AuthSpec, RateLimit, load_agent
from runtime.clock import FrozenClock
from runtime.config import ResolvedSource
from runtime.mcp import McpPool
from runtime.store import RunStore
from runtime.tools.http import HttpTool
from runtime.tools.state import CursorStage
from runtime.tools.sync import SyncTool
from sandbox.brevo import BrevoSandbox
from sandbox.crm import CrmSandbox
from sandbox.server import ServedApp
from tests.test_sync_records import (
    SINCE,
    World,
    check_contacts,
    make_attributes,
    summary_of,
    valid,
)

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent


def documented_plan(agent: str, index: int = 0) -> dict[str, Any]:
    """The `index`-th JSON plan in an agent file's body."""
    body = load_agent(ROOT / "agents" / agent).system_prompt
    found = re.findall(r"```json\n(.*?)```", body, re.S)
    assert len(found) > index, f"no plan {index} in {agent}"
    plan: dict[str, Any] = json.loads(found[index])
    return plan


@asynccontextmanager
async def crm_bench(
    tmp_path: Path, crm: CrmSandbox
) -> AsyncIterator[tuple[SyncTool, BrevoSandbox]]:
    brevo = BrevoSandbox(rate_limits={})
    with ServedApp(crm.app) as crm_served, ServedApp(brevo.app) as brevo_served:
        auth = AuthSpec(type="bearer", token=crm.token)
        source = ResolvedSource("crm", crm_served.url + "/api", auth, RateLimit(requests=10, per_seconds=1), False, True, 30.0)  # fmt: skip
        headers = {"Authorization": f"Bearer {brevo.token}"}
        servers = [brevo_server(brevo, brevo_served.url, m, headers) for m in ("brevo_contacts", "brevo_attributes")]  # fmt: skip
        clock, store = FrozenClock(datetime.now(UTC)), RunStore(tmp_path / "agents.db")
        try:
            async with HttpTool({"crm": source}, clock=clock) as http, McpPool(servers) as pool:
                tools = {t.name: t for t in pool.tools}
                await tools["brevo_attributes__create_attribute"].call({"attributeName": "COMPANY"})
                stage = CursorStage()
                sync = SyncTool(
                    http, tools, store, stage, "crm-agent", "run-1", clock, sources=["crm"]
                )
                yield sync, brevo
                assert stage.commit(store, "crm-agent", "run-1", clock.now()) == []
        finally:
            store.close()
            brevo.close()


def brevo_server(brevo: BrevoSandbox, url: str, module: str, headers: dict[str, str]) -> Any:
    from runtime.config import ServerConfig

    return ServerConfig(name=module, url=url + brevo.mcp_path(module), headers=headers)


async def test_the_template_plan_follows_next_cursor_and_filters_on_the_server(
    tmp_path: Path,
) -> None:
    crm = CrmSandbox(contacts=120, rate_limit=None)
    plan = documented_plan("rest-brevo-connector.md")
    valid = {c["email"].strip().lower() for c in crm.contacts() if "@" in c["email"] and "." in c["email"].split("@")[-1]}  # fmt: skip
    async with crm_bench(tmp_path, crm) as (sync, brevo):
        first = summary_of(await sync.call(plan))
        assert {c["email"] for c in brevo.contacts()} == valid
    assert first["fetched"] == 120 and first["pages"] == 1
    assert first["created"] == len(valid) and first["failed"] == 0
    assert first["cursor_staged"] == max(c["updated_at"] for c in crm.contacts())
    target = next(c for c in crm.contacts() if c["email"].strip().lower() in valid)
    crm.modify_contact(target["id"], company="Renamed Ltd")
    async with crm_bench(tmp_path, crm) as (sync, brevo):
        again = summary_of(await sync.call(plan))
        (contact,) = brevo.contacts()  # a fresh Brevo: only what changed was read and written
    # The API was asked from the cursor less its 60 s overlap: the record at the cursor
    # came back too and was skipped by its fingerprint (the version already synced).
    overlap = again["skipped"].get("synced before in this version (the cursor's overlap)", 0)
    assert again["fetched"] == 1 + overlap and again["created"] == again["sink_calls"] == 1
    assert contact["attributes"]["COMPANY"] == "Renamed Ltd"


async def test_pages_without_a_count_follow_the_link_header(tmp_path: Path) -> None:
    rows = [{"id": i, "email": f"person{i}@example.org"} for i in range(1, 24)]

    async def people(request: Request) -> JSONResponse:
        page = int(request.query_params.get("page", "1"))
        chunk = rows[(page - 1) * 10 : page * 10]
        headers = {}
        if page * 10 < len(rows):
            base = str(request.url).split("?")[0]
            headers["Link"] = f'<{base}?page={page + 1}&per_page=10&oauth_nonce=x>; rel="next"'
        return JSONResponse(chunk, headers=headers)

    api = Starlette(routes=[Route("/api/people", people)])
    brevo = BrevoSandbox(rate_limits={})
    with ServedApp(api) as served, ServedApp(brevo.app) as brevo_served:
        source = ResolvedSource("people", served.url + "/api", AuthSpec(type="none"), None, False, True, 30.0)  # fmt: skip
        headers = {"Authorization": f"Bearer {brevo.token}"}
        clock, store = FrozenClock(datetime.now(UTC)), RunStore(tmp_path / "agents.db")
        async with HttpTool({"people": source}, clock=clock) as http, McpPool([brevo_server(brevo, brevo_served.url, "brevo_contacts", headers)]) as pool:  # fmt: skip
            tools = {t.name: t for t in pool.tools}
            sync = SyncTool(http, tools, store, CursorStage(), "a", "r", clock, sources=["people"])
            plan = {
                "source": {"source": "people", "path": "people", "params": {"per_page": 10}},
                "map": {"email": "email"},
                "sink": {
                    "tool": "brevo_contacts__create_contact",
                    "arguments": {"email": "$record.email"},
                },
            }
            summary = summary_of(await sync.call(plan))
        store.close()
        assert summary["pages"] == 3 and summary["created"] == 23
        assert len(brevo.contacts()) == 23
        brevo.close()


async def test_the_flagship_plan_runs_as_documented(tmp_path: Path) -> None:
    plan = documented_plan("woocommerce-brevo-sync.md")
    plan["filter"][0]["if_no_cursor"] = SINCE
    plan["sink"]["rate_limit"] = "1000/s"  # the sandbox is unlimited here; keep the test fast
    with World(tmp_path) as world:
        async with world.bench() as bench:
            await make_attributes(bench)
            summary = summary_of(await bench.sync().call(plan))
        check_contacts(world, world.expected())
        assert summary["created"] == len(world.expected()) and summary["failed"] == 0
        assert summary["then"]["list 'Welcome Series'"]["added"] == len(world.expected())


async def test_the_flagship_orders_plan_sends_one_event_per_completed_order(
    tmp_path: Path,
) -> None:
    """The documented orders plan: one order_completed per completed order (status and
    date_completed_gmt), none again on the next run, contacts for guest checkouts."""
    plan = documented_plan("woocommerce-brevo-sync.md", 1)
    plan["filter"][0]["if_no_cursor"] = "2000-01-01T00:00:00"
    plan["sink"]["rate_limit"] = "1000/s"
    with World(tmp_path, customers=40, orders=90) as world:
        completed = {
            o["id"] for o in world.woo.store.all("orders")
            if o["status"] == "completed" and o["date_completed_gmt"]
            and valid((o["billing"]["email"] or "").strip().lower())
        }  # fmt: skip
        async with world.bench() as bench:
            first = summary_of(await bench.sync("run-1").call(plan))
            assert bench.stage.commit(bench.store, "woo", "run-1", bench.clock.now()) == []
            second = summary_of(await bench.sync("run-2").call(plan))
        sent = [e["event_properties"]["order_id"] for e in world.brevo.events()]
        assert completed and sorted(sent) == sorted(completed)
        assert first["then"]["event 'order_completed'"] == {"sent": len(completed)}
        assert second["then"]["event 'order_completed'"].get("sent", 0) == 0
        emails = {c["email"] for c in world.brevo.contacts()}
        for oid in completed:
            order = world.woo.get("orders", oid)
            assert order is not None and order["billing"]["email"].strip().lower() in emails
