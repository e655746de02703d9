"""The exception hierarchy users see.

    AgentsError                 anything the CLI turns into a message and exit code 1
    +-- UsageError              bad usage or configuration: exit code 2
    |   +-- AgentFileError      an agent file is invalid (carries file:line problems)
    |   +-- ConfigError         mcp.json, sources or environment variables are wrong
    +-- RunError                a run could not complete (model, MCP server, limits)
        +-- ModelError          the model API failed after retries
        +-- McpConnectError     an MCP server could not be reached

Messages are sentence case, name things in single quotes and say what to do next.
They never carry a secret: build them from names and redacted URLs only.
"""

from __future__ import annotations

from dataclasses import dataclass


class AgentsError(Exception):
    """Base of every error the CLI reports without a traceback."""

    exit_code = 1


class UsageError(AgentsError):
    """Bad usage or configuration (exit code 2)."""

    exit_code = 2


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a file, with where it is."""

    path: str
    line: int | None
    message: str
    field: str | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        field = f" '{self.field}':" if self.field else ""
        return f"{where}:{field} {self.message}"


class AgentFileError(UsageError):
    """An agent file failed to parse or validate."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ConfigError(UsageError):
    """mcp.json, a source or an environment variable is wrong."""


class RunError(AgentsError):
    """A run could not complete."""


class ModelError(RunError):
    """The model API failed after its retries."""


class McpConnectError(RunError):
    """An MCP server could not be reached or refused the connection."""
