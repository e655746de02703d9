"""The whole world on loopback: WooCommerce and Brevo sandboxes plus a scripted Claude.

Tests use `Stack` to start them on free ports and get the environment that points the
flagship agent, ./mcp.json and the anthropic SDK at them.
"""

from __future__ import annotations

from contextlib import ExitStack
from datetime import datetime
from types import TracebackType
from typing import Any

from runtime.world import sandbox_env
from sandbox.brevo import BrevoSandbox
from sandbox.claude import ScriptedClaude
from sandbox.data import generate_store
from sandbox.server import ServedApp
from sandbox.woocommerce import WooCommerceSandbox

API_KEY = "sk-ant-test-not-a-real-key-000000"


class Stack:
    """`with Stack(script) as s: s.env` -- every service served on 127.0.0.1."""

    def __init__(
        self,
        script: Any,
        *,
        customers: int = 60,
        orders: int = 150,
        seed: int = 7,
        anchor: datetime | None = None,
        woo_options: dict[str, Any] | None = None,
    ) -> None:
        store = generate_store(seed, customers=customers, orders=orders, anchor=anchor)
        self.woo = WooCommerceSandbox(store=store, **(woo_options or {}))
        self.brevo = BrevoSandbox()
        self.claude = ScriptedClaude(script, api_key=API_KEY)
        self._exit = ExitStack()

    def __enter__(self) -> Stack:
        self.woo_server = self._exit.enter_context(ServedApp(self.woo.app))
        self.brevo_server = self._exit.enter_context(ServedApp(self.brevo.app))
        self.claude_server = self._exit.enter_context(ServedApp(self.claude.app))
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
        """What `agents sandbox` would print, plus the scripted Claude endpoint."""
        env = sandbox_env(self.woo, self.woo_server.url, self.brevo, self.brevo_server.url)
        return env | {"ANTHROPIC_BASE_URL": self.claude_server.url, "ANTHROPIC_API_KEY": API_KEY}

    @property
    def secrets(self) -> list[str]:
        """Every credential in play: none may leak."""
        return [
            self.woo.read_key.consumer_key,
            self.woo.read_key.consumer_secret,
            self.woo.write_key.consumer_key,
            self.woo.write_key.consumer_secret,
            self.brevo.token,
            self.brevo.api_key,
            API_KEY,
        ]
