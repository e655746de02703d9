"""Turn what the MCP SDK raises into short reasons a person can act on.

The SDK buries causes: a 401 reaches the client as `MCPError(-32603, "Server returned
an error response")` inside nested ExceptionGroups (the status is lost, so the pool
records HTTP statuses itself and passes them in), and a refused connection is an
`httpx2.ConnectError` whose cause chain ends in `ConnectionRefusedError`. These helpers
walk exception groups and cause/context chains and name the cause in words. Their
text is built from exception types, codes and statuses: callers scrub any quoted
exception text of credentials before showing it.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import anyio
import httpx2
from mcp import MCPError, types
from pydantic import ValidationError

_HIDDEN_STATUS_MESSAGE = "Server returned an error response"  # streamable_http.py, 4xx/5xx


def walk(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, the members of its groups and its causes and contexts, outermost first."""
    seen: set[int] = set()
    queue = [exc]
    while queue:
        current = queue.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            queue.extend(current.exceptions)
        queue.extend(e for e in (current.__cause__, current.__context__) if e is not None)


def status_reason(status: int) -> str:
    """A short reason for an HTTP error status."""
    if status == 401:
        return "unauthorised (401): check the token"
    if status == 403:
        return (
            "forbidden (403): the token may lack access to this server, "
            "or this machine's IP address is not allowed"
        )
    if status == 404:
        return "not found (404): check the URL"
    if status == 429:
        return "rate-limited (429): too many requests or connections, try again later"
    return f"the server answered HTTP {status}"


def connect_reason(exc: BaseException, status: int | None, timeout: float) -> str:
    """Why a connection failed, from the exception and the worst HTTP status seen."""
    if status is not None and status in (401, 403, 404, 429):
        return status_reason(status)
    found = list(walk(exc))
    for kind, reason in (
        (socket.gaierror, "DNS lookup failed: check the host name"),
        (ConnectionRefusedError, "connection refused: is the server running on that port?"),
        (FileNotFoundError, "command not found: check 'command' in the MCP config"),
        (PermissionError, "permission denied starting the command"),
    ):
        if any(isinstance(e, kind) for e in found):
            return reason
    if any(_is_timeout(e) for e in found):
        return f"timed out after {timeout:g}s"
    for e in found:
        if isinstance(e, httpx2.HTTPStatusError):
            return status_reason(e.response.status_code)
    if status is not None:
        return status_reason(status)
    return _first_specific(found)


def call_reason(exc: BaseException, status: int | None, timeout: float) -> str:
    """Why a tool call failed, for the model to read."""
    found = list(walk(exc))
    if any(_is_timeout(e) for e in found):
        return f"timed out after {timeout:g}s"
    for e in found:
        if isinstance(e, MCPError) and e.code == types.CONNECTION_CLOSED:
            return "the connection to the server was lost"
        if isinstance(e, MCPError) and e.message == _HIDDEN_STATUS_MESSAGE and status:
            return status_reason(status)
        if isinstance(e, ValidationError):
            return "the server sent a malformed result"
    return _first_specific(found)


def is_dropped(exc: BaseException) -> bool:
    """Whether the session is gone (closed connection, unknown session): reconnect-worthy."""
    for e in walk(exc):
        if isinstance(e, MCPError):
            if e.code == types.CONNECTION_CLOSED:
                return True
            # A restarted server answers 404 "Session not found" (or the SDK's own
            # "Session terminated") to a session id it does not know.
            if e.code == types.INVALID_REQUEST and "session" in e.message.lower():
                return True
        if isinstance(e, anyio.BrokenResourceError | anyio.ClosedResourceError):
            return True
        if isinstance(e, httpx2.TransportError) and not isinstance(e, httpx2.TimeoutException):
            return True
    return False


def _is_timeout(e: BaseException) -> bool:
    if isinstance(e, MCPError):
        return e.code == types.REQUEST_TIMEOUT
    return isinstance(e, TimeoutError | httpx2.TimeoutException)


def _first_specific(found: list[BaseException]) -> str:
    """The innermost non-group exception, as 'Type: message' (the caller scrubs it)."""
    leaves = [e for e in found if not isinstance(e, BaseExceptionGroup)]
    for e in leaves:
        if isinstance(e, MCPError):
            return f"MCP error {e.code}: {e.message}"
    if not leaves:
        return type(found[0]).__name__
    first = leaves[0]
    text = str(first).strip()
    return f"{type(first).__name__}: {text}" if text else type(first).__name__


RATE_LIMIT_CODES = {"too_many_requests", "rate_limit_exceeded", "rate_limited", "429"}
MAX_RATE_LIMIT_WAIT_S = 60.0


def rate_limit_wait(text: str) -> float | None:
    """Seconds to wait when a tool error says the server is rate-limiting us, else None.

    MCP servers report this in the tool error's JSON body (Brevo's MCP server:
    'too_many_requests' / 'RATE_LIMIT_EXCEEDED' with a reset in seconds).
    """
    start = text.find("{")
    if start < 0:
        return None
    try:
        body = json.loads(text[start:])
    except json.JSONDecodeError:
        return None
    if not isinstance(body, dict):
        return None
    inner: dict[str, Any] = body["error"] if isinstance(body.get("error"), dict) else body
    if str(inner.get("code", "")).lower() not in RATE_LIMIT_CODES:
        return None
    for key in ("reset", "retry_after", "retryAfter"):
        value = inner.get(key)
        if isinstance(value, int | float) and value >= 0:
            return min(float(value), MAX_RATE_LIMIT_WAIT_S)
    return 1.0
