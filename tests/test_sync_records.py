"""`sync_records` against the real parts: the WooCommerce and Brevo sandboxes served on
loopback HTTP, the real MCP client pool, HttpTool's request path, a SQLite store file.

`World` (also used by the other tests/test_sync_*.py files) serves both sandboxes and
opens a `Bench`: the session-like set of tools a SyncTool writes through.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from email_validator import EmailNotValidError, validate_email

from runtime.agentfile import AuthSpec, RateLimit
from runtime.clock import FrozenClock
from runtime.config import ResolvedSource, ServerConfig
from runtime.mcp import McpPool
from runtime.store import RunStore
from runtime.tools import Tool
from runtime.tools.http import HttpTool
from runtime.tools.state import CursorStage
from runtime.tools.sync import SyncTool
from runtime.tools.sync_map import e164
from sandbox.brevo import BrevoSandbox
from sandbox.claude_bulk import bulk_plan
from sandbox.data import generate_store
from sandbox.server import ServedApp
from sandbox.woocommerce import WooCommerceSandbox

pytestmark = pytest.mark.anyio

ANCHOR = datetime(2026, 3, 2, tzinfo=UTC)  # the data's "now"
SINCE = (ANCHOR - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%S")
MODULES = (
    "brevo_contacts",
    "brevo_attributes",
    "brevo_lists",
    "brevo_contact_import_export",
    "brevo_events",
)
ATTRIBUTES = {"ORDER_COUNT": "float", "TOTAL_SPENT": "float", "CUSTOMER_SINCE": "date"}
ATTRIBUTES |= {"CUSTOMER_TYPE": "text"}
WRITES = {"create_contact", "update_contact", "update_batch_contacts", "import_contacts"}
WRITES |= {"add_contact_to_list", "create_list", "create_event"}


@dataclass
class Bench:
    """What a session would hold: the HTTP tool, the MCP tools, the store, the stage."""

    http: HttpTool
    tools: dict[str, Tool]
    store: RunStore
    stage: CursorStage
    clock: FrozenClock
    source: ResolvedSource

    def sync(self, run_id: str = "run-1", agent: str = "woo") -> SyncTool:
        """A SyncTool writing through these tools."""
        sources = {"woocommerce": self.source}  # as the session passes them: paced reads
        return SyncTool(self.http, self.tools, self.store, self.stage, agent, run_id,
                        self.clock, sources=sources)  # fmt: skip

    async def call(self, name: str, **arguments: Any) -> Any:
        """Call a Brevo tool; its parsed JSON result."""
        result = await self.tools[name].call(arguments)
        assert not result.is_error, result.content
        return json.loads(result.content)


class World:
    """The WooCommerce and Brevo sandboxes served on loopback for one test."""

    def __init__(self, tmp_path: Path, *, customers: int = 240, orders: int = 60,
                 brevo_limits: Any = None, woo_limit: RateLimit | None = None) -> None:  # fmt: skip
        store = generate_store(7, customers=customers, orders=orders, anchor=ANCHOR)
        self.woo = WooCommerceSandbox(store=store, rate_limit=None)
        self.brevo = BrevoSandbox(rate_limits={} if brevo_limits is None else brevo_limits)
        self.db = tmp_path / "agents.db"
        self.woo_limit = woo_limit or RateLimit(requests=1000, per_seconds=1)
        self._exit = ExitStack()

    def __enter__(self) -> World:
        self.woo_url = self._exit.enter_context(ServedApp(self.woo.app)).url
        self.brevo_url = self._exit.enter_context(ServedApp(self.brevo.app)).url
        self._exit.callback(self.brevo.close)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._exit.close()

    def source(self) -> ResolvedSource:
        """The flagship agent's woocommerce source, resolved."""
        key = self.woo.read_key
        auth = AuthSpec(type="oauth1", key=key.consumer_key, secret=key.consumer_secret)
        base = self.woo_url + "/wp-json"
        return ResolvedSource("woocommerce", base, auth, self.woo_limit, False, True, 30.0)

    def servers(self, modules: tuple[str, ...] = MODULES) -> list[ServerConfig]:
        """MCP configs of Brevo modules (bearer token in the headers)."""
        headers = {"Authorization": f"Bearer {self.brevo.token}"}
        return [
            ServerConfig(name=m, url=self.brevo_url + self.brevo.mcp_path(m), headers=headers)
            for m in modules
        ]

    @asynccontextmanager
    async def bench(self, modules: tuple[str, ...] = MODULES) -> AsyncIterator[Bench]:
        """HttpTool + McpPool + the store file, closed on exit."""
        clock = FrozenClock(datetime.now(UTC))
        store = RunStore(self.db)
        try:
            async with (
                HttpTool({"woocommerce": self.source()}, clock=clock) as http,
                McpPool(self.servers(modules), clock=clock) as pool,
            ):
                tools = {t.name: t for t in pool.tools}
                yield Bench(http, tools, store, CursorStage(), clock, self.source())
        finally:
            store.close()

    def expected(self, since: str = SINCE) -> dict[str, dict[str, Any]]:
        """Independently of the runtime: valid emails modified after `since`, latest wins."""
        out: dict[str, dict[str, Any]] = {}
        for c in self.woo.store.all("customers"):  # as served now, changes included
            if c["role"] != "customer":
                continue
            modified = c["date_modified_gmt"] or c["date_created_gmt"]
            email = c["email"].strip().lower()
            if modified <= since or not valid(email):
                continue
            if email not in out or modified > (out[email]["date_modified_gmt"] or ""):
                out[email] = c
        return out


def valid(email: str) -> bool:
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with World(tmp_path) as w:
        yield w


async def make_attributes(bench: Bench) -> None:
    for name, kind in ATTRIBUTES.items():
        await bench.call("brevo_attributes__create_attribute", attributeName=name, type=kind)


def per_record_plan(**changes: Any) -> dict[str, Any]:
    """The flagship plan without lookup and batch: create_contact for every record."""
    plan = bulk_plan(SINCE, list_name="Welcome Series", rate_limit=None)
    del plan["sink"]["lookup"], plan["sink"]["batch"]
    return {**plan, **changes}


def summary_of(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert len(result.content.encode()) < 4000
    parsed: dict[str, Any] = json.loads(result.content)
    return parsed


def check_contacts(world: World, expected: dict[str, dict[str, Any]]) -> None:
    """Brevo holds exactly the expected contacts, attributes typed as the mapping says."""
    contacts = {c["email"]: c for c in world.brevo.contacts()}
    assert set(contacts) == set(expected)
    for email, c in expected.items():
        attrs = contacts[email]["attributes"]
        assert attrs["EXT_ID"] == str(c["id"])
        assert attrs["CUSTOMER_SINCE"] == c["date_created_gmt"][:10]
        assert attrs["ORDER_COUNT"] == float(order_counts(world).get(c["id"], 0))
        assert attrs.get("FIRSTNAME") == (c["first_name"] or None)
        phone = (
            e164(c["billing"]["phone"], c["billing"]["country"]) if c["billing"]["phone"] else None
        )
        assert attrs.get("SMS") in (phone, None)  # None: the number belongs to another contact
    types = {a["name"]: a["type"] for a in world.brevo.attributes()}
    assert types["ORDER_COUNT"] == "float" and types["CUSTOMER_SINCE"] == "date"


def order_counts(world: World) -> dict[int, int]:
    """orders_count per customer as wc/v2 reports it: every order of the customer."""
    counts: dict[int, int] = {}
    for order in world.woo.store.all("orders"):
        counts[order["customer_id"]] = counts.get(order["customer_id"], 0) + 1
    return counts


def members(world: World, name: str) -> set[str]:
    lists = [x for x in world.brevo.lists() if x["name"] == name]
    if not lists:
        return set()
    return {c["email"] for c in world.brevo.contacts() if lists[0]["id"] in c["listIds"]}


async def test_per_record_sync_creates_updates_and_quarantines(world: World) -> None:
    expected = world.expected()
    existing = sorted(expected)[:3]
    async with world.bench() as bench:
        await make_attributes(bench)
        for email in existing:  # already in Brevo: these are updates, not creations
            await bench.call("brevo_contacts__create_contact", email=email)
        result = await bench.sync().call(per_record_plan())
        summary = summary_of(result)
    assert summary["created"] == len(expected) - 3 and summary["updated"] == 3
    assert summary["failed"] == 0 and summary["fetched"] == 240
    assert summary["dead_letter_reasons"] == {"invalid email": 2, "missing email": 1}
    check_contacts(world, expected)
    assert members(world, "Welcome Series") == set(expected) - set(existing)
    store = RunStore(world.db)
    dead = {d["record_key"]: d["reason"] for d in store.dead_letters(agent="woo")}
    store.close()
    assert set(dead) == {"5", "6", "7"} and "not-an-email" in dead["5"]
    newest = max((c["date_modified_gmt"] or c["date_created_gmt"]) for c in expected.values())
    assert summary["cursor_staged"] == newest
    assert bench.stage.staged["customers"] == (None, newest)


async def test_rerun_after_commit_writes_nothing(world: World) -> None:
    async with world.bench() as bench:
        await make_attributes(bench)
        first = summary_of(await bench.sync().call(per_record_plan()))
        lost = bench.stage.commit(bench.store, "woo", "run-1", bench.clock.now())
        assert lost == []
        before = world.brevo.call_counts()
        again = summary_of(await bench.sync("run-2").call(per_record_plan()))
    assert first["created"] > 0
    assert again["created"] == again["updated"] == again["dead_lettered"] == 0
    assert again["cursor_staged"] is None and "unchanged" in again["cursor_note"]
    after = world.brevo.call_counts()
    assert {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)} == {
        "get_lists": 1  # finding the list again; nothing written
    }


async def test_bulk_sync_uses_batch_and_import_and_reports_unchanged(world: World) -> None:
    plan = bulk_plan(SINCE, list_name="Welcome Series", rate_limit=None)
    plan["filter"] = []  # everyone: the import path for all of them
    plan["sink"]["import"] = {
        "tool": "brevo_contact_import_export__import_contacts",
        "poll_tool": "brevo_contact_import_export__get_process",
        "item": {
            "email": "$record.email",
            "ext_id": "$record.ext_id",
            "attributes": "$record.attributes",
        },
        "size": 100,
    }
    expected = world.expected(since="")
    async with world.bench() as bench:
        await make_attributes(bench)
        await bench.call("brevo_contacts__create_contact", email=sorted(expected)[0])
        first = summary_of(await bench.sync().call(plan))
        world.woo.modify_customer(30, first_name="Renamed")
        second = summary_of(await bench.sync("run-2").call(plan))
    assert first["created"] == len(expected) - 1 and first["updated"] == 1
    assert first["failed"] == 0 and first["sink_calls"] < 60
    check_contacts(world, world.expected(since=""))
    assert members(world, "Welcome Series") == set(expected) - {sorted(expected)[0]}
    counts = world.brevo.call_counts()
    assert counts["import_contacts"] == 3 and counts.get("create_contact", 0) <= 1 + 20
    assert second["created"] == 0 and second["updated"] >= 1
    assert second["unchanged"] >= len(expected) - 20


async def test_dry_run_writes_nothing(world: World) -> None:
    async with world.bench() as bench:
        await make_attributes(bench)
        before = world.brevo.call_counts()
        plan = bulk_plan(SINCE, list_name="Welcome Series", rate_limit=None, dry_run=True)
        summary = summary_of(await bench.sync().call(plan))
        blind = summary_of(await bench.sync().call({**per_record_plan(), "dry_run": True}))
        store = RunStore(world.db)
        assert store.dead_letters() == []
        store.close()
    assert summary["dry_run"] is True and summary["created"] == len(world.expected())
    assert summary["then"]["list 'Welcome Series'"] == {"would add": len(world.expected())}
    assert blind["would_write"] == len(world.expected()) and blind["created"] == 0
    assert len(summary["sample"]) == 3 and "email" in summary["sample"][0]
    assert summary["cursor_staged"] is None and bench.stage.staged == {}
    after = world.brevo.call_counts()
    assert not {k for k in WRITES if after.get(k, 0) != before.get(k, 0)}
    assert world.brevo.contacts() == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"source": {"source": "shop", "path": "customers"}},
            "source.source: 'shop' is not a declared source",
        ),
        ({"map": {"email": "email[", "ext_id": "id"}}, "map.email: invalid JMESPath"),
        (
            {"sink": {"tool": "brevo_contacts__create_contacts"}},
            "did you mean 'brevo_contacts__create_contact'",
        ),
        (
            {
                "sink": {
                    "tool": "brevo_contacts__create_contact",
                    "arguments": {"email": "$record.mail"},
                }
            },
            "sink.arguments.email: '$record.mail' is not produced by 'map'",
        ),
        (
            {
                "sink": {
                    "tool": "brevo_contacts__create_contact",
                    "arguments": {"email": "$record.email", "updateEnabled": "yes"},
                }
            },
            "sink.arguments.updateEnabled: 'yes' is not of type 'boolean'",
        ),
        (
            {"map": {"email": "email", "ext_id": "id", "attributes.SMS": "billing.phone"}},
            "is a int; expected string or null (every record of page 1",
        ),
        ({"then": [{"add_to_list": "Nope"}]}, "then[0].add_to_list: no list named 'Nope'"),
        (
            {"sink": {"tool": "brevo_contacts__create_contact", "bogus": 1}},
            "sink.bogus: unknown field; allowed here: tool, arguments",
        ),
    ],
)
async def test_bad_plans_are_refused_before_anything_is_written(
    world: World, change: dict[str, Any], expected: str
) -> None:
    plan = {**per_record_plan(), **change}
    async with world.bench() as bench:
        await make_attributes(bench)
        before = world.brevo.call_counts()
        result = await bench.sync().call(plan)
    assert result.is_error and expected in result.content, result.content
    assert "nothing was written" in result.content.lower()
    after = world.brevo.call_counts()
    assert not {k for k in WRITES if after.get(k, 0) != before.get(k, 0)}
    assert world.brevo.contacts() == []


async def test_failed_page_stops_the_sync_without_a_cursor(world: World) -> None:
    world.woo.add_fault("*customers*", "status", status=500, on=set(range(2, 60)))
    async with world.bench() as bench:
        await make_attributes(bench)
        result = await bench.sync().call(per_record_plan())
    summary = json.loads(result.content)
    assert result.is_error and "HTTP 500" in summary["stopped"]
    assert summary["pages"] == 1 and summary["cursor_staged"] is None
    assert bench.stage.staged == {}


async def test_first_page_failure_writes_nothing(world: World) -> None:
    world.woo.add_fault("*customers*", "status", status=404, on={1})
    async with world.bench() as bench:
        result = await bench.sync().call(per_record_plan())
    assert result.is_error and "HTTP 404" in result.content
    assert "Nothing was written" in result.content


async def test_summary_stays_small_and_free_of_secrets(tmp_path: Path) -> None:
    with World(tmp_path, customers=400) as world:
        async with world.bench() as bench:
            # No attributes created: every write fails, with an error per record.
            plan = per_record_plan(filter=[])
            result = await bench.sync().call(plan)
        text = result.content
        assert len(text.encode()) < 4000
        summary = json.loads(text)
        assert summary["failed"] > 300 and len(summary["sample_errors"]) == 5
        assert summary["cursor_staged"] is None
        for secret in (world.woo.read_key.consumer_key, world.woo.read_key.consumer_secret,
                       world.brevo.token):  # fmt: skip
            assert secret not in text
