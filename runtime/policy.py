"""Tool wrappers that enforce the guarantees at the seam between the loop and tools.

- `Guarded`: destructive tools are refused in headless runs unless the agent file
  allows them, and need a yes in chat (the refusal is a tool error the model reads).
- `Scrubbed`: no credential value survives in a tool result, whatever the tool did.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from runtime.config import Secrets
from runtime.tools import Tool, ToolResult, WrappedTool

Confirm = Callable[[str, dict[str, Any]], Awaitable[bool]]


class Guarded(WrappedTool):
    """A destructive tool behind a policy: allowed, confirmed, or refused."""

    def __init__(self, tool: Tool, allowed: Sequence[str], confirm: Confirm | None) -> None:
        super().__init__(tool)
        self._allowed, self._confirm = allowed, confirm

    @property
    def destructive(self) -> bool:
        return True

    async def call(self, arguments: dict[str, Any]) -> ToolResult:
        if any(
            fnmatch.fnmatchcase(self.name, p) or fnmatch.fnmatchcase(self.name, f"*__{p}")
            for p in self._allowed
        ):
            return await self._tool.call(arguments)
        if self._confirm is None:
            return ToolResult(
                f"Refused: '{self.name}' is destructive and this is a headless run. The agent "
                "file must list it under 'allow_destructive' for headless runs to call it.",
                is_error=True,
                meta={"refused": "destructive"},
            )
        if await self._confirm(self.name, arguments):
            return await self._tool.call(arguments)
        return ToolResult(
            f"The user declined '{self.name}'.", is_error=True, meta={"refused": "user"}
        )


class Scrubbed(WrappedTool):
    """Replaces any credential value in a tool's result with its placeholder."""

    def __init__(self, tool: Tool, secrets: Secrets) -> None:
        super().__init__(tool)
        self._secrets = secrets

    async def call(self, arguments: dict[str, Any]) -> ToolResult:
        result = await self._tool.call(arguments)
        text = result.content
        for name, value in self._secrets.values.items():
            if value in text:
                text = text.replace(value, f"${{{name}}}")
        result.content = text
        return result


def apply_policies(
    tools: Sequence[Tool], secrets: Secrets, allowed: Sequence[str], confirm: Confirm | None
) -> dict[str, Tool]:
    """Wrap every tool; returns them by name."""
    out: dict[str, Tool] = {}
    for tool in tools:
        wrapped: Tool = Guarded(tool, allowed, confirm) if tool.destructive else tool
        out[tool.name] = Scrubbed(wrapped, secrets)
    return out
