"""`agents chat`: a terminal conversation with one agent, its tools connected once.

One AgentSession for the whole chat; each message is one `session.ask()`, so the
transcript is written like any run's. A turn runs inside its own cancel scope:
Ctrl-C (SIGINT) cancels it, the conversation is repaired so the next request is
valid, and the staged cursors of that turn are dropped. Destructive tools ask y/N
first. On exit the chat is recorded in the store as one run, and staged cursors are
committed only if the last turn succeeded. Rendering is runtime/repl_view.py.

Lines come from a `LineInput` (runtime/cli_chat.py has the terminal and the plain
ones); `python -m runtime.repl` is `agents chat` before it is wired into the CLI.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import asdict, astuple, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import anyio
from anyio.abc import TaskStatus

from runtime import catalog
from runtime.agentfile import AgentSpec
from runtime.errors import RunError
from runtime.loop import LoopResult
from runtime.model import Model, ModelRequest, ModelResponse, Usage
from runtime.repl_view import ChatView
from runtime.runner import with_time
from runtime.session import AgentSession, RunDeps
from runtime.tools import ToolResult

COMMANDS: dict[str, tuple[str, str]] = {
    "/help": ("", "commands and keys"),
    "/tools": ("", "the tools this agent can call, by server"),
    "/sources": ("", "the APIs the http_request tool may reach"),
    "/cost": ("", "tokens and USD so far, prompt-cache hits"),
    "/last": ("[N]", "the last (or N-th last) tool call in full"),
    "/save": ("PATH", "copy the transcript so far to PATH"),
    "/clear": ("", "start a new conversation (tools stay connected)"),
    "/model": ("[NAME]", "show or change the model for the next turns"),
    "/exit": ("", "leave (Ctrl-D also does)"),
}
KEYS = (
    "Enter sends · Esc-Enter (Alt-Enter) new line · Tab completes /commands",
    "Up/Down history · Ctrl-C interrupts a running turn, or clears the line",
    "Ctrl-D on an empty line leaves · destructive tools ask y/N first",
)
INTERRUPTED = "(Interrupted by the user before this turn finished.)"
STOPPED = "(This turn stopped before it finished: {reason}.)"


class LineInput(Protocol):
    """Where the chat's lines come from. EOFError: leave; KeyboardInterrupt: Ctrl-C."""

    async def read(self) -> str: ...

    async def ask(self, question: str) -> str: ...


@dataclass
class Meter:
    """Model usage and tool calls over the chat, interrupted turns included (an Observer)."""

    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    requests: int = 0
    cache_hits: int = 0
    tool_calls: int = 0

    def model_turn(self, response: ModelResponse, duration_s: float) -> None:
        self.usage = self.usage + response.usage
        self.cost_usd = round(self.cost_usd + response.cost_usd, 6)
        self.requests += 1
        self.cache_hits += response.usage.cache_read > 0

    def text_delta(self, text: str) -> None:
        return None

    def tool_start(self, call_id: str, name: str, arguments: dict[str, Any]) -> None:
        return None

    def tool_end(self, call_id: str, name: str, result: ToolResult, duration_s: float) -> None:
        self.tool_calls += 1

    def since(self, before: Meter) -> Meter:
        """What was used after `before` (a copy taken earlier)."""
        pairs = zip(astuple(self.usage), astuple(before.usage), strict=True)
        return Meter(
            Usage(*(a - b for a, b in pairs)),
            round(self.cost_usd - before.cost_usd, 6),
            self.requests - before.requests,
            self.cache_hits - before.cache_hits,
            self.tool_calls - before.tool_calls,
        )


class ModelSwitch:
    """A Model whose model name `/model` can change between turns."""

    def __init__(self, inner: Model, name: str) -> None:
        self.inner, self.name = inner, name

    async def complete(
        self, request: ModelRequest, on_text: Callable[[str], None] | None = None
    ) -> ModelResponse:
        """The inner model's answer to `request` sent to the current model."""
        return await self.inner.complete(replace(request, model=self.name), on_text)


def repair(messages: list[dict[str, Any]], start: int, note: str = INTERRUPTED) -> None:
    """Make a conversation cut at any point valid again (`start`: its length before)."""
    if len(messages) <= start:
        return
    last = messages[-1]
    if last["role"] == "assistant" and any(
        isinstance(b, dict) and b.get("type") == "tool_use" for b in last["content"]
    ):
        messages.pop()  # its calls have no results
    if messages[-1]["role"] == "user":  # the request, or results the model never answered
        messages.append({"role": "assistant", "content": [{"type": "text", "text": note}]})


class Chat:
    """One chat: a session, a prompt loop, slash commands, interruptible turns."""

    def __init__(
        self,
        spec: AgentSpec,
        deps: RunDeps,
        view: ChatView,
        lines: LineInput,
        *,
        transcript: str | None = None,
        signals: bool = True,
    ) -> None:
        self.model, self.meter = ModelSwitch(deps.model, spec.model), Meter()
        observers = [*deps.observers, self.meter, view]
        self.deps = replace(deps, model=self.model, confirm=self.confirm, observers=observers)
        self.session = AgentSession(spec, self.deps, trigger="chat", transcript=transcript)
        self.view, self.lines, self._signals = view, lines, signals
        view.redact = self._scrub
        self.last: LoopResult | None = None
        self.messages = 0
        self.errors: list[str] = []
        self._scope: anyio.CancelScope | None = None
        self._confirming = anyio.Lock()

    async def run(self) -> dict[str, Any]:
        """Connect, chat until the user leaves, record the run; returns its summary."""
        s, d = self.session, self.deps
        started, committed, staged = d.clock.monotonic(), False, list[str]()
        d.store.start_run(s.run_id, s.spec.name, "chat", None, d.clock.now())
        try:
            async with AsyncExitStack() as stack:
                with self.view.console.status(f"Connecting {len(s.spec.tools)} MCP servers…"):
                    await stack.enter_async_context(s)
                builtins = ", ".join(n for n in s.tools if "__" not in n)
                self.view.banner(s.spec, s.servers, builtins)
                await self._repl()
            staged = sorted(s.stage.staged)  # commit() empties the stage
            committed = self._commit()
        except BaseException as exc:  # could not connect, Ctrl-C while connecting, or a bug
            cancelled = isinstance(exc, (anyio.get_cancelled_exc_class(), KeyboardInterrupt))
            status = "cancelled" if cancelled else "failed"
            self.last = LoopResult(status=status, stop_reason=status if cancelled else "error")
            reason = str(exc) if isinstance(exc, RunError) else f"{type(exc).__name__}: {exc}"
            self.errors.append("Cancelled." if cancelled else reason)
            raise
        finally:
            summary = self._record(committed, d.clock.monotonic() - started)
        self._goodbye(summary, staged)
        return summary

    async def _repl(self) -> None:
        async with anyio.create_task_group() as tg:
            if self._signals:
                await tg.start(self._watch_interrupts)
            while (line := await self._read()) is not None:
                text = line.strip()
                if text.startswith("/") and not await self._command(text):
                    break
                if text and not text.startswith("/"):
                    await self._turn(text)
            tg.cancel_scope.cancel()

    async def _watch_interrupts(self, *, task_status: TaskStatus[None]) -> None:
        """SIGINT (Ctrl-C outside the prompt) cancels what is running: a turn, a read."""
        with anyio.open_signal_receiver(signal.SIGINT) as interrupts:
            task_status.started()
            async for _ in interrupts:
                if self._scope is not None:
                    self._scope.cancel()

    async def _read(self) -> str | None:
        """The next line; '' after Ctrl-C at the prompt, None when the user leaves."""
        with anyio.CancelScope() as scope:
            self._scope = scope
            try:
                return await self.lines.read()
            except KeyboardInterrupt:
                self.view.hint("(Ctrl-D or /exit leaves.)")
                return ""
            except EOFError:
                return None
            finally:
                self._scope = None
        return ""

    async def _turn(self, text: str) -> None:
        """Ask once; on interruption or failure repair the conversation, drop its cursors."""
        s, clock = self.session, self.deps.clock
        start, staged, t0 = len(s.messages), dict(s.stage.staged), clock.monotonic()
        marks = dict(s.stage.marks)
        before = replace(self.meter)
        result: LoopResult | None = None
        self.view.begin_turn(self.model.name)
        try:
            with anyio.CancelScope() as scope:
                self._scope = scope
                result = await s.ask(with_time(text, self.deps))
        except RunError as exc:
            result = LoopResult(status="failed", stop_reason="error", errors=[str(exc)])
        finally:
            self._scope = None
            self.view.end_turn()
        if result is None:
            result = LoopResult(status="cancelled", stop_reason="interrupted")
        if result.status != "succeeded":
            note = STOPPED.format(reason=result.stop_reason)
            repair(s.messages, start, INTERRUPTED if result.status == "cancelled" else note)
            s.stage.staged, s.stage.marks = staged, marks  # that turn's writes may be incomplete
        self.last, self.messages = result, self.messages + 1
        self.errors.extend(result.errors)
        self.view.turn_summary(result, self.meter.since(before), clock.monotonic() - t0)
        if result.status == "cancelled":
            self.view.hint("Interrupted: the conversation goes on without the unfinished part.")

    async def confirm(self, name: str, arguments: dict[str, Any]) -> bool:
        """Ask the user before a destructive tool runs (Ctrl-C here interrupts the turn)."""
        async with self._confirming:
            with self.view.paused():
                self.view.confirm_request(name, arguments)
                try:
                    answer = await self.lines.ask("Run it? [y/N] ")
                except EOFError:
                    answer = ""
                except KeyboardInterrupt:
                    answer = ""
                    if self._scope is not None:
                        self._scope.cancel()
        ok = answer.strip().lower() in ("y", "yes")
        self.view.hint("  confirmed" if ok else "  declined: the tool was not called")
        return ok

    async def _command(self, text: str) -> bool:
        """Run a slash command; False means leave."""
        name, _, arg = text.partition(" ")
        arg, v = arg.strip(), self.view
        match name:
            case "/exit" | "/quit":
                return False
            case "/help":
                v.help(COMMANDS, KEYS)
            case "/tools":
                v.tools(self.session.tools)
            case "/sources":
                v.sources(self.session.spec)
            case "/cost":
                v.cost(self.meter, self.model.name)
            case "/last":
                v.last(int(arg) if arg.isdigit() else 1)
            case "/save":
                self._save(arg)
            case "/clear":
                self.session.messages.clear()
                v.info("New conversation: the model no longer sees what was said before.")
            case "/model":
                self._switch_model(arg)
            case _:
                v.error(f"Unknown command '{name}'. Type /help for the list.")
        return True

    def _save(self, arg: str) -> None:
        if not arg:
            self.view.error("Usage: /save PATH")
            return
        dest = Path(arg).expanduser()
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.session.transcript_path, dest)
        except OSError as exc:
            self.view.error(f"Could not save the transcript to '{dest}': {exc.strerror}.")
            return
        self.view.info(f"Transcript so far saved to '{dest}'.")

    def _switch_model(self, name: str) -> None:
        if not name:
            known = ", ".join(sorted(catalog.PRICES))
            self.view.info(f"Model: {self.model.name}. Priced models: {known}.")
            return
        self.model.name = name
        self.session.spec = self.session.spec.model_copy(update={"model": name})
        self.view.info(f"The next turns use '{name}'.")
        if catalog.price_for(name) is None:
            self.view.warn(f"No price known for '{name}': /cost counts it as $0.")

    def _commit(self) -> bool:
        """Commit staged cursors if the last turn succeeded (a lost race is an error)."""
        if self.last is None:
            return False
        known = len(self.last.errors)
        committed = self.session.commit(self.last)
        self.errors.extend(self.last.errors[known:])
        return committed

    def _scrub(self, text: str) -> str:
        for name, value in self.session.secrets.values.items():
            text = text.replace(value, f"${{{name}}}")
        return text

    def _summary(self, committed: bool, duration_s: float) -> dict[str, Any]:
        last, m, s = self.last, self.meter, self.session
        return {
            "run_id": s.run_id,
            "agent": s.spec.name,
            "status": last.status if last else "succeeded",
            "stop_reason": last.stop_reason if last else "exit",
            "messages": self.messages,
            "turns": m.requests,
            "tool_calls": m.tool_calls,
            "tokens": asdict(m.usage),
            "cost_usd": m.cost_usd,
            "duration_s": round(duration_s, 3),
            "cursor_committed": committed,
            "errors": self.errors,
            "final_text": last.final_text if last else "",
            "transcript": s.transcript_path,
        }

    def _record(self, committed: bool, duration_s: float) -> dict[str, Any]:
        """Write the summary to the transcript and the store; returns it (redacted)."""
        s, d = self.session, self.deps
        summary: dict[str, Any] = s.redacted(self._summary(committed, duration_s))
        s.finish(summary)
        status, reason = summary["status"], summary["stop_reason"]
        d.store.finish_run(s.run_id, status, reason, summary, d.clock.now(), s.transcript_path)
        return summary

    def _goodbye(self, summary: dict[str, Any], staged: list[str]) -> None:
        note = "no cursor to commit"
        if staged:
            done = summary["cursor_committed"]
            note = f"cursor {'committed' if done else 'NOT committed'}: {', '.join(staged)}"
        self.view.hint(f"Run {summary['run_id']} recorded ({summary['status']}); {note}.")
        self.view.hint(f"Transcript: {summary['transcript']}")


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m runtime.repl AGENT ...`: `agents chat` without the `agents` command."""
    from runtime import cli
    from runtime.cli_chat import build_chat

    parser = argparse.ArgumentParser(prog="agents chat", description="Chat with an agent.")
    build_chat(parser)
    args = parser.parse_args(argv)
    cli._load_dotenv()
    return cli._dispatch(args.handler, args)


if __name__ == "__main__":
    sys.exit(main())
