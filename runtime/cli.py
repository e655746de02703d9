"""The `agents` command: parses options, builds objects, calls one function, prints.

Imports are lazy so `agents --help` stays fast. Errors derived from AgentsError become
a message and an exit code (1, or 2 for usage); anything else is a bug and keeps its
traceback, shown in full with AGENTS_DEBUG=1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from runtime.cli_chat import build_chat
from runtime.cli_ops import build_runs, build_serve, mcp_option
from runtime.cli_sandbox import build_sandbox

Handler = Callable[[argparse.Namespace], int]

EPILOG = """\
examples:
  agents demo                                  run the flagship agent against the sandboxes
  agents check agents/*.md                     validate agent files
  agents run woocommerce-brevo-sync "sync last week's customers" --json
  agents sandbox --customers 200               local WooCommerce + Brevo for development
  agents serve agents --port 8787              cron + webhook triggers of every agent
  agents runs --agent woocommerce-brevo-sync   run history

AGENT is a path to an agent file or the name of one in ./agents.
Environment: ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL, AGENTS_DB, AGENTS_DEBUG=1, NO_COLOR.
A ./.env file is read without overriding variables already set.
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="agents",
        description="Run LLM agents written as Markdown files that sync REST APIs into Brevo.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=_version())
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, (build, summary) in COMMANDS.items():
        sp = sub.add_parser(
            name,
            help=summary,
            description=summary,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        build(sp)
    return p


def _version() -> str:
    from runtime import __version__

    return f"agents {__version__}"


def _db_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db",
        default=None,
        metavar="PATH",
        help="SQLite file for runs and cursors (default: $AGENTS_DB or ./.agents/agents.db)",
    )


def _build_check(p: argparse.ArgumentParser) -> None:
    p.epilog = "Exit 0 when every file is valid, 1 otherwise. Missing ${VAR}s are errors."
    p.add_argument("agents", nargs="+", metavar="AGENT", help="agent files or names")
    mcp_option(p)
    p.set_defaults(handler=_cmd_check)


def _build_run(p: argparse.ArgumentParser) -> None:
    p.epilog = (
        "Exit 0 when the run succeeded, 1 when it failed, 2 on bad usage or config.\n"
        "With --json the last line of stdout is one JSON summary object."
    )
    p.add_argument("agent", metavar="AGENT", help="agent file or name")
    p.add_argument("prompt", nargs="?", help="what to do (default: the agent's task)")
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    p.add_argument("--transcript", metavar="PATH", help="where to write the run's transcript")
    p.add_argument("-m", "--model", default=os.environ.get("AGENTS_MODEL"), help="override model")
    mcp_option(p)
    _db_option(p)
    p.set_defaults(handler=_cmd_run)


def _build_demo(p: argparse.ArgumentParser) -> None:
    p.epilog = (
        "Starts the WooCommerce and Brevo sandboxes in-process on 127.0.0.1 and runs the\n"
        "flagship agent on: \"sync last week's customers and add the new ones to the\n"
        'Welcome Series list". With ANTHROPIC_API_KEY set it uses Claude live; without,\n'
        "it replays the bundled scripted transcript and says so."
    )
    p.set_defaults(handler=_cmd_demo)


def _build_replay(p: argparse.ArgumentParser) -> None:
    p.epilog = (
        "Default: model answers come from the transcript (through the real SDK), tools run\n"
        "for real against the sandbox its header names, and every step is compared.\n"
        "Exit 0 when every step matches, 1 on divergence (the first one is reported)."
    )
    p.add_argument("transcripts", nargs="+", metavar="TRANSCRIPT", help="JSONL transcripts")
    p.add_argument("--offline", action="store_true", help="answer tools from the transcript too")
    p.add_argument(
        "--update", action="store_true", help="rewrite the transcript after an intended change"
    )
    p.set_defaults(handler=_cmd_replay)


def _cmd_demo(args: argparse.Namespace) -> int:
    import anyio

    from runtime.console import stderr, stdout
    from runtime.demo import demo

    return anyio.run(demo, stdout(), stderr())


def _cmd_replay(args: argparse.Namespace) -> int:
    import anyio

    from runtime.console import print_replay
    from runtime.replay import replay

    async def one(path: str) -> Any:
        return await replay(path, offline=args.offline, update=args.update)

    failed = 0
    for path in args.transcripts:
        report = anyio.run(one, path)
        print_replay(report, updated=args.update)
        failed += not report.ok
    return 1 if failed else 0


def _cmd_check(args: argparse.Namespace) -> int:
    from runtime.check import check_agent
    from runtime.console import print_check

    results = [
        check_agent(_agent_path(a), os.environ, args.mcp_config) for a in _expand(args.agents)
    ]
    print_check(results)
    return 0 if all(r.ok for r in results) else 1


def _cmd_run(args: argparse.Namespace) -> int:
    import anyio

    from runtime.console import print_summary
    from runtime.runner import RunRequest, run_from_cli

    request = RunRequest(
        agent_path=_agent_path(args.agent),
        prompt=args.prompt,
        mcp_config=args.mcp_config,
        db_path=_db_path(args.db),
        transcript_path=args.transcript,
        model=args.model,
        trigger="cli",
        quiet=bool(args.json) and not sys.stderr.isatty(),
    )
    summary = anyio.run(run_from_cli, request)
    print_summary(summary, as_json=args.json)
    return 0 if summary["status"] == "succeeded" else 1


def _agent_path(agent: str) -> str:
    """A path as given, or ./agents/NAME.md."""
    from pathlib import Path

    from runtime.errors import UsageError

    if Path(agent).is_file():
        return agent
    candidate = Path("agents") / f"{agent.removesuffix('.md')}.md"
    if candidate.is_file():
        return str(candidate)
    raise UsageError(
        f"Agent '{agent}' not found (no such file, and no {candidate}). "
        "Run 'agents check agents/*.md' to list valid agents."
    )


def _expand(names: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(names))


def _db_path(given: str | None) -> str:
    return given or os.environ.get("AGENTS_DB") or os.path.join(".agents", "agents.db")


COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], str]] = {
    "demo": (_build_demo, "run the flagship agent against in-process sandboxes"),
    "run": (_build_run, "one headless run of an agent"),
    "chat": (build_chat, "chat with an agent in the terminal (tool calls live, /help)"),
    "replay": (_build_replay, "replay transcripts as regression tests"),
    "check": (_build_check, "validate agent files (clear errors with file:line)"),
    "serve": (build_serve, "cron and webhook triggers of every agent in a folder; GET /healthz"),
    "runs": (build_runs, "run history ('agents runs show RUN_ID' for one run)"),
    "sandbox": (build_sandbox, "run the sandboxes on 127.0.0.1 and print their URLs and keys"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `agents` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    _load_dotenv()
    return _dispatch(args.handler, args)


def _load_dotenv() -> None:
    from dotenv import load_dotenv

    load_dotenv(os.path.join(os.getcwd(), ".env"), override=False)


def _dispatch(handler: Handler, args: Any) -> int:
    from runtime.errors import AgentsError

    try:
        return handler(args)
    except AgentsError as exc:
        if os.environ.get("AGENTS_DEBUG"):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
