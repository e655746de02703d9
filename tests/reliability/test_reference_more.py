"""Reference tests 2, 4 and 5 (shared/reference/sync-reliability.md) in process:
`sync_records` through the real HttpTool, McpPool and a SQLite store file, against the
WooCommerce (Europe/Paris site) and Brevo sandboxes on loopback. The WooCommerce
sandbox runs on a clock the test sets, so "when" a source record changed is exact."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from runtime.clock import FrozenClock
from sandbox.server import ServedApp
from sandbox.woocommerce import WooCommerceSandbox
from tests.reliability.harness import orders_plan
from tests.test_sync_records import World, make_attributes, per_record_plan, summary_of

pytestmark = pytest.mark.anyio
TIED = (1009, 1010, 1011, 1012)
STAMP = "%Y-%m-%dT%H:%M:%S"


class SourceClock:
    """The WooCommerce site's clock, set by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def change_at(self, when: datetime, change: Callable[[], object]) -> None:
        """Make a change stamped `when`; the site then answers on its own time again
        (OAuth 1.0a timestamps are checked against this clock)."""
        saved, self.now = self.now, when
        try:
            change()
        finally:
            self.now = saved


class Hook:
    """ASGI middleware: runs `action` once, just before the first request whose path and
    query contain every one of `parts` reaches the app (a change between page reads)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.parts: tuple[str, ...] = ()
        self.action: Callable[[], None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.action is not None:
            target = scope["path"] + "?" + scope.get("query_string", b"").decode()
            if all(p in target for p in self.parts):
                action, self.action = self.action, None
                action()
        await self.app(scope, receive, send)


class ClockedWorld(World):
    """World whose WooCommerce sandbox runs on `clock`, with a Hook in front of it."""

    def __init__(self, tmp_path: Path, clock: SourceClock, **options: Any) -> None:
        super().__init__(tmp_path, **options)
        self.woo = WooCommerceSandbox(store=self.woo.data, rate_limit=None, clock=clock)
        self.clock = clock

    def __enter__(self) -> ClockedWorld:
        self.hook = Hook(self.woo.app)
        self.woo_url = self._exit.enter_context(ServedApp(self.hook)).url
        self.brevo_url = self._exit.enter_context(ServedApp(self.brevo.app)).url
        self._exit.callback(self.brevo.close)
        return self


def event_ids(world: World) -> list[int]:
    return sorted(int(e["event_properties"]["order_id"]) for e in world.brevo.events())


def tied_plan(before: str | None = None) -> dict[str, Any]:
    """Orders paged by 10 by id (the tie straddles pages 1 and 2), optionally bounded."""
    plan = orders_plan()
    plan["source"]["params"]["per_page"] = 10
    if before:
        plan["filter"] = [*plan["filter"], {"field": "date_modified_gmt", "before": before}]
    return plan


def stamp(when: datetime) -> str:
    return when.strftime(STAMP)


def real_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


async def test_tied_orders_straddling_a_page_boundary_sync_exactly_once(tmp_path: Path) -> None:
    """Scenario: ref-2 ties at a page boundary | Fault: orders 1009-1012 share one date_modified_gmt and straddle pages 1/2 (10 a page, by id); the cursor lands on the tie | Outcome: each tied order is written and sends order_completed exactly once over two runs."""
    with World(tmp_path, customers=40, orders=90) as world:
        tied = {world.woo.get("orders", i)["date_modified_gmt"] for i in TIED}  # type: ignore[index]
        (tie,) = tied
        just_after = stamp(datetime.fromisoformat(tie) + timedelta(seconds=1))
        async with world.bench() as bench:
            first = summary_of(await bench.sync("run-1").call(tied_plan(before=just_after)))
            assert first["cursor_staged"] == tie  # the cursor sits exactly on the tie
            assert bench.stage.commit(bench.store, "woo", "run-1", bench.clock.now()) == []
            second = summary_of(await bench.sync("run-2").call(tied_plan()))
        pages = [r.query for r in world.woo.requests if r.path.endswith("/orders")]
        assert any("page=2" in q for q in pages) and all("per_page=10" in q for q in pages)
        assert first["fetched"] == second["fetched"] == first["source_total"] == 90
        for oid in TIED:
            assert event_ids(world).count(oid) == 1, oid
        assert len(event_ids(world)) == len(set(event_ids(world)))
        emails = {c["email"] for c in world.brevo.contacts()}
        for oid in TIED:
            assert world.woo.get("orders", oid)["billing"]["email"] in emails  # type: ignore[index]


async def test_a_record_tied_with_the_cursor_after_the_read_is_not_missed(tmp_path: Path) -> None:
    """Scenario: ref-2 tie at the cursor | Fault: order 1014 is completed in the same second as the committed cursor, after the run read the orders | Outcome: the next run still syncs it: one order_completed for 1014."""
    source = SourceClock(real_now())
    with ClockedWorld(tmp_path, source, customers=40, orders=90) as world:
        tie = world.woo.get("orders", 1009)["date_modified_gmt"]  # type: ignore[index]
        at_tie = datetime.fromisoformat(tie).replace(tzinfo=UTC)
        just_after = stamp(at_tie + timedelta(seconds=1))
        source.change_at(
            at_tie, lambda: world.woo.store.update_order(1014, {"status": "processing"})
        )
        async with world.bench() as bench:
            summary_of(await bench.sync("run-1").call(tied_plan(before=just_after)))
            assert bench.stage.commit(bench.store, "woo", "run-1", bench.clock.now()) == []
            source.change_at(at_tie, lambda: world.woo.complete_order(1014))  # after the read
            assert world.woo.get("orders", 1014)["date_modified_gmt"] == tie  # type: ignore[index]
            summary_of(await bench.sync("run-2").call(tied_plan()))
        assert event_ids(world).count(1014) == 1


async def test_paris_site_and_a_future_dated_record(tmp_path: Path) -> None:
    """Scenario: ref-4 non-UTC site, future-dated record | Fault: Europe/Paris site (local fields 1-2 h ahead of *_gmt), a change 30 min after the cursor, a record dated 3 days ahead | Outcome: nothing missed; the staged cursor never passes now; the future record is read again once now passes it."""
    now = real_now()
    source = SourceClock(now)
    with ClockedWorld(tmp_path, source, customers=40, orders=30) as world:
        async with world.bench() as bench:
            bench.clock = FrozenClock(now)
            await make_attributes(bench)
            first = summary_of(await bench.sync("run-1").call(per_record_plan()))
            cursor = first["cursor_staged"]
            newest = max(world.expected().values(), key=lambda c: c["date_modified_gmt"] or "")
            assert cursor == newest["date_modified_gmt"] != newest["date_modified"]
            bench.stage.commit(bench.store, "woo", "run-1", now)
            later = datetime.fromisoformat(cursor).replace(tzinfo=UTC) + timedelta(minutes=30)
            change = lambda: world.woo.modify_customer(21, first_name="Half-hour-later")  # noqa: E731
            source.change_at(later, change)  # local time: cursor + 1h30
            change = lambda: world.woo.modify_customer(22, first_name="From-the-future")  # noqa: E731
            source.change_at(now + timedelta(days=3), change)
            second = summary_of(await bench.sync("run-2").call(per_record_plan()))
            assert second["cursor_staged"] == stamp(now)  # clamped: never past now
            bench.stage.commit(bench.store, "woo", "run-2", now)
            bench.clock = FrozenClock(now + timedelta(days=4))
            third = summary_of(await bench.sync("run-3").call(per_record_plan()))
        by_id = {c["attributes"]["EXT_ID"]: c for c in world.brevo.contacts()}
        assert by_id["21"]["attributes"]["FIRSTNAME"] == "Half-hour-later"
        assert by_id["22"]["attributes"]["FIRSTNAME"] == "From-the-future"
        assert second["created"] + second["updated"] == 2
        assert third["created"] + third["updated"] + third.get("unchanged", 0) == 1  # 22 again
        # The runtime's clock is now 4 days ahead of the site's: the site's Date header
        # (its now) still holds the cursor back, so 22 is read again until the site's
        # own time passes it.
        assert stamp(now) <= third["cursor_staged"] <= stamp(real_now())


async def test_cursor_never_passes_the_sources_now_under_clock_skew(tmp_path: Path) -> None:
    """Scenario: ref-4 clock skew | Fault: the runtime clock runs 2 h ahead of the site; a record is dated 1 h into the site's future; another changes 10 min later | Outcome: the staged cursor stays at or before the source's now (its Date header) and the later change is synced."""
    now = real_now()  # the site's clock: uvicorn's Date header says the same
    source = SourceClock(now)
    with ClockedWorld(tmp_path, source, customers=40, orders=30) as world:
        change = lambda: world.woo.modify_customer(20, first_name="Dated-ahead")  # noqa: E731
        source.change_at(now + timedelta(hours=1), change)
        async with world.bench() as bench:
            bench.clock = FrozenClock(now + timedelta(hours=2))
            await make_attributes(bench)
            first = summary_of(await bench.sync("run-1").call(per_record_plan()))
            bench.stage.commit(bench.store, "woo", "run-1", bench.clock.now())
            change = lambda: world.woo.modify_customer(21, first_name="Ten-minutes-later")  # noqa: E731
            source.change_at(now + timedelta(minutes=10), change)
            summary_of(await bench.sync("run-2").call(per_record_plan()))
        by_id = {c["attributes"]["EXT_ID"]: c for c in world.brevo.contacts()}
        assert by_id["21"]["attributes"]["FIRSTNAME"] == "Ten-minutes-later"
        assert first["cursor_staged"] <= stamp(now + timedelta(minutes=5))  # not 1 h ahead


async def test_a_record_modified_during_pagination_skips_no_other(tmp_path: Path) -> None:
    """Scenario: ref-5 page drift | Fault: customers on page 1 and page 4 (10 a page, by id) are modified while page 2 is requested | Outcome: every record counted by X-WP-Total is read once; nothing else skipped; the page-1 change is synced by the next run."""
    now = real_now()
    source = SourceClock(now)
    with ClockedWorld(tmp_path, source, customers=40, orders=30) as world:

        def drift() -> None:  # page 4 changes first, then page 1, one minute apart
            ahead = lambda: world.woo.modify_customer(35, first_name="Changed-ahead")  # noqa: E731
            source.change_at(now - timedelta(minutes=20), ahead)
            behind = lambda: world.woo.modify_customer(3, first_name="Changed-behind")  # noqa: E731
            source.change_at(now - timedelta(minutes=19), behind)

        world.hook.parts, world.hook.action = ("/customers", "page=2"), drift
        plan = per_record_plan(filter=[])
        plan["source"]["params"]["per_page"] = 10
        async with world.bench() as bench:
            bench.clock = FrozenClock(now)
            await make_attributes(bench)
            first = summary_of(await bench.sync("run-1").call(plan))
            assert world.hook.action is None  # the drift happened mid-read
            bench.stage.commit(bench.store, "woo", "run-1", now)
            second = summary_of(await bench.sync("run-2").call(per_record_plan()))
        assert first["fetched"] == first["source_total"] == 40
        expected = world.expected(since="")
        assert {c["email"] for c in world.brevo.contacts()} == set(expected)
        by_id = {c["attributes"]["EXT_ID"]: c for c in world.brevo.contacts()}
        assert by_id["35"]["attributes"]["FIRSTNAME"] == "Changed-ahead"
        assert by_id["3"]["attributes"]["FIRSTNAME"] == "Changed-behind"
        assert second["created"] + second["updated"] == 1
