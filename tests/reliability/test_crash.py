"""Reference test 3: a real `agents run` process SIGKILLed at each step, then run again.

The sandboxes are served from this process, so they outlive the killed run. After the
rerun the Brevo account must equal the one a clean run leaves (BrevoSandbox.snapshot()),
with every completed order's order_completed event sent exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runtime.store import RunStore
from tests.reliability.harness import (
    ANCHOR,
    FreshScripts,
    GatedStack,
    canonical,
    completed_orders,
    events_by_order,
    finish,
    kill_when_held,
    path_has,
    start_run,
    tool_call,
)

Arm = Callable[[GatedStack], Any]
WRITES = {"create_contact", "update_contact", "update_batch_contacts", "create_event",
          "add_contact_to_list", "create_list", "import_contacts", "create_attribute"}  # fmt: skip


def writes(counts: dict[str, int]) -> dict[str, int]:
    """Brevo write calls by tool."""
    return {k: v for k, v in counts.items() if k in WRITES}


def new_stack() -> GatedStack:
    scripts = FreshScripts()
    stack = GatedStack(scripts, customers=60, orders=150, anchor=ANCHOR)
    stack.claude_script = scripts  # type: ignore[attr-defined]
    return stack


@pytest.fixture(scope="module")
def clean_state(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The Brevo account after one uninterrupted run."""
    workdir = tmp_path_factory.mktemp("clean")
    with new_stack() as stack:
        summary = finish(start_run(stack, workdir))
        assert summary["_exit"] == 0 and summary["cursor_committed"], summary["_stderr"]
        return canonical(stack.brevo.snapshot())


def arm_fetch(s: GatedStack) -> Any:
    s.woo_gate.arm(path_has("/orders", "page=2"))  # orders page 1 written, page 2 in flight
    return s.woo_gate


def arm_upsert(s: GatedStack) -> Any:
    s.brevo_gate.arm(tool_call("create_contact"), at=7)  # six contacts created, then crash
    return s.brevo_gate


def arm_event(s: GatedStack) -> Any:
    s.brevo_gate.arm(tool_call("create_event"), at=3, mode="after")  # sent, never confirmed
    return s.brevo_gate


def arm_cursor(s: GatedStack) -> Any:
    # The model call after the orders sync: every write done, cursors staged, not committed.
    # Turns: cursor+attributes, create attributes, customers sync, orders sync, final.
    s.claude_gate.arm(lambda _t, body: len(json.loads(body)["messages"]) == 9)
    return s.claude_gate


STEPS = {"fetch": arm_fetch, "upsert": arm_upsert, "event": arm_event, "cursor": arm_cursor}


PARAMS = ["fetch", "upsert", "event", "cursor"]


@pytest.mark.parametrize("step", PARAMS)
def test_sigkill_at_each_step_then_rerun_equals_a_clean_run(
    step: str, tmp_path: Path, clean_state: dict[str, Any]
) -> None:
    """Scenario: crash-{step} | Fault: SIGKILL of `agents run` at {step}, then a rerun | Outcome: Brevo equals a clean run; each order_completed sent once; cursor committed by the rerun only; a third run writes nothing."""
    with new_stack() as stack:
        gate = STEPS[step](stack)
        proc = start_run(stack, tmp_path)
        kill_when_held(proc, gate)
        store = RunStore(tmp_path / "agents.db")
        assert store.cursors("crash-sync") == {}  # the killed run moved no cursor
        store.close()
        rerun = finish(start_run(stack, tmp_path))
        assert rerun["_exit"] == 0 and rerun["cursor_committed"] is True, rerun["_stderr"]
        counts = events_by_order(stack)
        assert set(counts.values()) == {1}
        assert set(counts) == completed_orders(stack.woo)
        assert canonical(stack.brevo.snapshot()) == clean_state
        before = writes(stack.brevo.call_counts())
        again = finish(start_run(stack, tmp_path))  # and a third run writes nothing (ref-1)
        assert again["_exit"] == 0 and canonical(stack.brevo.snapshot()) == clean_state
        assert writes(stack.brevo.call_counts()) == before
        assert sum(events_by_order(stack).values()) == len(completed_orders(stack.woo))


def test_sigkill_after_an_event_never_sends_it_twice(tmp_path: Path) -> None:
    """Scenario: crash-event-confirmed | Fault: SIGKILL after create_event reached Brevo, before the ledger said 'sent' | Outcome: the rerun lists Brevo's events (get_events) for the entries left 'pending': the one that arrived is marked sent, the others are sent; no order_completed twice, none lost, no entry left pending."""
    with new_stack() as stack:
        gate = arm_event(stack)
        kill_when_held(start_run(stack, tmp_path), gate)
        store = RunStore(tmp_path / "agents.db")
        pending = {o for o in completed_orders(stack.woo)
                   if store.ledger_status("woocommerce", str(o), "order_completed") == "pending"}  # fmt: skip
        assert pending  # the held event at least
        rerun = finish(start_run(stack, tmp_path))
        assert rerun["_exit"] == 0 and rerun["cursor_committed"] is True, rerun["_stderr"]
        counts = events_by_order(stack)
        assert set(counts.values()) == {1} and set(counts) == completed_orders(stack.woo)
        statuses = {store.ledger_status("woocommerce", str(o), "order_completed")
                    for o in completed_orders(stack.woo)}  # fmt: skip
        store.close()
        assert statuses == {"sent"}
        orders_summary = stack.claude_script.scripts[-1].summaries[-1]  # type: ignore[attr-defined]
        settled = orders_summary["then"]["event 'order_completed'"]
        arrived = settled.get("arrived before an interrupted run ended", 0)
        resent = settled.get("resent after an interrupted run", 0)
        assert arrived >= 1 and arrived + resent == len(pending)
