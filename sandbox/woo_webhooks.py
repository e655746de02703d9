"""WooCommerce webhook deliveries and pings, byte for byte.

A delivery is a POST whose body is `trim(wp_json_encode($payload))` (the resource as
GET returns it; `{"id": N}` for *.deleted), signed with
X-WC-Webhook-Signature = base64(HMAC-SHA256(raw body, secret)). A ping, sent when a
webhook is saved, is a form POST `webhook_id=N` with no X-WC headers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import httpx

from sandbox.woo_http import php_json

TOPIC_RESOURCES = {
    "customer": "customers",
    "order": "orders",
    "product": "products",
    "coupon": "coupons",
}
EVENTS = ("created", "updated", "deleted", "restored")
USER_AGENT = "WooCommerce/9.4.2 Hookshot (WordPress/6.7.1)"


def split_topic(topic: str) -> tuple[str, str]:
    """'order.updated' -> ('order', 'updated'); ValueError for anything else."""
    resource, _, event = topic.partition(".")
    if resource not in TOPIC_RESOURCES or event not in EVENTS:
        raise ValueError(f"Unknown webhook topic '{topic}'. Use e.g. 'customer.updated'.")
    return resource, event


def signature(body: bytes, secret: str) -> str:
    """X-WC-Webhook-Signature for a raw body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def delivery(
    topic: str, payload: dict[str, Any], secret: str, source: str, webhook_id: int, delivery_id: str
) -> tuple[bytes, dict[str, str]]:
    """Body and headers of one delivery."""
    resource, event = split_topic(topic)
    body = php_json(payload).strip()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-WC-Webhook-Source": source.rstrip("/") + "/",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": signature(body, secret),
        "X-WC-Webhook-ID": str(webhook_id),
        "X-WC-Webhook-Delivery-ID": delivery_id,
    }
    return body, headers


def post(
    url: str, body: bytes, headers: dict[str, str], client: httpx.Client | None = None
) -> httpx.Response:
    """POST and read the whole answer; a client passed in is left open."""
    if client is not None:
        return client.post(url, content=body, headers=headers)
    with httpx.Client(timeout=10.0) as own:
        return own.post(url, content=body, headers=headers)


def ping(url: str, webhook_id: int, client: httpx.Client | None = None) -> httpx.Response:
    """The ping WooCommerce sends when a webhook is saved."""
    headers = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": USER_AGENT}
    return post(url, f"webhook_id={webhook_id}".encode(), headers, client)
