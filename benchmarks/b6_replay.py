"""B6: replaying a transcript of 1,000 tool calls.

`python benchmarks/b6_replay.py` records a scripted run of the flagship agent that makes
1,000 tool calls (10 turns of 100 parallel calls: cursor reads, Brevo contact reads through
MCP, WooCommerce reads through http_request), then times `replay()` in both modes.
Goal: under 5 s for 1,000 tool calls (issue 5).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runtime.replay import replay
from runtime.transcript import load_transcript
from runtime.world import WorldSpec
from sandbox.claude import reply
from sandbox.claude_scripts import Flow, ScriptBase
from tests.transcripts.generate import Recipe, record_to


def _call(n: int) -> tuple[str, dict[str, Any]]:
    if n % 3 == 0:
        return "get_sync_cursor", {"stream": f"s{n % 50}"}
    if n % 3 == 1:
        return "get_contacts", {"limit": 5}
    params = {"per_page": 5, "page": n % 10 + 1, "_fields": "id,email"}
    return "http_request", {"method": "GET", "url": "wc/v3/customers", "params": params}


class ManyCalls(ScriptBase):
    """Ten turns of a hundred parallel tool calls, then a final answer."""

    def flow(self) -> Flow:
        for turn in range(10):
            yield self.call([_call(turn * 100 + i) for i in range(100)])
        yield reply("done")


def main() -> None:
    """Record once, then replay in both modes and print the timings."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "big.jsonl"
        recipe = Recipe(ManyCalls, ["make many calls"], WorldSpec(woo_rate_limit=False))
        t0 = time.perf_counter()
        anyio.run(record_to, out, recipe)
        recorded = time.perf_counter() - t0
        calls = len(load_transcript(out).of("tool_call"))
        size = out.stat().st_size / 1e6
        print(f"recorded {calls} tool calls in {recorded:.1f} s ({size:.1f} MB)")
        for offline in (False, True):
            t0 = time.perf_counter()
            report = anyio.run(lambda o=offline: replay(str(out), offline=o))
            took = time.perf_counter() - t0
            mode = "offline" if offline else "default"
            print(f"replay {mode}: {took:.2f} s, ok={report.ok}, steps={report.steps}")


if __name__ == "__main__":
    main()
