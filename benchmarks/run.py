"""Run the data-plane benchmarks B1-B5 and write benchmarks/results.json.

    python benchmarks/run.py            # all of them (about 6 minutes on 2 CPUs)
    python benchmarks/run.py b1 b5      # some of them

Each benchmark is its own script (b1_source_throughput.py ...) printing `RESULT {json}`
lines; this collects them with the machine's description. RESULTS.md holds the numbers
of a run, read and explained by a person.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = {
    "b1": "b1_source_throughput.py",
    "b2": "b2_context_cost.py",
    "b3": "b3_end_to_end.py",
    "b4": "b4_memory.py",
    "b5": "b5_overhead.py",
}


def machine() -> dict[str, str | int | None]:
    """What the numbers were measured on."""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def run(name: str) -> list[dict[str, object]]:
    """One benchmark script; its RESULT lines."""
    print(f"== {name}: {SCRIPTS[name]}", flush=True)
    done = subprocess.run(
        [sys.executable, SCRIPTS[name]], cwd=HERE, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
        return [{"benchmark": name, "error": f"exit code {done.returncode}"}]
    results = [
        json.loads(line[7:]) for line in done.stdout.splitlines() if line.startswith("RESULT ")
    ]
    for result in results:
        print(json.dumps(result, indent=2))
    return results


def main() -> None:
    """Run the chosen benchmarks (all by default) and save the results."""
    chosen = [a.lower() for a in sys.argv[1:]] or list(SCRIPTS)
    unknown = [c for c in chosen if c not in SCRIPTS]
    if unknown:
        sys.exit(f"Unknown benchmark(s): {', '.join(unknown)}. Choose from {', '.join(SCRIPTS)}.")
    results = [r for name in chosen for r in run(name)]
    out = HERE / "results.json"
    out.write_text(json.dumps({"machine": machine(), "results": results}, indent=2) + "\n")
    met = [r.get("goal_met") for r in results]
    print(f"\n{sum(bool(m) for m in met)} of {len(met)} results met their goal; saved {out}")


if __name__ == "__main__":
    main()
