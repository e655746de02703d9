"""runtime.auth: each auth type, OAuth 1.0a against independent implementations, stripping."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import httpx
import pytest

from runtime.agentfile import AuthSpec
from runtime.auth import (
    REDACTED,
    apply_auth,
    drop_credential_headers,
    drop_credential_params,
    is_credential_param,
    oauth1_signature,
    rawurlencode,
    strip_secrets,
)
from runtime.clock import FrozenClock

KEY, SECRET = "ck_0123456789abcdef", "cs_fedcba9876543210"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
UNRESERVED = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def php_rawurlencode(text: str) -> str:
    """PHP's rawurlencode, byte by byte: an implementation independent of urllib."""
    return "".join(chr(b) if b in UNRESERVED else f"%{b:02X}" for b in text.encode())


def woocommerce_signature(method: str, url: str, secret: str, algorithm: str) -> tuple[str, str]:
    """(expected, sent): the check WooCommerce's PHP server does, written from its source."""
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))  # last value wins, as PHP
    sent = params.pop("oauth_signature")
    normalized = {php_rawurlencode(k): php_rawurlencode(v) for k, v in sorted(params.items())}
    query = "%26".join(php_rawurlencode(f"{k}={v}") for k, v in normalized.items())
    base_uri = php_rawurlencode(f"{parts.scheme}://{parts.netloc}{parts.path}")
    to_sign = f"{method}&{base_uri}&{query}"
    digest = hashlib.sha256 if algorithm == "HMAC-SHA256" else hashlib.sha1
    mac = hmac.new(f"{secret}&".encode(), to_sign.encode(), digest).digest()
    return base64.b64encode(mac).decode(), sent


def official_client_signature(method: str, url: str, params: dict[str, str], secret: str) -> str:
    """The signature of WooCommerce's official Python client (reference/libraries.md)."""
    normalized = {
        quote(unquote(k)).replace("%", "%25"): quote(unquote(v)).replace("%", "%25")
        for k, v in sorted(params.items())
    }
    query = "%26".join(f"{k}%3D{v}" for k, v in normalized.items())
    to_sign = f"{method}&{quote(url, '')}&{query}"
    mac = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def authorize(auth: AuthSpec, url: str = "http://shop.test/wp-json/wc/v3/customers", **kw):
    params = kw.pop("params", [("per_page", "5")])
    clock = FrozenClock(NOW)
    return apply_auth(
        kw.pop("method", "GET"), url, params, auth, clock=clock, nonce_factory=lambda: "n0nce"
    )


def test_basic_auth_sets_the_authorization_header() -> None:
    out = authorize(AuthSpec(type="basic", key=KEY, secret=SECRET))
    token = base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
    assert out.headers == {"Authorization": f"Basic {token}"}
    assert out.url == "http://shop.test/wp-json/wc/v3/customers?per_page=5"


def test_query_auth_adds_key_and_secret_params() -> None:
    auth = AuthSpec(
        type="query", key=KEY, secret=SECRET, key_param="api_key", secret_param="api_secret"
    )
    out = authorize(auth)
    assert parse_qsl(urlsplit(out.url).query) == [
        ("per_page", "5"),
        ("api_key", KEY),
        ("api_secret", SECRET),
    ]
    assert out.headers == {}


def test_bearer_header_and_none() -> None:
    assert authorize(AuthSpec(type="bearer", token="tok_abcdef")).headers == {
        "Authorization": "Bearer tok_abcdef"
    }
    assert authorize(AuthSpec(type="header", name="X-Api-Key", value="v_secret")).headers == {
        "X-Api-Key": "v_secret"
    }
    assert authorize(AuthSpec(type="none")).headers == {}


@pytest.mark.parametrize("algorithm", ["HMAC-SHA256", "HMAC-SHA1"])
def test_oauth1_matches_woocommerce_server_check(algorithm: str) -> None:
    auth = AuthSpec(type="oauth1", key=KEY, secret=SECRET, signature_method=algorithm)
    params = [("search", "a/b c+d~é"), ("per_page", "5"), ("after", "2025-01-01T00:00:00")]
    out = authorize(auth, "http://shop.test:8081/wp-json/wc/v3/orders", params=params)
    expected, sent = woocommerce_signature("GET", out.url, SECRET, algorithm)
    assert sent == expected
    query = dict(parse_qsl(urlsplit(out.url).query))
    assert query["oauth_consumer_key"] == KEY
    assert query["oauth_timestamp"] == str(int(NOW.timestamp()))
    assert query["oauth_nonce"] == "n0nce"
    assert query["oauth_signature_method"] == algorithm
    assert "oauth_version" not in query and "oauth_token" not in query
    assert "a%2Fb%20c%2Bd~%C3%A9" in out.url  # "/" encoded like PHP's rawurlencode


def test_oauth1_matches_the_official_client_for_values_without_slash() -> None:
    auth = AuthSpec(type="oauth1", key=KEY, secret=SECRET)
    url = "http://shop.test/wp-json/wc/v3/customers"
    out = authorize(auth, url, params=[("per_page", "100"), ("search", "smith jo")])
    query = dict(parse_qsl(urlsplit(out.url).query))
    sent = query.pop("oauth_signature")
    assert sent == official_client_signature("GET", url, query, SECRET)


def test_oauth1_signature_covers_method_port_and_path() -> None:
    url = httpx.URL("http://shop.test:8081/wp-json/wc/v3/customers")
    params = [("a", "1")]
    base = oauth1_signature("GET", url, params, SECRET, "HMAC-SHA256")
    assert oauth1_signature("POST", url, params, SECRET, "HMAC-SHA256") != base
    other_port = url.copy_with(port=8082)
    assert oauth1_signature("GET", other_port, params, SECRET, "HMAC-SHA256") != base
    # The default port is left out of the base string.
    default = httpx.URL("http://shop.test:80/p")
    assert oauth1_signature("GET", default, params, SECRET, "HMAC-SHA256") == oauth1_signature(
        "GET", httpx.URL("http://shop.test/p"), params, SECRET, "HMAC-SHA256"
    )


def test_rawurlencode_is_php_compatible() -> None:
    for text in ["a/b", "a b", "~x-y_z.", "é", "+&=?#%", "[]"]:
        assert rawurlencode(text) == php_rawurlencode(text)


def test_credential_params_and_headers_are_recognised() -> None:
    query_auth = AuthSpec(
        type="query", key=KEY, secret=SECRET, key_param="api_key", secret_param="s"
    )
    assert is_credential_param("consumer_key") and is_credential_param("oauth_nonce")
    assert is_credential_param("api_key", query_auth) and not is_credential_param("api_key")
    assert not is_credential_param("per_page", query_auth)
    kept, dropped = drop_credential_params(
        [("a", "1"), ("api_key", "x"), ("oauth_x", "y")], [query_auth]
    )
    assert kept == [("a", "1")] and dropped == ["api_key", "oauth_x"]
    header_auth = AuthSpec(type="header", name="X-Api-Key", value="v_secret")
    kept_h, dropped_h = drop_credential_headers(
        {"x-api-key": "1", "Authorization": "2", "Accept": "3"}, [header_auth]
    )
    assert kept_h == {"Accept": "3"} and sorted(dropped_h) == ["Authorization", "x-api-key"]


def test_strip_secrets_cleans_a_woocommerce_link_header() -> None:
    auth = AuthSpec(type="oauth1", key=KEY, secret=SECRET)
    link = (
        f"<http://shop.test/wp-json/wc/v3/customers?per_page=5&oauth_consumer_key={KEY}"
        f"&oauth_nonce=abc&oauth_signature=x%2By&consumer_key={KEY}&consumer_secret={SECRET}"
        f'&page=2>; rel="next", <http://shop.test/wp-json/wc/v3/customers?page=1>; rel="prev"'
    )
    cleaned = strip_secrets(link, auth)
    assert cleaned == (
        '<http://shop.test/wp-json/wc/v3/customers?per_page=5&page=2>; rel="next", '
        '<http://shop.test/wp-json/wc/v3/customers?page=1>; rel="prev"'
    )


def test_strip_secrets_redacts_values_anywhere() -> None:
    auth = AuthSpec(type="basic", key=KEY, secret="cs_with/slash")
    token = base64.b64encode(f"{KEY}:cs_with/slash".encode()).decode()
    text = f"secret cs_with/slash, encoded cs_with%2Fslash, basic {token}, key {KEY}"
    out = strip_secrets(text, auth)
    assert "cs_with" not in out and token not in out and KEY not in out
    assert out.count(REDACTED) == 4
    # A short basic user name is a name, not a key: data mentioning it stays intact.
    assert strip_secrets("admin wrote", AuthSpec(type="basic", key="admin", secret="pw_12345")) == (
        "admin wrote"
    )


def test_strip_secrets_keeps_urls_without_credentials() -> None:
    url = "https://shop.test/a?b=1&c=%2F#frag"
    assert strip_secrets(url) == url
    assert strip_secrets("https://shop.test/a?oauth_nonce=1") == "https://shop.test/a"
