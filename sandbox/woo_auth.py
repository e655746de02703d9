"""WooCommerce REST authentication: API keys, query/Basic credentials, OAuth 1.0a one-legged.

Mirrors WC_REST_Authentication: over HTTPS (or always, unless strict) query-string
consumer_key/consumer_secret win, else HTTP Basic; then OAuth 1.0a is tried. An unknown
key in query/Basic leaves the request anonymous (the endpoint answers 401
woocommerce_rest_cannot_view later); a known key with a wrong secret, or any OAuth
failure, is a 401 woocommerce_rest_authentication_error straight away.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from urllib.parse import unquote, unquote_plus

from sandbox.woo_http import Query, WpError, rawurlencode

Permission = Literal["read", "write", "read_write"]
OAUTH_PARAMS = (
    "oauth_consumer_key",
    "oauth_timestamp",
    "oauth_nonce",
    "oauth_signature",
    "oauth_signature_method",
)
TIMESTAMP_WINDOW = 15 * 60
AUTH_ERROR = "woocommerce_rest_authentication_error"


@dataclass(frozen=True)
class ApiKey:
    """A REST API key pair and its permissions."""

    consumer_key: str
    consumer_secret: str
    permissions: Permission


def new_key(permissions: Permission) -> ApiKey:
    """A fresh random key pair shaped like WooCommerce's (ck_/cs_ + 40 hex)."""
    return ApiKey(f"ck_{secrets.token_hex(20)}", f"cs_{secrets.token_hex(20)}", permissions)


@dataclass(frozen=True)
class AuthInput:
    """What authentication reads from a request."""

    method: str
    scheme: str
    host: str
    path: str
    query: Query
    form: Query = field(default_factory=dict)
    authorization: str = ""


def _fail(message: str) -> WpError:
    return WpError(401, AUTH_ERROR, message)


def _empty(value: object) -> bool:
    return value in (None, "", "0")  # PHP's empty() on request strings


def parse_oauth_header(header: str) -> dict[str, str]:
    """Parameters of an `Authorization: OAuth k="v", ...` header, as WooCommerce reads them."""
    if not header.startswith("OAuth "):
        return {}
    found = re.findall(r'(oauth_[a-z_-]*)=(:?"([^"]*)"|([^,]*))', header)
    return {name: unquote_plus(quoted or bare) for name, _, quoted, bare in found}


def signature_base(method: str, url: str, params: Query) -> str:
    """WooCommerce's string to sign: params sorted by raw key, each `k=v` encoded twice."""
    pairs = []
    for key in sorted((k for k in params if k != "oauth_signature"), key=lambda k: k.encode()):
        value = params[key]
        if isinstance(value, list):
            for i, item in enumerate(value):
                pairs.append(rawurlencode(f"{rawurlencode(key)}%5B{i}%5D={rawurlencode(item)}"))
        else:
            pairs.append(rawurlencode(f"{rawurlencode(key)}={rawurlencode(value)}"))
    return f"{method.upper()}&{rawurlencode(url)}&{'%26'.join(pairs)}"


def oauth_signature(base: str, secret: str, method: str) -> str:
    """base64(HMAC(secret + "&", base)) with SHA1 or SHA256."""
    digest = hashlib.sha256 if method == "HMAC-SHA256" else hashlib.sha1
    return base64.b64encode(
        hmac.new(f"{secret}&".encode(), base.encode(), digest).digest()
    ).decode()


class Authenticator:
    """Checks credentials against a set of keys; remembers OAuth nonces per key."""

    def __init__(self, keys: list[ApiKey], clock: Callable[[], datetime], strict: bool) -> None:
        self._keys = {k.consumer_key: k for k in keys}
        self._clock = clock
        self.strict = strict
        self._nonces: dict[str, dict[str, int]] = {}
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Forget used nonces."""
        with self._lock:
            self._nonces.clear()

    def authenticate(self, req: AuthInput) -> ApiKey | None:
        """The key the request proves, None when anonymous; raises WpError on failure."""
        error = None
        # Over plain HTTP real WooCommerce only runs OAuth; non-strict mode is lenient.
        if not self.strict or req.scheme == "https":
            key, error = self._basic(req)
            if key:
                return key
        key = self._oauth(req)
        if error:
            raise error
        return key

    def _basic(self, req: AuthInput) -> tuple[ApiKey | None, WpError | None]:
        ck, cs = req.query.get("consumer_key"), req.query.get("consumer_secret")
        if _empty(ck) or _empty(cs) or not isinstance(ck, str) or not isinstance(cs, str):
            ck, cs = _basic_credentials(req.authorization)
        if not ck or not cs:
            return None, None
        key = self._keys.get(ck)
        if key is None:
            return None, None
        if not hmac.compare_digest(key.consumer_secret.encode(), cs.encode()):
            return None, _fail("Consumer secret is invalid.")
        return key, None

    def _oauth(self, req: AuthInput) -> ApiKey | None:
        params: Query = {**req.query, **req.form, **parse_oauth_header(req.authorization.strip())}
        missing = [n for n in OAUTH_PARAMS if _empty(params.get(n))]
        if len(missing) == len(OAUTH_PARAMS):
            return None  # not even trying OAuth
        if missing:
            plural = "s" if len(missing) > 1 else ""
            raise WpError(
                401,
                "woocommerce_rest_authentication_missing_parameter",
                f"Missing OAuth parameter{plural} {', '.join(missing)}",
            )
        key = self._keys.get(str(params["oauth_consumer_key"]))
        if key is None:
            raise _fail("Consumer key is invalid.")
        self._check_signature(key, req, params)
        self._check_timestamp_and_nonce(
            key, str(params["oauth_timestamp"]), str(params["oauth_nonce"])
        )
        return key

    def _check_signature(self, key: ApiKey, req: AuthInput, params: Query) -> None:
        method = params["oauth_signature_method"]
        if method not in ("HMAC-SHA1", "HMAC-SHA256"):
            raise _fail("Invalid signature - signature method is invalid.")
        # WooCommerce decodes the signature once more, after turning spaces back into "+".
        provided = unquote(str(params["oauth_signature"]).replace(" ", "+"))
        base = signature_base(req.method, f"{req.scheme}://{req.host}{req.path}", params)
        expected = oauth_signature(base, key.consumer_secret, method)
        if not hmac.compare_digest(expected.encode(), provided.encode()):
            raise _fail("Invalid signature - provided signature does not match.")

    def _check_timestamp_and_nonce(self, key: ApiKey, timestamp: str, nonce: str) -> None:
        now = int(self._clock().timestamp())
        if not timestamp.isdigit() or abs(int(timestamp) - now) > TIMESTAMP_WINDOW:
            raise _fail("Invalid timestamp.")
        with self._lock:
            used = self._nonces.setdefault(key.consumer_key, {})
            if nonce in used:
                raise _fail("Invalid nonce - nonce has already been used.")
            used[nonce] = int(timestamp)
            for old in [n for n, ts in used.items() if ts < now - TIMESTAMP_WINDOW]:
                del used[old]


def _basic_credentials(header: str) -> tuple[str | None, str | None]:
    if not header.startswith("Basic "):
        return None, None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else (None, None)


def check_permissions(key: ApiKey, method: str) -> None:
    """WooCommerce's per-key read/write check, run before routing."""
    if method in ("GET", "HEAD") and key.permissions not in ("read", "read_write"):
        raise _fail("The API key provided does not have read permissions.")
    if method in ("POST", "PUT", "PATCH", "DELETE") and key.permissions not in (
        "write",
        "read_write",
    ):
        raise _fail("The API key provided does not have write permissions.")
