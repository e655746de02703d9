"""Cron triggers: when each schedule is due, on an injected clock.

    CronSchedule(agent, trigger)     next tick after a time, latest tick at or before one
    plan(schedule, last, now)        the tick to fire now (one catch-up after downtime)
    Scheduler(...).step()            fire what is due, return the seconds to the next tick

The last tick handled per trigger is persisted (`FireStore`, the RunStore), so a
restart after downtime makes one catch-up run for the latest missed tick, never one
per missed tick. A trigger seen for the first time starts from "now": nothing old is
caught up. Jitter (`jitter_s`) delays each tick by a random amount from the injected
rng, decided once per tick. Cron fields are read in the trigger's time zone (default
UTC); every time going in or out is timezone-aware UTC.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from croniter import croniter

from runtime.agentfile import ScheduleTrigger
from runtime.clock import Clock

MAX_COUNTED = 10_000  # ticks folded into one catch-up are counted up to this, for the log
MAX_SLEEP_S = 60.0  # wake at least this often, so a wall-clock jump is noticed
EPSILON = timedelta(microseconds=1)


@dataclass(frozen=True)
class CronSchedule:
    """One agent's cron trigger."""

    agent: str
    trigger: ScheduleTrigger

    @property
    def key(self) -> str:
        """Stable identity of the trigger: a changed schedule starts afresh."""
        return f"{self.agent}|cron|{self.trigger.schedule}|{self.trigger.timezone}"

    def next_after(self, t: datetime) -> datetime:
        """The first tick strictly after `t`."""
        local = t.astimezone(ZoneInfo(self.trigger.timezone))
        return _utc(croniter(self.trigger.schedule, local).get_next(datetime))

    def latest_until(self, t: datetime) -> datetime:
        """The last tick at or before `t`."""
        local = (t + EPSILON).astimezone(ZoneInfo(self.trigger.timezone))
        return _utc(croniter(self.trigger.schedule, local).get_prev(datetime))


@dataclass(frozen=True)
class Due:
    """A tick to fire now, and how many ticks since the last one handled it stands for."""

    tick: datetime
    ticks: int  # 1 on time; 3 after a downtime that spanned three ticks (one catch-up run)


def plan(schedule: CronSchedule, last: datetime, now: datetime) -> Due | None:
    """The latest tick in (last, now], standing for every tick in between; else None."""
    first = schedule.next_after(last)
    if first > now:
        return None
    tick = schedule.latest_until(now)
    ticks, t = 1, first
    while t < tick and ticks < MAX_COUNTED:
        ticks += 1
        t = schedule.next_after(t)
    return Due(tick, ticks)


def jitter_s(trigger: ScheduleTrigger, rng: random.Random) -> float:
    """A random delay in [0, jitter_s) seconds (0 when the trigger has no jitter)."""
    return rng.uniform(0.0, trigger.jitter_s) if trigger.jitter_s > 0 else 0.0


class FireStore(Protocol):
    """Where the last tick handled per trigger is kept (RunStore)."""

    def last_fire(self, key: str) -> datetime | None: ...

    def record_fire(self, key: str, agent: str, tick: datetime, at: datetime) -> None: ...


Dispatch = Callable[[CronSchedule, Due], None]


class Scheduler:
    """Fires due cron ticks through `dispatch` (which must not block)."""

    def __init__(
        self,
        schedules: list[CronSchedule],
        store: FireStore,
        clock: Clock,
        dispatch: Dispatch,
        rng: random.Random | None = None,
    ) -> None:
        self.schedules = schedules
        self._store, self._clock, self._dispatch = store, clock, dispatch
        self._rng = rng or random.Random()
        self._last: dict[str, datetime] = {}
        self._delays: dict[str, tuple[datetime, float]] = {}

    def start(self) -> None:
        """Load the last tick of each trigger; a new trigger starts from now."""
        now = self._clock.now()
        for s in self.schedules:
            last = self._store.last_fire(s.key)
            if last is None:
                last = now
                self._store.record_fire(s.key, s.agent, now, now)
            self._last[s.key] = last

    def step(self) -> float:
        """Fire every due tick; seconds until the next one is due (capped)."""
        now = self._clock.now()
        wake = [now + timedelta(seconds=MAX_SLEEP_S)]
        for s in self.schedules:
            last = self._last[s.key]
            due = plan(s, last, now)
            if due is not None:
                fire_at = due.tick + timedelta(seconds=self._delay(s, due.tick))
                if fire_at > now:
                    wake.append(fire_at)
                    continue
                self._fire(s, due, now)
                last = due.tick
            tick = s.next_after(last)
            wake.append(tick + timedelta(seconds=self._delay(s, tick)))
        return max(0.0, (min(wake) - now).total_seconds())

    async def run(self) -> None:
        """Step and sleep on the clock, forever (cancel to stop)."""
        while True:
            await self._clock.sleep(self.step())

    def _fire(self, s: CronSchedule, due: Due, now: datetime) -> None:
        # Recorded before dispatching: a tick is handled at most once, even across a crash.
        self._last[s.key] = due.tick
        self._store.record_fire(s.key, s.agent, due.tick, now)
        self._delays.pop(s.key, None)
        self._dispatch(s, due)

    def _delay(self, s: CronSchedule, tick: datetime) -> float:
        known = self._delays.get(s.key)
        if known is None or known[0] != tick:
            known = (tick, jitter_s(s.trigger, self._rng))
            self._delays[s.key] = known
        return known[1]


def _utc(t: datetime) -> datetime:
    return t.astimezone(UTC)
