"""Event then-steps through the event ledger: one order_completed per order, ever."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from runtime.store import RunStore
from tests.reliability.harness import completed_orders
from tests.reliability.harness import orders_plan as reliability_orders_plan
from tests.test_sync_records import World, summary_of, valid

pytestmark = pytest.mark.anyio

EVENT = "order_completed"


def orders_plan() -> dict[str, Any]:
    """The reliability suite's orders plan without its cursor and `confirm`: every order
    is read each time, and a crash's 'pending' is never resent."""
    plan = reliability_orders_plan()
    del plan["filter"], plan["cursor"], plan["then"][0]["confirm"]
    plan["then"][0]["arguments"]["event_properties"]["total"] = "$source.total"
    return plan


def completed(world: World) -> set[int]:
    """Completed orders with a usable billing email, from the store itself."""
    return completed_orders(world.woo)


def sent_orders(world: World) -> list[int]:
    return sorted(e["event_properties"]["order_id"] for e in world.brevo.events())


async def test_each_completed_order_sends_one_event_ever(tmp_path: Path) -> None:
    with World(tmp_path, customers=40, orders=90) as world:
        expected = completed(world)
        async with world.bench() as bench:
            first = summary_of(await bench.sync().call(orders_plan()))
            second = summary_of(await bench.sync("run-2").call(orders_plan()))
            processing = next(o["id"] for o in world.woo.store.all("orders")
                              if o["status"] == "processing" and valid(o["billing"]["email"] or ""))  # fmt: skip
            world.woo.complete_order(processing)
            third = summary_of(await bench.sync("run-3").call(orders_plan()))
        assert first["then"][f"event '{EVENT}'"] == {"sent": len(expected)}
        assert second["then"][f"event '{EVENT}'"] == {"already sent": len(expected)}
        assert third["then"][f"event '{EVENT}'"] == {"already sent": len(expected), "sent": 1}
        assert sent_orders(world) == sorted(expected | {processing})
        store = RunStore(world.db)
        assert store.ledger_status("woocommerce", str(processing), EVENT) == "sent"
        store.close()


async def test_pending_events_are_not_resent_and_failed_ones_are(tmp_path: Path) -> None:
    with World(tmp_path, customers=40, orders=90) as world:
        pending, failed, *_ = sorted(completed(world))
        store = RunStore(world.db)
        now = datetime.now(UTC)
        store.ledger_mark("woocommerce", str(pending), EVENT, "pending", "crashed-run", now)
        store.ledger_mark("woocommerce", str(failed), EVENT, "failed", "earlier-run", now)
        store.close()
        async with world.bench() as bench:
            summary = summary_of(await bench.sync().call(orders_plan()))
        counts = summary["then"][f"event '{EVENT}'"]
        assert counts == {"pending from an earlier run": 1, "sent": len(completed(world)) - 1}
        assert pending not in sent_orders(world) and failed in sent_orders(world)


async def test_a_refused_event_is_marked_failed_and_keeps_the_cursor(tmp_path: Path) -> None:
    with World(tmp_path, customers=40, orders=90) as world:
        plan = orders_plan()
        plan["then"][0]["arguments"]["event_name"] = "order completed!"  # Brevo refuses it
        plan["cursor"] = {"stream": "orders", "field": "date_modified_gmt"}
        async with world.bench() as bench:
            result = await bench.sync().call(plan)
        summary = summary_of(result)
        assert summary["then"][f"event '{EVENT}'"] == {"failed": len(completed(world))}
        assert summary["cursor_staged"] is None and "failed" in summary["cursor_note"]
        assert "order completed!" not in str(world.brevo.events())
        store = RunStore(world.db)
        first = min(completed(world))
        assert store.ledger_status("woocommerce", str(first), EVENT) == "failed"
        store.close()


async def test_confirm_settles_pending_events_by_asking_brevo(tmp_path: Path) -> None:
    """With `confirm`, a 'pending' entry is looked up in Brevo's events (get_events):
    one that arrived is marked sent and not resent, one that did not is sent; when the
    lookup fails the entry stays pending, counts as failed and keeps the cursor."""
    with World(tmp_path, customers=40, orders=90) as world:
        arrived, lost, *_ = sorted(completed(world))
        plan = orders_plan()
        plan["then"][0]["confirm"] = {
            "tool": "brevo_events__get_events",
            "key": "event_properties.order_id",
        }
        plan["cursor"] = {"stream": "orders", "field": "date_modified_gmt"}
        store = RunStore(world.db)
        now = datetime.now(UTC)
        for order in (arrived, lost):
            store.ledger_mark("woocommerce", str(order), EVENT, "pending", "crashed-run", now)
        store.close()
        async with world.bench() as bench:
            email = world.woo.get("orders", arrived)["billing"]["email"].strip().lower()  # type: ignore[index]
            await bench.call("brevo_events__create_event", event_name=EVENT,
                             identifiers={"email_id": email},
                             event_properties={"order_id": arrived})  # fmt: skip
            broken = {**plan, "then": [{**plan["then"][0], "confirm": {
                **plan["then"][0]["confirm"], "arguments": {"limit": 0}}}]}  # fmt: skip
            refused = summary_of(await bench.sync("run-1").call(broken))
            settled = summary_of(await bench.sync("run-2").call(plan))
        assert refused["then"][f"event '{EVENT}'"]["failed"] == 2
        assert refused["cursor_staged"] is None
        counts = settled["then"][f"event '{EVENT}'"]
        assert counts["arrived before an interrupted run ended"] == 1
        assert counts["resent after an interrupted run"] == 1
        assert sent_orders(world).count(arrived) == 1 and sent_orders(world).count(lost) == 1
        assert sorted(set(sent_orders(world))) == sorted(completed(world))
        store = RunStore(world.db)
        assert {store.ledger_status("woocommerce", str(o), EVENT) for o in (arrived, lost)} == {
            "sent"
        }
        store.close()
