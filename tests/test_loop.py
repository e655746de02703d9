"""The tool loop, driven by the in-process ScriptedModel (fast unit tests)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import anyio
import pytest

from runtime.clock import FrozenClock
from runtime.config import Secrets
from runtime.loop import Limits, run_loop
from runtime.model import ModelRequest, ScriptedModel
from runtime.policy import apply_policies
from runtime.tools import ToolResult
from sandbox.claude import reply, text, tool_use

T0 = datetime(2026, 11, 30, 12, tzinfo=UTC)


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def model_turn(self, response: Any, duration_s: float) -> None:
        self.events.append(("model", response.stop_reason))

    def text_delta(self, text: str) -> None:
        self.events.append(("text", text))

    def tool_start(self, call_id: str, name: str, arguments: dict[str, Any]) -> None:
        self.events.append(("start", name))

    def tool_end(self, call_id: str, name: str, result: ToolResult, duration_s: float) -> None:
        self.events.append(("end", name, result.is_error))


class Echo:
    name = "echo"
    description = "Echo the input."
    input_schema: dict[str, Any] = {"type": "object"}
    destructive = False

    def __init__(self, gate: anyio.Event | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.gate = gate
        self.active = 0
        self.max_active = 0

    async def call(self, arguments: dict[str, Any]) -> ToolResult:
        self.calls.append(arguments)
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        await anyio.lowlevel.checkpoint()
        await anyio.lowlevel.checkpoint()
        self.active -= 1
        return ToolResult(json.dumps(arguments))


class Boom(Echo):
    name = "boom"

    async def call(self, arguments: dict[str, Any]) -> ToolResult:
        raise RuntimeError("kaput")


class DeleteThing(Echo):
    name = "srv__delete_thing"
    destructive = True


def base() -> ModelRequest:
    return ModelRequest(model="claude-sonnet-4-6", system="sys", messages=[], tools=[])


async def drive(model: ScriptedModel, tools: dict[str, Any], limits: Limits | None = None):
    messages: list[dict[str, Any]] = [{"role": "user", "content": "go"}]
    rec = Recorder()
    result = await run_loop(
        model,
        base(),
        messages,
        tools,
        limits=limits or Limits(),
        clock=FrozenClock(T0),
        observer=rec,
    )
    return result, messages, rec


@pytest.mark.anyio
async def test_parallel_tool_calls_and_order_of_results() -> None:
    echo = Echo()
    model = ScriptedModel(
        [
            reply("two at once", tool_use("echo", {"n": 1}), tool_use("echo", {"n": 2})),
            reply("done"),
        ]
    )
    result, messages, _ = await drive(model, {"echo": echo})
    assert (result.status, result.stop_reason, result.turns, result.tool_calls) == (
        "succeeded",
        "end_turn",
        2,
        2,
    )
    assert result.final_text == "done"
    assert echo.max_active == 2  # ran concurrently
    results = messages[2]["content"]
    assert [json.loads(r["content"])["n"] for r in results] == [1, 2]
    ids = [b["id"] for b in messages[1]["content"] if b["type"] == "tool_use"]
    assert [r["tool_use_id"] for r in results] == ids


@pytest.mark.anyio
async def test_failing_and_unknown_tools_become_error_results() -> None:
    model = ScriptedModel(
        [reply(tool_use("boom", {}), tool_use("nope", {}), tool_use("echo", "x")), reply("ok")]
    )
    result, messages, _ = await drive(model, {"boom": Boom(), "echo": Echo()})
    assert result.status == "succeeded"
    boom, nope, bad = messages[2]["content"]
    assert boom["is_error"] and "RuntimeError: kaput" in boom["content"]
    assert nope["is_error"] and "Unknown tool 'nope'" in nope["content"]
    assert bad["is_error"] and "JSON object" in bad["content"]


@pytest.mark.anyio
async def test_turn_limit() -> None:
    model = ScriptedModel(lambda req: reply(tool_use("echo", {})))
    result, _, _ = await drive(model, {"echo": Echo()}, Limits(max_turns=3))
    assert (result.status, result.stop_reason, result.turns) == ("limit", "max_turns", 3)
    assert "Turn limit of 3 reached." in result.errors


@pytest.mark.anyio
async def test_budget_limit_from_reported_usage() -> None:
    usage = {"input_tokens": 100_000, "output_tokens": 10_000}
    model = ScriptedModel(lambda req: reply(tool_use("echo", {}), usage=usage))
    result, _, _ = await drive(model, {"echo": Echo()}, Limits(budget_usd=0.5))
    # Sonnet 4.6 at $3/$15 per million: $0.45 per turn, so the budget stops it after two.
    assert (result.status, result.stop_reason, result.turns) == ("limit", "budget_usd", 2)
    assert result.cost_usd == pytest.approx(0.9)


@pytest.mark.anyio
async def test_refusal_and_max_tokens() -> None:
    result, _, _ = await drive(ScriptedModel([reply("no", stop_reason="refusal")]), {})
    assert (result.status, result.stop_reason) == ("failed", "refusal")
    result, _, _ = await drive(ScriptedModel([reply("cut", stop_reason="max_tokens")]), {})
    assert (result.status, result.stop_reason) == ("failed", "max_tokens")


@pytest.mark.anyio
async def test_max_tokens_mid_tool_call_does_not_run_the_tool() -> None:
    echo = Echo()
    model = ScriptedModel(
        [reply(tool_use("echo", {"partial": True}), stop_reason="max_tokens"), reply("retry later")]
    )
    result, messages, _ = await drive(model, {"echo": echo})
    assert echo.calls == []
    assert messages[2]["content"][0]["is_error"]
    assert result.status == "succeeded"


@pytest.mark.anyio
async def test_pause_turn_continues() -> None:
    model = ScriptedModel([reply(text("thinking"), stop_reason="pause_turn"), reply("done")])
    result, _, _ = await drive(model, {})
    assert (result.status, result.turns) == ("succeeded", 2)


@pytest.mark.anyio
async def test_headless_refuses_destructive_tools() -> None:
    tool = DeleteThing()
    tools = apply_policies([tool, Echo()], Secrets(), allowed=[], confirm=None)
    model = ScriptedModel([reply(tool_use("srv__delete_thing", {"id": 1})), reply("ok")])
    _, messages, _ = await drive(model, tools)
    refusal = messages[2]["content"][0]
    assert refusal["is_error"] and "destructive" in refusal["content"]
    assert tool.calls == []
    allowed = apply_policies([tool], Secrets(), allowed=["delete_thing"], confirm=None)
    model = ScriptedModel([reply(tool_use("srv__delete_thing", {"id": 1})), reply("ok")])
    await drive(model, allowed)
    assert tool.calls == [{"id": 1}]


@pytest.mark.anyio
async def test_secrets_scrubbed_from_tool_results() -> None:
    secrets = Secrets()
    secrets.add("SHOP_SECRET", "cs_supersecretvalue")
    echo = Echo()
    tools = apply_policies([echo], secrets, allowed=[], confirm=None)
    model = ScriptedModel([reply(tool_use("echo", {"leak": "cs_supersecretvalue"})), reply("ok")])
    _, messages, _ = await drive(model, tools)
    assert "cs_supersecretvalue" not in json.dumps(messages[2])
    assert "${SHOP_SECRET}" in messages[2]["content"][0]["content"]


@pytest.mark.anyio
async def test_huge_tool_result_is_capped() -> None:
    class Huge(Echo):
        name = "huge"

        async def call(self, arguments: dict[str, Any]) -> ToolResult:
            return ToolResult("x" * 500_000)

    model = ScriptedModel([reply(tool_use("huge", {})), reply("ok")])
    _, messages, _ = await drive(model, {"huge": Huge()})
    content = messages[2]["content"][0]["content"]
    assert len(content) < 61_000 and '"original_chars": 500000' in content
