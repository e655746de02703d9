"""The tool seam: built-in tools and MCP tools look the same to the loop.

A tool never raises for a failure the model could act on: it returns a
`ToolResult(is_error=True)` whose text says what went wrong and what to try.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class ToolResult:
    """What a tool call gives back to the model (`content`) and to the record (`meta`)."""

    content: str
    is_error: bool = False
    meta: dict[str, Any] = field(default_factory=dict)


class Tool(Protocol):
    """One tool the model can call. `name` is valid for the Messages API."""

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def input_schema(self) -> dict[str, Any]: ...

    @property
    def destructive(self) -> bool: ...

    async def call(self, arguments: dict[str, Any]) -> ToolResult: ...


class WrappedTool:
    """A tool in front of another: same name, description, schema and flags.

    Subclasses change `call` (a policy, redaction, a replay answer) and nothing else.
    """

    def __init__(self, tool: Tool) -> None:
        self._tool = tool

    @property
    def name(self) -> str:
        return self._tool.name

    @property
    def description(self) -> str:
        return self._tool.description

    @property
    def input_schema(self) -> dict[str, Any]:
        return self._tool.input_schema

    @property
    def destructive(self) -> bool:
        return self._tool.destructive

    async def call(self, arguments: dict[str, Any]) -> ToolResult:
        return await self._tool.call(arguments)
