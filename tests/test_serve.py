"""`agents serve`: cron runs on a frozen clock, leases, catch-up, drain, /healthz and /runs,
and SIGTERM to a real `python -m runtime.serve` process during a run."""

from __future__ import annotations

import io
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from rich.console import Console

from runtime.clock import Clock, FrozenClock, SystemClock
from runtime.config import Secrets
from runtime.errors import UsageError
from runtime.logs import EventLog, MemorySink, RichSink, event_log
from runtime.model import ModelRequest, ModelResponse, ScriptedModel
from runtime.serve import ServeConfig, Service, load_agents
from runtime.store import RunStore
from sandbox.claude import reply, tool_use
from sandbox.claude_scripts import Flow, ScriptBase
from sandbox.server import ServedApp
from tests.stack import Stack

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
CRON_AGENT = """\
---
name: cron-agent
description: Checks in every five minutes.
task: Check in.
triggers:
  - schedule: "*/5 * * * *"
---
Say that you checked in.
"""


class Held:
    """A model as the async context manager the service expects."""

    def __init__(self, model: Any) -> None:
        self.model = model

    async def __aenter__(self) -> Any:
        return self.model

    async def __aexit__(self, *exc: object) -> None:
        return None


class GatedModel:
    """Stages a cursor, then waits at the gate before answering: a long run."""

    def __init__(self) -> None:
        self.entered = anyio.Event()
        self.gate = anyio.Event()
        self._scripted = ScriptedModel(self._reply)

    def _reply(self, request: ModelRequest) -> Any:
        if len(request.messages) == 1:
            return reply(
                tool_use("set_sync_cursor", {"stream": "s", "cursor": "2026-11-30T11:00:00"})
            )
        return reply("Checked in.")

    async def complete(self, request: ModelRequest, on_text: Any = None) -> ModelResponse:
        if len(request.messages) > 1:
            self.entered.set()
            await self.gate.wait()
        return await self._scripted.complete(request, on_text)


def write_agents(folder: Path, **files: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.md").write_text(text)
    return str(folder)


def build(
    tmp_path: Path, clock: Clock, model: Any, *, store: RunStore | None = None, **config: Any
) -> tuple[Service, MemorySink, RunStore]:
    sink = MemorySink()
    log = EventLog(sink, clock)
    folder = write_agents(tmp_path / "agents", **{"cron-agent": CRON_AGENT})
    store = store or RunStore(tmp_path / "agents.db")
    cfg = ServeConfig(agents_dir=folder, db_path=str(tmp_path / "agents.db"), **config)
    agents = load_agents(folder, {}, cfg.mcp_config, log)
    service = Service(
        agents,
        store=store,
        log=log,
        model_factory=lambda: Held(model),
        clock=clock,
        env={},
        config=cfg,
        run_scheduler=False,
    )
    return service, sink, store


async def tick(service: Service, clock: FrozenClock, minutes: float) -> None:
    clock.advance(minutes * 60)
    service.scheduler.step()
    await anyio.lowlevel.checkpoint()


@pytest.mark.anyio
async def test_every_five_minutes_over_an_hour_is_twelve_runs(tmp_path: Path) -> None:
    clock = FrozenClock(T0)
    service, sink, store = build(tmp_path, clock, ScriptedModel(lambda r: reply("Checked in.")))
    async with service.running():
        while True:
            delay = service.scheduler.step()
            await service.wait_idle()
            if clock.now() >= T0 + timedelta(hours=1):
                break
            clock.advance(delay)
    runs = store.runs(limit=100)
    store.close()
    assert len(runs) == 12
    assert {(r.status, r.trigger) for r in runs} == {("succeeded", "schedule:*/5 * * * *")}
    ticks = [e["tick"] for e in sink.events("trigger_fired")]
    assert ticks == [(T0 + timedelta(minutes=5 * i)).isoformat() for i in range(1, 13)]
    assert len(sink.events("run_ended")) == 12 and not sink.events("trigger_skipped")


@pytest.mark.anyio
async def test_a_long_run_makes_the_next_tick_skip(tmp_path: Path) -> None:
    clock = FrozenClock(T0)
    model = GatedModel()
    service, sink, store = build(tmp_path, clock, model)
    async with service.running():
        await tick(service, clock, 5)  # 12:05: the run starts and hangs at the gate
        await model.entered.wait()
        await tick(service, clock, 5)  # 12:10: still running -> skipped
        model.gate.set()
        await service.wait_idle()
        await tick(service, clock, 5)  # 12:15: free again
        await service.wait_idle()
    runs = store.runs()
    store.close()
    assert [r.status for r in runs] == ["succeeded", "succeeded"]
    (skipped,) = sink.events("trigger_skipped")
    assert (
        skipped["reason"] == "busy" and skipped["tick"] == (T0 + timedelta(minutes=10)).isoformat()
    )
    fired = [e["tick"][11:16] for e in sink.events("trigger_fired")]
    assert fired == ["12:05", "12:15"]


@pytest.mark.anyio
async def test_the_lease_keeps_a_second_process_out(tmp_path: Path) -> None:
    clock = FrozenClock(T0)
    model = GatedModel()
    one, _, store_one = build(tmp_path, clock, model)
    two, sink_two, store_two = build(tmp_path, clock, model, store=RunStore(tmp_path / "agents.db"))
    async with one.running(), two.running():
        clock.advance(300)
        one.scheduler.step()
        await model.entered.wait()
        two.scheduler.step()  # same tick, other "process", same database: lease held
        model.gate.set()
        await one.wait_idle()
    assert len(store_one.runs()) == 1
    store_one.close()
    store_two.close()
    (skipped,) = sink_two.events("trigger_skipped")
    assert skipped["reason"] == "busy"


@pytest.mark.anyio
async def test_restart_after_three_missed_ticks_runs_once(tmp_path: Path) -> None:
    clock = FrozenClock(T0)
    model = ScriptedModel(lambda r: reply("Checked in."))
    service, _, store = build(tmp_path, clock, model)
    async with service.running():
        await tick(service, clock, 5)
        await service.wait_idle()
    store.close()
    clock.advance(16 * 60)  # down from 12:05 to 12:21: 12:10, 12:15, 12:20 missed
    again, sink, store = build(tmp_path, clock, model)
    async with again.running():
        again.scheduler.step()
        again.scheduler.step()
        await again.wait_idle()
    assert len(store.runs()) == 2
    store.close()
    (fired,) = sink.events("trigger_fired")
    assert fired["ticks"] == 3 and fired["tick"][11:16] == "12:20"


@pytest.mark.anyio
async def test_shutdown_cancels_a_run_past_the_grace_period(tmp_path: Path) -> None:
    clock = FrozenClock(T0)
    model = GatedModel()
    service, sink, store = build(tmp_path, clock, model, grace_s=5)
    async with service.running():
        await tick(service, clock, 5)
        await model.entered.wait()  # the cursor is staged; the run hangs
    (run,) = store.runs()
    assert run.status == "cancelled" and run.summary["cursor_committed"] is False
    assert store.cursor("cron-agent", "s") is None
    store.close()
    assert sink.events("runs_cancelled")[0]["count"] == 1
    assert sink.events("run_ended")[0]["status"] == "cancelled"


def test_invalid_agent_files_are_reported_and_skipped(tmp_path: Path) -> None:
    bad = CRON_AGENT.replace('"*/5 * * * *"', '"every five minutes"').replace("cron-agent", "bad")
    folder = write_agents(tmp_path / "agents", good=CRON_AGENT, bad=bad)
    sink = MemorySink()
    agents = load_agents(folder, {}, "mcp.json", EventLog(sink, SystemClock()))
    assert [a.name for a in agents] == ["cron-agent"]
    (invalid,) = sink.events("agent_invalid")
    assert invalid["path"].endswith("bad.md") and "bad.md:6" in invalid["problems"][0]
    with pytest.raises(UsageError, match="No valid agent"):
        load_agents(
            write_agents(tmp_path / "only-bad", bad=bad),
            {},
            "mcp.json",
            EventLog(sink, SystemClock()),
        )


def test_healthz_and_runs_over_http(tmp_path: Path) -> None:
    service, _, store = build(tmp_path, SystemClock(), ScriptedModel(lambda r: reply("ok")))
    store.start_run("r1", "cron-agent", "schedule:*/5 * * * *", "secret prompt", T0)
    store.finish_run("r1", "succeeded", "end_turn", {"turns": 1, "final_text": "x@y.z"}, T0)
    with ServedApp(service.app) as served, httpx.Client(base_url=served.url) as client:
        health = client.get("/healthz").json()
        runs = client.get("/runs", params={"agent": "cron-agent", "limit": 5}).json()["runs"]
        bad = client.get("/runs", params={"limit": "lots"})
    store.close()
    assert health["status"] == "ok" and health["agents"] == ["cron-agent"]
    assert health["schedules"] == 1 and health["active"] == 0
    assert [(r["id"], r["status"], r["turns"]) for r in runs] == [("r1", "succeeded", 1)]
    assert "prompt" not in runs[0] and "x@y.z" not in json.dumps(runs)
    assert bad.status_code == 400


# -- SIGTERM to a real `python -m runtime.serve` during a run ------------------
SLOW_AGENT = """\
---
name: slow-sync
description: Reads customers after staging a cursor; the store hangs.
task: Sync the customer in the delivery.
max_turns: 6
triggers:
  - webhook: /hooks/woo
    auth: woocommerce
    secret: ${WOO_HOOK_SECRET}
sources:
  woocommerce:
    base_url: ${WOOCOMMERCE_URL}/wp-json
    auth:
      type: basic
      key: ${WOOCOMMERCE_CONSUMER_KEY}
      secret: ${WOOCOMMERCE_CONSUMER_SECRET}
    allow_private: true
---
Stage the cursor, then read the customers.
"""
HOOK_SECRET = "whsec-test-0123456789abcdef"


class SlowSyncScript(ScriptBase):
    """Stages a cursor, then reads customers (the store hangs), then would report."""

    def flow(self) -> Flow:
        yield self.call(
            [("set_sync_cursor", {"stream": "customers", "cursor": "2026-01-01T00:00:00"})]
        )
        yield self.call([("http_request", {"method": "GET", "url": "wc/v3/customers"})])
        yield reply("Done.")


class LogLines:
    """Reads a process's stderr JSON lines on a thread; `wait(event)` returns the record."""

    def __init__(self, stream: Any) -> None:
        self.seen: list[dict[str, Any]] = []
        self.other: list[str] = []  # not JSON: tracebacks, warnings
        self._q: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            if line.startswith("{"):
                self._q.put(json.loads(line))
            else:
                self.other.append(line)
        self._q.put(None)

    def wait(self, match: Callable[[dict[str, Any]], bool], timeout: float = 60) -> dict[str, Any]:
        while True:
            record = self._q.get(timeout=timeout)
            if record is None:
                events = [r["event"] for r in self.seen]
                raise AssertionError(f"process ended; saw {events}; {''.join(self.other)}")
            self.seen.append(record)
            if match(record):
                return record

    def rest(self) -> list[dict[str, Any]]:
        self._thread.join(timeout=30)
        while (record := self._q.get_nowait()) is not None:
            self.seen.append(record)
        return self.seen


@pytest.mark.parametrize(
    ("grace", "signals"),
    [("1", [signal.SIGTERM]), ("600", [signal.SIGINT, signal.SIGTERM])],
    ids=["grace-expires", "second-signal-cancels-now"],
)
def test_signal_during_a_run_cancels_it_and_keeps_the_cursor(
    tmp_path: Path, grace: str, signals: list[signal.Signals]
) -> None:
    folder = write_agents(tmp_path / "agents", **{"slow-sync": SLOW_AGENT})
    db = tmp_path / "agents.db"
    with Stack(SlowSyncScript(), customers=5, orders=5) as stack:
        stack.woo.add_fault("customers*", "timeout", delay=60)
        env = {**os.environ, **stack.env, "WOO_HOOK_SECRET": HOOK_SECRET, "PYTHONPATH": str(ROOT)}
        argv = [sys.executable, "-m", "runtime.serve", folder, "--port", "0", "--db", str(db)]
        proc = subprocess.Popen(
            [*argv, "--grace", grace], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True
        )
        try:
            logs = LogLines(proc.stderr)
            url = logs.wait(lambda r: r["event"] == "serve_listening")["url"]
            customer = stack.woo.data.customers[0]["id"]
            answer = stack.woo.send_webhook(
                url + "/hooks/woo", "customer.updated", customer, HOOK_SECRET
            )
            assert answer.status_code == 202, "".join(logs.other)
            logs.wait(lambda r: r["event"] == "tool_call" and r["tool"] == "set_sync_cursor")
            for signum in signals:
                proc.send_signal(signum)
                logs.wait(lambda r: r["event"] in ("draining", "shutdown_forced"))
            assert proc.wait(timeout=60) == 0  # well inside a 600 s grace: the second signal
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stderr:
                proc.stderr.close()
        seen = logs.rest()
    events = [r["event"] for r in seen]
    assert events.index("shutdown_started") < events.index("run_ended")
    assert ("shutdown_forced" in events) == (len(signals) == 2)
    assert ("runs_cancelled" in events) == (len(signals) == 1)
    ended = next(r for r in seen if r["event"] == "run_ended")
    assert ended["status"] == "cancelled" and ended["agent"] == "slow-sync"
    assert ended["cursor_committed"] is False and "serve_stopped" in events
    store = RunStore(db)
    (run,) = store.runs()
    cursor = store.cursor("slow-sync", "customers")
    store.close()
    assert run.status == "cancelled" and run.trigger == "webhook:/hooks/woo"
    assert cursor is None
    text = json.dumps(seen) + "".join(logs.other)
    assert all(secret not in text for secret in [*stack.secrets, HOOK_SECRET])


# -- the event log -------------------------------------------------------------
def test_json_lines_are_redacted_and_carry_context() -> None:
    stream = io.StringIO()
    secrets = Secrets()
    secrets.add("API_TOKEN", "tok-0123456789")
    log = event_log(FrozenClock(T0), stream).bind(secrets, agent="a", run_id="r1")
    log.info("run_ended", status="succeeded", errors=["401 with tok-0123456789"])
    log.warning("odd", nested={"k": ["tok-0123456789"]})
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first == {
        "ts": "2026-11-30T12:00:00.000+00:00",
        "level": "info",
        "event": "run_ended",
        "agent": "a",
        "run_id": "r1",
        "status": "succeeded",
        "errors": ["401 with ${API_TOKEN}"],
    }
    assert second["nested"] == {"k": ["${API_TOKEN}"]} and second["level"] == "warning"


def test_rich_lines_on_a_terminal() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, record=True, width=120)
    log = EventLog(RichSink(console), FrozenClock(T0))
    log.error("agent_invalid", path="agents/x.md", problems=["agents/x.md:3: bad [cron]"])
    line = console.export_text()
    assert line.startswith("12:00:00 agent_invalid") and "bad [cron]" in line
