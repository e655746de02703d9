"""Client-side rate limiting per source: a sliding window that the server never sees exceeded.

A limit of `N per T seconds` admits a request only when fewer than N requests were
admitted in the last `T + margin` seconds. A sliding window is the strictest common
reading of a limit: it also satisfies fixed-window and token-bucket servers. The small
margin absorbs the difference between when we admit a request and when the server
counts its arrival, at a throughput cost of about `margin / T` (2.5% by default).

The limiter is shared by concurrent callers (parallel tool calls, the data plane) and
uses the injected clock for both reading time and sleeping, so tests never wait.
"""

from __future__ import annotations

from collections import deque

import anyio

from runtime.agentfile import RateLimit
from runtime.clock import Clock

DEFAULT_MARGIN = 0.025  # of the window; 0.25 s for 25/10s


class RateLimiter:
    """At most `limit.requests` admissions in any `limit.per_seconds` (+ margin) window."""

    def __init__(self, limit: RateLimit, clock: Clock, *, margin_s: float | None = None) -> None:
        self.limit = limit
        self._clock = clock
        margin = limit.per_seconds * DEFAULT_MARGIN if margin_s is None else margin_s
        self.window_s = limit.per_seconds + max(margin, 0.0)
        self._admitted: deque[float] = deque()
        self._blocked_until = float("-inf")
        # Waiters queue on the lock in arrival order; the one holding it sleeps until
        # its slot opens, so admissions stay first-come first-served.
        self._lock = anyio.Lock()

    async def acquire(self) -> None:
        """Wait until one more request fits the limit, then count it as sent now."""
        async with self._lock:
            while (delay := self._delay(self._clock.monotonic())) > 0:
                await self._clock.sleep(delay)
            self._admitted.append(self._clock.monotonic())

    def penalize(self, retry_after_s: float) -> None:
        """Admit nothing for `retry_after_s` seconds (the server answered 429)."""
        until = self._clock.monotonic() + max(retry_after_s, 0.0)
        self._blocked_until = max(self._blocked_until, until)

    def _delay(self, now: float) -> float:
        """Seconds to wait before the next admission may happen (0 when it may now)."""
        # The same expression as the wait below: float rounding can never make an entry
        # both "still in the window" and "expired" (which once admitted one too many).
        while self._admitted and self._admitted[0] + self.window_s <= now:
            self._admitted.popleft()
        wait = self._blocked_until - now
        if len(self._admitted) >= self.limit.requests:
            wait = max(wait, self._admitted[0] + self.window_s - now)
        return max(wait, 0.0)
