"""One headless run: a session, one user turn, the run record, the cursor commit.

Every run is recorded in the store (running -> succeeded | failed | limit |
cancelled) and writes a transcript; the summary is the same dict `--json` prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio

from runtime import lease
from runtime.agentfile import AgentSpec, load_agent
from runtime.errors import RunError
from runtime.loop import LoopResult
from runtime.session import AgentSession, RunDeps
from runtime.store import RunStore

LEASE_SLACK_S = 120  # a crashed run's lease expires this long after its time limit


@dataclass
class RunRequest:
    """What the CLI asks for."""

    agent_path: str
    prompt: str | None
    mcp_config: str = "mcp.json"
    db_path: str = ".agents/agents.db"
    transcript_path: str | None = None
    model: str | None = None
    trigger: str = "cli"
    quiet: bool = False


async def run_from_cli(request: RunRequest) -> dict[str, Any]:
    """Build the real dependencies for `agents run` and execute."""
    from runtime.clock import SystemClock
    from runtime.console import ConsoleObserver, stderr
    from runtime.model import ClaudeModel

    spec = load_agent(request.agent_path)
    if request.model:
        spec = spec.model_copy(update={"model": request.model})
    clock, err = SystemClock(), stderr()
    store = RunStore(request.db_path)
    holder = lease.new_holder()
    if not lease.take(store, spec.name, holder, clock.now(), spec.timeout_s + LEASE_SLACK_S):
        store.close()
        raise RunError(
            f"Agent '{spec.name}' is already running (another run holds its lease in "
            f"{request.db_path}). Try again when that run ends."
        )
    model = ClaudeModel(clock=clock, notice=lambda m: err.print(f"[yellow]note[/] {m}"))
    try:
        deps = RunDeps(
            model=model,
            store=store,
            clock=clock,
            observers=[ConsoleObserver(err, quiet=request.quiet)],
            mcp_config=request.mcp_config,
            warn=lambda m: err.print(f"[bold yellow]warning[/] {m}"),
        )
        return await execute(spec, request.prompt, deps, transcript=request.transcript_path)
    finally:
        lease.give_back(store, spec.name, holder)
        await model.aclose()
        store.close()


def with_time(prompt: str, deps: RunDeps) -> str:
    """The user turn: the request, and the current time the model should reason from."""
    now = deps.clock.now()
    return f"{prompt}\n\n(Current time: {now:%Y-%m-%dT%H:%M:%S} UTC.)"


async def execute(
    spec: AgentSpec,
    prompt: str | None,
    deps: RunDeps,
    *,
    trigger: str = "cli",
    transcript: str | None = None,
) -> dict[str, Any]:
    """Run `spec` once with `prompt` (default: its task); returns the summary."""
    text = with_time(prompt or spec.task or "Carry out your task.", deps)
    session = AgentSession(spec, deps, trigger=trigger, transcript=transcript)
    started = deps.clock.monotonic()
    deps.store.start_run(session.run_id, spec.name, trigger, text, deps.clock.now())
    result = LoopResult(status="cancelled", stop_reason="cancelled")
    committed = False
    try:
        async with session:
            result = await session.ask(text)
            committed = session.commit(result)
    except RunError as exc:  # the run failed in a way the user can act on: report, exit 1
        result.status, result.stop_reason = "failed", "error"
        result.errors.append(str(exc))
    except BaseException as exc:
        cancelled = isinstance(exc, (anyio.get_cancelled_exc_class(), KeyboardInterrupt))
        result.status = result.stop_reason = "cancelled" if cancelled else "failed"
        result.errors.append("Cancelled." if cancelled else f"{type(exc).__name__}: {exc}")
        raise
    finally:
        summary = session.redacted(_summary(session, result, committed, deps, started))
        _record(deps.store, session, summary, deps)
    return summary


def _record(store: RunStore, session: AgentSession, summary: dict[str, Any], deps: RunDeps) -> None:
    session.finish(summary)
    store.finish_run(
        session.run_id,
        summary["status"],
        summary["stop_reason"],
        summary,
        deps.clock.now(),
        session.transcript_path,
    )


def _summary(
    session: AgentSession, r: LoopResult, committed: bool, deps: RunDeps, started: float
) -> dict[str, Any]:
    return {
        "run_id": session.run_id,
        "agent": session.spec.name,
        "status": r.status,
        "stop_reason": r.stop_reason,
        "turns": r.turns,
        "tool_calls": r.tool_calls,
        "tokens": {
            "input": r.usage.input,
            "output": r.usage.output,
            "cache_read": r.usage.cache_read,
            "cache_write": r.usage.cache_write,
        },
        "cost_usd": r.cost_usd,
        "duration_s": round(deps.clock.monotonic() - started, 3),
        "cursor_committed": committed,
        "errors": r.errors,
        "final_text": r.final_text,
        "transcript": session.transcript_path,
    }
