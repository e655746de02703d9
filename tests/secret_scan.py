"""A pytest plugin: no sandbox secret may appear in any artefact the test session wrote.

Register it in tests/conftest.py: `pytest_plugins = ["tests.fixtures_sandbox", "tests.secret_scan"]`.

While the session runs, every WooCommerceSandbox, BrevoSandbox and ScriptedClaude built
(by Stack, World, fixtures or tests) reports its credentials here (their constructors
are wrapped for the session only). At the end, every artefact under the session's
temporary base directory -- transcripts (*.jsonl), run stores (*.db and their WAL/journal
files), logs (*.log) -- is read once and searched for those secrets. A hit fails the
session with the file and which secret it was (by kind, never the value).

Inputs the tests wrote on purpose (.env, mcp.json, agent files) are not artefacts and
are not scanned.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ARTEFACTS = (".jsonl", ".db", ".db-wal", ".db-journal", ".log", ".sqlite", ".sqlite-wal")
MIN_LEN = 8  # shorter values would match by chance
_found: dict[str, str] = {}  # secret -> its kind
_undo: list[Callable[[], None]] = []


def remember(kind: str, *values: Any) -> None:
    """Record credentials that must never appear in an artefact."""
    for value in values:
        if isinstance(value, str) and len(value) >= MIN_LEN:
            _found.setdefault(value, kind)


def _woo(sandbox: Any) -> None:
    for key in (getattr(sandbox, "read_key", None), getattr(sandbox, "write_key", None)):
        if key is not None:
            remember("woocommerce consumer key", key.consumer_key)
            remember("woocommerce consumer secret", key.consumer_secret)


def _brevo(sandbox: Any) -> None:
    remember("brevo token", getattr(sandbox, "token", None), getattr(sandbox, "api_key", None))


def _claude(endpoint: Any) -> None:
    remember("anthropic api key", getattr(endpoint, "_api_key", None))


def _wrap(cls: type, collect: Callable[[Any], None]) -> None:
    original = cls.__init__  # type: ignore[misc]

    @functools.wraps(original)
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        collect(self)

    cls.__init__ = init  # type: ignore[misc]
    _undo.append(lambda: setattr(cls, "__init__", original))


def pytest_sessionstart(session: pytest.Session) -> None:
    """Start collecting the secrets of every sandbox built in this session."""
    from sandbox.brevo import BrevoSandbox
    from sandbox.claude import ScriptedClaude
    from sandbox.woocommerce import WooCommerceSandbox

    _wrap(WooCommerceSandbox, _woo)
    _wrap(BrevoSandbox, _brevo)
    _wrap(ScriptedClaude, _claude)


def artefacts(base: Path) -> Iterator[Path]:
    """Transcripts, stores and logs under `base`."""
    for path in base.rglob("*"):
        if path.is_file() and path.name.endswith(ARTEFACTS):
            yield path


def leaks(base: Path, secrets: dict[str, str]) -> list[str]:
    """'path: kind' for every secret found in an artefact under `base`."""
    needles = {s.encode(): kind for s, kind in secrets.items()}
    out = []
    for path in artefacts(base):
        data = path.read_bytes()
        out += [f"{path}: {kind}" for needle, kind in needles.items() if needle in data]
    return out


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Scan the session's artefacts; fail the session on any secret found."""
    for undo in _undo:
        undo()
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None or not _found:
        return
    found = leaks(factory.getbasetemp(), _found)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_line(
            f"secret scan: {len(_found)} secrets, "
            + (f"{len(found)} LEAKS:\n  " + "\n  ".join(found) if found else "no leak")
        )
    if found:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
