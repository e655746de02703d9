"""Then-steps: what follows a successful write -- list membership and events.

- `add_to_list`: the list is found by name (or taken by id) before anything is written,
  created in `folder_id` on first use when it does not exist, and filled in calls of at
  most 150 keys. Contacts already in the list are counted, not failed.
- `event`: sent at most once per (source, record id, event) ever, through the store's
  event ledger: marked 'pending' before the call and 'sent' after it; a call the
  destination refused is marked 'failed' and tried again by a later run; one left
  'pending' by a crash is not sent again (it may have arrived), only reported.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import anyio
from jmespath.parser import ParsedResult

from runtime.clock import Clock
from runtime.store import RunStore
from runtime.tools.sync_map import Mapped
from runtime.tools.sync_plan import EventStep, ListStep, SyncPlan
from runtime.tools.sync_sink import SinkError, ToolLookup, call_json
from runtime.tools.sync_template import fill, get_path

LIST_CHUNK = 150
LIST_PAGE = 50
SYNCED = frozenset({"created", "updated", "written", "unchanged"})
DEFAULT_LIST_TOOLS = {"get": "get_lists", "create": "create_list", "add": "add_contact_to_list"}


def list_tool(step: ListStep, role: str, names: list[str]) -> str | None:
    """The tool a list step uses for `role` (get, create, add): given, or found by suffix."""
    given = getattr(step, f"{role}_tool")
    if given:
        return str(given)
    suffix = "__" + DEFAULT_LIST_TOOLS[role]
    return next((n for n in names if n.endswith(suffix) or n == suffix[2:]), None)


class ListTarget:
    """One add_to_list step: its list id, a buffer of keys to add, and counts."""

    def __init__(self, step: ListStep, tools: ToolLookup, names: list[str]) -> None:
        self.step, self._tools = step, tools
        self.get, self.create, self.add = (
            list_tool(step, r, names) for r in ("get", "create", "add")
        )
        self.list_id: int | None = step.add_to_list if isinstance(step.add_to_list, int) else None
        self.buffer: list[str] = []
        self.counts: Counter[str] = Counter()
        self.errors: list[str] = []
        self.label = f"list '{step.add_to_list}'"

    async def resolve(self) -> str | None:
        """Find the list by name (read-only); a problem text when it cannot be used."""
        if self.list_id is not None:
            return None
        name = str(self.step.add_to_list)
        offset = 0
        while self.get is not None:
            found, error = await self._call(self.get, {"limit": LIST_PAGE, "offset": offset})
            if error is not None:
                return f"could not read the lists with '{self.get}': {error}"
            rows = found.get("lists") if isinstance(found, dict) else None
            rows = rows if isinstance(rows, list) else []
            match = [r for r in rows if isinstance(r, dict) and r.get("name") == name]
            if match:
                self.list_id = int(match[0]["id"])
                return None
            if len(rows) < LIST_PAGE:
                break
            offset += len(rows)
        if self.step.folder_id is None:
            return f"no list named '{name}': give 'folder_id' to create it, or use its id"
        return None

    async def ensure(self) -> int | None:
        """The list id, creating the list in its folder on first use."""
        if self.list_id is None and self.create is not None:
            args = {"name": str(self.step.add_to_list), "folderId": self.step.folder_id}
            made, error = await self._call(self.create, args)
            if error is not None or not isinstance(made, dict) or made.get("id") is None:
                raise SinkError(f"Creating {self.label} failed: {error or made}")
            self.list_id = int(made["id"])
            self.counts["list created"] += 1
        return self.list_id

    async def flush(self, force: bool) -> None:
        """Send full chunks (all of the buffer when `force`)."""
        while self.buffer and (force or len(self.buffer) >= LIST_CHUNK):
            chunk, self.buffer = self.buffer[:LIST_CHUNK], self.buffer[LIST_CHUNK:]
            list_id = await self.ensure()
            assert self.add is not None and list_id is not None
            result, error = await self._call(self.add, {"listId": list_id, "emails": chunk})
            if error is not None and "already in list" in error.lower():
                self.counts["already in list"] += len(chunk)
            elif error is not None:
                self.counts["failed"] += len(chunk)
                self.errors.append(f"{self.label}: {error}")
            else:
                contacts = (result or {}).get("contacts", {}) if isinstance(result, dict) else {}
                self.counts["added"] += len(contacts.get("success", chunk))
                self.counts["already in list"] += len(contacts.get("failure", []))

    async def _call(self, name: str, args: dict[str, Any]) -> tuple[Any, str | None]:
        tool = self._tools(name)
        if tool is None:
            return None, f"tool '{name}' is not available"
        return await call_json(tool, args)


class ThenSteps:
    """Runs a plan's then-steps over the records each page wrote."""

    def __init__(
        self,
        plan: SyncPlan,
        tools: ToolLookup,
        names: list[str],
        store: RunStore,
        run: tuple[str, str],  # (agent, run id)
        clock: Clock,
        exprs: Mapping[str, ParsedResult],
    ) -> None:
        self._plan, self._tools, self._store, self._clock, self._x = (
            plan,
            tools,
            store,
            clock,
            exprs,
        )
        self._run_id = run[1]
        self._source = plan.source.source
        self.lists = [
            (i, ListTarget(s, tools, names))
            for i, s in enumerate(plan.then)
            if isinstance(s, ListStep)
        ]
        self.events = [(i, s) for i, s in enumerate(plan.then) if isinstance(s, EventStep)]
        self.counts: dict[str, Counter[str]] = {t.label: t.counts for _, t in self.lists}
        self.counts |= {f"event '{s.event}'": Counter() for _, s in self.events}
        self.errors: list[str] = []
        self._gate = anyio.CapacityLimiter(plan.sink.concurrency)

    async def prepare(self) -> list[str]:
        """Find the lists by name before anything is written; problems by field path."""
        out = []
        for i, target in self.lists:
            if target.add is None:
                out.append(f"then[{i}]: no add-to-list tool in this session; give 'add_tool'")
            elif (problem := await target.resolve()) is not None:
                out.append(f"then[{i}].add_to_list: {problem}")
        return out

    async def created_list_ids(self) -> list[int]:
        """Ids of the lists new records go to (created now if needed), for an import."""
        ids = []
        for _, target in self.lists:
            if target.step.on == "created" and (list_id := await target.ensure()) is not None:
                ids.append(list_id)
        return ids

    async def run(self, items: list[Mapped], *, dry_run: bool) -> None:
        """Queue list additions and send events for records that were written."""
        for _, target in self.lists:
            await self._queue(target, items, dry_run)
        for i, step in self.events:
            await self._events(i, step, items, dry_run)

    async def _queue(self, target: ListTarget, items: list[Mapped], dry_run: bool) -> None:
        for item in items:
            if not _applies(target.step.on, item):
                continue
            if item.listed and target.step.on == "created":
                target.counts["added by the import"] += 1
                continue
            key = get_path(item.record, target.step.key)
            if key is None:
                continue
            if dry_run:
                target.counts["would add"] += 1
            else:
                target.buffer.append(str(key))
        if not dry_run:
            await target.flush(force=False)

    async def flush(self) -> None:
        """Send what the list buffers still hold."""
        for _, target in self.lists:
            await target.flush(force=True)
            self.errors += target.errors
            target.errors = []

    def failed(self) -> int:
        """Writes of then-steps that failed (they keep the cursor where it is)."""
        return sum(c["failed"] for c in self.counts.values())

    async def _events(self, i: int, step: EventStep, items: list[Mapped], dry_run: bool) -> None:
        counts = self.counts[f"event '{step.event}'"]
        when = self._x.get(f"then[{i}].when")
        chosen = [
            item for item in items
            if _applies(step.on, item) and (when is None or when.search(item.source))
        ]  # fmt: skip
        async with anyio.create_task_group() as tg:
            for item in chosen:
                tg.start_soon(self._event, step, item, counts, dry_run)

    async def _event(self, step: EventStep, item: Mapped, counts: Counter[str], dry: bool) -> None:
        if item.record_id is None:
            counts["no record id"] += 1
            return
        key = (self._source, item.record_id, step.event)
        status = self._store.ledger_status(*key)
        if status in ("sent", "pending"):
            counts["already sent" if status == "sent" else "pending from an earlier run"] += 1
            return
        if dry:
            counts["would send"] += 1
            return
        tool = self._tools(step.tool)
        assert tool is not None  # checked with the plan
        args = fill(step.arguments, {"record": item.record, "source": item.source})
        async with self._gate:
            self._store.ledger_mark(*key, "pending", self._run_id, self._clock.now())
            _, error = await call_json(tool, args)
        self._store.ledger_mark(
            *key, "failed" if error else "sent", self._run_id, self._clock.now()
        )
        counts["failed" if error else "sent"] += 1
        if error:
            self.errors.append(f"event '{step.event}' for {item.record_id}: {error}")


def _applies(on: str, item: Mapped) -> bool:
    return item.outcome == "created" if on == "created" else item.outcome in SYNCED
