"""The SQLite store and the cursor tools, on a real SQLite file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from runtime.clock import FrozenClock
from runtime.store import RunStore
from runtime.tools.state import CursorStage, GetCursorTool, SetCursorTool

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    s = RunStore(tmp_path / "db" / "agents.db")
    yield s
    s.close()


def test_migrations_are_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    RunStore(path).close()
    s = RunStore(path)
    names = [r[0] for r in s._db.execute("SELECT name FROM _migrations")]
    s.close()
    from runtime.store import MIGRATIONS

    assert names == [name for name, _ in MIGRATIONS] and names[0] == "m001_initial"


def test_runs_round_trip(store: RunStore) -> None:
    store.start_run("r1", "agent-a", "cli", "do it", T0)
    store.finish_run("r1", "succeeded", "end_turn", {"turns": 3}, T0, "/tmp/t.jsonl")
    (run,) = store.runs()
    assert (run.status, run.summary, run.transcript_path) == (
        "succeeded",
        {"turns": 3},
        "/tmp/t.jsonl",
    )
    assert store.run("r") == run  # unique prefix
    assert store.runs(agent="other") == []


def test_cursor_compare_and_set(store: RunStore) -> None:
    assert store.commit_cursor("a", "customers", None, "2026-11-01T00:00:00", "r1", T0)
    # A second writer that read the old (missing) value loses.
    assert not store.commit_cursor("a", "customers", None, "2026-11-02T00:00:00", "r2", T0)
    assert store.cursor("a", "customers") == "2026-11-01T00:00:00"
    assert store.commit_cursor(
        "a", "customers", "2026-11-01T00:00:00", "2026-11-03T00:00:00", "r3", T0
    )
    assert store.cursors("a") == {"customers": "2026-11-03T00:00:00"}


def test_ledger_and_dead_letters(store: RunStore) -> None:
    assert store.ledger_status("woo", "42", "order_completed") is None
    store.ledger_mark("woo", "42", "order_completed", "pending", "r1", T0)
    store.ledger_mark("woo", "42", "order_completed", "sent", "r1", T0)
    assert store.ledger_status("woo", "42", "order_completed") == "sent"
    store.dead_letter("r1", "a", "woo", "7", "invalid email", {"email": "x@"}, T0)
    (dl,) = store.dead_letters(agent="a")
    assert dl["reason"] == "invalid email" and json.loads(dl["record"]) == {"email": "x@"}


def test_lease_expires(store: RunStore) -> None:
    assert store.acquire_lease("a:woo", "w1", T0, ttl_s=60)
    assert not store.acquire_lease("a:woo", "w2", T0, ttl_s=60)
    later = T0.replace(minute=2)
    assert store.acquire_lease("a:woo", "w2", later, ttl_s=60)  # w1's lease expired
    store.release_lease("a:woo", "w1")  # not the holder: no effect
    assert not store.acquire_lease("a:woo", "w3", later, ttl_s=60)
    store.release_lease("a:woo", "w2")
    assert store.acquire_lease("a:woo", "w3", later, ttl_s=60)


def test_deliveries_seen_once(store: RunStore) -> None:
    assert not store.seen_delivery("hook:abc", T0)
    assert store.seen_delivery("hook:abc", T0)


@pytest.mark.anyio
async def test_cursor_tools_stage_then_commit(store: RunStore) -> None:
    clock = FrozenClock(T0)
    stage = CursorStage()
    get, put = GetCursorTool(store, "a", stage), SetCursorTool(store, "a", stage, clock)
    first = json.loads((await get.call({"stream": "customers"})).content)
    assert first == {"stream": "customers", "cursor": None, "staged": None}
    ok = await put.call({"stream": "customers", "cursor": "2026-11-30T10:00:00"})
    assert not ok.is_error
    assert store.cursor("a", "customers") is None  # staged only
    assert stage.commit(store, "a", "r1", T0) == []
    assert store.cursor("a", "customers") == "2026-11-30T10:00:00"


@pytest.mark.anyio
async def test_future_cursor_refused(store: RunStore) -> None:
    put = SetCursorTool(store, "a", CursorStage(), FrozenClock(T0))
    res = await put.call({"stream": "customers", "cursor": "2027-01-01T00:00:00Z"})
    assert res.is_error and "in the future" in res.content


@pytest.mark.anyio
async def test_stale_stage_loses_compare_and_set(store: RunStore) -> None:
    clock = FrozenClock(T0)
    stage = CursorStage()
    await SetCursorTool(store, "a", stage, clock).call(
        {"stream": "s", "cursor": "2026-11-29T00:00:00"}
    )
    store.commit_cursor("a", "s", None, "2026-11-30T00:00:00", "other-run", T0)
    assert stage.commit(store, "a", "r1", T0) == ["s"]
    assert store.cursor("a", "s") == "2026-11-30T00:00:00"
