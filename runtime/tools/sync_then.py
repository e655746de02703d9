"""Then-steps: what follows a successful write -- list membership and events.

- `add_to_list`: the list is found by name (or taken by id) before anything is written,
  created in `folder_id` on first use when it does not exist, and filled in calls of at
  most 150 keys. Contacts already in the list are counted, not failed. For `on: created`
  a record the lookup says is new is marked 'pending' in the ledger (event "list:NAME")
  before it is written and 'sent' once it is in the list, so a record created by a run
  that crashed before the list call is found 'existing' by the next run and still added.
  This needs the sink's `lookup`: without one nothing is known to be new before it is
  written, and a crash between the creation and the list call still loses the addition.
- `event`: sent at most once per (source, record id, event) ever, through the store's
  event ledger: marked 'pending' before the call and 'sent' after it; a call the
  destination refused is marked 'failed' and tried again by a later run. One left
  'pending' by a crash is looked up at the destination when the step has `confirm`
  (sync_confirm.py): found, it is marked 'sent'; not found, it is sent. Without
  `confirm` it is never resent (it may have arrived), only reported.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import anyio
from jmespath.parser import ParsedResult

from runtime.clock import Clock
from runtime.store import RunStore
from runtime.tools.sync_confirm import Confirmer
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
        self.buffer: list[tuple[str, str | None]] = []  # (key, record id)
        self.counts: Counter[str] = Counter()
        self.errors: list[str] = []
        self.label = f"list '{step.add_to_list}'"
        self.ledger_event = f"list:{step.add_to_list}"
        self.interrupted = False  # an earlier run left records 'pending' for this list

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

    async def flush(self, force: bool) -> list[str]:
        """Send full chunks (all of the buffer when `force`); the record ids now listed."""
        listed: list[str] = []
        while self.buffer and (force or len(self.buffer) >= LIST_CHUNK):
            chunk, self.buffer = self.buffer[:LIST_CHUNK], self.buffer[LIST_CHUNK:]
            list_id = await self.ensure()
            assert self.add is not None and list_id is not None
            keys = [k for k, _ in chunk]
            result, error = await self._call(self.add, {"listId": list_id, "emails": keys})
            if error is not None and "already in list" in error.lower():
                self.counts["already in list"] += len(chunk)
            elif error is not None:
                self.counts["failed"] += len(chunk)
                self.errors.append(f"{self.label}: {error}")
                continue
            else:
                contacts = (result or {}).get("contacts", {}) if isinstance(result, dict) else {}
                self.counts["added"] += len(contacts.get("success", chunk))
                self.counts["already in list"] += len(contacts.get("failure", []))
            listed += [rid for _, rid in chunk if rid is not None]
        return listed

    async def _call(self, name: str, args: dict[str, Any]) -> tuple[Any, str | None]:
        return await call_tool(self._tools, name, args)


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
        self._confirmers = {
            i: Confirmer(s, f"then[{i}]", self._call, exprs, store, self._source, clock)
            for i, s in self.events
            if s.confirm is not None
        }

    async def _call(self, name: str, args: dict[str, Any]) -> tuple[Any, str | None]:
        return await call_tool(self._tools, name, args)

    async def prepare(self) -> list[str]:
        """Find the lists by name before anything is written; problems by field path."""
        out = []
        for i, target in self.lists:
            since = self._store.ledger_pending_since(self._source, target.ledger_event)
            target.interrupted = since is not None  # else no page needs to ask the ledger
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

    def intend(self, items: list[Mapped]) -> None:
        """Before the writes: new records bound for an `on: created` list are 'pending'."""
        ids = [i.record_id for i in items if i.state == "new" and i.record_id is not None]
        for _, target in self.lists:
            if target.step.on == "created" and ids:
                self._mark(target, ids, "pending")

    async def run(self, items: list[Mapped], *, dry_run: bool) -> None:
        """Queue list additions and send events for records that were written."""
        for _, target in self.lists:
            await self._queue(target, items, dry_run)
        for i, step in self.events:
            await self._events(i, step, items, dry_run)

    async def _queue(self, target: ListTarget, items: list[Mapped], dry_run: bool) -> None:
        on, imported = target.step.on, list[str]()
        earlier = set() if dry_run or on != "created" else self._created_earlier(target, items)
        for item in items:
            if item.record_id in earlier:
                target.counts["created by an interrupted run"] += 1
            elif not _applies(on, item):
                continue
            if item.listed and on == "created":
                target.counts["added by the import"] += 1
                imported += [item.record_id] if item.record_id is not None else []
                continue
            key = get_path(item.record, target.step.key)
            if key is None:
                continue
            if dry_run:
                target.counts["would add"] += 1
            else:
                target.buffer.append((str(key), item.record_id))
        if not dry_run:
            self._mark(target, imported + await target.flush(force=False), "sent")

    def _created_earlier(self, target: ListTarget, items: list[Mapped]) -> set[str]:
        """Records found existing now that an earlier run created and never listed."""
        if not target.interrupted:
            return set()
        ids = [i.record_id for i in items if i.record_id is not None and i.outcome in SYNCED
               and i.outcome != "created"]  # fmt: skip
        found = self._store.ledger_entries(self._source, target.ledger_event, ids)
        return {r for r, (st, run, _) in found.items() if st == "pending" and run != self._run_id}

    def _mark(self, target: ListTarget, ids: list[str], status: str) -> None:
        if ids and target.step.on == "created":
            now = self._clock.now()
            self._store.ledger_mark_many(
                self._source, target.ledger_event, ids, status, self._run_id, now
            )

    async def flush(self) -> None:
        """Send what the list buffers still hold."""
        for _, target in self.lists:
            self._mark(target, await target.flush(force=True), "sent")
            self.errors += target.errors
            target.errors = []

    def failed(self) -> int:
        """Writes of then-steps that failed (they keep the cursor where it is)."""
        return sum(c["failed"] for c in self.counts.values())

    async def _events(self, i: int, step: EventStep, items: list[Mapped], dry_run: bool) -> None:
        when = self._x.get(f"then[{i}].when")
        chosen = [
            item for item in items
            if _applies(step.on, item) and (when is None or when.search(item.source))
        ]  # fmt: skip
        ids = [item.record_id for item in chosen if item.record_id is not None]
        found = self._store.ledger_entries(self._source, step.event, ids)
        async with anyio.create_task_group() as tg:
            for item in chosen:
                status = found[item.record_id][0] if item.record_id in found else None
                tg.start_soon(self._event, i, step, item, status, dry_run)

    async def _event(
        self, i: int, step: EventStep, item: Mapped, status: str | None, dry: bool
    ) -> None:
        counts = self.counts[f"event '{step.event}'"]
        if item.record_id is None:
            counts["no record id"] += 1
            return
        key = (self._source, item.record_id, step.event)
        if status == "sent":
            counts["already sent"] += 1
            return
        if status == "pending" and not await self._unsent(i, step, item.record_id, dry):
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

    async def _unsent(self, i: int, step: EventStep, record_id: str, dry: bool) -> bool:
        """Whether an event left 'pending' by a crash must be sent: it is when the
        destination does not list it; without `confirm` it never is (reported)."""
        counts, confirmer = self.counts[f"event '{step.event}'"], self._confirmers.get(i)
        if confirmer is None:
            counts["pending from an earlier run"] += 1
            return False
        try:
            arrived = record_id in await confirmer.arrived()
        except SinkError as exc:
            counts["failed"] += 1  # keeps the cursor: the next run asks again
            self.errors.append(f"event '{step.event}' for {record_id}: {exc}")
            return False
        if not arrived:
            counts["resent after an interrupted run"] += 1
            return True
        counts["arrived before an interrupted run ended"] += 1
        if not dry:
            now = self._clock.now()
            self._store.ledger_mark(self._source, record_id, step.event, "sent", self._run_id, now)
        return False


async def call_tool(tools: ToolLookup, name: str, args: dict[str, Any]) -> tuple[Any, str | None]:
    """call_json on the session's tool `name`; an error text when it is not there."""
    tool = tools(name)
    if tool is None:
        return None, f"tool '{name}' is not available"
    return await call_json(tool, args)


def _applies(on: str, item: Mapped) -> bool:
    return item.outcome == "created" if on == "created" else item.outcome in SYNCED
