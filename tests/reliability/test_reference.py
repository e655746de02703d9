"""Reference tests 1, 6, 10 and 11 (shared/reference/sync-reliability.md) in process:
`sync_records` through the real HttpTool, McpPool and a SQLite store file, against the
WooCommerce and Brevo sandboxes on loopback (tests/test_sync_records.py's World)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from runtime.store import RunStore
from runtime.tools.state import CursorStage
from tests.reliability.harness import orders_plan
from tests.test_sync_records import World, make_attributes, per_record_plan, summary_of, valid

pytestmark = pytest.mark.anyio
WRITES = {"create_contact", "update_contact", "update_batch_contacts", "create_event"}
WRITES |= {"add_contact_to_list", "create_list", "import_contacts"}


def writes(counts: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if k in WRITES}


def events(world: World) -> list[int]:
    return sorted(int(e["event_properties"]["order_id"]) for e in world.brevo.events())


async def test_two_runs_in_a_row_the_second_writes_nothing(tmp_path: Path) -> None:
    """Scenario: ref-1 rerun | Fault: the same sync twice in a row | Outcome: the second run writes nothing and sends no event."""
    with World(tmp_path, customers=40, orders=90) as world:
        async with world.bench() as bench:
            await make_attributes(bench)
            for i, plan in enumerate((per_record_plan(), orders_plan())):
                summary_of(await bench.sync(f"run-a{i}").call(plan))
            assert bench.stage.commit(bench.store, "woo", "run-a", bench.clock.now()) == []
            before = writes(world.brevo.call_counts())
            for i, plan in enumerate((per_record_plan(), orders_plan())):
                summary_of(await bench.sync(f"run-b{i}").call(plan))
        assert writes(world.brevo.call_counts()) == before
        assert len(events(world)) == len(set(events(world))) > 0


async def test_abnormal_cursors(tmp_path: Path) -> None:
    """Scenario: ref-6 abnormal cursor | Fault: a far-future cursor; no cursor at all | Outcome: the future cursor reads nothing and says so; no cursor falls back to the plan's start point."""
    with World(tmp_path, customers=40, orders=30) as world:
        store = RunStore(world.db)
        at = datetime.now(UTC)
        assert store.commit_cursor("woo", "customers", None, "2999-01-01T00:00:00", "x", at)
        store.close()
        async with world.bench() as bench:
            await make_attributes(bench)
            future = summary_of(await bench.sync().call(per_record_plan()))
            assert future["created"] == future["updated"] == 0
            assert future["cursor_staged"] is None and future["cursor_note"]
            fresh = summary_of(await bench.sync(agent="other").call(per_record_plan()))
        assert fresh["created"] == len(world.expected())


async def test_one_order_completed_per_order_whatever_happens_to_it(tmp_path: Path) -> None:
    """Scenario: ref-10 event idempotency | Fault: a completed order re-modified, refunded, re-completed between runs | Outcome: exactly one order_completed for it, ever."""
    with World(tmp_path, customers=40, orders=90) as world:
        oid = next(o["id"] for o in world.woo.store.all("orders")
                   if o["status"] == "processing" and valid(o["billing"]["email"] or ""))  # fmt: skip
        async with world.bench() as bench:
            world.woo.complete_order(oid)
            changes = ({"customer_note": "gift"}, {"status": "refunded"},
                       {"status": "completed"}, {"status": "processing"})  # fmt: skip
            for run, change in enumerate(changes, 1):
                summary_of(await bench.sync(f"run-{run}").call(orders_plan()))
                bench.stage.commit(bench.store, "woo", f"run-{run}", bench.clock.now())
                world.woo.store.update_order(oid, change)
            summary_of(await bench.sync("run-last").call(orders_plan()))
        assert events(world).count(oid) == 1
        assert len(events(world)) == len(set(events(world)))


async def test_overlapping_runs_one_lease_and_the_stale_cursor_write_fails(tmp_path: Path) -> None:
    """Scenario: ref-11 overlapping runs | Fault: two runs of one agent at once | Outcome: only one holds the lease; the slower run's compare-and-set cursor commit fails."""
    store = RunStore(tmp_path / "agents.db")
    at = datetime.now(UTC)
    assert store.acquire_lease("run:woo", "run-a", at, 60)
    assert not store.acquire_lease("run:woo", "run-b", at, 60)
    store.release_lease("run:woo", "run-a")
    assert store.acquire_lease("run:woo", "run-b", at, 60)
    a, b = CursorStage(), CursorStage()
    a.staged["customers"] = (None, "2026-01-02T00:00:00")
    b.staged["customers"] = (None, "2026-01-01T00:00:00")  # read the same old value
    assert a.commit(store, "woo", "run-a", at) == []
    assert b.commit(store, "woo", "run-b", at) == ["customers"]
    assert store.cursor("woo", "customers") == "2026-01-02T00:00:00"
    store.close()


def test_agents_run_refuses_while_another_run_holds_the_lease(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Scenario: ref-11 lease for `agents run` | Fault: `agents run` while another run (serve, chat, run) of the agent holds its lease | Outcome: refused with exit 1 and a clear message; nothing runs; the lease is untouched."""
    from datetime import UTC, datetime

    from runtime.cli import main
    from runtime.store import RunStore, agent_lease_key

    db = tmp_path / "agents.db"
    store = RunStore(db)
    assert store.acquire_lease(
        agent_lease_key("woocommerce-brevo-sync"), "serve-worker", datetime.now(UTC), 600
    )
    agent = Path(__file__).resolve().parents[2] / "agents" / "woocommerce-brevo-sync.md"
    code = main(["run", str(agent), "--db", str(db)])
    assert code == 1
    assert "is already running" in capsys.readouterr().err
    assert store.runs() == []
    store.close()
