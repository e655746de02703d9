"""Bulk creation through an asynchronous import tool (Brevo's import_contacts + get_process).

    importer = Importer(plan.sink.import_, caller, lookup, clock, exprs, retry_without)
    left = await importer.write(chunk, list_ids)   # records the import did not create

One import call per chunk, polled until done (get_process is rate-limited hard, so the
waits grow: 0, 1, 2, 4, 8, 15, 30 s ...). An import reports no per-row outcome, so it is
verified: the destination's count before and after (one small call each) settles the
usual case; when rows are missing, the records changed since the import started are
listed to find which. Those are imported once more without the `retry_without` fields
(a phone number another contact already uses, say); what is still missing goes back to
the caller for the per-record tool.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from jmespath.parser import ParsedResult

from runtime.clock import Clock
from runtime.tools.sync_lookup import Lookup
from runtime.tools.sync_map import Mapped
from runtime.tools.sync_plan import ImportPlan
from runtime.tools.sync_template import fill, get_path, stripped

Caller = Callable[..., Awaitable[tuple[Any, str | None]]]  # (tool, arguments, paced=True)
POLL_WAITS = (0.0, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
VERIFY_SLACK = timedelta(minutes=5)  # clock skew between us and the destination


class Importer:
    """Creates records in chunks with the import tool; reports the ones it could not."""

    def __init__(
        self,
        plan: ImportPlan,
        call: Caller,
        lookup: Lookup,
        clock: Clock,
        exprs: Mapping[str, ParsedResult],
        retry_without: list[str],
    ) -> None:
        self._plan, self._call, self._lookup, self._clock = plan, call, lookup, clock
        self._x, self._retry = exprs, retry_without
        self.error: str | None = None  # why the last import call failed, if it did
        # The destination's count after the last import; the sink forgets it as soon as it
        # writes anything else, so the next import's "before" costs no call otherwise.
        self._count: int | None = None

    def forget_count(self) -> None:
        """Something else was written: the next import counts afresh."""
        self._count = None

    async def write(self, chunk: list[Mapped], list_ids: list[int]) -> list[Mapped]:
        """Import `chunk`; created ones get outcome 'created'; returns those left over."""
        missing = await self._attempt(chunk, list_ids, strip=False)
        if self.error is not None or not missing or not self._retry:
            return missing
        strippable = [i for i in missing if any(get_path(i.record, p) for p in self._retry)]
        chosen = {id(i) for i in strippable}
        left = [i for i in missing if id(i) not in chosen]
        if strippable:
            left += await self._attempt(strippable, list_ids, strip=True)
        return left

    async def _attempt(self, chunk: list[Mapped], ids: list[int], *, strip: bool) -> list[Mapped]:
        plan = self._plan
        before = self._count
        if before is None and plan.verify:
            before = await self._lookup.count()
        started = self._clock.now()
        drop = self._retry if strip else []
        rows = [
            fill(plan.item, {"record": stripped(i.record, drop), "source": i.source}) for i in chunk
        ]
        result, error = await self._call(
            plan.tool, fill(plan.arguments, {"batch": rows, "list_ids": ids})
        )
        process = self._x["sink.import.process_id"].search(result) if error is None else None
        if error is None and process is None:
            error = f"no '{plan.process_id}' in the result of '{plan.tool}'"
        if error is None:
            error = await self._poll(process)
        if error is not None:
            self.error = f"'{plan.tool}': {error}"
            return chunk
        missing = await self._missing(chunk, before, started)
        gone = {id(i) for i in missing}
        for item in (i for i in chunk if id(i) not in gone):
            item.outcome, item.listed = "created", bool(ids)
            if strip:
                item.notes.append(f"imported without {', '.join(self._retry)}")
        return missing

    async def _missing(
        self, chunk: list[Mapped], before: int | None, started: datetime
    ) -> list[Mapped]:
        """The records of `chunk` the destination does not have after the import."""
        if not self._plan.verify:
            return []
        after = self._count = await self._lookup.count() if before is not None else None
        created = None if before is None or after is None else after - before
        if created == len(chunk):
            return []
        since = (started - VERIFY_SLACK).strftime("%Y-%m-%dT%H:%M:%SZ")
        keys = {i.key for i in chunk if i.key is not None}
        found = await self._lookup.find(keys, since, created)
        return [i for i in chunk if i.key is not None and i.key not in found]

    async def _poll(self, process: Any) -> str | None:
        """None once the process is done; else why not."""
        plan = self._plan
        waited = 0.0
        for wait in itertools.chain(POLL_WAITS, itertools.repeat(POLL_WAITS[-1])):
            if waited + wait > plan.max_wait_s:
                return f"import {process} not finished after {plan.max_wait_s:g} s"
            await self._clock.sleep(wait)
            waited += wait
            args = fill(plan.poll_arguments, {"process_id": process})
            result, error = await self._call(plan.poll_tool, args, False)  # not paced
            if error is not None:
                return f"'{plan.poll_tool}': {error}"
            if self._x["sink.import.done"].search(result):
                return None
        raise AssertionError("unreachable: the waits never end")
