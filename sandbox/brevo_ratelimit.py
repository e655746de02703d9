"""Brevo's rate limits (general tier) as fixed windows on an injected clock.

Each category has its own window: it opens at the first request, counts up to `limit`
requests, and closes `window` seconds later. Brevo reports the state in the headers
x-sib-ratelimit-limit / -remaining / -reset (seconds until the window closes) and
answers 429 `{"code": "too_many_requests", ...}` when it is used up (no Retry-After).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from sandbox.brevo_rules import BrevoError


@dataclass(frozen=True)
class RateLimit:
    """At most `limit` requests per `window` seconds."""

    limit: int
    window: float


HOUR = 3600.0
DEFAULT_RATE_LIMITS: Mapping[str, RateLimit] = {
    "contacts": RateLimit(10, 1.0),  # /v3/contacts/*: 10/s (36,000/h)
    "events": RateLimit(10, 1.0),  # POST /v3/events: 10/s
    "events_read": RateLimit(100, HOUR),  # GET /v3/events: not listed, so "other": 100/h
    "lists": RateLimit(100, HOUR),  # most other endpoints: 100/h
    "attributes": RateLimit(100, HOUR),
    "folders": RateLimit(100, HOUR),
    "campaigns": RateLimit(100, HOUR),
    "processes": RateLimit(100, HOUR),
}


@dataclass(frozen=True)
class RateStatus:
    """Where a category's window stands after a request."""

    limit: int
    remaining: int
    reset: int

    def headers(self) -> dict[str, str]:
        """Brevo's x-sib-ratelimit-* response headers."""
        return {
            "x-sib-ratelimit-limit": str(self.limit),
            "x-sib-ratelimit-remaining": str(self.remaining),
            "x-sib-ratelimit-reset": str(self.reset),
        }


class RateLimitExceeded(BrevoError):
    """429 too_many_requests; the body also carries limit, remaining and reset (seconds)."""

    def __init__(self, category: str, status: RateStatus) -> None:
        message = (
            f"Too many requests: the limit of {status.limit} requests for '{category}' is used up. "
            f"Retry in {status.reset} s."
        )
        super().__init__(
            429, "too_many_requests", message, limit=status.limit, remaining=0, reset=status.reset
        )
        self.status_info = status


class RateLimiter:
    """Fixed windows per category; categories without a limit are not counted."""

    def __init__(self, limits: Mapping[str, RateLimit | tuple[int, float] | None]) -> None:
        self._limits: dict[str, RateLimit] = {}
        for category, limit in limits.items():
            if limit is not None:
                self._limits[category] = (
                    limit if isinstance(limit, RateLimit) else RateLimit(*limit)
                )
        self._windows: dict[str, tuple[float, int]] = {}

    def hit(self, category: str, now: float) -> RateStatus | None:
        """Count one request at time `now` (seconds); raises RateLimitExceeded when over."""
        rule = self._limits.get(category)
        if rule is None:
            return None
        start, used = self._windows.get(category, (now, 0))
        if now >= start + rule.window:
            start, used = now, 0
        reset = max(1, math.ceil(start + rule.window - now))
        if used >= rule.limit:
            raise RateLimitExceeded(category, RateStatus(rule.limit, 0, reset))
        self._windows[category] = (start, used + 1)
        return RateStatus(rule.limit, rule.limit - used - 1, reset)
