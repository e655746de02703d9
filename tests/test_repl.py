"""`agents chat` end to end: the REPL in a real pseudo-terminal (pexpect), the real
anthropic SDK against the scripted endpoint (sandbox/claude_chat.py), the WooCommerce
and Brevo sandboxes over loopback, a real SQLite store. Plus the plain (not a TTY,
NO_COLOR) mode through pipes, and the pure helpers.

`python -m tests.test_repl docs/chat-session.txt` captures a session at 80 columns
with tmux (the screen as a user sees it) for the README.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pexpect
import pytest
from rich.console import Console

from runtime.loop import LoopResult
from runtime.repl import INTERRUPTED, Meter, repair
from runtime.repl_view import ChatView, compact, outcomes
from runtime.store import RunStore
from runtime.tools import ToolResult
from runtime.tools.sync_report import SyncProgress
from sandbox.claude_chat import ChatScript
from tests.stack import Stack
from tests.test_e2e_run import expected_contacts

ROOT = Path(__file__).resolve().parent.parent
AGENT = str(ROOT / "agents" / "woocommerce-brevo-sync.md")
SYNC = "sync last week's customers and add the new ones to the Welcome Series list"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]")
GAP = r"(?:\x1b\[[0-9;?]*[A-Za-z]|\s)*"  # styles (bold, dim survive NO_COLOR) and spaces


def seq(*parts: str) -> str:
    """A pattern for `parts` (regexes) in order, with any styles or spaces between them."""
    return GAP.join(parts)


PROMPT = r"\n(?:\x1b\[[0-9;?]*[A-Za-z])*›"  # at a line's start: labels have "server › tool"


def chat_env(stack: Stack, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "COV_"))}
    env.update(stack.env)
    env.update(
        NO_COLOR="1",
        TERM="xterm",
        PROMPT_TOOLKIT_NO_CPR="1",  # pexpect answers no cursor-position requests
        AGENTS_HOME=str(tmp_path / "home"),
        NO_PROXY="127.0.0.1,localhost",
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
        COLUMNS="80",
        LINES="50",
    )
    env.update(extra)
    return env


def chat_args(tmp_path: Path) -> list[str]:
    db = str(tmp_path / "agents.db")
    return ["-m", "runtime.repl", AGENT, "--mcp-config", str(ROOT / "mcp.json"), "--db", db]


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()  # never leave the endpoint thread blocked


@pytest.fixture
def script(gate: threading.Event) -> ChatScript:
    return ChatScript(gate=gate, gate_timeout=60)


@pytest.fixture
def stack(script: ChatScript, gate: threading.Event) -> Iterator[Stack]:
    with Stack(script) as s:
        try:
            yield s
        finally:
            gate.set()  # before the servers stop: a held reply would block their thread


@pytest.fixture
def child(stack: Stack, tmp_path: Path) -> Iterator[pexpect.spawn]:
    proc = pexpect.spawn(
        sys.executable,
        chat_args(tmp_path),
        env=chat_env(stack, tmp_path),
        cwd=str(tmp_path),
        dimensions=(50, 80),
        encoding="utf-8",
        timeout=60,
    )
    proc.logfile_read = io.StringIO()
    try:
        yield proc
    finally:
        proc.close(force=True)
        print(screen(proc)[-6000:])  # shown when the test fails


def send(child: pexpect.spawn, line: str) -> None:
    child.send(line + "\r")


def prompt(child: pexpect.spawn) -> None:
    child.expect(PROMPT)


def screen(child: pexpect.spawn) -> str:
    log = child.logfile_read
    assert isinstance(log, io.StringIO)
    return ANSI.sub("", log.getvalue())


def sync_time(stack: Stack) -> str:
    for body in stack.claude.requests:
        for m in body["messages"]:
            found = re.search(r"Current time: (\S+) UTC", json.dumps(m["content"]))
            if found:
                return found.group(1)
    raise AssertionError("no request carried the current time")


def test_chat_sync_cost_tools_interrupt_confirm_exit(
    stack: Stack,
    script: ChatScript,
    child: pexpect.spawn,
    gate: threading.Event,
    tmp_path: Path,
) -> None:
    # Connected: every server with its tool count, then the prompt.
    for name in ("brevo_contacts", "brevo_attributes", "brevo_lists", "brevo_email"):
        child.expect(seq(name, r"http://127\.0\.0\.1:\d+/v1/\S+?", r"\d+ tools"))
    prompt(child)

    # A sync: tool calls as they finish, the model's report, the summary table.
    send(child, SYNC)
    child.expect(seq("✓", "get_sync_cursor", "stream=customers"))
    child.expect(seq("✓", "http_request", "method=GET, url=wc/v2/customers"))
    child.expect(seq("✓", "brevo_contacts › create_contact", "email="))
    child.expect_exact("Sync done")
    child.expect(seq("tool", "calls", "created", "time"))
    child.expect(seq("brevo_contacts › create_contact", r"(\d+)", r"(\d+)", r"[\d.]+s"))
    calls, created = (int(g) for g in child.match.groups())
    child.expect(seq("done", "·", r"\d+ model calls", "·", r"\d+ tool calls"))
    prompt(child)
    synced = {c["email"] for c in stack.brevo.contacts()}
    expected = expected_contacts(stack, datetime.fromisoformat(sync_time(stack)))
    assert synced == set(expected) and calls == created == len(expected)

    send(child, "/cost")
    child.expect(seq("tokens", r"input [\d,]+ · output [\d,]+ · cache read [\d,]+"))
    child.expect(seq("calls", r"\d+ model calls \((\d+) read the prompt cache\)"))
    assert int(child.match.group(1)) >= 1
    child.expect(seq("cost", r"\$(\d+\.\d{4})"))
    assert float(child.match.group(1)) > 0
    prompt(child)

    send(child, "/tools")
    child.expect(seq("brevo_contacts", r"\(\d+ tools\)"))
    child.expect(seq("delete_contact", "⚠"))
    prompt(child)

    # A slow turn: the endpoint holds the reply; Ctrl-C cancels it, the chat goes on.
    send(child, "slow please")
    child.expect_exact("waiting for claude-sonnet-4-6")
    assert script.waiting.wait(30)
    child.sendintr()
    child.expect(seq("interrupted", "·"))
    prompt(child)
    gate.set()
    send(child, "what can you do?")
    child.expect_exact("Welcome Series")  # the scripted endpoint checks every request
    child.expect(seq("done", "·"))
    prompt(child)

    # A destructive tool asks first; "y" runs it.
    victim = sorted(synced)[0]
    send(child, f"delete {victim}")
    child.expect(seq("⚠ destructive:", "brevo_contacts › delete_contact"))
    child.expect_exact(f'{{"identifier": "{victim}"}}')
    child.expect_exact("Run it? [y/N]")
    send(child, "y")
    child.expect(seq("✓", "brevo_contacts › delete_contact"))
    child.expect(seq("Deleted", re.escape(victim)))
    prompt(child)
    assert {c["email"] for c in stack.brevo.contacts()} == synced - {victim}

    child.sendeof()  # Ctrl-D leaves
    child.expect(r"Run (\w+) recorded \(succeeded\); cursor committed: customers")
    run_id = child.match.group(1)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0

    check_end_state(stack, tmp_path, run_id, synced, victim)
    history = (tmp_path / "home" / "chat_history").read_text()
    assert SYNC in history and "what can you do?" in history and "\n+y\n" not in history
    check_no_secret(stack, tmp_path, screen(child))


def check_end_state(
    stack: Stack, tmp_path: Path, run_id: str, synced: set[str], victim: str
) -> None:
    """Brevo holds the synced contacts minus the deleted one; the run and cursor are stored."""
    (welcome,) = [x for x in stack.brevo.lists() if x["name"] == "Welcome Series"]
    members = {c["email"] for c in stack.brevo.contacts() if welcome["id"] in c["listIds"]}
    assert members == synced - {victim}
    store = RunStore(tmp_path / "agents.db")
    try:
        (run,) = store.runs()
        cursor = store.cursor("woocommerce-brevo-sync", "customers")
    finally:
        store.close()
    assert run.id == run_id and run.trigger == "chat" and run.status == "succeeded"
    assert run.summary["messages"] == 4 and run.summary["cursor_committed"] is True
    assert run.summary["tool_calls"] >= len(synced) + 1
    modified = [
        c["date_modified_gmt"] or c["date_created_gmt"]
        for c in stack.woo.data.customers
        if c["email"].strip().lower() in synced
    ]
    assert cursor == max(modified)
    lines = (tmp_path / (run.transcript_path or "")).read_text().splitlines()
    kinds = [json.loads(line)["type"] for line in lines]
    assert kinds[0] == "header" and kinds[-1] == "summary" and kinds.count("user") == 4


def check_no_secret(stack: Stack, tmp_path: Path, shown: str) -> None:
    texts = [shown, *(p.read_text() for p in tmp_path.rglob("*.jsonl"))]
    texts.append((tmp_path / "agents.db").read_bytes().decode("utf-8", "replace"))
    texts += [json.dumps(body) for body in stack.claude.requests]
    for text in texts:
        for secret in stack.secrets:
            assert secret not in text


def test_declined_and_interrupted_confirmations(
    stack: Stack, child: pexpect.spawn, tmp_path: Path
) -> None:
    prompt(child)
    send(child, SYNC)
    child.expect_exact("Sync done")
    prompt(child)
    victim = sorted(c["email"] for c in stack.brevo.contacts())[0]
    send(child, f"delete {victim}")
    child.expect_exact("Run it? [y/N]")
    send(child, "n")
    child.expect_exact("declined")
    child.expect(seq("I did not delete", re.escape(victim)))
    prompt(child)
    send(child, f"delete {victim}")
    child.expect_exact("Run it? [y/N]")
    child.sendintr()  # Ctrl-C at the question interrupts the whole turn
    child.expect(seq("interrupted", "·"))
    prompt(child)
    assert victim in {c["email"] for c in stack.brevo.contacts()}
    assert stack.brevo.call_counts().get("delete_contact", 0) == 0
    send(child, "/exit")
    child.expect(r"recorded \(cancelled\); cursor NOT committed: customers")
    child.expect(pexpect.EOF)
    store = RunStore(tmp_path / "agents.db")
    try:
        assert store.cursor("woocommerce-brevo-sync", "customers") is None
    finally:
        store.close()


def test_plain_mode_without_a_terminal(stack: Stack, tmp_path: Path) -> None:
    lines = [
        "/help",
        "/model claude-haiku-4-5",
        "hello",
        "/last",
        "/sources",
        "/save saved/chat.jsonl",
        "/clear",
        "hello again",
        "/cost",
        "/nope",
    ]
    done = subprocess.run(
        [sys.executable, *chat_args(tmp_path)],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        env=chat_env(stack, tmp_path),
        cwd=tmp_path,
        timeout=120,
    )
    out = done.stdout
    assert done.returncode == 0, done.stderr
    assert "\x1b[" not in out and "\x1b[" not in done.stderr
    assert all(len(line) <= 80 for line in out.splitlines()), out
    assert "Esc-Enter" in out and "/save PATH" in out  # /help
    assert "The next turns use 'claude-haiku-4-5'" in out
    assert "There are 0 tool calls so far." in out  # /last before any call
    assert "woocommerce  ${WOOCOMMERCE_URL}/wp-json" in out  # /sources
    assert "auth oauth1 · 25/10s · read-only" in out
    assert "Unknown command '/nope'" in out
    assert "Run " in out and "recorded (succeeded)" in out
    first, second = stack.claude.requests[-2:]
    assert first["model"] == second["model"] == "claude-haiku-4-5"
    assert len(first["messages"]) == 1 and len(second["messages"]) == 1  # /clear
    saved = (tmp_path / "saved" / "chat.jsonl").read_text().splitlines()
    assert json.loads(saved[0])["type"] == "header"
    assert any(json.loads(line).get("content", "").startswith("hello") for line in saved)


def test_chat_cannot_start_without_its_servers(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(
        BREVO_MCP_BASE_URL="http://127.0.0.1:9",
        BREVO_MCP_TOKEN="t0ken-not-real",
        WOOCOMMERCE_URL="http://127.0.0.1:9",
        WOOCOMMERCE_CONSUMER_KEY="ck_x",
        WOOCOMMERCE_CONSUMER_SECRET="cs_x",
        ANTHROPIC_API_KEY="sk-ant-x",
        PYTHONPATH=str(ROOT),
    )
    done = subprocess.run(
        [sys.executable, *chat_args(tmp_path)],
        input="",
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 1
    assert "error:" in done.stderr and "brevo_contacts" in done.stderr
    assert "t0ken-not-real" not in done.stderr + done.stdout
    store = RunStore(tmp_path / "agents.db")
    try:
        (run,) = store.runs()
    finally:
        store.close()
    assert run.status == "failed" and run.trigger == "chat" and run.summary["errors"]


def test_a_failed_model_call_keeps_the_chat_usable(stack: Stack, tmp_path: Path) -> None:
    env = chat_env(stack, tmp_path, ANTHROPIC_API_KEY="")
    done = subprocess.run(
        [sys.executable, *chat_args(tmp_path)],
        input="hello\n/cost\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "failed (error)" in done.stdout and "Set ANTHROPIC_API_KEY" in done.stdout
    assert "cost    $0.0000" in done.stdout  # the chat went on
    assert "recorded (failed)" in done.stdout


def plain_view() -> tuple[ChatView, io.StringIO]:
    out = io.StringIO()
    return ChatView(Console(file=out, width=80, color_system=None)), out


def test_view_lines_fit_80_columns_and_hide_secrets() -> None:
    view, out = plain_view()
    view.redact = lambda text: text.replace("s3cret-token", "${BREVO_MCP_TOKEN}")
    view.begin_turn("claude-sonnet-4-6")
    long_args = {"email": "someone.with.a.long.name@example.org", "note": "s3cret-token " * 9}
    view.tool_start("t1", "brevo_contacts__create_contact", long_args)
    view.tool_end("t1", "brevo_contacts__create_contact", ToolResult('{"id": 7}'), 0.25)
    view.tool_start("t2", "brevo_contacts__delete_contact", {"identifier": "x@y.z"})
    failure = ToolResult("Contact does not exist s3cret-token", is_error=True)
    view.tool_end("t2", "brevo_contacts__delete_contact", failure, 0.05)
    view.end_turn()
    view.turn_summary(LoopResult(status="succeeded", stop_reason="end_turn"), Meter(), 1.0)
    view.last(1)
    view.last(2)
    shown = out.getvalue()
    assert "s3cret-token" not in shown and "${BREVO_MCP_TOKEN}" in shown
    assert all(len(line) <= 80 for line in shown.splitlines()), shown
    assert re.search(r"✓ brevo_contacts › create_contact\s+email=someone", shown)
    assert re.search(r"✗ brevo_contacts › delete_contact\s+identifier=x@y.z", shown)
    assert "Contact does not exist" in shown
    assert re.search(r"brevo_contacts › create_contact\s+1\s+1\s+0\.25s", shown)


def test_view_shows_sync_progress_and_batches() -> None:
    view, _ = plain_view()
    view.begin_turn("claude-sonnet-4-6")
    rendered = io.StringIO()
    console = Console(file=rendered, width=80, color_system=None)
    console.print(view.activity())
    assert "waiting for claude-sonnet-4-6" in rendered.getvalue()
    view.tool_start("s1", "sync_records", {"source": "woocommerce"})
    view.sync_progress(SyncProgress(fetched=40, total=120, written=35, failed=2))
    console.print(view.activity())
    assert "40/120 read · 35 written · 2 failed" in rendered.getvalue()
    view.sync_progress(SyncProgress(fetched=120, total=120, written=117, failed=3, done=True))
    view.tool_end("s1", "sync_records", ToolResult('{"created": 100, "updated": 17}'), 2.0)
    rendered.truncate(0)
    console.print(view.activity())
    assert "read ·" not in rendered.getvalue()
    view.end_turn()


def test_repair_keeps_the_conversation_valid() -> None:
    user = {"role": "user", "content": "sync"}
    call = {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "x"}]}
    results = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1"}]}
    note = {"role": "assistant", "content": [{"type": "text", "text": INTERRUPTED}]}
    stopped = {"role": "assistant", "content": [{"type": "text", "text": "stopped"}]}
    messages = [user, call]
    repair(messages, 0, "stopped")
    assert messages == [user, stopped]
    for cut, expected in (
        ([user], [user, note]),
        ([user, call], [user, note]),
        ([user, call, results], [user, call, results, note]),
        ([user, call, results, call], [user, call, results, note]),
        ([], []),
    ):
        messages = list(cut)
        repair(messages, 0)
        assert messages == expected


def test_compact_arguments_and_outcomes() -> None:
    args = {"email": "a@b.co", "attributes": {"X": 1, "Y": {"deep": True}}, "ids": [1, 2, 3, 4]}
    assert compact(args) == "email=a@b.co, attributes={X=1, Y={…}}, ids=[4 items]"
    assert compact({"s": "x" * 50}) == "s=" + "x" * 39 + "…"
    created = outcomes("brevo_contacts__create_contact", ToolResult('{"id": 3}'))
    updated = outcomes("brevo_contacts__create_contact", ToolResult('{"updated": true}'))
    batch = outcomes("brevo_contacts__update_batch_contacts", ToolResult('{"updated": 7}'))
    failed = outcomes("brevo_contacts__create_contact", ToolResult("no", is_error=True))
    read = outcomes("http_request", ToolResult('{"status": 200}'))
    assert (created, updated, batch) == ({"created": 1}, {"updated": 1}, {"updated": 7})
    assert not failed and not read


def capture(path: str) -> None:
    """Run a chat in tmux at 80x50 and save the whole screen history to `path`."""
    import shlex
    import tempfile
    import time

    gate = threading.Event()
    with Stack(ChatScript(gate=gate)) as stack, tempfile.TemporaryDirectory() as tmp:
        env = chat_env(stack, Path(tmp))
        env.pop("NO_COLOR")
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items() if k.isidentifier())
        cmd = f"env -i {exports} {sys.executable} {shlex.join(chat_args(Path(tmp)))}"
        session = f"chat-capture-{os.getpid()}"
        tmux = ["tmux", "-L", session]
        size = ["-x", "80", "-y", "50"]
        subprocess.run([*tmux, "new-session", "-d", *size, "-c", tmp, cmd], check=True)
        subprocess.run([*tmux, "set-option", "-g", "remain-on-exit", "on"], check=True)

        def keys(*k: str, wait: float = 1.5) -> None:
            subprocess.run([*tmux, "send-keys", *k], check=True)
            time.sleep(wait)  # a screenshot script, not a test: let the screen settle

        time.sleep(4)
        keys(SYNC, "Enter", wait=8)
        keys("/cost", "Enter")
        keys("slow down please", "Enter", wait=2)
        keys("C-c", wait=1)
        gate.set()
        email = sorted(c["email"] for c in stack.brevo.contacts())[0]
        keys(f"delete {email}", "Enter")
        keys("y", "Enter", wait=3)
        keys("C-d", wait=2)
        shown = subprocess.run(
            [*tmux, "capture-pane", "-p", "-S", "-", "-E", "-"], capture_output=True, text=True
        ).stdout
        subprocess.run([*tmux, "kill-server"], check=False)
    text = "\n".join(line.rstrip() for line in shown.rstrip().splitlines())
    Path(path).write_text(re.sub(r"\n{3,}", "\n\n", text) + "\n", encoding="utf-8")


if __name__ == "__main__":
    capture(sys.argv[1] if len(sys.argv) > 1 else "docs/chat-session.txt")
