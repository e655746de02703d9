"""Settling events a crashed run left 'pending': did the destination get them?

An event is marked 'pending' in the ledger before its call and 'sent' after it. A run
killed in between leaves 'pending', and neither resending (it may have arrived: a
duplicate) nor dropping it (it may not have: lost) is right. With `confirm` on the
event step the next run lists the destination's events once (Brevo: GET /v3/events
through the MCP tool, from an hour before the oldest pending entry), marks those found
'sent' and sends the others.

    confirmer = Confirmer(step, "then[1]", call, exprs, store, source, clock)
    ids = await confirmer.arrived()    # record ids the destination already has
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
from jmespath.parser import ParsedResult

from runtime.clock import Clock
from runtime.store import RunStore
from runtime.tools.sync_plan import EventStep
from runtime.tools.sync_sink import SinkError
from runtime.tools.sync_template import fill
from runtime.tools.sync_transforms import parse_time

Call = Callable[[str, dict[str, Any]], Awaitable[tuple[Any, str | None]]]
MARGIN = timedelta(hours=1)  # clock skew between us and the destination
MAX_PAGES = 100


class Confirmer:
    """Lists the destination's events of one step, once per run."""

    def __init__(
        self,
        step: EventStep,
        where: str,
        call: Call,
        exprs: Mapping[str, ParsedResult],
        store: RunStore,
        source: str,
        clock: Clock,
    ) -> None:
        assert step.confirm is not None
        self._step, self._plan, self._call = step, step.confirm, call
        self._items, self._key = exprs[f"{where}.confirm.items"], exprs[f"{where}.confirm.key"]
        self._store, self._source, self._clock = store, source, clock
        self._lock = anyio.Lock()
        self._found: set[str] | None = None

    async def arrived(self) -> set[str]:
        """Record ids whose event the destination lists; SinkError when it cannot say."""
        async with self._lock:
            if self._found is None:
                self._found = await self._list()
            return self._found

    async def _list(self) -> set[str]:
        oldest = self._store.ledger_pending_since(self._source, self._step.event)
        since = parse_time(oldest) or self._clock.now()
        variables = {
            "event": self._step.event,
            "since": _rfc3339(since - MARGIN),
            "until": _rfc3339(self._clock.now() + MARGIN),
            "limit": self._plan.page_size,
        }
        found: set[str] = set()
        for page in range(MAX_PAGES):
            offset = page * self._plan.page_size
            args = fill(self._plan.arguments, {**variables, "offset": offset}) or {}
            result, error = await self._call(self._plan.tool, args)
            if error is not None:
                raise SinkError(f"'{self._plan.tool}' could not list the events: {error}")
            rows = self._items.search(result) if isinstance(result, dict | list) else None
            if not isinstance(rows, list):
                raise SinkError(f"'{self._plan.tool}' gave no list at '{self._plan.items}'")
            found |= {str(k) for r in rows if (k := self._key.search(r)) is not None}
            if len(rows) < self._plan.page_size:
                return found
        raise SinkError(f"more than {MAX_PAGES} pages of events to look through")


def _rfc3339(when: datetime) -> str:
    aware = when if when.tzinfo else when.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
