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
