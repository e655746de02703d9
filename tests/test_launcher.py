"""`agents sandbox` (sandbox/launcher.py): a real subprocess on free ports, its export lines,
every URL answering with the printed keys, and a clean stop on SIGINT and SIGTERM."""

from __future__ import annotations

import argparse
import io
import os
import shlex
import signal
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from runtime.cli_sandbox import build_sandbox
from sandbox.launcher import SandboxOptions, main, options_from_args, parse_rate, run_sandboxes

ROOT = Path(__file__).resolve().parent.parent
NAMES = [
    "WOOCOMMERCE_URL",
    "WOOCOMMERCE_CONSUMER_KEY",
    "WOOCOMMERCE_CONSUMER_SECRET",
    "BREVO_MCP_BASE_URL",
    "BREVO_MCP_TOKEN",
    "BREVO_API_KEY",
    "CRM_URL",
    "CRM_TOKEN",
    "WOOCOMMERCE_MCP_URL",
]
FREE_PORTS = ["--woo-port", "0", "--brevo-port", "0", "--crm-port", "0", "--woo-mcp-port", "0"]


@contextmanager
def launched(*args: str) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """The launcher in a subprocess, and its export lines once it printed them all."""
    command = [sys.executable, "-m", "sandbox.launcher", *FREE_PORTS, *args]
    proc = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    watchdog = threading.Timer(120, proc.kill)  # a hung launcher fails the test, not the suite
    watchdog.start()
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().rstrip("\n") for _ in NAMES]
        yield proc, lines
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def parse_exports(lines: list[str]) -> dict[str, str]:
    env = {}
    for line in lines:
        word, assignment = shlex.split(line)
        assert word == "export"
        name, _, value = assignment.partition("=")
        env[name] = value
    return env


async def mcp_tools(url: str, token: str | None = None) -> list[str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        listed = await client.list_tools()
    return [t.name for t in listed.tools]


def check_every_service(env: dict[str, str]) -> None:
    """Each URL answers with the printed credentials."""
    import anyio

    auth = (env["WOOCOMMERCE_CONSUMER_KEY"], env["WOOCOMMERCE_CONSUMER_SECRET"])
    with httpx.Client(timeout=30) as http:
        woo = http.get(env["WOOCOMMERCE_URL"] + "/wp-json/wc/v3/customers", auth=auth)
        assert woo.status_code == 200 and len(woo.json()) == 10
        crm = http.get(
            env["CRM_URL"] + "/api/contacts",
            headers={"Authorization": f"Bearer {env['CRM_TOKEN']}"},
        )
        assert crm.status_code == 200 and len(crm.json()["data"]) == 12
        rest = http.get(
            env["BREVO_MCP_BASE_URL"] + "/v3/contacts", headers={"api-key": env["BREVO_API_KEY"]}
        )
        assert rest.status_code == 200
    brevo_url = env["BREVO_MCP_BASE_URL"] + "/v1/brevo_contacts/mcp"
    assert "create_contact" in anyio.run(mcp_tools, brevo_url, env["BREVO_MCP_TOKEN"])
    assert "get_customers" in anyio.run(mcp_tools, env["WOOCOMMERCE_MCP_URL"])


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_launcher_serves_everything_and_stops_cleanly(tmp_path: Path, stop: signal.Signals) -> None:
    env_file, data = tmp_path / "sandbox.env", tmp_path / "data"
    options = ["--customers", "10", "--orders", "20", "--crm-contacts", "12"]
    options += ["--env-file", str(env_file), "--data", str(data), "--rate-limit", "off"]
    with launched(*options) as (proc, lines):
        env = parse_exports(lines)
        assert list(env) == NAMES
        assert all(env[n].startswith("http://127.0.0.1:") for n in NAMES if "URL" in n)
        assert env["WOOCOMMERCE_MCP_URL"].endswith("/mcp")
        check_every_service(env)
        assert env_file.read_text().splitlines() == lines
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
        assert (data / "brevo.db").is_file()
        proc.send_signal(stop)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out == ""  # stdout holds the export lines and nothing else
    assert "Sandboxes running on 127.0.0.1" in err and "Sandboxes stopped." in err
    assert "Traceback" not in err


def test_a_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        command = [sys.executable, "-m", "sandbox.launcher", *FREE_PORTS, "--crm-port", port]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert f"Could not start CRM on 127.0.0.1:{port}" in done.stderr
    assert "--crm-port" in done.stderr and done.stdout == ""


def test_run_sandboxes_in_process_with_the_agents_cli_options(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="agents sandbox")
    build_sandbox(parser)
    args = parser.parse_args([*FREE_PORTS, "--customers", "10", "--crm-contacts", "12"])
    assert args.handler.__name__ == "_cmd_sandbox"
    options = options_from_args(args)
    assert options == SandboxOptions(
        woo_port=0, brevo_port=0, crm_port=0, woo_mcp_port=0, customers=10, crm_contacts=12
    )
    out, err = io.StringIO(), io.StringIO()
    seen: dict[str, str] = {}

    def wait() -> None:  # instead of waiting for a signal: check, then return
        seen.update(parse_exports(out.getvalue().splitlines()))
        check_every_service(seen)

    assert run_sandboxes(options, out=out, err=err, wait=wait) == 0
    assert list(seen) == NAMES
    assert "rate limit 25 per 10 s" in err.getvalue()
    with pytest.raises(httpx.TransportError):  # stopped: nothing listens any more
        httpx.get(seen["CRM_URL"] + "/api/contacts", timeout=5)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("25/10s", (25, 10.0)),
        ("10/s", (10, 1.0)),
        ("100/min", (100, 60.0)),
        ("5/2m", (5, 120.0)),
        ("3/0.5s", (3, 0.5)),
        ("off", None),
        ("OFF", None),
    ],
)
def test_parse_rate(text: str, expected: tuple[int, float] | None) -> None:
    assert parse_rate(text) == expected


@pytest.mark.parametrize("text", ["fast", "0/10s", "10/0s", "-1/s", "10 per s"])
def test_bad_rate_limits_are_usage_errors(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([f"--rate-limit={text}"])
    assert exited.value.code == 2
    assert f"Invalid rate limit '{text}'" in capsys.readouterr().err


def test_module_imports_stay_light() -> None:
    code = (
        "import sys, sandbox.launcher, runtime.cli_sandbox; "
        "heavy = [m for m in ('uvicorn', 'starlette', 'mcp', 'httpx') if m in sys.modules]; "
        "print(heavy)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ},
    )  # fmt: skip
    assert done.stdout.strip() == "[]", done.stderr
