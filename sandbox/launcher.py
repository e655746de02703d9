"""`agents sandbox`: every emulator on 127.0.0.1 in the foreground, until Ctrl-C or SIGTERM.

    python -m sandbox.launcher --woo-port 0 --brevo-port 0 --env-file .env

Runs WooCommerce, Brevo (MCP + REST mirror), the CRM and the WooCommerce MCP server,
each on its own port (0 picks a free one). stdout gets only `export NAME=value` lines
(pipe-friendly); the human summary goes to stderr. A foreground process cannot export
into the shell that started it, so `--env-file PATH` writes the same lines to a file:
`--env-file .env` makes `agents run` pick them up, `source PATH` loads them in a shell.

Only argparse and the standard library are imported at module level, so building the
`agents` parser stays cheap; the sandboxes are imported when they are started.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

HOST = "127.0.0.1"
RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d*\.?\d*)\s*(s|sec|m|min)?\s*$", re.I)
Rate = tuple[int, float]


@dataclass(frozen=True)
class SandboxOptions:
    """What `agents sandbox` was asked for."""

    woo_port: int = 8081
    brevo_port: int = 8082
    crm_port: int = 8083
    woo_mcp_port: int = 8084
    customers: int = 60
    orders: int = 150
    crm_contacts: int = 40
    seed: int = 7
    rate_limit: Rate | None = (25, 10.0)
    crm_rate_limit: Rate | None = (10, 1.0)
    data: str | None = None
    env_file: str | None = None


class LaunchError(Exception):
    """A sandbox could not start; the message says what to do."""


def parse_rate(text: str) -> Rate | None:
    """'25/10s' -> (25, 10.0), '10/s' -> (10, 1.0), '100/min' -> (100, 60.0), 'off' -> None."""
    if text.strip().lower() in ("off", "none", "0"):
        return None
    found = RATE_RE.match(text)
    if not found or int(found[1]) < 1:
        raise argparse.ArgumentTypeError(
            f"Invalid rate limit '{text}'. Use REQUESTS/WINDOW like '25/10s', '10/s' or 'off'."
        )
    amount = float(found[2]) if found[2] else 1.0
    unit = 60.0 if (found[3] or "s").lower().startswith("m") else 1.0
    if amount <= 0:
        raise argparse.ArgumentTypeError(f"Invalid rate limit '{text}': the window must be > 0.")
    return int(found[1]), amount * unit


def add_options(p: argparse.ArgumentParser) -> None:
    """The sandbox command's options (shared by `agents sandbox` and `python -m`)."""
    d = SandboxOptions()
    ports = (
        ("--woo-port", d.woo_port, "WooCommerce"),
        ("--brevo-port", d.brevo_port, "Brevo"),
        ("--crm-port", d.crm_port, "CRM"),
        ("--woo-mcp-port", d.woo_mcp_port, "WooCommerce MCP server"),
    )
    for flag, port, name in ports:
        desc = f"{name} port on 127.0.0.1 (0 picks a free one; default %(default)s)"
        p.add_argument(flag, type=int, default=port, metavar="P", help=desc)
    counts = (
        ("--customers", d.customers, "N", "WooCommerce customers"),
        ("--orders", d.orders, "M", "WooCommerce orders"),
        ("--crm-contacts", d.crm_contacts, "N", "CRM contacts"),
        ("--seed", d.seed, "S", "data seed"),
    )
    for flag, count, metavar, text in counts:
        desc = f"{text} (default %(default)s)"
        p.add_argument(flag, type=int, default=count, metavar=metavar, help=desc)
    rate_help = "WooCommerce rate limit: '25/10s' (the default), '10/s' or 'off'"
    p.add_argument(
        "--rate-limit", type=parse_rate, default=d.rate_limit, metavar="R", help=rate_help
    )
    crm_help = "CRM rate limit: '10/s' (the default) or 'off'"
    p.add_argument(
        "--crm-rate-limit", type=parse_rate, default=d.crm_rate_limit, metavar="R", help=crm_help
    )
    p.add_argument(
        "--data", metavar="DIR", help="keep Brevo's state in DIR/brevo.db (default: memory)"
    )
    p.add_argument(
        "--env-file", metavar="PATH", help="also write the export lines to PATH (e.g. .env)"
    )


def options_from_args(args: argparse.Namespace) -> SandboxOptions:
    """SandboxOptions from parsed arguments."""
    names = SandboxOptions.__dataclass_fields__
    return SandboxOptions(**{k: v for k, v in vars(args).items() if k in names})


@dataclass
class Running:
    """The started services: env for clients, and lines for people."""

    env: dict[str, str]
    summary: list[str]


def start_all(options: SandboxOptions, stack: ExitStack) -> Running:
    """Build and serve every sandbox; `stack` stops them (in reverse order)."""
    from sandbox.brevo import BrevoSandbox
    from sandbox.crm import CrmRateLimit, CrmSandbox
    from sandbox.data import generate_store
    from sandbox.woocommerce import RateLimit, WooCommerceSandbox
    from sandbox.woocommerce_mcp import WooCommerceMcpSandbox

    store = generate_store(options.seed, customers=options.customers, orders=options.orders)
    woo_limit = RateLimit(*options.rate_limit) if options.rate_limit else None
    woo = WooCommerceSandbox(store=store, rate_limit=woo_limit)
    brevo = BrevoSandbox(db_path=_brevo_db(options.data))
    stack.callback(brevo.close)
    crm_limit = CrmRateLimit(*options.crm_rate_limit) if options.crm_rate_limit else None
    crm = CrmSandbox(seed=options.seed, contacts=options.crm_contacts, rate_limit=crm_limit)
    woo_mcp = WooCommerceMcpSandbox(woo)
    woo_url = _serve(stack, "WooCommerce", woo.app, options.woo_port, "--woo-port")
    brevo_url = _serve(stack, "Brevo", brevo.app, options.brevo_port, "--brevo-port")
    crm_url = _serve(stack, "CRM", crm.app, options.crm_port, "--crm-port")
    mcp_url = _serve(stack, "WooCommerce MCP", woo_mcp.app, options.woo_mcp_port, "--woo-mcp-port")
    env = {
        "WOOCOMMERCE_URL": woo_url,
        "WOOCOMMERCE_CONSUMER_KEY": woo.read_key.consumer_key,
        "WOOCOMMERCE_CONSUMER_SECRET": woo.read_key.consumer_secret,
        "BREVO_MCP_BASE_URL": brevo_url,
        "BREVO_MCP_TOKEN": brevo.token,
        "BREVO_API_KEY": brevo.api_key,
        "CRM_URL": crm_url,
        "CRM_TOKEN": crm.token,
        "WOOCOMMERCE_MCP_URL": mcp_url + woo_mcp.mcp_path,
    }
    return Running(env, _summary(options, woo, brevo, crm.token, env))


def _summary(
    options: SandboxOptions, woo: Any, brevo: Any, crm_token: str, env: dict[str, str]
) -> list[str]:
    """The lines people read on stderr: where everything is, and its keys."""
    rate = options.rate_limit
    limit = f"{rate[0]} per {rate[1]:g} s" if rate else "off"
    woo_url, brevo_url = env["WOOCOMMERCE_URL"], env["BREVO_MCP_BASE_URL"]
    read, write = woo.read_key, woo.write_key
    return [
        f"WooCommerce      {woo_url}/wp-json/wc/v3  ({options.customers} customers, "
        f"{options.orders} orders, seed {options.seed}, rate limit {limit})",
        f"                 read key  {read.consumer_key} / {read.consumer_secret}",
        f"                 write key {write.consumer_key} / {write.consumer_secret}",
        f"Brevo MCP        {brevo_url}/v1/<module>/mcp  (Bearer {brevo.token})",
        f"Brevo REST       {brevo_url}/v3  (api-key {brevo.api_key}; "
        f"state: {_brevo_db(options.data)})",
        f"CRM              {env['CRM_URL']}/api/contacts  (Bearer {crm_token})",
        f"WooCommerce MCP  {env['WOOCOMMERCE_MCP_URL']}  (streamable HTTP, same store)",
    ]


def _brevo_db(data: str | None) -> str:
    if not data:
        return ":memory:"
    Path(data).mkdir(parents=True, exist_ok=True)
    return str(Path(data) / "brevo.db")


def _serve(stack: ExitStack, name: str, app: Any, port: int, option: str) -> str:
    from sandbox.server import ServedApp

    served = ServedApp(app, host=HOST, port=port)
    try:
        served.start()
    except RuntimeError as exc:
        served.stop()
        raise LaunchError(
            f"Could not start {name} on {HOST}:{port}; is the port in use? "
            f"Choose another with {option} (0 picks a free one)."
        ) from exc
    stack.callback(served.stop)
    return served.url


def export_lines(env: dict[str, str]) -> list[str]:
    """`export NAME='value'` lines, quoted for POSIX shells (python-dotenv reads them too)."""
    return [f"export {name}={shlex.quote(value)}" for name, value in env.items()]


def write_env_file(path: str, lines: Sequence[str]) -> None:
    """Write the export lines to `path`, readable by the owner only (they hold keys)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


class StopSignals:
    """Turns SIGINT and SIGTERM into a flag while active (main thread only)."""

    def __init__(self, poll: float = 0.2) -> None:
        self.poll = poll
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum  # only a flag: the main thread may hold any lock right now

    def wait(self) -> None:
        """Block until a stop signal arrives."""
        while self.received is None:
            time.sleep(self.poll)


def run_sandboxes(
    options: SandboxOptions,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    wait: Callable[[], None] | None = None,
) -> int:
    """Serve every sandbox until SIGINT/SIGTERM (or `wait` returns); 0 on a clean stop."""
    out, err = out or sys.stdout, err or sys.stderr
    with StopSignals() as stop, ExitStack() as stack:
        try:
            running = start_all(options, stack)
        except LaunchError as exc:
            print(f"error: {exc}", file=err)
            return 1
        lines = export_lines(running.env)
        if options.env_file:
            write_env_file(options.env_file, lines)
        _announce(running, options, err)
        print("\n".join(lines), file=out, flush=True)
        (wait or stop.wait)()
        print("Stopping the sandboxes...", file=err, flush=True)
    print("Sandboxes stopped.", file=err, flush=True)
    return 0


def _announce(running: Running, options: SandboxOptions, err: TextIO) -> None:
    where = f"written to {options.env_file}" if options.env_file else "printed on stdout"
    print("Sandboxes running on 127.0.0.1 (Ctrl-C to stop):", file=err)
    for line in running.summary:
        print("  " + line, file=err)
    print(
        f"\nThe export lines ({where}) point ./mcp.json and the agents at them.\n"
        "This process stays in the foreground: use --env-file .env (read by 'agents run')\n"
        "or --env-file FILE and 'source FILE' in another shell.",
        file=err,
        flush=True,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m sandbox.launcher [options]`."""
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.launcher",
        description="Run the WooCommerce, Brevo, CRM and WooCommerce MCP sandboxes on 127.0.0.1.",
    )
    add_options(parser)
    return run_sandboxes(options_from_args(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
