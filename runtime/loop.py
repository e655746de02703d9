"""The tool loop: check limits, call the model, run the tools it asked for, repeat.

It knows nothing of any API or sync: tools come in as `Tool`s, the model as a
`Model`, time as a `Clock`, and everything worth recording goes to an `Observer`.
Run-ending conditions are small exceptions carrying the final status.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import anyio

from runtime.clock import Clock
from runtime.model import Model, ModelRequest, ModelResponse, Usage
from runtime.tools import Tool, ToolResult

MAX_RESULT_CHARS = 60_000  # a safety net: no tool result enters the context unbounded


@dataclass(frozen=True)
class Limits:
    """When a run must stop, whatever the model wants."""

    max_turns: int = 40
    budget_usd: float | None = None
    budget_tokens: int | None = None
    timeout_s: float = 1800
    tool_concurrency: int = 8


@dataclass
class LoopResult:
    """How the loop ended and what it used."""

    status: str  # succeeded | failed | limit
    stop_reason: str
    final_text: str = ""
    turns: int = 0
    tool_calls: int = 0
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    errors: list[str] = field(default_factory=list)


class Observer(Protocol):
    """Receives every step of a run (the transcript and the console are observers)."""

    def model_turn(self, response: ModelResponse, duration_s: float) -> None: ...

    def text_delta(self, text: str) -> None: ...

    def tool_start(self, call_id: str, name: str, arguments: dict[str, Any]) -> None: ...

    def tool_end(self, call_id: str, name: str, result: ToolResult, duration_s: float) -> None: ...


class StopRun(Exception):
    """Ends the loop with `status` and `reason`."""

    def __init__(self, status: str, reason: str, message: str = "") -> None:
        super().__init__(message or reason)
        self.status, self.reason, self.message = status, reason, message


async def run_loop(
    model: Model,
    base: ModelRequest,
    messages: list[dict[str, Any]],
    tools: dict[str, Tool],
    *,
    limits: Limits,
    clock: Clock,
    observer: Observer,
) -> LoopResult:
    """Drive one conversation to its end; `messages` is extended in place."""
    result = LoopResult(status="failed", stop_reason="")
    started = clock.monotonic()
    try:
        while True:
            _check_limits(result, limits, clock.monotonic() - started)
            request = replace(base, messages=list(messages))
            t0 = clock.monotonic()
            response = await model.complete(request, on_text=observer.text_delta)
            _account(result, response)
            observer.model_turn(response, clock.monotonic() - t0)
            messages.append({"role": "assistant", "content": response.content})
            calls = [b for b in response.content if b.get("type") == "tool_use"]
            if response.stop_reason == "pause_turn":
                continue
            if response.stop_reason == "refusal":
                raise StopRun("failed", "refusal", "The model refused to continue.")
            if not calls:
                return _finish(result, response)
            truncated = response.stop_reason == "max_tokens"
            results = await _run_tools(calls, tools, limits, clock, observer, truncated)
            result.tool_calls += len(calls)
            messages.append({"role": "user", "content": results})
    except StopRun as stop:
        result.status, result.stop_reason = stop.status, stop.reason
        if stop.message:
            result.errors.append(stop.message)
        return result


def _account(result: LoopResult, response: ModelResponse) -> None:
    result.turns += 1
    result.usage = result.usage + response.usage
    result.cost_usd = round(result.cost_usd + response.cost_usd, 6)


def _finish(result: LoopResult, response: ModelResponse) -> LoopResult:
    result.final_text = "".join(b.get("text", "") for b in response.content if b["type"] == "text")
    result.stop_reason = response.stop_reason
    if response.stop_reason == "max_tokens":
        raise StopRun("failed", "max_tokens", "The model's answer was cut at max_tokens.")
    result.status = "succeeded"
    return result


def _check_limits(result: LoopResult, limits: Limits, elapsed: float) -> None:
    if result.turns >= limits.max_turns:
        raise StopRun("limit", "max_turns", f"Turn limit of {limits.max_turns} reached.")
    if limits.budget_usd is not None and result.cost_usd >= limits.budget_usd:
        raise StopRun("limit", "budget_usd", f"Budget of ${limits.budget_usd:.2f} reached.")
    if (
        limits.budget_tokens is not None
        and result.usage.input + result.usage.output >= limits.budget_tokens
    ):
        raise StopRun("limit", "budget_tokens", f"Token budget of {limits.budget_tokens} reached.")
    if elapsed >= limits.timeout_s:
        raise StopRun("limit", "timeout", f"Time limit of {limits.timeout_s:.0f} s reached.")


async def _run_tools(
    calls: list[dict[str, Any]],
    tools: dict[str, Tool],
    limits: Limits,
    clock: Clock,
    observer: Observer,
    truncated: bool,
) -> list[dict[str, Any]]:
    """Run the calls concurrently (bounded); results keep the model's order."""
    out: list[dict[str, Any]] = [{} for _ in calls]
    gate = anyio.CapacityLimiter(limits.tool_concurrency)

    async def one(i: int, call: dict[str, Any]) -> None:
        async with gate:
            observer.tool_start(call["id"], call["name"], call.get("input") or {})
            t0 = clock.monotonic()
            res = await _call(tools.get(call["name"]), call, truncated)
            observer.tool_end(call["id"], call["name"], res, clock.monotonic() - t0)
            out[i] = _tool_result_block(call["id"], res)

    async with anyio.create_task_group() as tg:
        for i, call in enumerate(calls):
            tg.start_soon(one, i, call)
    return out


async def _call(tool: Tool | None, call: dict[str, Any], truncated: bool) -> ToolResult:
    if truncated:
        return ToolResult("Not run: your response hit max_tokens, so this call may be cut.", True)
    if tool is None:
        return ToolResult(f"Unknown tool '{call['name']}'. Use one of the listed tools.", True)
    args = call.get("input")
    if not isinstance(args, dict):
        return ToolResult("Tool input must be a JSON object.", is_error=True)
    try:
        return await tool.call(args)
    except Exception as exc:  # a tool bug must not end the run; it is recorded, not hidden
        return ToolResult(
            f"Tool '{call['name']}' failed: {type(exc).__name__}: {exc}",
            is_error=True,
            meta={"exception": type(exc).__name__},
        )


def _tool_result_block(call_id: str, res: ToolResult) -> dict[str, Any]:
    content = res.content
    if len(content) > MAX_RESULT_CHARS:
        note = {"truncated": True, "original_chars": len(content)}
        content = content[:MAX_RESULT_CHARS] + "\n[cut] " + json.dumps(note)
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id, "content": content}
    if res.is_error:
        block["is_error"] = True
    return block
