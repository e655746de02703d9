"""The scenario table of docs/RELIABILITY.md, generated from the tests themselves.

Every reliability test's docstring carries one line
`Scenario: NAME | Fault: WHAT GOES WRONG | Outcome: WHAT MUST HOLD`; this module
collects them. `python -m tests.reliability.doc_table` prints the table to paste into
the doc; tests/reliability/test_doc.py fails when the doc and the tests disagree.
"""

from __future__ import annotations

import ast
from pathlib import Path

HERE = Path(__file__).parent
DOC = HERE.parents[1] / "docs" / "RELIABILITY.md"
BEGIN, END = "<!-- scenarios:begin -->", "<!-- scenarios:end -->"


def scenarios() -> list[tuple[str, str, str, str]]:
    """(scenario, fault, outcome, test) for every test docstring that declares one."""
    rows = []
    for path in sorted(HERE.glob("test_*.py")):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            for line in (ast.get_docstring(node) or "").splitlines():
                line = line.strip()
                if line.startswith("Scenario:"):
                    parts = [p.split(":", 1)[1].strip() for p in line.split(" | ")]
                    name, fault, outcome = parts[:3]
                    rows.append((name, fault, outcome, f"{path.name}::{node.name}"))
    return rows


def table() -> str:
    """The Markdown table, between its markers."""
    lines = [BEGIN, "| Scenario | Fault or input | Outcome | Test |", "|---|---|---|---|"]
    lines += [f"| {s} | {f} | {o} | `{t}` |" for s, f, o, t in scenarios()]
    return "\n".join([*lines, END])


def documented() -> str:
    """The table as it stands in the doc."""
    text = DOC.read_text()
    return BEGIN + text.split(BEGIN, 1)[1].split(END, 1)[0] + END


if __name__ == "__main__":
    print(table())
