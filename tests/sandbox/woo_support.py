"""Helpers for the WooCommerce sandbox tests: a clock tests move, a served sandbox, signers.

The OAuth 1.0a signers here are written from the spec and the official client's source,
independently of sandbox/woo_auth.py, so a shared mistake cannot hide.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote

import httpx

from sandbox.data import StoreData, generate_store
from sandbox.server import ServedApp
from sandbox.woocommerce import WooCommerceSandbox

ANCHOR = datetime(2025, 3, 30, tzinfo=UTC)  # winter time in Paris: local = GMT + 1
NOW = ANCHOR + timedelta(hours=10)


class FakeClock:
    """Wall time that moves only when a test says so (readable from the server thread)."""

    def __init__(self, start: datetime = NOW) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward without waiting."""
        with self._lock:
            self._now += timedelta(seconds=seconds)


def store(seed: int = 7, customers: int = 60) -> StoreData:
    """The test store, anchored at ANCHOR."""
    return generate_store(seed=seed, customers=customers, anchor=ANCHOR)


@contextmanager
def served(sandbox: WooCommerceSandbox) -> Iterator[str]:
    """Serve on loopback; yields the base URL."""
    with ServedApp(sandbox.app) as app:
        yield app.url


def read_auth(sandbox: WooCommerceSandbox) -> tuple[str, str]:
    """HTTP Basic credentials of the read-only key."""
    return sandbox.read_key.consumer_key, sandbox.read_key.consumer_secret


def write_auth(sandbox: WooCommerceSandbox) -> tuple[str, str]:
    """HTTP Basic credentials of the read/write key."""
    return sandbox.write_key.consumer_key, sandbox.write_key.consumer_secret


def official_client_params(
    method: str,
    url: str,
    params: dict[str, str],
    key: tuple[str, str],
    timestamp: int,
    nonce: str,
) -> dict[str, str]:
    """Sign like the `woocommerce` Python package (oauth.py): HMAC-SHA256, params in the query.

    Its quirk is kept: `quote()` leaves "/" unencoded where PHP's rawurlencode encodes it.
    """
    signed = dict(params)
    signed |= {
        "oauth_consumer_key": key[0],
        "oauth_timestamp": str(timestamp),
        "oauth_nonce": nonce,
        "oauth_signature_method": "HMAC-SHA256",
    }
    normalized = {
        quote(unquote(k)).replace("%", "%25"): quote(unquote(v)).replace("%", "%25")
        for k, v in sorted(signed.items())
    }
    query = "%26".join(f"{k}%3D{v}" for k, v in normalized.items())
    base = f"{method}&{quote(url, '')}&{query}"
    digest = hmac.new(f"{key[1]}&".encode(), base.encode(), hashlib.sha256).digest()
    return signed | {"oauth_signature": base64.b64encode(digest).decode()}


def php_faithful_params(
    method: str,
    url: str,
    params: dict[str, str],
    key: tuple[str, str],
    timestamp: int,
    nonce: str,
    algorithm: str = "HMAC-SHA1",
) -> dict[str, str]:
    """Sign as RFC 5849 with PHP's rawurlencode ("/" encoded): what WooCommerce checks."""
    signed = dict(params)
    signed |= {
        "oauth_consumer_key": key[0],
        "oauth_timestamp": str(timestamp),
        "oauth_nonce": nonce,
        "oauth_signature_method": algorithm,
    }

    def enc(text: str) -> str:
        return quote(text, safe="-._~")

    pairs = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(signed.items()))
    base = "&".join((method, enc(url), enc(pairs)))
    digest = hashlib.sha256 if algorithm == "HMAC-SHA256" else hashlib.sha1
    mac = hmac.new(f"{key[1]}&".encode(), base.encode(), digest).digest()
    return signed | {"oauth_signature": base64.b64encode(mac).decode()}


def get_json(client: httpx.Client, path: str, **params: Any) -> Any:
    """GET and decode, asserting a 200."""
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()
