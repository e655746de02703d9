"""One run of an agent: resolve config, connect tools, drive the loop, record, commit.

agent file -> AgentSpec -> MCP servers + built-in tools -> loop -> summary; staged
cursors are committed only when the run succeeded. Every effect (model, clock,
environment, HTTP transport, store, observers, ids) is passed in through `RunDeps`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx

from runtime.agentfile import AgentSpec, load_agent
from runtime.clock import Clock, SystemClock
from runtime.config import Secrets, ServerConfig, load_mcp_config, resolve_sources
from runtime.errors import RunError
from runtime.loop import Limits, LoopResult, Observer, run_loop
from runtime.model import Model, ModelRequest
from runtime.policy import Confirm, apply_policies
from runtime.store import RunStore
from runtime.tools import Tool
from runtime.tools.state import CursorStage, GetCursorTool, SetCursorTool


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


@dataclass
class RunDeps:
    """The effects a run uses; tests and replay pass their own."""

    model: Model
    store: RunStore
    clock: Clock = field(default_factory=SystemClock)
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    observers: Sequence[Observer] = ()
    http_transport: httpx.AsyncBaseTransport | None = None
    new_id: Callable[[], str] = field(default_factory=lambda: lambda: uuid.uuid4().hex[:12])
    confirm: Confirm | None = None  # None = headless: destructive tools refused
    mcp_config: str = "mcp.json"
    warn: Callable[[str], None] | None = None


async def run_from_cli(request: RunRequest) -> dict[str, Any]:
    """Build the real dependencies for `agents run` and execute."""
    from runtime.console import ConsoleObserver, stderr
    from runtime.model import ClaudeModel

    spec = load_agent(request.agent_path)
    if request.model:
        spec = spec.model_copy(update={"model": request.model})
    clock = SystemClock()
    err = stderr()
    store = RunStore(request.db_path)
    try:
        model = ClaudeModel(clock=clock, notice=lambda m: err.print(f"[yellow]note[/] {m}"))
        deps = RunDeps(
            model=model,
            store=store,
            clock=clock,
            observers=[ConsoleObserver(err, quiet=request.quiet)],
            mcp_config=request.mcp_config,
            warn=lambda m: err.print(f"[bold yellow]warning[/] {m}"),
        )
        return await execute(spec, request.prompt, deps, trigger=request.trigger)
    finally:
        store.close()


async def execute(
    spec: AgentSpec, prompt: str | None, deps: RunDeps, *, trigger: str = "cli"
) -> dict[str, Any]:
    """Run `spec` once with `prompt` (default: its task); returns the summary."""
    secrets = Secrets()
    sources = resolve_sources(spec, deps.env, secrets)
    servers = _servers(spec, deps, secrets)
    text = prompt or spec.task or "Carry out your task."
    run_id = deps.new_id()
    started, t0 = deps.clock.now(), deps.clock.monotonic()
    deps.store.start_run(run_id, spec.name, trigger, text, started)
    stage = CursorStage()
    result = LoopResult(status="cancelled", stop_reason="cancelled")
    committed = False
    try:
        async with AsyncExitStack() as stack:
            tools = await _tools(spec, deps, stack, sources, servers, stage)
            policed = apply_policies(tools, secrets, spec.allow_destructive, deps.confirm)
            base = _base_request(spec, list(policed.values()))
            messages: list[dict[str, Any]] = [{"role": "user", "content": text}]
            result = await run_loop(
                deps.model,
                base,
                messages,
                policed,
                limits=_limits(spec),
                clock=deps.clock,
                observer=_fanout(deps.observers),
            )
        committed = _commit(result, stage, deps, spec, run_id)
    except RunError as exc:  # the run failed in a way the user can act on: report, exit 1
        result.status, result.stop_reason = "failed", "error"
        result.errors.append(str(exc))
    except BaseException as exc:
        result.status = (
            "cancelled"
            if isinstance(exc, (anyio.get_cancelled_exc_class(), KeyboardInterrupt))
            else "failed"
        )
        result.stop_reason = result.status
        result.errors.append(_describe(exc))
        raise
    finally:
        summary = _summary(run_id, spec, result, committed, deps.clock.monotonic() - t0)
        deps.store.finish_run(run_id, result.status, result.stop_reason, summary, deps.clock.now())
    return summary


def _servers(spec: AgentSpec, deps: RunDeps, secrets: Secrets) -> list[ServerConfig]:
    if not spec.tools:
        return []
    config = load_mcp_config(deps.mcp_config, deps.env)
    secrets.merge(config.secrets)
    return list({id(s): s for s in (config.resolve(n) for n in spec.tools)}.values())


async def _tools(
    spec: AgentSpec,
    deps: RunDeps,
    stack: AsyncExitStack,
    sources: dict[str, Any],
    servers: list[ServerConfig],
    stage: CursorStage,
) -> list[Tool]:
    from runtime.mcp import McpPool
    from runtime.tools.http import HttpTool

    tools: list[Tool] = [
        GetCursorTool(deps.store, spec.name, stage),
        SetCursorTool(deps.store, spec.name, stage, deps.clock),
    ]
    if sources:
        http = HttpTool(sources, clock=deps.clock, transport=deps.http_transport)
        await stack.enter_async_context(http)
        tools.insert(0, http)
    if servers:
        pool = McpPool(servers, extra_destructive=spec.destructive, warn=deps.warn)
        await stack.enter_async_context(pool)
        tools.extend(pool.tools)
    return tools


def _base_request(spec: AgentSpec, tools: list[Tool]) -> ModelRequest:
    return ModelRequest(
        model=spec.model,
        system=spec.system_prompt,
        messages=[],
        tools=[
            {"name": t.name, "description": t.description, "input_schema": t.input_schema}
            for t in tools
        ],
        max_tokens=spec.max_tokens,
        temperature=spec.temperature,
    )


def _limits(spec: AgentSpec) -> Limits:
    return Limits(
        max_turns=spec.max_turns,
        budget_usd=spec.budget_usd,
        budget_tokens=spec.budget_tokens,
        timeout_s=spec.timeout_s,
    )


def _commit(
    result: LoopResult, stage: CursorStage, deps: RunDeps, spec: AgentSpec, run_id: str
) -> bool:
    """Commit staged cursors of a successful run; a lost compare-and-set fails the run."""
    if result.status != "succeeded" or not stage.staged:
        return False
    lost = stage.commit(deps.store, spec.name, run_id, deps.clock.now())
    if lost:
        result.status, result.stop_reason = "failed", "cursor_conflict"
        result.errors.append(
            f"Cursor of {', '.join(repr(s) for s in lost)} was moved by another run; not committed."
        )
        return False
    return True


def _summary(
    run_id: str, spec: AgentSpec, r: LoopResult, committed: bool, duration: float
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "agent": spec.name,
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
        "duration_s": round(duration, 3),
        "cursor_committed": committed,
        "errors": r.errors,
        "final_text": r.final_text,
    }


def _describe(exc: BaseException) -> str:
    from runtime.errors import AgentsError

    if isinstance(exc, AgentsError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class _Fanout:
    """Sends every event to several observers."""

    def __init__(self, observers: Sequence[Observer]) -> None:
        self._obs = list(observers)

    def model_turn(self, response: Any, duration_s: float) -> None:
        for o in self._obs:
            o.model_turn(response, duration_s)

    def text_delta(self, text: str) -> None:
        for o in self._obs:
            o.text_delta(text)

    def tool_start(self, call_id: str, name: str, arguments: dict[str, Any]) -> None:
        for o in self._obs:
            o.tool_start(call_id, name, arguments)

    def tool_end(self, call_id: str, name: str, result: Any, duration_s: float) -> None:
        for o in self._obs:
            o.tool_end(call_id, name, result, duration_s)


def _fanout(observers: Sequence[Observer]) -> Observer:
    return _Fanout(observers)
