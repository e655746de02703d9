"""One sandbox Brevo account: state, clock, rate limits and call counts, shared by MCP and REST."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from sandbox.brevo_imports import settle_imports
from sandbox.brevo_ratelimit import RateLimiter, RateStatus
from sandbox.brevo_store import BrevoStore, Tx

T = TypeVar("T")
Clock = Callable[[], datetime]


class BrevoAccount:
    """Runs operations in locked transactions after counting and rate-limiting them."""

    def __init__(
        self, store: BrevoStore, clock: Clock, limiter: RateLimiter, import_delay: float
    ) -> None:
        self.store = store
        self.clock = clock
        self.limiter = limiter
        self.import_delay = import_delay
        self._calls: Counter[str] = Counter()

    def admit(self, category: str, tool: str | None = None) -> RateStatus | None:
        """Count a request (and a tool call) and apply the category's rate limit."""
        with self.store.locked():
            if tool is not None:
                self._calls[tool] += 1
            return self.limiter.hit(category, self.clock().timestamp())

    def execute(self, op: Callable[[Tx], T]) -> T:
        """Run due imports, then `op` in its own transaction (rolled back if it raises)."""
        now = self.clock()
        with self.store.transaction(now) as tx:
            settle_imports(tx, self.import_delay)
        with self.store.transaction(now) as tx:
            return op(tx)

    def read(self, op: Callable[[Tx], T]) -> T:
        """Run `op` without counting, limits or running imports (inspection)."""
        with self.store.transaction(self.clock()) as tx:
            return op(tx)

    def call_counts(self) -> dict[str, int]:
        """Tool calls so far, by tool name (without module prefix)."""
        with self.store.locked():
            return dict(sorted(self._calls.items()))
