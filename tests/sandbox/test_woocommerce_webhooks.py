"""Webhook deliveries and pings, received by a real HTTP endpoint and verified."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from sandbox.server import ServedApp
from sandbox.woocommerce import WooCommerceSandbox
from tests.sandbox.woo_support import FakeClock, read_auth, served, store

SECRET = "whsec-test"


@dataclass
class Received:
    """What the receiving endpoint saw, request by request."""

    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def receiver() -> Iterator[tuple[str, Received]]:
    received = Received()

    async def hook(request: Request) -> Response:
        body = await request.body()
        with received.lock:
            received.requests.append((dict(request.headers), body))
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    with ServedApp(app) as served_app:
        yield served_app.url + "/hook", received


@pytest.fixture
def sandbox() -> WooCommerceSandbox:
    return WooCommerceSandbox(store(), clock=FakeClock(), rate_limit=None)


def _verify(headers: dict[str, str], body: bytes) -> bool:
    mac = hmac.new(SECRET.encode(), body, hashlib.sha256).digest()
    return hmac.compare_digest(base64.b64encode(mac).decode(), headers["x-wc-webhook-signature"])


def test_delivery_headers_and_signature(
    sandbox: WooCommerceSandbox, receiver: tuple[str, Received]
) -> None:
    url, received = receiver
    answer = sandbox.send_webhook(url, "order.updated", 1001, SECRET, delivery_id="d-1",
                                  webhook_id=4)  # fmt: skip
    assert answer.status_code == 200 and answer.text == "ok"
    headers, body = received.requests[0]
    assert _verify(headers, body)
    assert headers["x-wc-webhook-topic"] == "order.updated"
    assert headers["x-wc-webhook-resource"] == "order"
    assert headers["x-wc-webhook-event"] == "updated"
    assert headers["x-wc-webhook-id"] == "4"
    assert headers["x-wc-webhook-delivery-id"] == "d-1"
    assert headers["x-wc-webhook-source"] == "https://shop.example.com/"
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["id"] == 1001


def test_tampered_body_fails_verification(
    sandbox: WooCommerceSandbox, receiver: tuple[str, Received]
) -> None:
    url, received = receiver
    sandbox.send_webhook(url, "customer.created", 2, SECRET)
    headers, body = received.requests[0]
    # Re-serialising changes the bytes (PHP escapes "/" and non-ASCII): verify the raw body.
    reencoded = json.dumps(json.loads(body)).encode()
    assert _verify(headers, body) and not _verify(headers, reencoded)


def test_body_is_the_get_response(
    sandbox: WooCommerceSandbox, receiver: tuple[str, Received]
) -> None:
    url, received = receiver
    with served(sandbox) as shop_url:
        sandbox.site_url = shop_url
        got = httpx.get(f"{shop_url}/wp-json/wc/v3/customers/15", auth=read_auth(sandbox))
        sandbox.send_webhook(url, "customer.updated", 15, SECRET)
    assert received.requests[0][1] == got.content


def test_deleted_topic_sends_only_the_id(
    sandbox: WooCommerceSandbox, receiver: tuple[str, Received]
) -> None:
    url, received = receiver
    sandbox.send_webhook(url, "product.deleted", 101, SECRET)
    assert json.loads(received.requests[0][1]) == {"id": 101}


def test_delivery_ids_default_to_distinct_values(
    sandbox: WooCommerceSandbox, receiver: tuple[str, Received]
) -> None:
    url, received = receiver
    sandbox.send_webhook(url, "coupon.updated", 301, SECRET)
    sandbox.send_webhook(url, "coupon.updated", 301, SECRET)
    ids = [h["x-wc-webhook-delivery-id"] for h, _ in received.requests]
    assert len(set(ids)) == 2 and all(len(i) == 32 for i in ids)


def test_ping_is_a_bare_form_post(
    sandbox: WooCommerceSandbox, receiver: tuple[str, Received]
) -> None:
    url, received = receiver
    answer = sandbox.send_ping(url, 7)
    assert answer.status_code == 200
    headers, body = received.requests[0]
    assert body == b"webhook_id=7"
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    assert not [h for h in headers if h.startswith("x-wc-")]


def test_unknown_topics_and_resources(
    sandbox: WooCommerceSandbox, receiver: tuple[str, Received]
) -> None:
    url, _ = receiver
    with pytest.raises(ValueError, match=r"Unknown webhook topic 'order\.paid'"):
        sandbox.send_webhook(url, "order.paid", 1001, SECRET)
    with pytest.raises(KeyError):
        sandbox.send_webhook(url, "order.updated", 5, SECRET)


def test_admin_route_delivers(sandbox: WooCommerceSandbox, receiver: tuple[str, Received]) -> None:
    url, received = receiver
    with served(sandbox) as shop_url:
        answer = httpx.post(f"{shop_url}/__sandbox/webhooks", json={
            "url": url, "topic": "order.created", "resource_id": 1002, "secret": SECRET})  # fmt: skip
        ping = httpx.post(f"{shop_url}/__sandbox/ping", json={"url": url, "webhook_id": 3})
    assert answer.json() == {"status": 200, "body": "ok"} and ping.json()["status"] == 200
    assert _verify(*received.requests[0]) and received.requests[1][1] == b"webhook_id=3"
