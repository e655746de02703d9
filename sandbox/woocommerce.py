"""A WooCommerce REST API (wc/v3, plus wc/v2 customers) emulator for end-to-end tests.

    sandbox = WooCommerceSandbox()               # seeded data, fresh random keys
    with ServedApp(sandbox.app) as served:       # real loopback HTTP
        httpx.get(served.url + "/wp-json/wc/v3/customers",
                  auth=(sandbox.read_key.consumer_key, sandbox.read_key.consumer_secret))

In front of WordPress's own behaviour sits what a host adds: a sliding-window rate
limit (429 + Retry-After) and injected faults (sandbox/faults.py). Every /wp-json
request is logged (`sandbox.requests`). Admin routes under /__sandbox/ (JSON, no auth,
never limited, faulted or logged):

    GET    /__sandbox/requests                 the request log
    GET    /__sandbox/faults                   the fault rules
    POST   /__sandbox/faults                   add one: {"route", "kind", "status"?, "delay"?,
                                               "probability"?, "on"?, "method"?, "retry_after"?}
    DELETE /__sandbox/faults                   remove them all
    POST   /__sandbox/customers/{id}           merge fields into a customer, bump date_modified
    POST   /__sandbox/orders/{id}/complete     status completed, date_completed, date_modified
    POST   /__sandbox/{kind}/{id}/touch        bump date_modified (kind: customers, orders,
                                               products or coupons)
    POST   /__sandbox/reset                    back to the generated data; clears faults, log,
                                               nonces and the rate-limit window
    POST   /__sandbox/webhooks                 deliver one: {"url", "topic", "resource_id",
                                               "secret", "delivery_id"?, "webhook_id"?}
    POST   /__sandbox/ping                     ping: {"url", "webhook_id"}
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox import woo_webhooks as webhooks
from sandbox.data import SITE_URL, StoreData, generate_store
from sandbox.faults import (
    Fault,
    FaultInjector,
    FaultKind,
    Receive,
    Scope,
    Send,
    SlidingWindowLimiter,
    busiest_window,
    send_canned,
    serve,
)
from sandbox.woo_admin import admin_routes
from sandbox.woo_auth import ApiKey, Authenticator, new_key
from sandbox.woo_routes import dispatch, render_item
from sandbox.woo_store import WooStore

Record = dict[str, Any]
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The real time, aware UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class RateLimit:
    """At most `requests` per sliding `window` seconds."""

    requests: int = 25
    window: float = 10.0


@dataclass(frozen=True)
class RequestRecord:
    """One logged /wp-json request; status 0 means no response was sent."""

    at: datetime
    method: str
    path: str
    query: str
    status: int
    fault: str | None = None
    rate_limited: bool = False


class WooCommerceSandbox:
    """The emulated store: data, keys, auth, rate limit, faults, request log, webhooks."""

    def __init__(
        self,
        store: StoreData | None = None,
        *,
        seed: int = 7,
        clock: Clock = system_clock,
        strict: bool = False,
        rate_limit: RateLimit | None = RateLimit(),
        read_key: tuple[str, str] | None = None,
        write_key: tuple[str, str] | None = None,
        fault_seed: int = 0,
        site_url: str = SITE_URL,
    ) -> None:
        self.clock = clock
        self.data = store or generate_store(seed)
        self.store = WooStore(self.data, clock)
        self.read_key = ApiKey(*read_key, "read") if read_key else new_key("read")
        self.write_key = ApiKey(*write_key, "read_write") if write_key else new_key("read_write")
        self.auth = Authenticator([self.read_key, self.write_key], clock, strict)
        self.faults = FaultInjector(fault_seed)
        self.rate_limit = rate_limit
        self.limiter = (
            SlidingWindowLimiter(rate_limit.requests, rate_limit.window) if rate_limit else None
        )
        self.site_url = site_url
        self._log: list[RequestRecord] = []
        self._log_lock = threading.Lock()
        self._deliveries = itertools.count(1)
        self._inner = create_app(self)

    @property
    def strict(self) -> bool:
        """Plain HTTP accepts only OAuth 1.0a, as on a real store."""
        return self.auth.strict

    @strict.setter
    def strict(self, value: bool) -> None:
        self.auth.strict = value

    @property
    def app(self) -> WooCommerceSandbox:
        """The ASGI app to serve (the sandbox itself)."""
        return self

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI: host-level limit and faults, then WordPress."""
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/wp-json"):
            await self._inner(scope, receive, send)
            return
        now = self.clock()
        retry_after = self.limiter.admit(now) if self.limiter else None
        fault = None if retry_after else self.faults.pick(scope["method"], _route_keys(path))
        query = scope.get("query_string", b"").decode("latin-1")
        base = RequestRecord(now, scope["method"], path, query, 0, fault.kind if fault else None)
        logged = False

        def log(status: int) -> None:
            nonlocal logged
            if not logged:
                logged = True
                record = replace(base, status=status, rate_limited=retry_after is not None)
                with self._log_lock:
                    self._log.append(record)

        try:
            if retry_after is not None:
                log(429)
                await send_canned(send, 429, retry_after)
            else:
                await serve(fault, self._inner, scope, receive, send, log)
        finally:
            log(0)  # nothing was sent: the client left, or the app failed

    # Faults and the request log.
    def add_fault(self, route: str, kind: FaultKind, **options: Any) -> Fault:
        """Inject a fault on a route pattern ('customers', 'orders/*'); see sandbox/faults.py."""
        return self.faults.add(route, kind, **options)

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self.faults.clear()

    @property
    def requests(self) -> list[RequestRecord]:
        """Every /wp-json request so far, oldest first."""
        with self._log_lock:
            return list(self._log)

    def busiest_window(self, seconds: float | None = None) -> int:
        """Most requests admitted (not rate-limited) within any `seconds` (default: the limit's)."""
        window = seconds or (self.rate_limit.window if self.rate_limit else 10.0)
        return busiest_window([r.at for r in self.requests if not r.rate_limited], window)

    # The data, read and changed from Python.
    def get(self, kind: str, rid: int) -> Record | None:
        """A stored record (customers, orders, products, coupons) without _links."""
        return self.store.get(kind, rid)

    def modify_customer(self, cid: int, **fields: Any) -> Record:
        """Merge fields (email, names, billing, shipping, meta_data) and bump date_modified."""
        return _known(self.store.update_customer(cid, fields), "customers", cid)

    def complete_order(self, oid: int) -> Record:
        """Mark an order completed, as the shop manager would."""
        return _known(self.store.complete_order(oid), "orders", oid)

    def touch(self, kind: str, rid: int) -> Record:
        """Bump a record's date_modified to the sandbox clock's now."""
        return _known(self.store.touch(kind, rid), kind, rid)

    def reset(self) -> None:
        """Back to the generated data; clear faults, request log, nonces and rate window."""
        self.store.reset()
        self.faults.clear()
        self.auth.reset()
        if self.limiter:
            self.limiter.reset()
        with self._log_lock:
            self._log.clear()

    # Webhooks.
    def send_webhook(
        self,
        url: str,
        topic: str,
        resource_id: int,
        secret: str,
        delivery_id: str | None = None,
        webhook_id: int = 1,
        *,
        client: httpx.Client | None = None,
    ) -> httpx.Response:
        """Deliver `topic` for a resource to `url` as WooCommerce does; returns the answer."""
        resource, event = webhooks.split_topic(topic)
        kind = webhooks.TOPIC_RESOURCES[resource]
        payload = {"id": resource_id} if event == "deleted" else self._payload(kind, resource_id)
        number = next(self._deliveries)
        delivery_id = (
            delivery_id
            or hashlib.md5(f"{webhook_id}:{number}".encode(), usedforsecurity=False).hexdigest()
        )
        body, headers = webhooks.delivery(
            topic, payload, secret, self.site_url, webhook_id, delivery_id
        )
        return webhooks.post(url, body, headers, client)

    def send_ping(
        self, url: str, webhook_id: int, *, client: httpx.Client | None = None
    ) -> httpx.Response:
        """The form POST `webhook_id=N` sent when a webhook is saved."""
        return webhooks.ping(url, webhook_id, client)

    def _payload(self, kind: str, rid: int) -> Record:
        return _known(render_item(self.store, kind, rid, self.site_url), kind, rid)


def _known(record: Record | None, kind: str, rid: int) -> Record:
    if record is None:
        raise KeyError(f"No {kind} with id {rid} in the sandbox.")
    return record


def _route_keys(path: str) -> list[str]:
    """'/wp-json/wc/v3/orders/5' -> ['wc/v3/orders/5', 'orders/5'] for fault patterns."""
    full = path.removeprefix("/wp-json").strip("/")
    parts = full.split("/", 2)
    short = parts[2] if len(parts) == 3 and parts[0] == "wc" else full
    return [full, short]


def create_app(sandbox: WooCommerceSandbox) -> Starlette:
    """The WordPress side (/wp-json/...) and the admin routes (/__sandbox/...)."""

    async def rest(request: Request) -> Response:
        return await dispatch(request, sandbox.store, sandbox.auth)

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    routes = [Route("/wp-json/{rest_route:path}", rest, methods=methods), *admin_routes()]
    app = Starlette(routes=routes)
    app.state.sandbox = sandbox
    return app
