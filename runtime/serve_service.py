"""The service behind `agents serve`: scheduler, webhook intake, worker pool, leases, drain.

    service = Service(agents, store=..., log=..., model_factory=...)
    service.app      /healthz, /runs and the webhook routes; its lifespan is
                     `service.running()`: the scheduler and the worker pool

One run per agent at a time: an in-process semaphore plus a lease in the store
(expiring after the agent's timeout plus a margin, renewed at every step, so a crashed
process blocks nothing for long). A cron tick that finds the agent busy is skipped and
logged; an accepted webhook delivery waits its turn on a worker. On shutdown: stop
taking work (deliveries still queued are dropped and logged), let running runs finish
within the grace period, cancel the rest. A cancelled run is recorded 'cancelled' by
runtime.runner.execute and never commits its cursor.
"""

from __future__ import annotations

import os
import random
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runtime import lease
from runtime.clock import Clock, SystemClock
from runtime.errors import AgentsError
from runtime.history import run_row
from runtime.logs import EventLog, LogObserver
from runtime.model import Model
from runtime.runner import execute
from runtime.serve_agents import LoadedAgent, all_secrets
from runtime.session import RunDeps
from runtime.store import RunStore
from runtime.triggers import CronSchedule, Due, Scheduler
from runtime.webhooks import Delivery, delivery_prompt, webhook_routes

LEASE_SLACK_S = 120.0  # a lease outlives the agent's timeout by this much
LEASE_POLL_S = 5.0  # how often a delivery waits for another process's run to end
ModelFactory = Callable[[], AbstractAsyncContextManager[Model]]
Runner = Callable[..., Awaitable[dict[str, Any]]]


@dataclass
class ServeConfig:
    """What `agents serve` was asked for."""

    agents_dir: str = "agents"
    host: str = "127.0.0.1"
    port: int = 8787
    db_path: str = os.path.join(".agents", "agents.db")
    mcp_config: str = "mcp.json"
    grace_s: float = 30.0
    workers: int = 4
    queue_size: int = 64

    @property
    def transcript_dir(self) -> str:
        """Transcripts go beside the database."""
        return str(Path(self.db_path).parent / "transcripts")


@dataclass
class Job:
    """One run to do: which agent, the user turn, how it was triggered."""

    agent: LoadedAgent
    prompt: str | None
    trigger: str
    run_id: str
    detail: dict[str, Any] = field(default_factory=dict)
    holder: str = ""


class Service:
    """The scheduler, the webhook intake and the worker pool around one RunStore."""

    def __init__(
        self,
        agents: Sequence[LoadedAgent],
        *,
        store: RunStore,
        log: EventLog,
        model_factory: ModelFactory,
        clock: Clock | None = None,
        env: Mapping[str, str] | None = None,
        config: ServeConfig | None = None,
        runner: Runner = execute,
        new_id: Callable[[], str] | None = None,
        rng: random.Random | None = None,
        run_scheduler: bool = True,
    ) -> None:
        self.agents = {a.name: a for a in agents}
        self.config = config or ServeConfig()
        self.store, self.clock = store, clock or SystemClock()
        self._env = dict(os.environ if env is None else env)
        self._models, self._runner = model_factory, runner
        self._new_id = new_id or (lambda: uuid.uuid4().hex[:12])
        self.log = log.bind(all_secrets(agents, self._env))
        schedules = [s for a in agents for s in a.schedules()]
        self.scheduler = Scheduler(schedules, store, self.clock, self._on_tick, rng)
        self._run_scheduler = run_scheduler
        self._busy: dict[str, anyio.Semaphore] = {}
        self._active = 0  # jobs taken by a worker or claimed by a tick, not yet ended
        self._changed: anyio.Event | None = None
        self._queue: MemoryObjectSendStream[Job] | None = None
        self._runs: TaskGroup | None = None
        self._sched_scope: anyio.CancelScope | None = None
        self.draining = False
        self.started_at = self.clock.now()
        hooks = [h for a in agents for h in a.hooks]
        seen = self._seen_delivery
        routes = [Route("/healthz", self._healthz), Route("/runs", self._runs_endpoint)]
        routes += webhook_routes(hooks, self, seen, self.log)
        self.app = Starlette(routes=routes, lifespan=self._lifespan)

    # -- lifecycle ----------------------------------------------------------
    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        async with self.running():
            yield

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Service]:
        """Scheduler and workers run inside; leaving drains (grace period, then cancel)."""
        send, receive = anyio.create_memory_object_stream[Job](self.config.queue_size)
        self._busy = {name: anyio.Semaphore(1) for name in self.agents}
        self._sched_scope = anyio.CancelScope()
        self.scheduler.start()
        with send, receive:
            async with anyio.create_task_group() as tg:
                self._queue, self._runs, self.draining = send, tg, False
                for _ in range(self.config.workers):
                    tg.start_soon(self._worker, receive)
                if self._run_scheduler and self.scheduler.schedules:
                    tg.start_soon(self._schedule_loop)
                try:
                    yield self
                finally:
                    await self._drain(tg)

    def begin_shutdown(self) -> None:
        """Stop taking work now (the drain itself happens when `running()` exits)."""
        self.draining = True
        if self._sched_scope is not None:
            self._sched_scope.cancel()

    def cancel_runs(self) -> None:
        """Cancel every running run at once (a second signal)."""
        if self._runs is not None:
            self._runs.cancel_scope.cancel()

    async def wait_idle(self) -> None:
        """Until no job is queued, waiting for its agent or running."""
        while self._active or self._queued():
            if self._changed is None or self._changed.is_set():
                self._changed = anyio.Event()  # shared by every waiter until it fires
            await self._changed.wait()

    async def _drain(self, tg: TaskGroup) -> None:
        self.begin_shutdown()
        if self._queue is not None:
            self._queue.close()
        self.log.info("draining", running=self._active, grace_s=self.config.grace_s)
        if not await self._finish_within_grace():
            self.log.warning("runs_cancelled", count=self._active)
        tg.cancel_scope.cancel()

    async def _finish_within_grace(self) -> bool:
        if not self._active and not self._queued():
            return True
        done = False
        async with anyio.create_task_group() as tg:

            async def idle() -> None:
                nonlocal done
                await self.wait_idle()
                done = True
                tg.cancel_scope.cancel()

            tg.start_soon(idle)
            await self.clock.sleep(self.config.grace_s)
            tg.cancel_scope.cancel()
        return done

    async def _schedule_loop(self) -> None:
        assert self._sched_scope is not None
        with self._sched_scope:
            await self.scheduler.run()

    # -- triggers -----------------------------------------------------------
    def _on_tick(self, schedule: CronSchedule, due: Due) -> None:
        agent = self.agents[schedule.agent]
        late = (self.clock.now() - due.tick).total_seconds()
        detail = {"tick": due.tick.isoformat(), "ticks": due.ticks, "late_s": round(late, 3)}
        trigger = f"schedule:{schedule.trigger.schedule}"
        log = self.log.bind(agent=agent.name, trigger=trigger)
        holder = None if self.draining else self._claim(agent)
        if holder is None:
            log.info("trigger_skipped", reason="draining" if self.draining else "busy", **detail)
            return
        job = Job(agent, schedule.trigger.prompt, trigger, self._new_id(), detail, holder)
        log.info("trigger_fired", run_id=job.run_id, **detail)
        assert self._runs is not None
        self._runs.start_soon(self._run_claimed, job)

    def accepting(self) -> bool:
        """Webhook intake: False while shutting down."""
        return self._queue is not None and not self.draining

    def has_room(self) -> bool:
        """Webhook intake: room in the run queue."""
        return self._queued() < self.config.queue_size

    def submit(self, delivery: Delivery) -> str:
        """Webhook intake: queue a run for a verified delivery; returns its run id."""
        agent = self.agents[delivery.hook.agent]
        task = delivery.hook.trigger.prompt or agent.spec.task
        trigger = f"webhook:{delivery.hook.trigger.webhook}"
        job = Job(agent, delivery_prompt(task, delivery), trigger, self._new_id(), delivery.meta)
        assert self._queue is not None
        self._queue.send_nowait(job)
        log = self.log.bind(agent=agent.name, trigger=trigger)
        log.info("trigger_fired", run_id=job.run_id, **job.detail)
        return job.run_id

    def _seen_delivery(self, key: str) -> bool:
        return self.store.seen_delivery(key, self.clock.now())

    def _queued(self) -> int:
        return self._queue.statistics().current_buffer_used if self._queue else 0

    # -- runs ---------------------------------------------------------------
    def _claim(self, agent: LoadedAgent) -> str | None:
        """Take the agent without waiting (cron): the lease holder, or None when it is busy."""
        try:
            self._busy[agent.name].acquire_nowait()
        except anyio.WouldBlock:
            return None
        holder = lease.new_holder()
        if not self._take_lease(agent, holder):
            self._busy[agent.name].release()
            return None
        self._active += 1
        return holder

    async def _worker(self, receive: MemoryObjectReceiveStream[Job]) -> None:
        async for job in receive:
            if self.draining:
                self._dropped(job)
                continue
            self._active += 1
            try:
                claimed = await self._wait_turn(job)
            except BaseException:
                self._dropped(job)
                self._ended()
                raise
            if claimed:
                await self._run_claimed(job)
            else:
                self._dropped(job)
                self._ended()

    async def _wait_turn(self, job: Job) -> bool:
        """Wait for the agent (this process) and its lease (any process)."""
        await self._busy[job.agent.name].acquire()
        job.holder = lease.new_holder()
        try:
            while not self.draining and not self._take_lease(job.agent, job.holder):
                self.log.info("lease_wait", agent=job.agent.name, run_id=job.run_id)
                await self.clock.sleep(LEASE_POLL_S)
        except BaseException:
            self._busy[job.agent.name].release()
            raise
        if self.draining:
            self._busy[job.agent.name].release()
            return False
        return True

    async def _run_claimed(self, job: Job) -> None:
        try:
            await self._execute(job)
        finally:
            lease.give_back(self.store, job.agent.name, job.holder)
            self._busy[job.agent.name].release()
            self._ended()

    async def _execute(self, job: Job) -> None:
        log = self.log.bind(job.agent.secrets, agent=job.agent.name, run_id=job.run_id)
        log.info("run_started", trigger=job.trigger)
        try:
            async with _shielded_exit(self._models()) as model:
                deps = self._deps(job, model, log)
                summary = await self._runner(job.agent.spec, job.prompt, deps, trigger=job.trigger)
        except anyio.get_cancelled_exc_class():
            record = self.store.run(job.run_id)  # execute recorded it before re-raising
            summary = record.summary if record else {"status": "cancelled"}
            log.warning("run_ended", **_brief(summary))
            raise
        except AgentsError as exc:  # e.g. a variable unset since startup; recorded 'failed'
            log.error("run_ended", status="failed", cursor_committed=False, errors=[str(exc)])
            return
        except Exception as exc:  # a bug must not stop the service: logged in full, recorded
            error = f"{type(exc).__name__}: {exc}"
            trace = traceback.format_exc()
            log.error("run_ended", status="failed", errors=[error], traceback=trace)
            return
        level = "info" if summary.get("status") == "succeeded" else "warning"
        log.emit(level, "run_ended", _brief(summary))

    def _deps(self, job: Job, model: Model, log: EventLog) -> RunDeps:
        return RunDeps(
            model=model,
            store=self.store,
            clock=self.clock,
            env=self._env,
            observers=[LogObserver(log, heartbeat=lambda: self._renew(job, log))],
            new_id=lambda: job.run_id,
            mcp_config=self.config.mcp_config,
            warn=lambda message: log.warning("run_warning", message=message),
            transcript_dir=self.config.transcript_dir,
        )

    def _take_lease(self, agent: LoadedAgent, holder: str) -> bool:
        ttl = agent.spec.timeout_s + LEASE_SLACK_S
        return lease.take(self.store, agent.name, holder, self.clock.now(), ttl)

    def _renew(self, job: Job, log: EventLog) -> None:
        if not self._take_lease(job.agent, job.holder):
            log.warning("lease_lost", message="Another process took this agent's lease.")

    def _ended(self) -> None:
        self._active -= 1
        if self._changed is not None:
            self._changed.set()

    def _dropped(self, job: Job) -> None:
        self.log.warning("delivery_dropped", agent=job.agent.name, run_id=job.run_id, **job.detail)

    # -- HTTP ---------------------------------------------------------------
    async def _healthz(self, request: Request) -> Response:
        body = {
            "status": "draining" if self.draining else "ok",
            "started_at": self.started_at.isoformat(),
            "agents": sorted(self.agents),
            "schedules": len(self.scheduler.schedules),
            "webhooks": sorted({h.trigger.webhook for a in self.agents.values() for h in a.hooks}),
            "active": self._active,
            "queued": self._queued(),
        }
        return JSONResponse(body)

    async def _runs_endpoint(self, request: Request) -> Response:
        limit = request.query_params.get("limit", "20")
        if not limit.isdigit() or not 1 <= int(limit) <= 500:
            return JSONResponse({"error": "'limit' must be an integer from 1 to 500."}, 400)
        records = self.store.runs(request.query_params.get("agent") or None, int(limit))
        return JSONResponse({"runs": [run_row(r) for r in records]})


@asynccontextmanager
async def _shielded_exit(cm: AbstractAsyncContextManager[Model]) -> AsyncIterator[Model]:
    """Enter `cm`; exit it even when the run is being cancelled (closes HTTP clients)."""
    value = await cm.__aenter__()
    try:
        yield value
    finally:
        with anyio.CancelScope(shield=True):
            await cm.__aexit__(None, None, None)


def _brief(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary for the log: without the final text (it may name customers)."""
    return {k: v for k, v in summary.items() if k not in ("final_text", "run_id", "agent")}
