"""Shared parts of the reliability suite: a request gate that holds one request so a
real `agents run` process can be SIGKILLed at a precise step, a scripted Claude policy
that syncs customers and completed orders, and the subprocess runner.

The sandboxes live in the test process (served on loopback), so they outlive the
killed run and the rerun talks to the same state.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.brevo import BrevoSandbox
from sandbox.claude import Message as Reply
from sandbox.claude import reply
from sandbox.claude import user_text as latest_user_text
from sandbox.claude_bulk import bulk_plan, window_start
from sandbox.claude_scripts import ATTRIBUTES, Flow, ScriptBase
from sandbox.server import ServedApp
from sandbox.woocommerce import WooCommerceSandbox
from tests.stack import Stack
from tests.test_sync_records import valid

ROOT = Path(__file__).resolve().parents[2]
AGENT = str(Path(__file__).parent / "agents" / "crash-sync.md")
MCP_CONFIG = str(ROOT / "mcp.json")
PROMPT = "sync last week's customers and every completed order"
ANCHOR = datetime.now(UTC).replace(microsecond=0)  # one data set for the whole session
EVENT = "order_completed"
QUICK_LIMITS = {"contacts": (5000, 1.0), "lists": (1000, 1.0), "attributes": (1000, 1.0)}
Match = Callable[[str, bytes], bool]
HOLD_S = 60.0  # a held request gives up after this long (a test that failed to release)


class Gate:
    """ASGI middleware that holds the `at`-th request matching `match`, once.

    mode 'before': the request never reaches the app (the write did not happen);
    mode 'after': the app handles it, the response is held (the write happened, the
    client never heard). `reached` is set while the request is held.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.match: Match | None = None
        self.at, self.seen, self.mode = 0, 0, "before"
        self.reached, self.release = threading.Event(), threading.Event()

    def arm(self, match: Match, at: int = 1, mode: Literal["before", "after"] = "before") -> None:
        """Hold the `at`-th matching request."""
        self.match, self.at, self.seen, self.mode = match, at, 0, mode

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = self.match
        if scope["type"] != "http" or match is None:
            await self.app(scope, receive, send)
            return
        body = await _body(receive)
        replay = _replaying(body, receive)
        target = scope["path"] + "?" + scope.get("query_string", b"").decode()
        if self.match is None or not match(target, body):
            await self.app(scope, replay, send)
            return
        self.seen += 1
        if self.seen != self.at:
            await self.app(scope, replay, send)
            return
        self.match = None  # fires once: the rerun passes through
        await self._hold(scope, replay, send)

    async def _hold(self, scope: Scope, receive: Receive, send: Send) -> None:
        held: list[Message] = []

        async def keep(message: Message) -> None:
            held.append(message)

        if self.mode == "after":
            await self.app(scope, receive, keep)
        self.reached.set()
        await anyio.to_thread.run_sync(self.release.wait, HOLD_S)
        if self.mode == "before":
            held = [
                {"type": "http.response.start", "status": 503, "headers": []},
                {"type": "http.response.body", "body": b""},
            ]
        for message in held:  # the client is dead: nobody reads this
            await send(message)


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def tool_call(name: str) -> Match:
    """Match an MCP tools/call of tool `name`."""
    needle = f'"name":"{name}"'.encode()
    return lambda _target, body: b'"tools/call"' in body and needle in body.replace(b" ", b"")


def path_has(*parts: str) -> Match:
    """Match a request whose path and query contain every part."""
    return lambda target, _body: all(p in target for p in parts)


class GatedStack(Stack):
    """The Stack with a Gate in front of each service, no store-side limit, a quick Brevo."""

    def __init__(self, script: Any, **options: Any) -> None:
        super().__init__(script, woo_options={"rate_limit": None}, **options)
        self.brevo.close()
        self.brevo = BrevoSandbox(rate_limits=QUICK_LIMITS)

    def __enter__(self) -> GatedStack:
        self.woo_gate = Gate(self.woo.app)
        self.brevo_gate = Gate(self.brevo.app)
        self.claude_gate = Gate(self.claude.app)
        self.woo_server = self._exit.enter_context(ServedApp(self.woo_gate))
        self.brevo_server = self._exit.enter_context(ServedApp(self.brevo_gate))
        self.claude_server = self._exit.enter_context(ServedApp(self.claude_gate))
        self._exit.callback(self.brevo.close)
        for gate in (self.woo_gate, self.brevo_gate, self.claude_gate):
            self._exit.callback(gate.release.set)  # never leave a server thread waiting
        return self


def completed_orders(woo: WooCommerceSandbox) -> set[int]:
    """Completed orders with a usable billing email, from the store itself."""
    return {
        o["id"]
        for o in woo.store.all("orders")
        if o["status"] == "completed" and valid((o["billing"]["email"] or "").strip().lower())
    }


def orders_plan() -> dict[str, Any]:
    """Orders -> one contact per billing email, then order_completed for completed ones."""
    return {
        "source": {
            "source": "woocommerce",
            "path": "wc/v3/orders",
            "params": {"per_page": 50, "orderby": "id", "order": "asc", "dates_are_gmt": True},
        },
        "filter": [
            {"field": "date_modified_gmt", "after": "cursor", "if_no_cursor": "2000-01-01T00:00:00"}
        ],
        "map": {"email": {"from": "billing.email", "transform": ["trim", "lower"]}},
        "dedupe": {"key": None},
        "cursor": {"stream": "orders", "field": "date_modified_gmt"},
        "sink": {
            "tool": "brevo_contacts__create_contact",
            "arguments": {"email": "$record.email", "updateEnabled": True},
        },
        "then": [
            {
                "event": EVENT,
                "tool": "brevo_events__create_event",
                "arguments": {
                    "event_name": EVENT,
                    "identifiers": {"email_id": "$record.email"},
                    "event_properties": {"order_id": "$source.id"},
                },
                "when": "status == 'completed'",
                "confirm": {"tool": "brevo_events__get_events", "key": "event_properties.order_id"},
            }
        ],
    }


class CustomersAndOrdersScript(ScriptBase):
    """NOT Claude: cursor and attributes, customers in bulk, orders in bulk, a report."""

    def __init__(self) -> None:
        super().__init__()
        self.summaries: list[Any] = []

    def flow(self) -> Flow:
        prompt = latest_user_text(self.request)
        yield self.call(
            [("get_sync_cursor", {"stream": "customers"}), ("get_attributes", {})],
            "Checking the cursor and the attributes.",
        )
        _, (attrs, _) = self.results()
        have = (
            {a["name"] for a in attrs.get("attributes", [])} if isinstance(attrs, dict) else set()
        )
        missing = [(n, t) for n, t in ATTRIBUTES.items() if n not in have]
        if missing:
            yield self.call(
                [("create_attribute", {"attributeName": n, "type": t}) for n, t in missing]
            )
        customers = bulk_plan(window_start(prompt), list_name="Welcome Series", rate_limit=None)
        for plan in (customers, orders_plan()):
            yield self.call([("sync_records", plan)])
            ((summary, failed),) = self.results()
            self.summaries.append(summary)
            if failed:
                yield reply(f"The sync failed: {summary}")
                return
        yield reply("Customers and completed orders are in Brevo.")


class FreshScripts:
    """A new script for each conversation (one per `agents run`)."""

    def __init__(self, factory: Callable[[], ScriptBase] = CustomersAndOrdersScript) -> None:
        self.factory = factory
        self.scripts: list[ScriptBase] = []

    def __call__(self, request: dict[str, Any]) -> Reply:
        if not self.scripts or len(request["messages"]) == 1:
            self.scripts.append(self.factory())
        answer = self.scripts[-1](request)
        assert isinstance(answer, dict)
        return answer


def run_env(stack: Stack, home: Path) -> dict[str, str]:
    """The environment of a subprocess run: this one, hermetic, pointed at the stack."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "WOO", "BREVO"))}
    env.update(stack.env)
    env.update({"AGENTS_HOME": str(home / "agents-home"), "NO_PROXY": "127.0.0.1,localhost"})
    return env


def start_run(stack: Stack, workdir: Path, agent: str = AGENT) -> subprocess.Popen[str]:
    """`python -m runtime run` as a child process against the stack."""
    argv = [sys.executable, "-m", "runtime", "run", agent, PROMPT, "--json"]
    argv += ["--db", str(workdir / "agents.db"), "--mcp-config", MCP_CONFIG]
    return subprocess.Popen(
        argv,
        cwd=workdir,
        env=run_env(stack, workdir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 120.0) -> dict[str, Any]:
    """Wait for a run; its JSON summary plus exit code and stderr."""
    out, err = proc.communicate(timeout=timeout)
    lines = out.strip().splitlines()
    summary = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    return {**summary, "_exit": proc.returncode, "_stderr": err, "_stdout": out}


def kill_when_held(proc: subprocess.Popen[str], gate: Gate, timeout: float = 90.0) -> None:
    """Wait until `gate` holds its request, then SIGKILL the run and let the gate go."""
    waited = 0.0
    while not gate.reached.wait(0.1):
        waited += 0.1
        if proc.poll() is not None or waited > timeout:
            out, err = proc.communicate()
            raise AssertionError(f"run ended before the gate was reached:\n{out}\n{err}")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    gate.release.set()
    assert proc.returncode == -signal.SIGKILL


def events_by_order(stack: Stack) -> dict[int, int]:
    """order_completed events per order id."""
    counts: dict[int, int] = {}
    for e in stack.brevo.events():
        if e.get("event_name") == EVENT:
            oid = int(e["event_properties"]["order_id"])
            counts[oid] = counts.get(oid, 0) + 1
    return counts


def canonical(snapshot: dict[str, Any]) -> dict[str, Any]:
    """A snapshot without server-assigned ids and arrival order (writes run concurrently)."""
    emails = {c["id"]: c["email"] for c in snapshot["contacts"]}
    contacts = sorted(({k: v for k, v in c.items() if k != "id"} for c in snapshot["contacts"]),
                      key=lambda c: c["email"])  # fmt: skip
    events = [
        {**{k: v for k, v in e.items() if k not in ("id", "contact_id")},
         "contact": emails.get(e.get("contact_id"))}
        for e in snapshot["events"]
    ]  # fmt: skip
    events.sort(key=lambda e: json.dumps(e, sort_keys=True))
    attributes = sorted(snapshot["attributes"], key=lambda a: (a.get("category"), a["name"]))
    return {**snapshot, "contacts": contacts, "events": events, "attributes": attributes}
