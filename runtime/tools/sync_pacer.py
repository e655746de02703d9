"""Pacing the data plane's source reads by when answers ARRIVED, not when requests left.

HttpTool's limiter counts a request from its admission. When the event loop is busy
(the data plane parses a large MCP answer while a page request waits to be written),
a request admitted early can reach the server late, and the next window's first
request on time: the server then sees one too many in its window and answers 429,
and Retry-After costs a whole window. Counting each request from when its answer
came back (the server surely counted it before that) makes that impossible, for the
price of one round trip per window. HttpTool's own limiter still applies on top.

    pacer = Pacer(RateLimit(requests=25, per_seconds=10), clock)
    async with pacer:
        status, headers, body = await http.fetch_json(...)
"""

from __future__ import annotations

from collections import deque
from types import TracebackType

import anyio

from runtime.agentfile import RateLimit
from runtime.clock import Clock

MARGIN_S = 0.05  # beyond a window, after an answer: the server's clock may run ahead
POLL_S = 0.01  # how often to look again when every slot is taken by a request in flight


class Pacer:
    """At most `limit.requests` requests in flight or answered within any window."""

    def __init__(self, limit: RateLimit, clock: Clock) -> None:
        self._limit, self._clock = limit, clock
        self._window = limit.per_seconds + MARGIN_S
        self._answered: deque[float] = deque()
        self._in_flight = 0
        self._lock = anyio.Lock()  # first come, first served, as in RateLimiter

    async def __aenter__(self) -> Pacer:
        async with self._lock:
            while (wait := self._delay()) > 0:
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

    def _delay(self) -> float:
        now = self._clock.monotonic()
        while self._answered and self._answered[0] + self._window <= now:
            self._answered.popleft()
        if len(self._answered) + self._in_flight < self._limit.requests:
            return 0.0
        if self._answered:
            return self._answered[0] + self._window - now
        return POLL_S
