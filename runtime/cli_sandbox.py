"""`agents sandbox`: the emulators on 127.0.0.1 in the foreground (sandbox/launcher.py).

The options are defined once, in sandbox/launcher.py, whose module imports only the
standard library; the sandboxes themselves are imported when the command runs.
"""

from __future__ import annotations

import argparse

EPILOG = """\
Runs WooCommerce, Brevo (MCP + REST mirror), a CRM and a WooCommerce MCP server.
stdout gets `export NAME=value` lines (WOOCOMMERCE_URL, WOOCOMMERCE_CONSUMER_KEY,
WOOCOMMERCE_CONSUMER_SECRET, BREVO_MCP_BASE_URL, BREVO_MCP_TOKEN, BREVO_API_KEY, CRM_URL,
CRM_TOKEN, WOOCOMMERCE_MCP_URL); everything else goes to stderr. The process stays in
the foreground, so it cannot export into your shell: --env-file .env makes `agents run`
read them, or `source` the file in another shell. Ctrl-C or SIGTERM stops (exit 0).
"""


def build_sandbox(p: argparse.ArgumentParser) -> None:
    """Add the sandbox command's options and handler to its subparser."""
    from sandbox.launcher import add_options

    p.epilog = EPILOG
    add_options(p)
    p.set_defaults(handler=_cmd_sandbox)


def _cmd_sandbox(args: argparse.Namespace) -> int:
    from sandbox.launcher import options_from_args, run_sandboxes

    return run_sandboxes(options_from_args(args))
