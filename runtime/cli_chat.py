"""`agents chat AGENT`: its options, and the real things the REPL runs on.

The REPL itself is runtime/repl.py (rendering: repl_view.py). Here: the options, the
real dependencies (Claude, SQLite) and where lines come from: `TerminalInput`
(prompt_toolkit) on a terminal, `PlainInput` from a pipe or file. Wired into
runtime/cli.py's COMMANDS table; imports stay lazy so `agents --help` is fast.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

EPILOG = """\
keys:
  Enter sends · Esc-Enter (Alt-Enter) new line · Tab completes /commands · Up/Down history
  Ctrl-C interrupts a running turn · Ctrl-D or /exit leaves
commands: /help /tools /sources /cost /last /save PATH /clear /model NAME /exit

The chat is recorded as one run (trigger 'chat') with its transcript; staged sync
cursors are committed on exit only if the last turn succeeded.
Input history: $AGENTS_HOME/chat_history (default ./.agents/chat_history).
"""


def build_chat(p: argparse.ArgumentParser) -> None:
    """Add the `chat` options to `p` and set its handler."""
    from runtime import cli

    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("agent", metavar="AGENT", help="agent file or name")
    p.add_argument("-m", "--model", default=os.environ.get("AGENTS_MODEL"), help="override model")
    p.add_argument("--transcript", metavar="PATH", help="where to write the chat's transcript")
    cli.mcp_option(p)
    cli._db_option(p)
    p.set_defaults(handler=_cmd_chat)


def _cmd_chat(args: argparse.Namespace) -> int:
    import anyio

    from runtime import cli

    request = ChatRequest(
        agent_path=cli._agent_path(args.agent),
        mcp_config=args.mcp_config,
        db_path=cli._db_path(args.db),
        model=args.model,
        transcript_path=args.transcript,
        home=os.environ.get("AGENTS_HOME") or ".agents",
    )
    anyio.run(chat_from_cli, request)
    return 0


@dataclass
class ChatRequest:
    """What `agents chat` was asked for."""

    agent_path: str
    mcp_config: str = "mcp.json"
    db_path: str = ".agents/agents.db"
    model: str | None = None
    transcript_path: str | None = None
    home: str = ".agents"


async def chat_from_cli(request: ChatRequest) -> dict[str, Any]:
    """Build the real dependencies (Claude, SQLite, the terminal) and chat."""
    from rich.console import Console

    from runtime import catalog
    from runtime.agentfile import load_agent
    from runtime.clock import SystemClock
    from runtime.model import ClaudeModel
    from runtime.repl import COMMANDS, Chat, LineInput
    from runtime.repl_view import ChatView
    from runtime.session import RunDeps
    from runtime.store import RunStore

    spec = load_agent(request.agent_path)
    if request.model:
        spec = spec.model_copy(update={"model": request.model})
    console = Console(highlight=False)
    view = ChatView(console)
    lines: LineInput
    if sys.stdin.isatty() and sys.stdout.isatty():
        words = [*COMMANDS, *(f"/model {m}" for m in catalog.PRICES)]
        lines = TerminalInput(Path(request.home) / "chat_history", words)
    else:
        lines = PlainInput(sys.stdin.fileno(), console)
    clock, store = SystemClock(), RunStore(request.db_path)
    model = ClaudeModel(clock=clock, notice=lambda m: view.hint(f"note: {m}"))
    try:
        deps = RunDeps(
            model=model, store=store, clock=clock, mcp_config=request.mcp_config, warn=view.warn
        )
        chat = Chat(spec, deps, view, lines, transcript=request.transcript_path)
        return await chat.run()
    finally:
        await model.aclose()
        store.close()


class TerminalInput:
    """prompt_toolkit: history in a file, Esc-Enter for a new line, /command completion."""

    def __init__(self, history: Path, commands: list[str]) -> None:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.completion import WordCompleter
        from prompt_toolkit.history import FileHistory
        from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent

        history.parent.mkdir(parents=True, exist_ok=True)
        keys = KeyBindings()

        @keys.add("escape", "enter")
        def _newline(event: KeyPressEvent) -> None:
            event.current_buffer.insert_text("\n")

        self._prompt: PromptSession[str] = PromptSession(
            history=FileHistory(str(history)),
            completer=WordCompleter(commands, sentence=True),  # the whole line: "/mo" -> "/model"
            key_bindings=keys,
            prompt_continuation="… ",
        )
        self._confirm: PromptSession[str] = PromptSession()

    async def read(self) -> str:
        """One message (several lines with Esc-Enter); Ctrl-C, Ctrl-D raise."""
        return await self._prompt.prompt_async(
            [("bold", "› ")], handle_sigint=False, set_exception_handler=False
        )

    async def ask(self, question: str) -> str:
        """A one-line answer, kept out of the history."""
        return await self._confirm.prompt_async(
            [("bold yellow", question)], handle_sigint=False, set_exception_handler=False
        )


class PlainInput:
    """Lines from a pipe, a file or a non-interactive terminal; echoed after the prompt."""

    def __init__(self, fd: int, console: Console) -> None:
        self._fd, self._console, self._buffer, self._eof = fd, console, b"", False
        self._pollable = not stat.S_ISREG(os.fstat(fd).st_mode)  # a file is always readable

    async def read(self) -> str:
        """The next line; EOFError at the end of the input."""
        return await self.ask("› ")

    async def ask(self, question: str) -> str:
        """Write `question`, read a line (cancellable: no thread), echo it."""
        self._console.print(question, end="", markup=False, highlight=False)
        line = ""
        try:
            line = await self._line()
        finally:  # the echo, or just the end of the prompt's line at EOF
            self._console.print(line, markup=False, highlight=False)
        return line

    async def _line(self) -> str:
        import anyio

        while b"\n" not in self._buffer:
            if self._eof:
                if not self._buffer:
                    raise EOFError
                rest, self._buffer = self._buffer, b""
                return rest.decode("utf-8", "replace")
            if self._pollable:
                await anyio.wait_readable(self._fd)
            chunk = os.read(self._fd, 65536)
            self._eof = not chunk
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode("utf-8", "replace")
