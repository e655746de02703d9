"""`agents replay`: run a transcript again and report the first step that diverges.

Default mode: model responses come from the transcript through the real anthropic SDK
(a replay transport under it, not a bypass); tools run for real against the sandbox
the header names, rebuilt with its seed on the transcript's frozen clock; every model
request, tool input and tool result is compared with the recording.
`offline`: tool results come from the transcript too; what is checked is that the
runtime would send the same requests (prompts, tool schemas, tool lists).
`update`: the transcript is rewritten from this replay, keeping its provenance.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx2

from runtime.agentfile import AgentSpec, load_agent
from runtime.clock import FrozenClock
from runtime.errors import RunError, UsageError
from runtime.replay_match import Divergence, first_difference, normalize_request, normalize_result
from runtime.replay_tools import RecordedTools, ToolChecker
from runtime.session import AgentSession, RunDeps
from runtime.store import RunStore
from runtime.transcript import Transcript, load_transcript
from runtime.wire import error_body, sse_events

REPO = Path(__file__).resolve().parent.parent


@dataclass
class ReplayReport:
    """The outcome of replaying one transcript."""

    path: str
    mode: str
    steps: int = 0
    divergences: list[Divergence] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    brevo: dict[str, Any] = field(default_factory=dict)  # the sandbox's end state

    @property
    def ok(self) -> bool:
        return not self.divergences

    def diverge(self, d: Divergence) -> None:
        """Keep the divergence (the first one is the one reported)."""
        self.divergences.append(d)

    def step(self) -> int:
        """Count one compared event; returns its number."""
        self.steps += 1
        return self.steps


class ReplayTransport(httpx2.AsyncBaseTransport):
    """Answers /v1/messages with the recorded responses, checking each request first."""

    def __init__(self, transcript: Transcript, report: ReplayReport, update: bool) -> None:
        self._requests = transcript.of("model_request")
        self._responses = transcript.of("model_response")
        self._report, self._update = report, update
        self._next = 0
        self.redact: Any = lambda value: value  # set to the session's redaction once open

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        i, self._next = self._next, self._next + 1
        step = self._report.step()
        if i >= len(self._responses):
            return self._fail(Divergence(step, None, "sequence", "$", "<end>", "model request"))
        body = self.redact(json.loads(request.content))
        recorded = self._requests[i]
        found = first_difference(normalize_request(recorded["body"]), normalize_request(body))
        if found and not self._update:
            path, a, b = found
            return self._fail(Divergence(step, recorded["_line"], "model_request", path, a, b))
        message = self._responses[i]["body"]
        headers = {"request-id": self._responses[i].get("request_id") or "req_replay"}
        if body.get("stream"):
            headers["content-type"] = "text/event-stream"
            return httpx2.Response(200, headers=headers, content=sse_events(message))
        return httpx2.Response(200, headers=headers, json=message)

    def _fail(self, divergence: Divergence) -> httpx2.Response:
        self._report.diverge(divergence)
        body = error_body("invalid_request_error", f"replay diverged: {divergence.matcher}")
        return httpx2.Response(400, json=body, headers={"x-should-retry": "false"})


def find_agent(name: str) -> AgentSpec:
    """The agent a transcript names: ./agents/NAME.md, else the repository's."""
    for folder in (Path("agents"), REPO / "agents"):
        if (folder / f"{name}.md").is_file():
            return load_agent(folder / f"{name}.md")
    raise UsageError(f"Agent '{name}' named by the transcript is not in ./agents.")


async def replay(
    path: str, *, offline: bool = False, update: bool = False, observers: list[Any] | None = None
) -> ReplayReport:
    """Replay one transcript; see the module docstring for the modes."""
    from runtime.world import World, WorldSpec

    t = load_transcript(path)
    report = ReplayReport(path, "offline" if offline else "default")
    spec = find_agent(str(t.header.get("agent")))
    clock = FrozenClock(datetime.fromisoformat(t.header["clock"]))
    sandbox = t.header.get("sandbox")
    if not isinstance(sandbox, dict):
        raise UsageError(f"{path}: the header names no sandbox, so its tools cannot be rebuilt.")
    with tempfile.TemporaryDirectory() as tmp, World(WorldSpec.from_header(sandbox), clock) as w:
        store = RunStore(Path(tmp) / "replay.db")
        try:
            _seed_cursors(store, spec.name, t.header.get("cursors") or {}, clock)
            await _drive(t, spec, report, w.env, store, clock, tmp, offline, update, observers)
        finally:
            store.close()
            report.brevo = {"contacts": w.brevo.contacts(), "lists": w.brevo.lists()}
        if update and report.ok:
            shutil.copyfile(Path(tmp) / "replay.jsonl", path)
    return report


async def _drive(
    t: Transcript,
    spec: AgentSpec,
    report: ReplayReport,
    env: dict[str, str],
    store: RunStore,
    clock: FrozenClock,
    tmp: str,
    offline: bool,
    update: bool,
    observers: list[Any] | None,
) -> None:
    transport = ReplayTransport(t, report, update)
    checker = ToolChecker(t, report, update)
    recorded = RecordedTools(t, report) if offline else None
    from runtime.model import ClaudeModel

    async with httpx2.AsyncClient(transport=transport) as http:
        model = ClaudeModel(
            api_key="replay-transport-key",
            base_url="http://replay.invalid",
            clock=clock,
            http_client=http,
        )
        deps = RunDeps(
            model=model,
            store=store,
            clock=clock,
            env=env,
            observers=[checker, *(observers or [])],
            mcp_config=str(REPO / "mcp.json"),
            new_id=lambda: str(t.header.get("run_id") or "replay"),
            transcript_source=str(t.header["source"]),
            sandbox=t.header.get("sandbox"),
            tool_wrapper=recorded.wrap if recorded else None,
        )
        session = AgentSession(spec, deps, trigger="replay", transcript=f"{tmp}/replay.jsonl")
        async with session:
            transport.redact = checker.redact = session.redacted
            if recorded:
                recorded.redact = session.redacted
            if not update:
                _check_tool_lists(t, session, report)
            await _ask_all(t, session, report)
        session.finish(report.summary)


async def _ask_all(t: Transcript, session: AgentSession, report: ReplayReport) -> None:
    for user in t.of("user"):
        if not report.ok:
            return
        try:
            result = await session.ask(user["content"])
        except RunError as exc:  # the replay transport refused a diverging request
            report.summary = {"status": "failed", "errors": [str(exc)]}
            return
        report.summary = {
            "status": result.status,
            "turns": result.turns,
            "errors": result.errors,
            "final_text": result.final_text,
        }
        if result.status == "succeeded":
            session.commit(result)
    recorded = next(iter(t.of("summary")), {})
    if report.ok and recorded.get("status") and recorded["status"] != report.summary["status"]:
        line = recorded.get("_line")
        a, b = recorded["status"], report.summary["status"]
        report.diverge(Divergence(report.step(), line, "summary", "$.status", a, b))


def _check_tool_lists(t: Transcript, session: AgentSession, report: ReplayReport) -> None:
    """A changed tool list is reported as such, with the first schema difference."""
    recorded = t.header.get("tools") or {}
    changed = [s for s in sorted(set(recorded) | set(session.tool_hashes))
               if recorded.get(s) != session.tool_hashes.get(s)]  # fmt: skip
    if not changed:
        return
    requests = t.of("model_request")
    first: dict[str, Any] = requests[0] if requests else {"body": {}, "_line": None}
    old = [_plain(x) for x in first["body"].get("tools", [])]
    new = [_plain(x) for x in session.redacted(session.tool_schemas())]
    path, a, b = first_difference(old, new, "$.tools") or ("$.tools", "?", "?")
    note = f"the tool list of {', '.join(repr(s) for s in changed)} changed"
    report.diverge(Divergence(report.step(), first["_line"], "tool_list", path, a, b, note))


def _plain(tool: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in tool.items() if k != "cache_control"}


def _seed_cursors(store: RunStore, agent: str, cursors: dict[str, str], clock: FrozenClock) -> None:
    for stream, value in cursors.items():
        store.commit_cursor(agent, stream, None, value, "transcript", clock.now())


__all__ = ["ReplayReport", "find_agent", "normalize_result", "replay"]
