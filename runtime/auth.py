"""Apply a source's AuthSpec to an outgoing request, and strip credentials from URLs.

Pure: the time and the nonce come from the caller (an injected clock and factory).

OAuth 1.0a one-legged, as WooCommerce checks it over plain HTTP
(class-wc-rest-authentication.php) and its official client signs it:

    base   = METHOD & enc(scheme://host[:port]/path) & enc("enc(k)=enc(v)" sorted, joined by "&")
    params = the query parameters + oauth_consumer_key, oauth_timestamp, oauth_nonce,
             oauth_signature_method  (no oauth_version, no oauth_token)
    key    = consumer_secret + "&"
    enc    = PHP rawurlencode: everything but A-Z a-z 0-9 - . _ ~ is escaped, "/" too

Every parameter, oauth_signature included, travels in the query string, which is
encoded with the same `enc` so the server decodes exactly the values we signed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote

import httpx

from runtime.agentfile import AuthSpec
from runtime.clock import Clock

REDACTED = "[redacted]"
DEFAULT_PORTS = {"http": 80, "https": 443}
URL_IN_TEXT = re.compile(r"https?://[^\s<>\"']+")
KEY_LIKE = 12  # a basic-auth user name this long is treated as a key and redacted
ALWAYS_CREDENTIAL = frozenset({"consumer_key", "consumer_secret", "oauth_signature"})


@dataclass(frozen=True)
class AuthorizedRequest:
    """The URL (query included) and headers to send. Holds credentials: never display."""

    url: str
    headers: dict[str, str]


def rawurlencode(value: str) -> str:
    """Percent-encode like PHP's rawurlencode (RFC 3986 unreserved characters kept)."""
    return quote(value, safe="~")


def encode_query(params: Iterable[tuple[str, str]]) -> str:
    """A query string with keys and values encoded by `rawurlencode`."""
    return "&".join(f"{rawurlencode(k)}={rawurlencode(v)}" for k, v in params)


def base_url_for_signing(url: httpx.URL) -> str:
    """scheme://host[:port]/path: lower-case host, port only when not the default."""
    scheme = url.scheme.lower()
    port = f":{url.port}" if url.port and url.port != DEFAULT_PORTS.get(scheme) else ""
    path = url.raw_path.split(b"?", 1)[0].decode("ascii") or "/"
    host = url.host.lower()
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}{port}{path}"


def oauth1_signature(
    method: str, url: httpx.URL, params: Sequence[tuple[str, str]], secret: str, algorithm: str
) -> str:
    """Base64 HMAC signature of the OAuth 1.0a base string (`params` without the signature)."""
    # WooCommerce sorts by the raw key (uksort + strcmp) before encoding; RFC 5849
    # sorts encoded keys. They agree for the ASCII names APIs use.
    pairs = [(rawurlencode(k), rawurlencode(v)) for k, v in sorted(params)]
    normalized = "&".join(f"{k}={v}" for k, v in pairs)
    base = "&".join(
        [method.upper(), rawurlencode(base_url_for_signing(url)), rawurlencode(normalized)]
    )
    digest = hashlib.sha256 if algorithm == "HMAC-SHA256" else hashlib.sha1
    mac = hmac.new(f"{secret}&".encode(), base.encode(), digest).digest()
    return base64.b64encode(mac).decode("ascii")


def oauth1_params(
    method: str,
    url: httpx.URL,
    params: Sequence[tuple[str, str]],
    auth: AuthSpec,
    *,
    timestamp: int,
    nonce: str,
) -> list[tuple[str, str]]:
    """`params` plus the oauth_* parameters and their signature."""
    oauth = [
        ("oauth_consumer_key", auth.key or ""),
        ("oauth_timestamp", str(timestamp)),
        ("oauth_nonce", nonce),
        ("oauth_signature_method", auth.signature_method),
    ]
    signed = [*params, *oauth]
    signature = oauth1_signature(method, url, signed, auth.secret or "", auth.signature_method)
    return [*signed, ("oauth_signature", signature)]


def apply_auth(
    method: str,
    url: str | httpx.URL,
    params: Sequence[tuple[str, str]],
    auth: AuthSpec,
    *,
    clock: Clock,
    nonce_factory: Callable[[], str],
) -> AuthorizedRequest:
    """The URL and headers that authenticate `method url?params` to a source.

    `url` carries no query; `params` must already be free of credential parameters
    (see `is_credential_param`) and hold each key once.
    """
    target = httpx.URL(str(url)).copy_with(query=None, fragment=None)
    query = list(params)
    headers: dict[str, str] = {}
    if auth.type == "basic":
        token = base64.b64encode(f"{auth.key}:{auth.secret}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {token}"
    elif auth.type == "bearer":
        headers["Authorization"] = f"Bearer {auth.token}"
    elif auth.type == "header" and auth.name:
        headers[auth.name] = auth.value or ""
    elif auth.type == "query":
        query += [(auth.key_param, auth.key or ""), (auth.secret_param, auth.secret or "")]
    elif auth.type == "oauth1":
        stamp = int(clock.now().timestamp())
        query = oauth1_params(method, target, query, auth, timestamp=stamp, nonce=nonce_factory())
    full = str(target) + (f"?{encode_query(query)}" if query else "")
    return AuthorizedRequest(full, headers)


def is_credential_param(name: str, auth: AuthSpec | None = None) -> bool:
    """True for query parameters that carry credentials (never taken from the model)."""
    lowered = name.lower()
    if lowered in ALWAYS_CREDENTIAL or lowered.startswith("oauth_"):
        return True
    return auth is not None and auth.type == "query" and name in (auth.key_param, auth.secret_param)


def credential_headers(auth: AuthSpec | None = None) -> set[str]:
    """Lower-case header names that carry credentials (never taken from the model)."""
    names = {"authorization", "proxy-authorization", "cookie"}
    if auth is not None and auth.type == "header" and auth.name:
        names.add(auth.name.lower())
    return names


def drop_credential_params(
    params: Iterable[tuple[str, str]], auths: Iterable[AuthSpec]
) -> tuple[list[tuple[str, str]], list[str]]:
    """(kept, dropped names): query parameters without any credential of `auths`."""
    specs: list[AuthSpec | None] = [*auths] or [None]
    kept: list[tuple[str, str]] = []
    dropped: list[str] = []
    for key, value in params:
        if any(is_credential_param(key, a) for a in specs):
            dropped.append(key)
        else:
            kept.append((key, value))
    return kept, dropped


def drop_credential_headers(
    headers: Mapping[str, str], auths: Iterable[AuthSpec]
) -> tuple[dict[str, str], list[str]]:
    """(kept, dropped names): headers without credential headers of any of `auths`."""
    forbidden = set(credential_headers())
    for auth in auths:
        forbidden |= credential_headers(auth)
    kept = {k: v for k, v in headers.items() if k.lower() not in forbidden}
    return kept, [k for k in headers if k.lower() in forbidden]


def secret_forms(auth: AuthSpec) -> list[str]:
    """Every way a credential of `auth` could appear in text, longest first."""
    forms: set[str] = set()
    values = auth.secret_fields()
    if auth.type == "basic" and auth.key and len(auth.key) >= KEY_LIKE:
        values.append(auth.key)  # a long user name is an API key (WooCommerce's ck_...)
    for value in values:
        forms |= {value, rawurlencode(value), quote(value, safe=""), quote(value, safe="/")}
    if auth.type == "basic" and auth.key and auth.secret:
        forms.add(base64.b64encode(f"{auth.key}:{auth.secret}".encode()).decode("ascii"))
    return sorted((f for f in forms if len(f) >= 4), key=len, reverse=True)


def strip_secrets(text: str, auth: AuthSpec | None = None) -> str:
    """Remove credential and oauth_* parameters from every URL in `text`, then redact values."""
    text = URL_IN_TEXT.sub(lambda m: _strip_url(m.group(0), auth), text)
    for form in secret_forms(auth) if auth is not None else []:
        text = text.replace(form, REDACTED)
    return text


def _strip_url(url: str, auth: AuthSpec | None) -> str:
    """`url` without credential query parameters; everything else kept byte for byte."""
    head, sep, rest = url.partition("?")
    if not sep:
        return url
    query, hash_, fragment = rest.partition("#")
    kept = [
        part
        for part in query.split("&")
        if part and not is_credential_param(unquote(part.split("=", 1)[0]), auth)
    ]
    tail = f"?{'&'.join(kept)}" if kept else ""
    return f"{head}{tail}{hash_}{fragment}"
