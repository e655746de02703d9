"""Cron schedule computation: next ticks, time zones, catch-up planning, jitter, persistence."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runtime.agentfile import ScheduleTrigger
from runtime.clock import FrozenClock
from runtime.store import RunStore
from runtime.triggers import CronSchedule, Due, Scheduler, jitter_s, plan

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def every5(**extra: object) -> CronSchedule:
    return CronSchedule("a", ScheduleTrigger(schedule="*/5 * * * *", **extra))  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    s = RunStore(tmp_path / "agents.db")
    yield s
    s.close()


def test_next_and_latest_ticks() -> None:
    s = every5()
    assert s.next_after(T0) == T0 + timedelta(minutes=5)
    assert s.next_after(T0 + timedelta(minutes=4, seconds=59)) == T0 + timedelta(minutes=5)
    assert s.latest_until(T0) == T0  # a tick exactly at t counts
    assert s.latest_until(T0 + timedelta(minutes=9)) == T0 + timedelta(minutes=5)
    assert s.next_after(T0).tzinfo is not None


def test_time_zone_of_the_trigger_is_used() -> None:
    nine = CronSchedule("a", ScheduleTrigger(schedule="0 9 * * *", timezone="Europe/Paris"))
    winter = nine.next_after(datetime(2026, 1, 10, tzinfo=UTC))
    summer = nine.next_after(datetime(2026, 7, 10, tzinfo=UTC))
    assert (winter.hour, summer.hour) == (8, 7)  # 09:00 in Paris is 08:00 / 07:00 UTC
    assert winter.utcoffset() == timedelta(0)


def test_plan_on_time_late_and_after_downtime() -> None:
    s = every5()
    assert plan(s, T0, T0 + timedelta(minutes=4)) is None
    assert plan(s, T0, T0 + timedelta(minutes=5)) == Due(T0 + timedelta(minutes=5), 1)
    # Down from 12:00 to 12:21: 12:05, 12:10, 12:15 and 12:20 fold into one run at 12:20.
    assert plan(s, T0, T0 + timedelta(minutes=21)) == Due(T0 + timedelta(minutes=20), 4)
    assert plan(s, T0 + timedelta(minutes=20), T0 + timedelta(minutes=21)) is None


def test_jitter_is_bounded_and_from_the_rng() -> None:
    trigger = ScheduleTrigger(schedule="* * * * *", jitter_s=30)
    values = [jitter_s(trigger, random.Random(5)) for _ in range(3)]
    assert values[0] == values[1] == values[2]  # same seed, same delay
    rng = random.Random(1)
    assert all(0 <= jitter_s(trigger, rng) < 30 for _ in range(200))
    assert jitter_s(ScheduleTrigger(schedule="* * * * *"), rng) == 0


def test_scheduler_fires_each_tick_once_over_an_hour(store: RunStore) -> None:
    clock = FrozenClock(T0)
    fired: list[Due] = []
    sched = Scheduler([every5()], store, clock, lambda s, due: fired.append(due))
    sched.start()
    while clock.now() < T0 + timedelta(hours=1):
        clock.advance(sched.step())
    sched.step()
    assert [d.tick for d in fired] == [T0 + timedelta(minutes=5 * i) for i in range(1, 13)]
    assert all(d.ticks == 1 for d in fired)
    assert store.last_fire(every5().key) == T0 + timedelta(hours=1)


def test_scheduler_waits_for_the_jitter(store: RunStore) -> None:
    clock = FrozenClock(T0)
    fired: list[tuple[Due, datetime]] = []
    s = every5(jitter_s=120)
    sched = Scheduler(
        [s], store, clock, lambda _s, due: fired.append((due, clock.now())), random.Random(3)
    )
    sched.start()
    expected_delay = random.Random(3).uniform(0, 120)
    assert sched.step() == 60  # never sleeps more than a minute (wall-clock jumps)
    clock.advance(300)
    assert sched.step() == pytest.approx(min(expected_delay, 60))  # due, but jittered
    assert fired == []
    while not fired:
        clock.advance(sched.step())
        sched.step()
    ((due, at),) = fired
    assert due.tick == T0 + timedelta(minutes=5)
    assert at == due.tick + timedelta(seconds=expected_delay)


def test_restart_catches_up_once(store: RunStore, tmp_path: Path) -> None:
    clock = FrozenClock(T0)
    fired: list[Due] = []
    first = Scheduler([every5()], store, clock, lambda s, due: fired.append(due))
    first.start()
    clock.advance(300)
    first.step()  # 12:05 fires; then the process stops
    clock.advance(16 * 60)  # down until 12:21: 12:10, 12:15 and 12:20 are missed
    other = RunStore(tmp_path / "agents.db")
    try:
        second = Scheduler([every5()], other, clock, lambda s, due: fired.append(due))
        second.start()
        second.step()
        second.step()
    finally:
        other.close()
    assert [(d.tick.minute, d.ticks) for d in fired] == [(5, 1), (20, 3)]


def test_a_new_trigger_does_not_catch_up_the_past(store: RunStore) -> None:
    clock = FrozenClock(T0 + timedelta(minutes=3))
    fired: list[Due] = []
    sched = Scheduler([every5()], store, clock, lambda s, due: fired.append(due))
    sched.start()
    sched.step()
    assert fired == []
    assert store.last_fire(every5().key) == T0 + timedelta(minutes=3)
