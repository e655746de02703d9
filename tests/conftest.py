"""Hermetic tests: no real keys, no proxies, the app's home in a temporary folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["tests.fixtures_sandbox", "tests.secret_scan"]

STRIPPED = [
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "WOOCOMMERCE_URL",
    "WOOCOMMERCE_CONSUMER_KEY",
    "WOOCOMMERCE_CONSUMER_SECRET",
    "BREVO_MCP_TOKEN",
    "BREVO_MCP_BASE_URL",
]


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in STRIPPED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AGENTS_HOME", str(tmp_path / "agents-home"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    yield


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
