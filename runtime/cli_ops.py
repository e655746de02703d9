"""`agents serve` and `agents runs`: argparse builders and handlers (imports stay lazy).

runtime/cli.py registers them in its COMMANDS table; `python -m runtime.serve` uses
`build_serve` and `run_standalone` directly.
"""

from __future__ import annotations

import argparse
import os
import sys

SERVE_EPILOG = """\
Loads every AGENTS_DIR/*.md (invalid files are reported and skipped), fires their cron
triggers and serves their webhook triggers, plus GET /healthz and GET /runs.
Logs: JSON lines on stderr (rich on a terminal). SIGTERM/SIGINT: stop taking work,
let running runs finish within --grace seconds, cancel the rest; exit 0.
Exit 2 when no agent is valid or the options are wrong."""

PIPE_WIDTH = 120  # `agents runs | less`: wide enough for every column
RUNS_EPILOG = """\
examples:
  agents runs --agent woocommerce-brevo-sync --limit 50
  agents runs show 3f2a9c        (a unique prefix of the run id is enough)"""


def build_serve(p: argparse.ArgumentParser) -> None:
    """Options of `agents serve`."""
    p.epilog = SERVE_EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    env = os.environ.get
    p.add_argument(
        "agents_dir",
        nargs="?",
        default="agents",
        metavar="AGENTS_DIR",
        help="folder of agent files (default: ./agents)",
    )
    p.add_argument(
        "--host",
        default=env("AGENTS_HOST", "127.0.0.1"),
        help="address to listen on (default: 127.0.0.1, or $AGENTS_HOST)",
    )
    p.add_argument(
        "--port",
        type=int,
        default=env("AGENTS_PORT", "8787"),  # a string default goes through type=int
        help="port (default: 8787, or $AGENTS_PORT; 0 picks a free one)",
    )
    _tuning_options(p)
    mcp_option(p)
    _db_option(p)
    p.set_defaults(handler=_cmd_serve)


def _tuning_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--grace",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long running runs may finish on shutdown (default: 30)",
    )
    p.add_argument(
        "--workers", type=int, default=4, help="webhook runs at once, across agents (default: 4)"
    )
    p.add_argument(
        "--queue",
        type=int,
        default=64,
        metavar="N",
        help="deliveries waiting before 429 (default: 64)",
    )


def build_runs(p: argparse.ArgumentParser) -> None:
    """Options of `agents runs` and `agents runs show RUN_ID`."""
    p.epilog = RUNS_EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("--agent", help="only this agent's runs")
    p.add_argument("--limit", type=int, default=20, help="how many (default: 20)")
    p.add_argument("--json", action="store_true", help="one JSON array on stdout")
    _db_option(p)
    sub = p.add_subparsers(dest="runs_command", metavar="{show}")
    show = sub.add_parser("show", help="one run in detail", description="One run in detail.")
    show.add_argument("run_id", metavar="RUN_ID", help="a run id or a unique prefix of one")
    show.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="one JSON object on stdout"
    )
    _db_option(show, suppress=True)
    p.set_defaults(handler=_cmd_runs)


def run_standalone(args: argparse.Namespace) -> int:
    """Run a handler outside `agents` (python -m runtime.serve): .env, errors, exit code."""
    from dotenv import load_dotenv

    from runtime.errors import AgentsError

    load_dotenv(os.path.join(os.getcwd(), ".env"), override=False)
    try:
        code: int = args.handler(args)
    except AgentsError as exc:
        if os.environ.get("AGENTS_DEBUG"):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return code


def _cmd_serve(args: argparse.Namespace) -> int:
    from runtime.clock import SystemClock
    from runtime.errors import UsageError
    from runtime.logs import event_log
    from runtime.serve import ServeConfig, serve_forever

    if args.workers < 1 or args.queue < 1 or args.grace < 0 or not 0 <= args.port < 65536:
        raise UsageError("--workers and --queue must be at least 1, --grace at least 0.")
    config = ServeConfig(
        agents_dir=args.agents_dir,
        host=args.host,
        port=args.port,
        db_path=_db_path(args.db),
        mcp_config=args.mcp_config,
        grace_s=args.grace,
        workers=args.workers,
        queue_size=args.queue,
    )
    return serve_forever(config, dict(os.environ), event_log(SystemClock()))


def _cmd_runs(args: argparse.Namespace) -> int:
    from rich.console import Console

    from runtime.errors import AgentsError, UsageError
    from runtime.history import print_run, print_runs
    from runtime.store import RunStore

    path = _db_path(args.db)
    if args.limit < 1:
        raise UsageError("--limit must be at least 1.")
    showing = getattr(args, "runs_command", None) == "show"
    if not os.path.exists(path):
        if showing:
            raise AgentsError(f"No run database at '{path}'. Pass --db PATH or set AGENTS_DB.")
        print(f"No runs yet ({path} does not exist).", file=sys.stderr)
        return 0
    store = RunStore(path)
    try:
        console = Console(highlight=False, width=None if sys.stdout.isatty() else PIPE_WIDTH)
        if showing:
            record = store.run(args.run_id)
            if record is None:
                raise AgentsError(
                    f"No run '{args.run_id}' in {path} (or the prefix is not unique). "
                    "Run 'agents runs' to list recent runs."
                )
            print_run(record, console, as_json=args.json)
            return 0
        print_runs(store.runs(args.agent, args.limit), console, as_json=args.json)
        return 0
    finally:
        store.close()


def mcp_option(p: argparse.ArgumentParser) -> None:
    """The --mcp-config option every command that connects to MCP servers takes."""
    p.add_argument(
        "--mcp-config",
        default=os.environ.get("AGENTS_MCP_CONFIG", "mcp.json"),
        metavar="PATH",
        help="MCP servers file (default: ./mcp.json, or $AGENTS_MCP_CONFIG)",
    )


def _db_option(p: argparse.ArgumentParser, suppress: bool = False) -> None:
    p.add_argument(
        "--db",
        default=argparse.SUPPRESS if suppress else None,
        metavar="PATH",
        help="SQLite file of runs and cursors (default: $AGENTS_DB or ./.agents/agents.db)",
    )


def _db_path(given: str | None) -> str:
    return given or os.environ.get("AGENTS_DB") or os.path.join(".agents", "agents.db")
