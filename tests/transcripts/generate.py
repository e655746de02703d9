"""Regenerate the bundled SCRIPTED transcripts: `python -m tests.transcripts.generate [NAME...]`.

Each is a real run of the runtime (real anthropic SDK, real sandboxes on loopback, a
frozen clock) whose model side is a scripted policy from sandbox/claude_scripts.py,
not Claude. Their headers say `"source": "scripted"`.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from runtime.demo import DEMO_PROMPT, FLAGSHIP, frozen, run_in_world
from runtime.model import ClaudeModel
from runtime.store import RunStore
from runtime.world import World, WorldSpec
from sandbox.claude import ScriptedClaude
from sandbox.claude_bulk import WooBulkSyncScript
from sandbox.claude_scripts import ChatScript, WooSyncScript
from sandbox.server import ServedApp
from tests.reliability.harness import CustomersAndOrdersScript

HERE = Path(__file__).resolve().parent
CLOCK = "2026-11-30T09:00:00+00:00"
KEY = "sk-ant-scripted-not-a-real-key"


@dataclass
class Recipe:
    """What one transcript is made of."""

    script: Callable[[], Any]
    prompts: list[str]
    world: WorldSpec


RECIPES: dict[str, Recipe] = {
    "01-sync-last-week": Recipe(WooBulkSyncScript, [DEMO_PROMPT], WorldSpec()),
    "02-orders-events": Recipe(
        CustomersAndOrdersScript,
        [
            "sync last week's customers in bulk, then send every completed order to Brevo "
            "as an order_completed event"
        ],
        WorldSpec(),
    ),
    "03-error-path": Recipe(
        WooSyncScript,
        ["sync last week's customers into Brevo"],
        WorldSpec(
            faults=[
                # Three 500s exhaust the tool's retries: the model sees one and asks again;
                # then a 429 that the tool waits out (Retry-After) on its own.
                {"route": "*customers*", "kind": "status", "status": 500, "on": [1, 2, 3]},
                {"route": "*customers*", "kind": "status", "status": 429, "on": [4]},
            ]
        ),
    ),
    "04-chat": Recipe(
        ChatScript,
        [
            "how many customers does the store have?",
            "sync last week's customers and add the new ones to the Welcome Series list",
            "who is in the Welcome Series list now?",
        ],
        WorldSpec(),
    ),
}


async def record(name: str, recipe: Recipe) -> Path:
    """Run the recipe and write tests/transcripts/NAME.jsonl."""
    return await record_to(HERE / f"{name}.jsonl", recipe)


async def record_to(out: Path, recipe: Recipe) -> Path:
    """Run the recipe and write the transcript to `out`."""
    clock = frozen(CLOCK)
    claude = ScriptedClaude(recipe.script(), api_key=KEY)
    with (
        tempfile.TemporaryDirectory() as tmp,
        World(recipe.world, clock) as world,
        ServedApp(claude.app) as endpoint,
    ):
        model = ClaudeModel(api_key=KEY, base_url=endpoint.url, clock=clock)
        store = RunStore(Path(tmp) / "rec.db")
        try:
            summary = await run_in_world(
                FLAGSHIP, recipe.prompts, model=model, clock=clock, world=world,
                store=store, transcript=str(out), source="scripted",
            )  # fmt: skip
        finally:
            await model.aclose()
            store.close()
    print(f"{out.name}: {summary['status']}, {summary['tool_calls']} tool calls")
    return out


def main(names: list[str]) -> int:
    """Record the named transcripts (all by default)."""
    for name in names or list(RECIPES):
        anyio.run(record, name, RECIPES[name])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
