"""Fault injection and a sliding-window rate limit for ASGI emulators served by uvicorn.

A `FaultInjector` holds rules: a route pattern (fnmatch, e.g. "customers", "orders/*"),
a kind, and when it fires: on a fixed schedule (`on=(1, 2)`: the 1st and 2nd request
matching this rule), by probability (seeded RNG), or always. Kinds:

    status    answer `status` at once (500 WordPress critical error JSON, 502/503/504
              proxy HTML, 429 JSON with Retry-After, anything else a small JSON body)
    slow      wait `delay` seconds, then answer normally
    timeout   hang up to `delay` seconds (default 30) or until the client gives up; a
              client that waits that long gets a proxy's 504
    truncate  answer normally but cut the body in half (complete HTTP message, broken JSON)
    drop      close the connection without a response (httpx: RemoteProtocolError
              "Server disconnected without sending a response")

`serve(fault, app, scope, receive, send, on_status)` plays a rule (or none) around an
ASGI app, telling `on_status` what it is about to send.
"""

from __future__ import annotations

import json
import math
import random
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any, Literal, cast

import anyio

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

FaultKind = Literal["status", "slow", "timeout", "truncate", "drop"]
KINDS: tuple[str, ...] = ("status", "slow", "timeout", "truncate", "drop")
DEFAULT_HANG = 30.0


@dataclass(frozen=True)
class Fault:
    """One fault rule."""

    id: int
    route: str
    kind: FaultKind
    status: int = 503
    delay: float = 0.0
    probability: float | None = None
    on: frozenset[int] = field(default_factory=frozenset)
    method: str | None = None
    retry_after: int = 1

    def matches(self, method: str, keys: Sequence[str]) -> bool:
        """Does a request with this method and these route keys fall under the rule?"""
        if self.method and self.method.upper() != method.upper():
            return False
        return any(fnmatchcase(key, self.route) for key in keys)

    def to_json(self) -> dict[str, Any]:
        """The rule as JSON-able data."""
        return asdict(self) | {"on": sorted(self.on)}


class FaultInjector:
    """Thread-safe rule set; counts matching requests per rule and picks the fault to play."""

    def __init__(self, seed: int = 0) -> None:
        self._seed = seed
        self._lock = threading.Lock()
        self.clear()

    def add(
        self,
        route: str,
        kind: FaultKind,
        *,
        status: int = 503,
        delay: float | None = None,
        probability: float | None = None,
        on: Iterable[int] = (),
        method: str | None = None,
        retry_after: int = 1,
    ) -> Fault:
        """Add a rule; `on` (1-based request numbers) wins over `probability`."""
        if kind not in KINDS:
            raise ValueError(f"Unknown fault kind '{kind}'. Use one of {', '.join(KINDS)}.")
        if delay is None:
            delay = DEFAULT_HANG if kind == "timeout" else 0.0
        with self._lock:
            self._next_id += 1
            fault = Fault(
                self._next_id,
                route,
                kind,
                status,
                delay,
                probability,
                frozenset(on),
                method,
                retry_after,
            )
            self._rules.append(fault)
            self._counts[fault.id] = 0
        return fault

    def add_json(self, spec: dict[str, Any]) -> Fault:
        """Add a rule from JSON (the admin route's body)."""
        known = {"status", "delay", "probability", "on", "method", "retry_after"}
        options = {k: v for k, v in spec.items() if k in known}
        return self.add(str(spec["route"]), cast(FaultKind, spec["kind"]), **options)

    def clear(self) -> None:
        """Remove every rule and reseed the RNG, so a run replays identically."""
        with self._lock:
            self._rules: list[Fault] = []
            self._counts: dict[int, int] = {}
            self._next_id = 0
            self._rng = random.Random(self._seed)

    @property
    def rules(self) -> list[Fault]:
        """The rules, oldest first."""
        with self._lock:
            return list(self._rules)

    def pick(self, method: str, keys: Sequence[str]) -> Fault | None:
        """Count the request against every matching rule; return the first that fires."""
        chosen = None
        with self._lock:
            for rule in self._rules:
                if not rule.matches(method, keys):
                    continue
                self._counts[rule.id] += 1
                if chosen is None and self._fires(rule, self._counts[rule.id]):
                    chosen = rule
        return chosen

    def _fires(self, rule: Fault, count: int) -> bool:
        if rule.on:
            return count in rule.on
        if rule.probability is not None:
            return self._rng.random() < rule.probability
        return True


class SlidingWindowLimiter:
    """At most `limit` admitted requests in any `window` seconds (rejections don't count)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self._admitted: deque[datetime] = deque()
        self._lock = threading.Lock()

    def admit(self, now: datetime) -> int | None:
        """None when admitted, else the Retry-After seconds."""
        span = timedelta(seconds=self.window)
        with self._lock:
            while self._admitted and now - self._admitted[0] >= span:
                self._admitted.popleft()
            if len(self._admitted) < self.limit:
                self._admitted.append(now)
                return None
            wait = (self._admitted[0] + span - now).total_seconds()
            return max(1, math.ceil(wait))

    def reset(self) -> None:
        """Forget past requests."""
        with self._lock:
            self._admitted.clear()


def busiest_window(times: Sequence[datetime], window: float) -> int:
    """The most instants falling within any `window` seconds (a half-open span)."""
    ordered = sorted(times)
    span, best, start = timedelta(seconds=window), 0, 0
    for end, when in enumerate(ordered):
        while when - ordered[start] >= span:
            start += 1
        best = max(best, end - start + 1)
    return best


PROXY_PAGE = (
    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
REASONS = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}
CRITICAL = (
    "<p>There has been a critical error on this website.</p><p>"
    '<a href="https://wordpress.org/documentation/article/faq-troubleshooting/">'
    "Learn more about troubleshooting WordPress.</a></p>"
)


def canned(status: int, retry_after: int = 1) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """Body and headers a host, proxy or crashed WordPress sends with this status."""
    if status in REASONS:
        body = PROXY_PAGE.format(code=status, reason=REASONS[status]).encode()
        return body, [(b"content-type", b"text/html"), (b"connection", b"close")]
    if status == 429:
        message = f"Too many requests. Retry after {retry_after} seconds."
        data: dict[str, Any] = {"code": "too_many_requests", "message": message}
        headers = [(b"retry-after", str(retry_after).encode())]
    elif status == 500:
        data = {"code": "internal_server_error", "message": CRITICAL, "additional_errors": []}
        headers = []
    else:
        data = {"code": f"http_{status}", "message": "Injected fault."}
        headers = []
    data["data"] = {"status": status}
    body = json.dumps(data, separators=(",", ":")).encode()
    return body, [(b"content-type", b"application/json; charset=UTF-8"), *headers]


async def send_canned(send: Send, status: int, retry_after: int = 1) -> None:
    """Send a whole canned response."""
    body, headers = canned(status, retry_after)
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def serve(
    fault: Fault | None,
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    on_status: Callable[[int], None] = lambda status: None,
) -> None:
    """Run `app` under `fault` (None: untouched).

    `on_status` hears the status just before it goes out (0 before a drop), so a log
    written there is complete by the time the client has the response.
    """

    async def tap(message: Message) -> None:
        if message["type"] == "http.response.start":
            on_status(message["status"])
        await send(message)

    kind = fault.kind if fault else None
    if fault and kind == "status":
        await send_canned(tap, fault.status, fault.retry_after)
    elif fault and kind == "timeout":
        if not await _client_left(receive, fault.delay):
            await send_canned(tap, 504)
    elif fault and kind == "drop":
        on_status(0)
        await drop_connection(receive, send)
    elif fault and kind == "truncate":
        await _truncated(app, scope, receive, tap)
    else:
        if fault and kind == "slow":
            await anyio.sleep(fault.delay)
        await app(scope, receive, tap)


async def _client_left(receive: Receive, seconds: float) -> bool:
    """Wait up to `seconds` for the client to disconnect; True if it did."""
    with anyio.move_on_after(seconds):
        while (await receive())["type"] != "http.disconnect":
            pass
        return True
    return False


async def drop_connection(receive: Receive, send: Send) -> None:
    """Close the socket without a response.

    uvicorn's `send` is a bound method of its request cycle, which holds the transport;
    closing it and waiting for the disconnect makes uvicorn end the cycle quietly.
    Without a transport (an in-process ASGI client) raise, the nearest equivalent.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        raise ConnectionAbortedError("Injected fault: connection dropped.")
    transport.close()
    await _client_left(receive, 5.0)


async def _truncated(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    start: Message = {}
    chunks: list[bytes] = []

    async def capture(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, capture)
    body = b"".join(chunks)
    cut = body[: len(body) // 2]
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(cut)).encode()))
    await send(
        {"type": "http.response.start", "status": start.get("status", 200), "headers": headers}
    )
    await send({"type": "http.response.body", "body": cut})
