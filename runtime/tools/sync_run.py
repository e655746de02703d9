"""One execution of a checked plan: pages in, records through the mapper, out to the sink.

    read page (the next one is fetched while this one is written)
      -> filter / map / validate (rejects to the dead-letter table)
      -> dedupe (a newer duplicate of a record written from an earlier page waits for
         the end, so the latest always lands last)
      -> sink (lookup, batch, import, per record) -> then-steps -> cursor candidate

Anything that goes wrong before the first write raises `SyncAborted` (the tool answers
with an error and nothing changed); afterwards the run stops, reports how far it got
and stages no cursor.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectSendStream
from jmespath.parser import ParsedResult

from runtime.clock import Clock
from runtime.errors import AgentsError
from runtime.store import RunStore
from runtime.tools.state import CursorStage
from runtime.tools.sync_map import Deduper, Mapped, Mapper, Rejected, Skipped, order_key, parse_time
from runtime.tools.sync_plan import PlanError, SyncPlan
from runtime.tools.sync_report import Report, SyncProgress, sample_of
from runtime.tools.sync_sink import Sink, ToolLookup
from runtime.tools.sync_source import JsonFetcher, Page, PageReader
from runtime.tools.sync_template import fill, schema_problems, validator_of
from runtime.tools.sync_then import ThenSteps
from runtime.tools.sync_window import Window, moved_back

SYNCED = ("created", "updated", "written", "unchanged")
# Pages read ahead of the writes: enough that a slow write (an import being processed)
# does not leave a rate-limit window of the source unused; at most ~16 x per_page records.
PREFETCH = 16


class SyncAborted(AgentsError):
    """The sync stopped before writing anything."""


@dataclass
class SyncContext:
    """The effects a sync uses: source reads, session tools, the store, the clock."""

    http: JsonFetcher
    tools: ToolLookup
    names: list[str]
    store: RunStore
    stage: CursorStage
    agent: str
    run_id: str
    clock: Clock
    progress: Callable[[SyncProgress], None] | None = None


class SyncRun:
    """Carries out one plan."""

    def __init__(self, plan: SyncPlan, exprs: dict[str, ParsedResult], ctx: SyncContext) -> None:
        self.plan, self._x, self.ctx = plan, exprs, ctx
        self.report = Report(dry_run=plan.dry_run)
        cursor = plan.cursor
        self._committed = ctx.store.cursor(ctx.agent, cursor.stream) if cursor else None
        self._overlap = cursor.overlap if cursor else 0
        marks = ctx.store.cursor_marks(ctx.agent, cursor.stream) if cursor else {}
        self._window = Window(parse_time(self._committed), self._overlap, marks)
        self._mapper = Mapper(plan, exprs, self._committed, self._window)
        self._dedupe = Deduper()
        self.sink = Sink(plan.sink, ctx.tools, ctx.clock, exprs, dry_run=plan.dry_run)
        run = (ctx.agent, ctx.run_id)
        self.then = ThenSteps(plan, ctx.tools, ctx.names, ctx.store, run, ctx.clock, exprs)
        self.report.then = self.then.counts
        self._deferred: list[Mapped] = []
        self._newest: Any = None
        self._newest_key: tuple[int, Any] = (0, "")
        self._source_now: datetime | None = None  # the first page's Date header
        self._started = False  # True once anything may have been written

    async def execute(self) -> Report:
        """Run the plan; SyncAborted when nothing could be written."""
        try:
            await self._pages()
            await self._finish()
        except PlanError:
            raise
        except AgentsError as exc:
            if not self._started:
                raise SyncAborted(f"{exc} Nothing was written.") from None
            self.report.stopped = str(exc)[:400]
        self.report.calls = self.sink.calls
        self._stage_cursor()
        self._progress(done=True)
        return self.report

    async def _pages(self) -> None:
        source = self.plan.source
        read_from = moved_back(self._committed, self._overlap)
        params = fill(source.params, {"cursor": read_from}) or {}
        items, next_cursor = self._x.get("source.items"), self._x.get("source.next_cursor")
        reader = PageReader(self.ctx.http, source, items, next_cursor, params)
        async with _prefetched(reader) as pages:  # reading starts while we look things up
            problems = await self.then.prepare()
            if problems:
                raise PlanError(problems)
            if self.plan.sink.lookup:
                self.report.existing = await self.sink.load_existing()
            async for page in pages:
                if isinstance(page, AgentsError):
                    raise page
                await self._page(page)

    async def _page(self, page: Page) -> None:
        self.report.pages += 1
        self.report.fetched += len(page.items)
        self.report.total = page.total if page.total is not None else self.report.total
        if self._source_now is None:  # the first page is read first, alone
            self._source_now = page.now
        kept: dict[Any, Mapped] = {}
        rejects: list[tuple[Any, Rejected]] = []
        for position, source in enumerate(page.items):
            self._select(source, page.number, position, kept, rejects)
        items = list(kept.values())
        if not self._started and items:
            self._precheck(items)
            self._started = True
        for source, rejected in rejects:
            self._dead_letter(source, rejected.category, rejected.detail)
        await self._write(items)
        self._progress()

    def _select(
        self, source: Any, page: int, position: int, kept: dict[Any, Mapped],
        rejects: list[tuple[Any, Rejected]],
    ) -> None:  # fmt: skip
        outcome = self._mapper.apply(source)
        if isinstance(outcome, Skipped):
            self.report.skipped[outcome.reason] += 1
            return
        if isinstance(outcome, Rejected):
            rejects.append((source, outcome))
            return
        verdict = self._dedupe.decide(outcome, page)
        if verdict == "older":
            self.report.skipped["duplicate key (an older record)"] += 1
        elif verdict == "later":
            self._deferred.append(outcome)
        else:
            if verdict == "replace":
                self.report.skipped["duplicate key (an older record)"] += 1
            kept[outcome.key if outcome.key is not None else ("#", position)] = outcome

    def _precheck(self, items: list[Mapped]) -> None:
        """Before the first write: real records must fit the tools' schemas."""
        sink, problems = self.plan.sink, []
        if sink.tool and items:
            schema = self.ctx.tools(sink.tool).input_schema  # type: ignore[union-attr]
            check = validator_of(schema)  # built once: building one is the slow part
            found = [self._fits(schema, sink.arguments, i, "sink.arguments", check) for i in items]
            if all(found):
                problems.append(f"{found[0][0]} (every record of page 1; '{sink.tool}')")
        for name, template, where in self._batch_templates():
            schema = self.ctx.tools(name).input_schema  # type: ignore[union-attr]
            first = self._fits(schema, template, items[0], where) if items else []
            problems += [f"{p} ('{name}', first record)" for p in first[:1]]
        if problems:
            raise PlanError(problems)

    def _batch_templates(self) -> list[tuple[str, Any, str]]:
        sink, out = self.plan.sink, []
        if sink.batch:
            out.append(
                (sink.batch.tool, {"$b": sink.batch.arguments, "$i": sink.batch.item}, "sink.batch")
            )
        if sink.import_:
            out.append(
                (
                    sink.import_.tool,
                    {"$b": sink.import_.arguments, "$i": sink.import_.item},
                    "sink.import",
                )
            )
        return out

    def _fits(
        self, schema: dict[str, Any], template: Any, item: Mapped, where: str, check: Any = None
    ) -> list[str]:
        variables = {"record": item.record, "source": item.source}
        if isinstance(template, dict) and "$b" in template:
            row = fill(template["$i"], variables)
            args = fill(template["$b"], {"batch": [row], "list_ids": [1]})
        else:
            args = fill(template, variables)
        return schema_problems(schema, args, where, probe=False, validator=check)

    async def _write(self, items: list[Mapped]) -> None:
        done = await self.sink.write(items, self.then.created_list_ids, self.then.intend)
        await self._settle(done)

    async def _settle(self, done: list[Mapped]) -> None:
        """Count outcomes, quarantine failures, run the then-steps, track the cursor."""
        for item in done:
            self.report.outcomes[item.outcome or "failed"] += 1
            for note in item.notes:
                self.report.notes[note] += 1
            if item.outcome in SYNCED:
                self._candidate(item.cursor)
            elif item.outcome in ("failed", "rejected"):
                reason = (
                    "write failed" if item.outcome == "failed" else "does not fit the tool's schema"
                )
                self._dead_letter(item.source, reason, item.error or reason)
                self.report.error(f"{item.record_id or item.key}: {item.error}")
            if self.plan.dry_run and len(self.report.sample) < self.plan.sample:
                self.report.sample.append(sample_of(item.record))
        await self.then.run(done, dry_run=self.plan.dry_run)

    async def _finish(self) -> None:
        await self._settle(await self.sink.flush(self.then.created_list_ids))
        if self._deferred:
            deferred, self._deferred = self._deferred, []
            latest = {i.key: i for i in deferred}  # several newer copies: the last one seen
            await self._write(list(latest.values()))
            await self._settle(await self.sink.flush(self.then.created_list_ids))
        if not self.plan.dry_run:
            await self.then.flush()
        for error in self.then.errors:
            self.report.error(error)

    def _candidate(self, value: Any) -> None:
        if value is None:
            return
        key = order_key(value)  # parsed once: this runs for every record written
        if self._newest is None or key > self._newest_key:
            self._newest, self._newest_key = value, key
        if key[0] == 1:  # a time
            self._window.advance(min(key[1], self._now()))

    def _stage_cursor(self) -> None:
        plan, r = self.plan, self.report
        if plan.cursor is None:
            return
        why = None
        if plan.dry_run:
            why = "dry run"
        elif r.stopped or r.failed or self.then.failed():
            why = "not staged: some writes failed or the sync stopped; the next run retries them"
        elif self._newest is None:
            why = "no records synced; cursor unchanged"
        if why:
            r.cursor_note = why
            return
        value, note = self._clamped(str(self._newest)), "staged: committed when the run ends"
        if self._committed is not None and order_key(value) <= order_key(self._committed):
            value, note = self._committed, "unchanged; the records synced at it are remembered"
        stream, stage = plan.cursor.stream, self.ctx.stage
        stage.staged[stream] = (stage.staged.get(stream, (self._committed, ""))[0], value)
        when = parse_time(value)
        if when is not None:
            stage.marks[stream] = self._window.marks_at(when)
        r.cursor_staged, r.cursor_note = value, note + " successfully"

    def _now(self) -> datetime:
        """The earlier of the runtime's clock and the source's (its Date header)."""
        now = self.ctx.clock.now()
        return now if self._source_now is None else min(now, self._source_now)

    def _clamped(self, value: str) -> str:
        """The cursor never passes the source's now: a future-dated record is read again."""
        now, when = self._now(), parse_time(value)
        if when is not None and when > now:
            return now.strftime("%Y-%m-%dT%H:%M:%S")
        return value

    def _dead_letter(self, source: Any, category: str, detail: str) -> None:
        self.report.dead[category] += 1
        if self.plan.dry_run:
            return
        ctx = self.ctx
        key = self._x["source.id"].search(source) if isinstance(source, dict) else None
        key = key if key is not None else (source.get("key") if isinstance(source, dict) else None)
        record_key = None if key is None else str(key)
        source_name, now = self.plan.source.source, ctx.clock.now()
        ctx.store.dead_letter(ctx.run_id, ctx.agent, source_name, record_key, detail, source, now)

    def _progress(self, done: bool = False) -> None:
        if self.ctx.progress is not None:
            self.ctx.progress(self.report.progress(done))


@asynccontextmanager
async def _prefetched(reader: PageReader) -> AsyncIterator[Any]:
    """The reader's pages, one read ahead of the consumer; an error arrives as an item."""
    send, receive = anyio.create_memory_object_stream[Page | AgentsError](PREFETCH)

    async def produce(out: MemoryObjectSendStream[Page | AgentsError]) -> None:
        async with out:
            try:
                async for page in reader.pages():
                    await out.send(page)
            except AgentsError as exc:
                await out.send(exc)

    failure: AgentsError | None = None
    async with anyio.create_task_group() as tg, receive:
        tg.start_soon(produce, send)
        try:
            yield receive
        except AgentsError as exc:  # raised again below, not wrapped in an ExceptionGroup
            failure = exc
        finally:
            tg.cancel_scope.cancel()
    if failure is not None:
        raise failure
