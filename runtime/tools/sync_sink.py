"""Writing mapped records through the session's tools (MCP tools, e.g. Brevo's).

    sink = Sink(plan.sink, tools, clock, exprs, dry_run=False)
    await sink.load_existing()            # the lookup (sync_lookup): keys already there
    done = await sink.write(items, ids)   # items get .state and .outcome
    done += await sink.flush(ids)         # the last import batch

Routing, per record: unchanged (the lookup's copy already equals it) -> no call;
existing -> the batch tool (e.g. update_batch_contacts), else the per-record tool;
new -> the import tool (e.g. import_contacts, polled until done), else the per-record
tool; unknown (no lookup) -> the per-record tool (after an optimistic batch when both
are given). A failed batch is split at the item its error names; what it cannot write
goes to the per-record tool. `rate_limit` paces every call of the sink client-side.

Outcomes follow Brevo's create semantics: a result with "updated": true is an update,
a result with an id and no "updated" a creation; a batch update updates; an import
creates (its records were not in the lookup).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
from jmespath.parser import ParsedResult

from runtime.agentfile import RateLimit
from runtime.clock import Clock
from runtime.errors import AgentsError
from runtime.ratelimit import RateLimiter
from runtime.tools import Tool
from runtime.tools.sync_import import Importer
from runtime.tools.sync_lookup import Lookup
from runtime.tools.sync_map import Mapped
from runtime.tools.sync_plan import SinkPlan
from runtime.tools.sync_template import (
    fill,
    get_path,
    schema_problems,
    stripped,
    validator_of,
)

ToolLookup = Callable[[str], Tool | None]
ListIds = Callable[[], Awaitable[list[int]]]
MAX_SPLITS = 5  # a failing batch naming its bad item is retried without it this often
FAILED_INDEX = re.compile(r"\[(\d+)\]")


class SinkError(AgentsError):
    """The destination could not be read or written as the plan says."""


async def call_json(tool: Tool, arguments: dict[str, Any]) -> tuple[Any, str | None]:
    """(parsed result, None) on success, (None, error text) on a failed call."""
    result = await tool.call(arguments)
    if result.is_error:
        return None, _brief(result.content)
    try:
        return json.loads(result.content), None
    except ValueError:
        return result.content, None


def outcome_of(result: Any) -> str:
    """'updated' for {"updated": true}, 'created' for {"id": N}, else 'written'."""
    if isinstance(result, dict):
        if result.get("updated") is True:
            return "updated"
        if result.get("id") is not None:
            return "created"
    return "written"


class Sink:
    """Writes records with bounded concurrency; never raises for one record's failure."""

    def __init__(
        self,
        plan: SinkPlan,
        tools: ToolLookup,
        clock: Clock,
        exprs: Mapping[str, ParsedResult],
        *,
        dry_run: bool = False,
    ) -> None:
        self._plan, self._tools, self._clock, self._x = plan, tools, clock, exprs
        self._dry = dry_run
        self._gate = anyio.CapacityLimiter(plan.concurrency)
        self.existing: dict[str, dict[str, Any] | None] | None = None
        self._pending: list[Mapped] = []  # new records waiting for the next import batch
        self._lookup = Lookup(plan.lookup, self._call, exprs) if plan.lookup else None
        self._importer = None
        if plan.import_ is not None and self._lookup is not None:
            retry = plan.retry_without
            self._importer = Importer(plan.import_, self._call, self._lookup, clock, exprs, retry)
        limit = RateLimit.parse(plan.rate_limit) if plan.rate_limit else None
        self._limiter = RateLimiter(limit, clock) if limit else None
        self.calls = 0
        self._validators: dict[str, Any] = {}
        self._claimed: dict[str, str] = {}  # retry_without path + value -> the record's key
        self._writers = {n for n in (plan.tool, plan.batch.tool if plan.batch else None) if n}

    def _tool(self, name: str) -> Tool:
        tool = self._tools(name)
        if tool is None:  # checked with the plan; the session's tools do not change
            raise SinkError(f"Tool '{name}' is not available in this session.")
        return tool

    async def _call(
        self, name: str, arguments: dict[str, Any], paced: bool = True
    ) -> tuple[Any, str | None]:
        """Call a tool of the sink; `paced` calls wait for the plan's rate_limit first."""
        self.calls += 1
        if self._importer is not None and name in self._writers:
            self._importer.forget_count()
        if self._limiter is not None and paced:
            await self._limiter.acquire()
        return await call_json(self._tool(name), arguments)

    # -- the lookup ------------------------------------------------------------
    async def load_existing(self) -> int:
        """List the destination's keys (and compared fields); returns how many."""
        if self._lookup is None:
            return 0
        self.existing = await self._lookup.all()
        return len(self.existing)

    def classify(self, item: Mapped) -> str:
        """new | existing | unchanged | unknown, from the lookup."""
        if self.existing is None or item.key is None:
            return "unknown"
        if item.key not in self.existing:
            return "new"
        seen = self.existing[item.key]
        if seen is not None and all(_same(get_path(item.record, p), v) for p, v in seen.items()):
            return "unchanged"
        return "existing"

    # -- writing ---------------------------------------------------------------
    async def write(
        self, items: list[Mapped], list_ids: ListIds,
        before: Callable[[list[Mapped]], None] | None = None,
    ) -> list[Mapped]:  # fmt: skip
        """Write one page's records; returns those with a final outcome (imports may wait).
        `before` sees the records classified (their .state), before anything is written."""
        for item in items:
            self._claim(item)
            item.state = self.classify(item)
        if before is not None and not self._dry:
            before(items)
        if self._dry:
            for item in items:
                item.outcome = _predicted(item.state)
            return items
        batched, single, waiting = [], [], []
        for item in items:
            if item.state == "unchanged":
                item.outcome = "unchanged"
            elif self._plan.import_ is not None and item.state == "new":
                waiting.append(item)
            elif self._plan.batch and (item.state == "existing" or self._plan.tool):
                batched.append(item)  # unknown ones only when a per-record tool can catch up
            else:
                single.append(item)
        self._pending += waiting
        await self._run_writes(single, batched)
        done = [i for i in items if i.outcome is not None]
        done += await self._import_pending(list_ids)
        self._remember(done)
        return done

    async def flush(self, list_ids: ListIds) -> list[Mapped]:
        """Import what is still waiting; returns those records."""
        done = await self._import_pending(list_ids, every=True)
        self._remember(done)
        return done

    def _claim(self, item: Mapped) -> None:
        """A `retry_without` value (a phone number) already given to another record of this
        sync would be refused as a duplicate: leave it out now rather than after a failure."""
        for path in self._plan.retry_without:
            value = get_path(item.record, path)
            if value is None:
                continue
            owner = self._claimed.setdefault(f"{path}\0{value}", item.key or "")
            if owner != (item.key or ""):
                item.record = stripped(item.record, [path])
                item.notes.append(f"{path} left out: another record of this sync has it")

    def _remember(self, done: list[Mapped]) -> None:
        """Keys written this run count as existing for later records (deferred duplicates)."""
        if self.existing is None:
            return
        for item in done:
            if item.key and item.outcome in ("created", "updated", "written"):
                self.existing.setdefault(item.key, None)

    async def _run_writes(self, per_record: list[Mapped], batched: list[Mapped]) -> None:
        size = self._plan.batch.size if self._plan.batch else 1
        async with anyio.create_task_group() as tg:
            for i in range(0, len(batched), size):
                tg.start_soon(self._batch, batched[i : i + size])
            for item in per_record:
                tg.start_soon(self._gated_one, item)

    async def _gated_one(self, item: Mapped) -> None:
        async with self._gate:
            await self.one(item)

    async def one(self, item: Mapped) -> None:
        """Write one record with the per-record tool; sets its outcome."""
        name = self._plan.tool
        if name is None:
            item.outcome, item.error = "failed", "no per-record 'sink.tool' to write it with"
            return
        args = fill(self._plan.arguments, {"record": item.record, "source": item.source})
        schema = self._tool(name).input_schema
        if name not in self._validators:
            self._validators[name] = validator_of(schema)
        check = self._validators[name]
        problems = schema_problems(schema, args, "arguments", probe=False, validator=check)
        if problems:
            item.outcome, item.error = "rejected", f"arguments for '{name}': {problems[0]}"
            return
        result, error = await self._call(name, args)
        dropped = [p for p in self._plan.retry_without if error and _names(error, p)]
        if dropped and any(get_path(item.record, p) is not None for p in dropped):
            record = stripped(item.record, dropped)
            item.notes.append(f"retried without {', '.join(dropped)}")
            args = fill(self._plan.arguments, {"record": record, "source": item.source})
            result, error = await self._call(name, args)
        item.outcome, item.error = ("failed", error) if error else (outcome_of(result), None)

    async def _batch(self, chunk: list[Mapped]) -> None:
        """Update a chunk at once. An item the error names is pulled out; those refused for
        a `retry_without` field go once more as a batch without it; the rest one by one."""
        left = await self._batch_pass(chunk, strip=False)
        retry = self._plan.retry_without
        again = [i for i, e in left if any(_names(e, p) and get_path(i.record, p) for p in retry)]
        chosen = {id(i) for i in again}
        rest = [(i, e) for i, e in left if id(i) not in chosen]
        if again:
            rest += await self._batch_pass(again, strip=True)
        for item, error in rest:
            await self._one_by_one([item], error)

    async def _batch_pass(self, chunk: list[Mapped], *, strip: bool) -> list[tuple[Mapped, str]]:
        """One batch call, split at most MAX_SPLITS times; returns what it did not write."""
        batch, retry = self._plan.batch, self._plan.retry_without
        assert batch is not None
        pending, left, drop = list(chunk), list[tuple[Mapped, str]](), retry if strip else []
        for _ in range(MAX_SPLITS + 1):
            rows = [fill(batch.item, {"record": stripped(i.record, drop), "source": i.source})
                    for i in pending]  # fmt: skip
            async with self._gate:
                _, error = await self._call(batch.tool, fill(batch.arguments, {"batch": rows}))
            if error is None:
                for item in pending:
                    item.outcome = "updated"
                    if strip:
                        item.notes.append(f"updated without {', '.join(retry)}")
                return left
            match = FAILED_INDEX.search(error)
            index = int(match.group(1)) if match else len(pending)
            if index >= len(pending):
                break
            left.append((pending.pop(index), f"'{batch.tool}': {error}"))
            if not pending:
                return left
        return left + [(i, f"'{batch.tool}': {error}") for i in pending]

    async def _import_pending(self, list_ids: ListIds, *, every: bool = False) -> list[Mapped]:
        """Import full chunks of the waiting records (all of them when `every`)."""
        plan, done = self._plan.import_, list[Mapped]()
        if plan is None or self._importer is None:
            return done
        while self._pending and (every or len(self._pending) >= plan.size):
            chunk, self._pending = self._pending[: plan.size], self._pending[plan.size :]
            ids = await list_ids() if "$list_ids" in json.dumps(plan.arguments) else []
            self._importer.error = None
            left = await self._importer.write(chunk, ids)
            await self._one_by_one(left, self._importer.error or "the import did not create it")
            done += chunk
        return done

    async def _one_by_one(self, chunk: list[Mapped], error: str) -> None:
        """Write records with the per-record tool after a bulk call failed them."""
        if self._plan.tool is None:
            for item in chunk:
                item.outcome, item.error = "failed", error
            return
        async with anyio.create_task_group() as tg:
            for item in chunk:
                tg.start_soon(self._gated_one, item)


def _predicted(state: str) -> str:
    return {"new": "created", "existing": "updated", "unchanged": "unchanged"}.get(state, "written")


def _same(mine: Any, theirs: Any) -> bool:
    """Whether `mine` (what we would write) is already in `theirs` (what is there)."""
    if mine is None:
        return True
    if isinstance(mine, dict):
        return isinstance(theirs, dict) and all(_same(v, theirs.get(k)) for k, v in mine.items())
    if isinstance(mine, int | float) and not isinstance(mine, bool):
        return isinstance(theirs, int | float) and float(mine) == float(theirs)
    return bool(mine == theirs)


def _names(error: str, path: str) -> bool:
    """Whether an error message is about the field at `path` (its last part, as a word)."""
    last = path.rsplit(".", 1)[-1]
    return (
        re.search(rf"(?<![A-Za-z0-9_]){re.escape(last)}(?![A-Za-z0-9_])", error, re.I) is not None
    )


def _brief(text: str) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= 300 else text[:297] + "..."
