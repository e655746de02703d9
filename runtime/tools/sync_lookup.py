"""Reading the destination's records through a list tool (Brevo's get_contacts).

    lookup = Lookup(plan.sink.lookup, call, exprs)
    existing = await lookup.all()                  # key -> compared fields (or None)
    total = await lookup.count()                   # one small call
    found = await lookup.find(keys, since, expect) # which of `keys` exist, newest first

The arguments template may use `$limit`, `$offset`, `$sort` ('asc' for the full
listing, so offsets stay stable; 'desc' to find fresh records first) and `$since` (left
out of the full listing). Keys are compared lower-cased and trimmed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from jmespath.parser import ParsedResult

from runtime.errors import AgentsError
from runtime.tools.sync_plan import LookupPlan
from runtime.tools.sync_template import fill

Caller = Callable[[str, dict[str, Any]], Awaitable[tuple[Any, str | None]]]


class DestinationError(AgentsError):
    """The destination could not be listed."""


class Lookup:
    """Pages through the destination's records."""

    def __init__(self, plan: LookupPlan, call: Caller, exprs: Mapping[str, ParsedResult]) -> None:
        self._plan, self._call, self._x = plan, call, exprs

    async def all(self) -> dict[str, dict[str, Any] | None]:
        """Every key, with the compared fields when the plan compares any."""
        out: dict[str, dict[str, Any] | None] = {}
        async for rows in self._pages({"sort": "asc"}):
            for row in rows:
                key = self._key(row)
                if key is not None:
                    out[key] = self._projection(row)
        return out

    async def count(self) -> int | None:
        """The destination's total, when its answer carries one (`lookup.count`)."""
        args = fill(self._plan.arguments, {"offset": 0, "limit": 1, "sort": "desc"})
        result, error = await self._call(self._plan.tool, args)
        count = self._x["sink.lookup.count"].search(result) if error is None else None
        return count if isinstance(count, int) and not isinstance(count, bool) else None

    async def find(self, keys: set[str], since: str, expect: int | None) -> set[str]:
        """Which of `keys` exist among records changed since `since`, newest first; stops
        once `expect` of them are found."""
        found: set[str] = set()
        async for rows in self._pages({"sort": "desc", "since": since}):
            found |= {k for k in map(self._key, rows) if k in keys}
            if expect is not None and len(found) >= expect:
                break
        return found

    async def _pages(self, variables: dict[str, Any]) -> Any:
        offset, size = 0, self._plan.page_size
        while True:
            args = fill(self._plan.arguments, {**variables, "offset": offset, "limit": size})
            result, error = await self._call(self._plan.tool, args)
            if error is not None:
                raise DestinationError(f"'sink.lookup' ('{self._plan.tool}') failed: {error}")
            rows = self._x["sink.lookup.items"].search(result)
            if not isinstance(rows, list):
                raise DestinationError(
                    f"'sink.lookup.items' ('{self._plan.items}') gave no list of records."
                )
            yield rows
            if len(rows) < size:
                return
            offset += len(rows)

    def _key(self, row: Any) -> str | None:
        key = self._x["sink.lookup.key"].search(row)
        return None if key is None else str(key).strip().lower()

    def _projection(self, row: Any) -> dict[str, Any] | None:
        if not self._plan.compare:
            return None
        return {p: self._x[f"sink.lookup.compare.{p}"].search(row) for p in self._plan.compare}
