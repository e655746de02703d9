"""The sandbox world a demo, a replay or a scripted recording runs in.

A `WorldSpec` (kept in a transcript's header as "sandbox") says how to rebuild it:
the store's seed, size and anchor, faults to inject. `World` starts the WooCommerce
and Brevo sandboxes in-process on loopback, both on the run's clock, and gives the
environment that points the flagship agent and ./mcp.json at them.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any

from runtime.clock import Clock


@dataclass(frozen=True)
class WorldSpec:
    """How to rebuild the sandboxes: data and injected faults."""

    seed: int = 7
    customers: int = 60
    orders: int = 150
    anchor: str = "2026-11-30T00:00:00+00:00"
    faults: list[dict[str, Any]] = field(default_factory=list)
    woo_rate_limit: bool = True

    def to_header(self) -> dict[str, Any]:
        """JSON for the transcript header."""
        return asdict(self)

    @classmethod
    def from_header(cls, data: dict[str, Any]) -> WorldSpec:
        """Read back a header's "sandbox" object (unknown keys ignored)."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


class World:
    """`with World(spec, clock) as w: w.env` -- WooCommerce and Brevo on loopback."""

    def __init__(self, spec: WorldSpec, clock: Clock) -> None:
        from sandbox.brevo import BrevoSandbox
        from sandbox.data import generate_store
        from sandbox.woocommerce import WooCommerceSandbox

        self.spec = spec
        anchor = datetime.fromisoformat(spec.anchor)
        store = generate_store(
            spec.seed, customers=spec.customers, orders=spec.orders, anchor=anchor
        )
        options: dict[str, Any] = {} if spec.woo_rate_limit else {"rate_limit": None}
        self.woo = WooCommerceSandbox(store=store, clock=clock.now, **options)
        self.brevo = BrevoSandbox(clock=clock.now)
        for fault in spec.faults:
            self.woo.add_fault(**fault)
        self._exit = ExitStack()

    def __enter__(self) -> World:
        from sandbox.server import ServedApp

        self.woo_url = self._exit.enter_context(ServedApp(self.woo.app)).url
        self.brevo_url = self._exit.enter_context(ServedApp(self.brevo.app)).url
        self._exit.callback(self.brevo.close)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._exit.close()

    @property
    def env(self) -> dict[str, str]:
        """Variables for the flagship agent's sources and ./mcp.json."""
        return sandbox_env(self.woo, self.woo_url, self.brevo, self.brevo_url)


def sandbox_env(woo: Any, woo_url: str, brevo: Any, brevo_url: str) -> dict[str, str]:
    """What points the flagship agent and ./mcp.json at served sandboxes."""
    return {
        "WOOCOMMERCE_URL": woo_url,
        "WOOCOMMERCE_CONSUMER_KEY": woo.read_key.consumer_key,
        "WOOCOMMERCE_CONSUMER_SECRET": woo.read_key.consumer_secret,
        "BREVO_MCP_BASE_URL": brevo_url,
        "BREVO_MCP_TOKEN": brevo.token,
    }
