"""Reference test 12: a Hypothesis state machine of source changes, faults, syncs and crashes.

Each step changes the WooCommerce store (a customer renamed, an order completed), arms a
source fault for the next sync (a page answering 500, a dropped connection or a cut
body, more often than the retries allow), or runs a whole sync: customers (the
flagship's plan: lookup, batch updates, new contacts into "Welcome Series") then orders
(order_completed events with `confirm`). A sync may crash: it is cancelled at its n-th
Brevo call, before that call is sent or after Brevo answered it (an anyio cancel
scope, the in-process stand-in for SIGKILL; the call is picked by tool and count, so
every kind of write is hit; tests/reliability/test_crash.py kills real
processes). A crashed run commits no cursor; a failed sync stages none; the next run repairs it.

After every sync that ends normally, Brevo equals the model: every customer of the
window with their current name, each completed order's event exactly once (nothing
left 'pending'), and every contact a sync set out to create in the Welcome Series list.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import anyio
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from runtime.store import RunStore
from runtime.tools import Tool, ToolResult, WrappedTool
from sandbox.claude_bulk import bulk_plan
from tests.reliability.harness import EVENT, completed_orders, orders_plan
from tests.test_sync_records import SINCE, World, make_attributes, members

NAMES = st.sampled_from(["Ada", "Bo", "Cy", "Di", "Ed"])
CUSTOMERS, ORDERS = 30, 40
LIST = "Welcome Series"
STREAMS = ("customers", "orders")
# The Brevo calls a crash can hit (create_event has a rule of its own).
CREATING = ["create_contact", "create_list", "add_contact_to_list"]
OTHER_CALLS = ["get_contacts", "update_batch_contacts", "get_events", "get_lists"]


class Crash:
    """Cancels `scope` at the `at`-th call of the Brevo tool named `name`: before it is
    sent, or once Brevo answered it."""

    def __init__(self, name: str, at: int, after: bool) -> None:
        self.name, self.at, self.after, self.calls = name, at, after, 0
        self.scope: anyio.CancelScope | None = None

    async def around(self, tool: Tool, arguments: dict[str, Any]) -> ToolResult:
        mine = tool.name.endswith("__" + self.name)
        self.calls += mine
        hit = mine and self.calls == self.at and self.scope is not None
        if hit and not self.after:
            self.scope.cancel()  # type: ignore[union-attr]
            await anyio.lowlevel.checkpoint()
        result = await tool.call(arguments)
        if hit and self.after:
            self.scope.cancel()  # type: ignore[union-attr]
            await anyio.lowlevel.checkpoint()
        return result


class Crashing(WrappedTool):
    """A Brevo tool whose calls go through a Crash."""

    def __init__(self, tool: Tool, crash: Crash) -> None:
        super().__init__(tool)
        self._crash = crash

    async def call(self, arguments: dict[str, Any]) -> ToolResult:
        return await self._crash.around(self._tool, arguments)


def customers_plan() -> dict[str, Any]:
    plan = bulk_plan(SINCE, list_name=LIST, rate_limit=None)
    plan["source"]["params"]["per_page"] = 10  # several pages: faults and crashes between
    return plan


def small_orders_plan() -> dict[str, Any]:
    plan = orders_plan()
    plan["source"]["params"]["per_page"] = 10
    return plan


class SyncMachine(RuleBasedStateMachine):
    """The store changes, faults come and go, syncs succeed, fail or crash.

    Scenario: ref-12 stateful | Fault: random renames, completed orders, source faults (500, dropped connection, cut body) and crashes at a random Brevo call (before it is sent or after it was answered) | Outcome: after each sync that ends normally, Brevo equals the model: current names, one order_completed per completed order and none pending, every contact a sync created in the list; no cursor moves on a crash or a failed sync.
    """

    @initialize()
    def start(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.world = World(Path(self._tmp.name), customers=CUSTOMERS, orders=ORDERS).__enter__()
        self.runs = 0
        self.owed: set[str] = set()  # emails a sync set out to create: they must be listed
        anyio.run(self._attributes)

    def teardown(self) -> None:
        self.world.__exit__(None, None, None)
        self._tmp.cleanup()

    async def _attributes(self) -> None:
        async with self.world.bench() as bench:
            await make_attributes(bench)

    async def _sync(self, crash: Crash | None) -> list[bool]:
        """One run: both plans, then its cursors committed unless it crashed; which failed."""
        self.runs += 1
        run, failed = f"run-{self.runs}", []
        async with self.world.bench() as bench:
            if crash is not None:
                bench.tools = {n: Crashing(t, crash) for n, t in bench.tools.items()}
            with anyio.CancelScope() as scope:
                if crash is not None:
                    crash.scope = scope
                for plan in (customers_plan(), small_orders_plan()):
                    result = await bench.sync(run).call(plan)
                    failed.append(result.is_error)
                bench.stage.commit(bench.store, "woo", run, bench.clock.now())
        return failed

    def _owed(self, new: dict[str, Any], customers_failed: bool) -> set[str]:
        """Of the customers not in Brevo when the sync started, those it set out to create.
        All of them, unless the customers plan stopped: then the orders plan may have
        created some (not listed: they were not created by the customers plan), and only
        those the runtime marked 'pending' for the list are owed."""
        if not customers_failed:
            return set(new)
        store = RunStore(self.world.db)
        try:
            return {e for e, c in new.items()
                    if store.ledger_status("woocommerce", str(c["id"]), f"list:{LIST}") == "pending"}  # fmt: skip
        finally:
            store.close()

    def _cursors(self) -> dict[str, str]:
        store = RunStore(self.world.db)
        try:
            return store.cursors("woo")
        finally:
            store.close()

    def _sync_and_check(self, crash: Crash | None) -> None:
        before = self._cursors()
        in_brevo = {c["email"] for c in self.world.brevo.contacts()}
        new = {e: c for e, c in self.world.expected().items() if e not in in_brevo}
        failed = anyio.run(self._sync, crash)
        self.world.woo.clear_faults()
        self.owed |= self._owed(new, customers_failed=bool(failed and failed[0]))
        after = self._cursors()
        if len(failed) < len(STREAMS):  # it crashed: no cursor moved
            assert after == before
            return
        for stream, stopped in zip(STREAMS, failed, strict=True):
            if stopped:
                assert after.get(stream) == before.get(stream)
        if not any(failed):
            self._brevo_equals_the_model()

    @rule(index=st.integers(0, CUSTOMERS - 1), name=NAMES)
    def rename(self, index: int, name: str) -> None:
        cid = self.world.woo.store.all("customers")[index]["id"]
        self.world.woo.modify_customer(cid, first_name=name)

    @rule(index=st.integers(0, ORDERS - 1))
    def complete(self, index: int) -> None:
        self.world.woo.complete_order(self.world.woo.store.all("orders")[index]["id"])

    @rule(
        route=st.sampled_from(["customers", "orders"]),
        kind=st.sampled_from(["status", "drop", "truncate"]),
        first=st.integers(1, 3),
    )
    def fault(self, route: str, kind: str, first: int) -> None:
        """The `first`-th request of `route` and the three after it fail: one page's
        retries run out, the sync stops."""
        self.world.woo.add_fault(route, kind, status=500, on=range(first, first + 4))  # type: ignore[arg-type]

    @rule()
    def sync(self) -> None:
        self._sync_and_check(None)

    def _crash_then_sync(self, crash: Crash) -> None:
        self._sync_and_check(crash)
        self._sync_and_check(None)

    @precondition(lambda self: self._unsent_events() > 0)
    @rule(at=st.integers(1, 3), after=st.booleans())
    def crash_at_an_event(self, at: int, after: bool) -> None:
        """The next run sends events: it crashes at one, then a run goes to the end."""
        self._crash_then_sync(Crash("create_event", min(at, self._unsent_events()), after))

    @precondition(lambda self: self._new_customers() > 0)
    @rule(name=st.sampled_from(CREATING), at=st.integers(1, 3), after=st.booleans())
    def crash_creating(self, name: str, at: int, after: bool) -> None:
        """The next run creates contacts: it crashes creating one, the list or adding
        them to it, then a run goes to the end."""
        at = min(at, self._new_customers()) if name == "create_contact" else 1
        self._crash_then_sync(Crash(name, at, after))

    @rule(name=st.sampled_from(OTHER_CALLS), at=st.integers(1, 3), after=st.booleans())
    def crash_elsewhere(self, name: str, at: int, after: bool) -> None:
        """A crash at another call (when the run makes it), then a run to the end."""
        self._crash_then_sync(Crash(name, at, after))

    def _unsent_events(self) -> int:
        store = RunStore(self.world.db)
        try:
            return sum(store.ledger_status("woocommerce", str(o), EVENT) != "sent"
                       for o in completed_orders(self.world.woo))  # fmt: skip
        finally:
            store.close()

    def _new_customers(self) -> int:
        in_brevo = {c["email"] for c in self.world.brevo.contacts()}
        return len(set(self.world.expected()) - in_brevo)

    def _brevo_equals_the_model(self) -> None:
        contacts = {c["email"]: c["attributes"] for c in self.world.brevo.contacts()}
        for email, customer in self.world.expected().items():
            assert contacts[email].get("FIRSTNAME") == (customer["first_name"] or None)
        assert self.owed <= members(self.world, LIST)
        sent = [int(e["event_properties"]["order_id"]) for e in self.world.brevo.events()
                if e["event_name"] == EVENT]  # fmt: skip
        completed = completed_orders(self.world.woo)
        assert sorted(sent) == sorted(completed)  # each exactly once, none lost
        store = RunStore(self.world.db)
        try:
            statuses = {store.ledger_status("woocommerce", str(o), EVENT) for o in completed}
        finally:
            store.close()
        assert statuses <= {"sent"}


SOAK = os.environ.get("STATEFUL_EXAMPLES")  # a soak: more examples, a fresh seed each time
SyncMachine.TestCase.settings = settings(
    max_examples=int(SOAK or "12"),
    derandomize=not SOAK,  # the default run explores the same examples every time
    stateful_step_count=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestSyncMachine = SyncMachine.TestCase
