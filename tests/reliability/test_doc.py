"""docs/RELIABILITY.md lists exactly the scenarios the tests declare."""

from __future__ import annotations

from tests.reliability.doc_table import documented, scenarios, table


def test_every_test_declares_its_scenario_once() -> None:
    names = [s for s, *_ in scenarios()]
    assert len(names) == len(set(names)) and len(names) >= 8


def test_the_doc_table_matches_the_tests() -> None:
    assert documented() == table(), "Run 'python -m tests.reliability.doc_table' and paste it."
