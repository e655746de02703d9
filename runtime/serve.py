"""`agents serve`: the cron and webhook triggers of every agent in a folder, one process.

    agents = load_agents(folder, env, mcp_config, log)   invalid files: logged, skipped
    service = Service(agents, store=..., log=..., model_factory=...)
    service.app      /healthz, /runs and the webhook routes; its lifespan is
                     `service.running()`: the scheduler and the worker pool
    serve_forever(config, env)                           uvicorn + SIGTERM/SIGINT

Invalid agent files are reported (`agent_invalid`, with file:line problems) and
skipped, so one broken file does not stop the others; startup fails only when no
agent is valid. One run per agent at a time: an in-process semaphore plus a lease in
the store (expiring after the agent's timeout plus a margin, renewed at every step, so
a crashed process blocks nothing for long). A cron tick that finds the agent busy is
skipped and logged; an accepted webhook delivery waits its turn on a worker. On
SIGTERM/SIGINT: stop taking work (the listener closes; deliveries still queued are
dropped and logged), let running runs finish within the grace period, cancel the rest.
A cancelled run is recorded 'cancelled' by runtime.runner.execute and never commits
its cursor. A second signal cancels the running runs at once.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
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
from runtime.agentfile import AgentSpec, ScheduleTrigger, WebhookTrigger
from runtime.check import check_agent
from runtime.clock import Clock, SystemClock
from runtime.config import Secrets, load_mcp_config, resolve_sources
from runtime.errors import AgentFileError, AgentsError, ConfigError, UsageError
from runtime.history import run_row
from runtime.logs import EventLog, LogObserver
from runtime.model import Model
from runtime.runner import execute
from runtime.session import RunDeps
from runtime.store import RunStore
from runtime.triggers import CronSchedule, Due, Scheduler
from runtime.webhooks import Delivery, Hook, delivery_prompt, resolve_hook, webhook_routes

LEASE_SLACK_S = 120.0  # a lease outlives the agent's timeout by this much
LEASE_POLL_S = 5.0  # how often a delivery waits for another process's run to end
DESCRIPTION = "Fire the cron and webhook triggers of every agent in a folder."
GRACEFUL_HTTP_S = 10  # open HTTP requests get this long to finish on shutdown
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


@dataclass(frozen=True)
class LoadedAgent:
    """A valid agent, the secrets to redact from its logs, its webhook hooks."""

    spec: AgentSpec
    secrets: Secrets
    hooks: list[Hook]

    @property
    def name(self) -> str:
        """The agent's name."""
        return self.spec.name

    def schedules(self) -> list[CronSchedule]:
        """Its cron triggers."""
        return [
            CronSchedule(self.name, t) for t in self.spec.triggers if isinstance(t, ScheduleTrigger)
        ]


@dataclass
class Job:
    """One run to do: which agent, the user turn, how it was triggered."""

    agent: LoadedAgent
    prompt: str | None
    trigger: str
    run_id: str
    detail: dict[str, Any] = field(default_factory=dict)
    holder: str = ""


def load_agents(
    folder: str, env: Mapping[str, str], mcp_config: str, log: EventLog
) -> list[LoadedAgent]:
    """Every valid agent file in `folder`; invalid ones are logged and skipped."""
    paths = sorted(Path(folder).glob("*.md"))
    if not paths:
        raise UsageError(f"No agent files (*.md) in '{folder}'. Run 'agents serve AGENTS_DIR'.")
    agents: dict[str, LoadedAgent] = {}
    for path in paths:
        try:
            agent = load_one(str(path), env, mcp_config)
            if agent.name in agents:
                other = agents[agent.name].spec.path
                raise ConfigError(f"{path}: agent name '{agent.name}' is also used by {other}")
        except UsageError as exc:
            log.error("agent_invalid", path=str(path), problems=str(exc).splitlines())
            continue
        agents[agent.name] = agent
        log.info("agent_loaded", agent=agent.name, path=str(path), triggers=_describe(agent))
    if not agents:
        raise UsageError(f"No valid agent in '{folder}'. Run 'agents check {folder}/*.md'.")
    return list(agents.values())


def load_one(path: str, env: Mapping[str, str], mcp_config: str) -> LoadedAgent:
    """Validate one agent as `agents check` does, and resolve its secrets and hooks."""
    result = check_agent(path, env, mcp_config)
    if not result.ok or result.spec is None:
        raise AgentFileError(result.problems)
    spec, secrets = result.spec, Secrets()
    resolve_sources(spec, env, secrets)
    if spec.tools:
        secrets.merge(load_mcp_config(mcp_config, env).secrets)
    webhooks = [t for t in spec.triggers if isinstance(t, WebhookTrigger)]
    hooks = [resolve_hook(spec, t, env, secrets) for t in webhooks]
    return LoadedAgent(spec, secrets, hooks)


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
        self.log = log.bind(_all_secrets(agents, self._env))
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


def _all_secrets(agents: Sequence[LoadedAgent], env: Mapping[str, str]) -> Secrets:
    secrets = Secrets()
    for a in agents:
        secrets.merge(a.secrets)
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"):
        secrets.add(name, env.get(name))
    return secrets


def _describe(agent: LoadedAgent) -> list[str]:
    out = [f"schedule {s.trigger.schedule} ({s.trigger.timezone})" for s in agent.schedules()]
    return out + [f"{h.trigger.method} {h.trigger.webhook}" for h in agent.hooks]


# -- the process: uvicorn, signals, `python -m runtime.serve` ------------------
def claude_models(env: Mapping[str, str], clock: Clock, log: EventLog) -> ModelFactory:
    """A ClaudeModel per run, from ANTHROPIC_API_KEY / ANTHROPIC_BASE_URL in `env`."""
    from runtime.model import ClaudeModel

    def make() -> ClaudeModel:
        return ClaudeModel(
            api_key=env.get("ANTHROPIC_API_KEY"),
            base_url=env.get("ANTHROPIC_BASE_URL"),
            clock=clock,
            notice=lambda message: log.warning("model_notice", message=message),
        )

    return make


def serve_forever(config: ServeConfig, env: Mapping[str, str], log: EventLog) -> int:
    """`agents serve`: load the agents, serve until SIGTERM/SIGINT, drain; exit code 0."""
    clock = SystemClock()
    store = RunStore(config.db_path)
    try:
        agents = load_agents(config.agents_dir, env, config.mcp_config, log)
        models = claude_models(env, clock, log)
        service = Service(
            agents, store=store, log=log, model_factory=models, clock=clock, env=env, config=config
        )
        anyio.run(_serve_http, service, _listen(config.host, config.port))
        service.log.info("serve_stopped")
    finally:
        store.close()
    return 0


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        raise UsageError(f"Cannot listen on {host}:{port}: {exc.strerror}. Try --port.") from None


async def _serve_http(service: Service, sock: socket.socket) -> None:
    import uvicorn

    class Server(uvicorn.Server):
        def capture_signals(self) -> Any:  # ours: see _on_signals
            return contextlib.nullcontext()

    config = uvicorn.Config(
        service.app,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_HTTP_S,
    )
    server = Server(config)
    host, port = sock.getsockname()[:2]
    async with anyio.create_task_group() as tg:
        tg.start_soon(_on_signals, server, service)
        service.log.info("serve_listening", url=f"http://{host}:{port}", agents=len(service.agents))
        await server.serve(sockets=[sock])
        tg.cancel_scope.cancel()


async def _on_signals(server: Any, service: Service) -> None:
    """First SIGTERM/SIGINT: stop taking work, drain. Second: cancel running runs now."""
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            name = signal.Signals(signum).name
            if not server.should_exit:
                service.log.info("shutdown_started", signal=name, grace_s=service.config.grace_s)
                service.begin_shutdown()
                server.should_exit = True
            else:
                service.log.warning("shutdown_forced", signal=name)
                service.cancel_runs()


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m runtime.serve [AGENTS_DIR] ...`: the same as `agents serve`."""
    import argparse

    from runtime.cli_ops import build_serve, run_standalone

    parser = argparse.ArgumentParser(prog="agents serve", description=DESCRIPTION)
    build_serve(parser)
    return run_standalone(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
