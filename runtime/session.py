"""An agent session: its tools connected, its transcript open, its conversation.

`agents run` asks once; `agents chat` asks many times in one session. Staged cursors
are committed by `commit()` only after a successful run.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from runtime.agentfile import AgentSpec
from runtime.clock import Clock, SystemClock
from runtime.config import Secrets, ServerConfig, load_mcp_config, resolve_sources
from runtime.loop import Limits, LoopResult, Observer, run_loop
from runtime.model import Model, ModelRequest
from runtime.policy import Confirm, apply_policies
from runtime.store import RunStore
from runtime.tools import Tool
from runtime.tools.state import CursorStage, GetCursorTool, SetCursorTool
from runtime.transcript import TranscriptWriter, redact


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
    transcript_dir: str = ".agents/transcripts"
    transcript_source: str = "recorded"  # "scripted" when the model is not Claude
    sandbox: dict[str, Any] | None = None  # seed etc. of the sandbox used, for replay
    tool_wrapper: Callable[[list[Tool]], list[Tool]] | None = None  # replay swaps tools


class AgentSession:
    """`async with AgentSession(spec, deps) as s: await s.ask("...")`."""

    def __init__(
        self, spec: AgentSpec, deps: RunDeps, *, trigger: str, transcript: str | None = None
    ) -> None:
        self.spec, self.deps, self.trigger = spec, deps, trigger
        self.run_id = deps.new_id()
        self.secrets = Secrets()
        self.stage = CursorStage()
        self.messages: list[dict[str, Any]] = []
        self.tools: dict[str, Tool] = {}
        self.tool_hashes: dict[str, str] = {}
        self.servers: list[tuple[str, str, int]] = []
        self.transcript_path = transcript or str(Path(deps.transcript_dir) / f"{self.run_id}.jsonl")
        self.writer: TranscriptWriter | None = None
        self._stack = AsyncExitStack()
        self._base: ModelRequest | None = None

    async def __aenter__(self) -> AgentSession:
        sources = resolve_sources(self.spec, self.deps.env, self.secrets)
        servers = self._servers()
        try:
            tools = await self._connect(sources, servers)
        except BaseException:
            await self._stack.aclose()
            raise
        if self.deps.tool_wrapper:
            tools = self.deps.tool_wrapper(tools)
        allow, confirm = self.spec.allow_destructive, self.deps.confirm
        self.tools = apply_policies(tools, self.secrets, allow, confirm)
        builtin = [_schema(t) for t in tools if "__" not in t.name]
        self.tool_hashes["builtin"] = _hash(self.redacted(builtin))  # port-independent
        self._base = ModelRequest(
            model=self.spec.model,
            system=self.spec.system_prompt,
            messages=[],
            tools=[_schema(t) for t in self.tools.values()],
            max_tokens=self.spec.max_tokens,
            temperature=self.spec.temperature,
        )
        self.writer = TranscriptWriter(self.transcript_path, self._header(), self.secrets)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # The transcript stays open for the summary: `finish()` writes it and closes.
        # Not shielded: the MCP pool's task group must exit in the scope it was entered in.
        await self._stack.aclose()

    def finish(self, summary: dict[str, Any]) -> None:
        """Write the summary as the transcript's last line and close it."""
        if self.writer:
            self.writer.summary(summary)
            self.writer.close()

    def _servers(self) -> list[ServerConfig]:
        if not self.spec.tools:
            return []
        config = load_mcp_config(self.deps.mcp_config, self.deps.env)
        self.secrets.merge(config.secrets)
        resolved = (config.resolve(n) for n in self.spec.tools)
        return list({s.name: s for s in resolved}.values())

    async def _connect(self, sources: dict[str, Any], servers: list[ServerConfig]) -> list[Tool]:
        from runtime.mcp import McpPool
        from runtime.tools.http import HttpTool

        d = self.deps
        tools: list[Tool] = [
            GetCursorTool(d.store, self.spec.name, self.stage),
            SetCursorTool(d.store, self.spec.name, self.stage, d.clock),
        ]
        if sources:
            from runtime.tools.sync import SyncTool

            http = HttpTool(sources, clock=d.clock, transport=d.http_transport)
            tools.insert(0, await self._stack.enter_async_context(http))
            # The sink sees the final, policy-wrapped tools (MCP ones included) when called.
            bars = (getattr(o, "sync_progress", None) for o in d.observers)
            sync = SyncTool(http, lambda: self.tools, d.store, self.stage, self.spec.name,
                            self.run_id, d.clock, next((b for b in bars if b), None),
                            sources=sources)  # fmt: skip
            tools.insert(1, sync)
        if servers:
            pool = McpPool(
                servers, extra_destructive=self.spec.destructive, warn=d.warn, clock=d.clock
            )
            await self._stack.enter_async_context(pool)
            tools.extend(pool.tools)
            self.servers = pool.summary()
            self.tool_hashes.update({s.name: pool.tool_list_hash(s.name) for s in servers})
        return tools

    def _header(self) -> dict[str, Any]:
        return {
            "source": self.deps.transcript_source,
            "agent": self.spec.name,
            "agent_hash": self.spec.file_hash,
            "model": self.spec.model,
            "clock": self.deps.clock.now().isoformat(),
            "run_id": self.run_id,
            "trigger": self.trigger,
            "tools": self.tool_hashes,
            "sandbox": self.deps.sandbox,
            "cursors": self.deps.store.cursors(self.spec.name),
        }

    async def ask(self, prompt: str) -> LoopResult:
        """One user turn, run to the model's final answer (or a limit)."""
        assert self._base is not None and self.writer is not None, "use 'async with'"
        self.messages.append({"role": "user", "content": prompt})
        self.writer.user(prompt)
        observers = [*self.deps.observers, self.writer]
        return await run_loop(
            self.deps.model,
            self._base,
            self.messages,
            self.tools,
            limits=_limits(self.spec),
            clock=self.deps.clock,
            observer=Fanout(observers),
        )

    def commit(self, result: LoopResult) -> bool:
        """Commit staged cursors of a successful run; a lost compare-and-set fails it."""
        if result.status != "succeeded" or not self.stage.staged:
            return False
        lost = self.stage.commit(
            self.deps.store, self.spec.name, self.run_id, self.deps.clock.now()
        )
        if lost:
            result.status, result.stop_reason = "failed", "cursor_conflict"
            streams = ", ".join(repr(s) for s in lost)
            result.errors.append(f"Cursor of {streams} was moved by another run; not committed.")
            return False
        return True

    def tool_schemas(self) -> list[dict[str, Any]]:
        """The tool list as the model sees it."""
        return [_schema(t) for t in self.tools.values()]

    def redacted(self, value: Any) -> Any:
        """`value` with this session's secrets and variables replaced by placeholders."""
        return redact(value, self.secrets)


def _schema(tool: Tool) -> dict[str, Any]:
    return {"name": tool.name, "description": tool.description, "input_schema": tool.input_schema}


def _hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def _limits(spec: AgentSpec) -> Limits:
    return Limits(
        max_turns=spec.max_turns,
        budget_usd=spec.budget_usd,
        budget_tokens=spec.budget_tokens,
        timeout_s=spec.timeout_s,
    )


class Fanout:
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
