"""`agents demo`, and recording runs inside a sandbox world.

With ANTHROPIC_API_KEY set, the flagship agent runs live against the sandboxes
(started in-process) and the run is recorded like any other. Without it, the bundled
scripted transcript is replayed through the real runtime and the real anthropic SDK,
and the screen says so. Either way the Brevo sandbox's end state is shown.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from runtime.clock import Clock, FrozenClock, SystemClock
from runtime.loop import Observer
from runtime.model import Model
from runtime.runner import with_time
from runtime.session import AgentSession, RunDeps
from runtime.store import RunStore
from runtime.world import World, WorldSpec

REPO = Path(__file__).resolve().parent.parent
FLAGSHIP = REPO / "agents" / "woocommerce-brevo-sync.md"
DEMO_TRANSCRIPT = REPO / "tests" / "transcripts" / "01-sync-last-week.jsonl"
DEMO_PROMPT = "sync last week's customers and add the new ones to the Welcome Series list"


async def run_in_world(
    agent: Path,
    prompts: Sequence[str],
    *,
    model: Model,
    clock: Clock,
    world: World,
    store: RunStore,
    transcript: str,
    source: str,
    observers: Sequence[Observer] = (),
) -> dict[str, Any]:
    """Run `prompts` as successive user turns of one session inside `world`."""
    from runtime.agentfile import load_agent

    spec = load_agent(agent)
    deps = RunDeps(
        model=model,
        store=store,
        clock=clock,
        env=world.env,
        observers=observers,
        mcp_config=str(REPO / "mcp.json"),
        transcript_source=source,
        sandbox=world.spec.to_header(),
    )
    session = AgentSession(spec, deps, trigger="demo", transcript=transcript)
    summary: dict[str, Any] = {}
    async with session:
        for prompt in prompts:
            result = await session.ask(with_time(prompt, deps))
            committed = session.commit(result)
            summary = {
                "status": result.status,
                "stop_reason": result.stop_reason,
                "turns": result.turns,
                "tool_calls": result.tool_calls,
                "cursor_committed": committed,
                "final_text": result.final_text,
                "errors": result.errors,
            }
    session.finish(session.redacted(summary))
    return summary


async def demo(console: Console, err: Console) -> int:
    """The embedded default: live with a key, the bundled replay without."""
    from runtime.console import ConsoleObserver

    observer = ConsoleObserver(err)
    if os.environ.get("ANTHROPIC_API_KEY"):
        return await _live(console, err, observer)
    from runtime.replay import replay

    err.print(
        "[bold]No ANTHROPIC_API_KEY set:[/] replaying the bundled transcript "
        f"[cyan]{DEMO_TRANSCRIPT.relative_to(REPO)}[/] through the real runtime and SDK.\n"
        "It is a [bold]scripted[/] transcript (made here, not recorded from Claude); the "
        "WooCommerce and Brevo sandboxes run for real on 127.0.0.1.\n"
        "Set ANTHROPIC_API_KEY to run the same sync live with Claude."
    )
    err.print(f"[dim]prompt:[/] {DEMO_PROMPT}")
    report = await replay(str(DEMO_TRANSCRIPT), observers=[observer])
    if not report.ok:
        err.print(f"[red]The replay diverged:[/] {report.divergences[0]}")
        return 1
    show_brevo(console, report.brevo)  # the model's report was shown as it came
    return 0 if report.summary.get("status") == "succeeded" else 1


async def _live(console: Console, err: Console, observer: Observer) -> int:
    from runtime.model import ClaudeModel

    clock = SystemClock()
    today = clock.now().replace(hour=0, minute=0, second=0, microsecond=0)
    spec = WorldSpec(anchor=today.isoformat())
    err.print(f"[bold]Running {FLAGSHIP.name} live with Claude[/] against local sandboxes.")
    with tempfile.TemporaryDirectory() as tmp, World(spec, clock) as world:
        store = RunStore(Path(tmp) / "demo.db")
        model = ClaudeModel(clock=clock, notice=lambda m: err.print(f"[yellow]note[/] {m}"))
        transcript = str(Path(".agents") / "transcripts" / "demo-live.jsonl")
        try:
            summary = await run_in_world(
                FLAGSHIP, [DEMO_PROMPT], model=model, clock=clock, world=world, store=store,
                transcript=transcript, source="recorded", observers=[observer],
            )  # fmt: skip
        finally:
            await model.aclose()
            store.close()
        console.print(summary.get("final_text", ""))
        show_brevo(console, {"contacts": world.brevo.contacts(), "lists": world.brevo.lists()})
        err.print(f"[dim]transcript: {transcript}[/]")
    return 0 if summary.get("status") == "succeeded" else 1


def show_brevo(console: Console, state: dict[str, Any]) -> None:
    """What changed in Brevo: its lists and contacts (it started empty)."""
    lists = {x["id"]: x["name"] for x in state.get("lists", [])}
    contacts = state.get("contacts", [])
    table = Table(title=f"Brevo sandbox after the run: {len(contacts)} contacts")
    table.add_column("email", no_wrap=True, overflow="ellipsis", max_width=34)
    table.add_column("name", overflow="ellipsis", max_width=22)
    table.add_column("orders", justify="right")
    table.add_column("lists", overflow="ellipsis", max_width=16)
    for c in sorted(contacts, key=lambda c: c["email"]):
        a = c.get("attributes", {})
        name = f"{a.get('FIRSTNAME', '')} {a.get('LASTNAME', '')}".strip()
        orders = a.get("ORDER_COUNT")
        names = ", ".join(lists.get(i, str(i)) for i in c.get("listIds", []))
        table.add_row(c["email"], name, "" if orders is None else f"{orders:g}", names)
    console.print(table)


def frozen(at: str) -> FrozenClock:
    """A frozen clock at an ISO time (recordings of scripted transcripts use one)."""
    return FrozenClock(datetime.fromisoformat(at))
