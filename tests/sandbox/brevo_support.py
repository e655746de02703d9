"""Helpers for the Brevo sandbox tests: a clock tests move, MCP clients, result parsing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, TextContent

from sandbox.brevo import BrevoSandbox
from sandbox.server import ServedApp

START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    """Wall time that moves only when a test says so."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward without waiting."""
        self.now += timedelta(seconds=seconds)


@asynccontextmanager
async def mcp_client(
    served: ServedApp, sandbox: BrevoSandbox, module: str = "brevo", token: str | None = None,
    mode: str = "auto",
) -> AsyncIterator[Client]:  # fmt: skip
    """An MCP client over streamable HTTP with the bearer token (the sandbox's by default)."""
    headers = {"Authorization": f"Bearer {sandbox.token if token is None else token}"}
    url = served.url + sandbox.mcp_path(module)
    async with (
        httpx2.AsyncClient(headers=headers) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,
    ):
        yield client


def text(result: CallToolResult) -> str:
    """The text of a tool result's single text block."""
    [block] = result.content
    assert isinstance(block, TextContent)
    return block.text


def ok(result: CallToolResult) -> Any:
    """The JSON of a successful tool result."""
    assert not result.is_error, text(result)
    return json.loads(text(result))


def error(result: CallToolResult) -> dict[str, Any]:
    """The Brevo error body of a failed tool result (after the SDK's 'Error executing' prefix)."""
    assert result.is_error, text(result)
    prefix, _, body = text(result).partition(": ")
    assert prefix.startswith("Error executing tool "), text(result)
    parsed: dict[str, Any] = json.loads(body)
    return parsed


def leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in leaves(inner)]
    return [exc]
