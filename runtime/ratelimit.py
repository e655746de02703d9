"""Client-side rate limiting per source: a sliding window that the server never sees exceeded.

A limit of `N per T seconds` admits a request only when fewer than N requests were
admitted in the last `T + margin` seconds. A sliding window is the strictest common
reading of a limit: it also satisfies fixed-window and token-bucket servers. The small
margin absorbs the difference between when we admit a request and when the server
counts its arrival, at a throughput cost of about `margin / T` (2.5% by default).

The limiter is shared by concurrent callers (parallel tool calls, the data plane) and
uses the injected clock for both reading time and sleeping, so tests never wait.

`Pacer` counts each request from when its ANSWER came back instead. When the event loop
is busy (the data plane parses a large MCP answer while a page request waits to be
written), a request admitted early can reach the server late, and the next window's
first request on time: the server then sees one too many in its window and answers
429. Counting from the answer (the server surely counted the request before that)
makes that impossible, for the price of one round trip per window; a 429's Retry-After
holds every caller back (`penalize`). HttpTool paces each source's requests with it;
the data plane's MCP sink uses RateLimiter.

    async with pacer:
        response = await send()
"""

from __future__ import annotations

from collections import deque
from types import TracebackType

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
        # Waiters queue on the lock in arrival order; the one holding it sleeps until
        # its slot opens, so admissions stay first-come first-served.
        self._lock = anyio.Lock()

    async def acquire(self) -> None:
        """Wait until one more request fits the limit, then count it as sent now."""
        async with self._lock:
            while (delay := self._delay(self._clock.monotonic())) > 0:
                await self._clock.sleep(delay)
            self._admitted.append(self._clock.monotonic())

    def _delay(self, now: float) -> float:
        """Seconds to wait before the next admission may happen (0 when it may now)."""
        # The same expression as the wait below: float rounding can never make an entry
        # both "still in the window" and "expired" (which once admitted one too many).
        while self._admitted and self._admitted[0] + self.window_s <= now:
            self._admitted.popleft()
        if len(self._admitted) >= self.limit.requests:
            return max(self._admitted[0] + self.window_s - now, 0.0)
        return 0.0


PACER_MARGIN_S = 0.05  # beyond a window, after an answer: the server's clock may run ahead


class Pacer:
    """At most `limit.requests` requests in flight or answered within any window."""

    def __init__(self, limit: RateLimit, clock: Clock) -> None:
        self._limit, self._clock = limit, clock
        self._window = limit.per_seconds + PACER_MARGIN_S
        self._answered: deque[float] = deque()
        self._in_flight = 0
        self._lock = anyio.Lock()  # first come, first served, as in RateLimiter
        self._answer = anyio.Event()  # set when a request in flight is answered
        self._blocked_until = float("-inf")

    async def __aenter__(self) -> Pacer:
        async with self._lock:
            while (wait := self._delay()) != 0:
                if wait is None:  # every slot is a request in flight: wait for an answer
                    self._answer = anyio.Event()
                    await self._answer.wait()
                else:
                    await self._clock.sleep(wait)
            self._in_flight += 1
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._in_flight -= 1
        self._answered.append(self._clock.monotonic())
        self._answer.set()

    def penalize(self, retry_after_s: float) -> None:
        """Start nothing for `retry_after_s` seconds (the server answered 429)."""
        until = self._clock.monotonic() + max(retry_after_s, 0.0)
        self._blocked_until = max(self._blocked_until, until)

    def _delay(self) -> float | None:
        """Seconds to wait; None to wait for an answer (no time passes in flight)."""
        now = self._clock.monotonic()
        if self._blocked_until > now:
            return self._blocked_until - now
        while self._answered and self._answered[0] + self._window <= now:
            self._answered.popleft()
        if len(self._answered) + self._in_flight < self._limit.requests:
            return 0.0
        if self._answered:
            return max(self._answered[0] + self._window - now, 1e-6)
        return None
