"""Fixtures of the Brevo sandbox tests: a fake clock, the sandbox on it, served on loopback.

A test module that needs another `sandbox` (the WooCommerce ones) defines its own, which
takes precedence over these.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.brevo import BrevoSandbox
from sandbox.server import ServedApp
from tests.sandbox.brevo_support import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sandbox(clock: FakeClock) -> Iterator[BrevoSandbox]:
    with BrevoSandbox(clock=clock) as sandbox:
        yield sandbox


@pytest.fixture
def served(sandbox: BrevoSandbox) -> Iterator[ServedApp]:
    with ServedApp(sandbox.app) as served:
        yield served
