"""Every way in, and every 401 body, over real HTTP."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from sandbox.woocommerce import WooCommerceSandbox
from tests.sandbox.woo_support import (
    FakeClock,
    official_client_params,
    php_faithful_params,
    read_auth,
    served,
    store,
    write_auth,
)

V3 = "/wp-json/wc/v3"
CANNOT_LIST = {
    "code": "woocommerce_rest_cannot_view",
    "message": "Sorry, you cannot list resources.",
    "data": {"status": 401},
}


def auth_error(message: str) -> dict[str, Any]:
    return {
        "code": "woocommerce_rest_authentication_error",
        "message": message,
        "data": {"status": 401},
    }


@dataclass
class Shop:
    sandbox: WooCommerceSandbox
    clock: FakeClock
    url: str
    client: httpx.Client  # no credentials

    def now(self) -> int:
        return int(self.clock().timestamp())


@pytest.fixture
def shop() -> Iterator[Shop]:
    clock = FakeClock()
    sandbox = WooCommerceSandbox(store(), clock=clock, rate_limit=None)
    with served(sandbox) as url, httpx.Client(base_url=url) as client:
        yield Shop(sandbox, clock, url, client)


def test_keys_are_random_and_shaped_like_woocommerce() -> None:
    one, two = WooCommerceSandbox(store()), WooCommerceSandbox(store())
    for key in (one.read_key, one.write_key):
        assert re.fullmatch(r"ck_[0-9a-f]{40}", key.consumer_key)
        assert re.fullmatch(r"cs_[0-9a-f]{40}", key.consumer_secret)
    assert one.read_key != two.read_key and one.read_key != one.write_key
    fixed = WooCommerceSandbox(store(), read_key=("ck_r", "cs_r"), write_key=("ck_w", "cs_w"))
    assert (fixed.read_key.consumer_key, fixed.write_key.permissions) == ("ck_r", "read_write")


def test_query_string_credentials(shop: Shop) -> None:
    ck, cs = read_auth(shop.sandbox)
    response = shop.client.get(
        f"{V3}/customers", params={"consumer_key": ck, "consumer_secret": cs}
    )
    assert response.status_code == 200


def test_http_basic(shop: Shop) -> None:
    assert shop.client.get(f"{V3}/orders", auth=read_auth(shop.sandbox)).status_code == 200


def test_anonymous_and_unknown_keys_cannot_list(shop: Shop) -> None:
    assert shop.client.get(f"{V3}/customers").json() == CANNOT_LIST
    unknown = {"consumer_key": "ck_" + "0" * 40, "consumer_secret": "cs_" + "0" * 40}
    response = shop.client.get(f"{V3}/customers", params=unknown)
    assert (response.status_code, response.json()) == (401, CANNOT_LIST)
    basic = shop.client.get(f"{V3}/customers", auth=("ck_nobody", "cs_nothing"))
    assert basic.json() == CANNOT_LIST
    single = shop.client.get(f"{V3}/customers/2")
    assert single.json()["message"] == "Sorry, you cannot view this resource."


def test_wrong_secret(shop: Shop) -> None:
    ck, _ = read_auth(shop.sandbox)
    for response in (
        shop.client.get(f"{V3}/customers", params={"consumer_key": ck, "consumer_secret": "cs_x"}),
        shop.client.get(f"{V3}/customers", auth=(ck, "cs_x")),
    ):
        assert response.status_code == 401
        assert response.json() == auth_error("Consumer secret is invalid.")


def test_query_credentials_win_over_basic(shop: Shop) -> None:
    ck, cs = read_auth(shop.sandbox)
    response = shop.client.get(
        f"{V3}/customers",
        params={"consumer_key": ck, "consumer_secret": cs},
        auth=("ck_nobody", "cs_nothing"),
    )
    assert response.status_code == 200


def test_official_client_oauth_sha256_in_the_query(shop: Shop) -> None:
    url = f"{shop.url}{V3}/customers"
    params = official_client_params("GET", url, {"per_page": "5"}, read_auth(shop.sandbox),
                                    shop.now(), "nonce-1")  # fmt: skip
    # The official client sends every query parameter twice; PHP keeps the last copy.
    query = httpx.QueryParams([*params.items(), ("per_page", "5")])
    response = shop.client.get(url, params=query)
    assert response.status_code == 200, response.text
    assert len(response.json()) == 5
    # Real WooCommerce copies the oauth_* parameters into the Link header.
    assert "oauth_signature=" in response.headers["Link"]


@pytest.mark.parametrize("algorithm", ["HMAC-SHA1", "HMAC-SHA256"])
def test_php_faithful_oauth(shop: Shop, algorithm: str) -> None:
    url = f"{shop.url}{V3}/orders"
    params = php_faithful_params("GET", url, {"after": "2025-03-01T00:00:00"},
                                 read_auth(shop.sandbox), shop.now(), "n-" + algorithm,
                                 algorithm)  # fmt: skip
    assert shop.client.get(url, params=params).status_code == 200


def test_oauth_in_the_authorization_header(shop: Shop) -> None:
    url = f"{shop.url}{V3}/customers"
    params = php_faithful_params("GET", url, {}, read_auth(shop.sandbox), shop.now(), "h1")
    header = "OAuth " + ", ".join(f'{k}="{quote(v, safe="")}"' for k, v in params.items())
    assert shop.client.get(url, headers={"Authorization": header}).status_code == 200


def test_slash_in_a_value_breaks_the_official_client_but_not_rawurlencode(shop: Shop) -> None:
    url = f"{shop.url}{V3}/customers"
    extra = {"search": "a/b"}
    official = official_client_params("GET", url, extra, read_auth(shop.sandbox), shop.now(), "s1")
    response = shop.client.get(url, params=official)
    assert response.json() == auth_error("Invalid signature - provided signature does not match.")
    faithful = php_faithful_params("GET", url, extra, read_auth(shop.sandbox), shop.now(), "s2")
    assert shop.client.get(url, params=faithful).status_code == 200


def test_bad_signature(shop: Shop) -> None:
    url = f"{shop.url}{V3}/customers"
    params = php_faithful_params("GET", url, {}, read_auth(shop.sandbox), shop.now(), "b1")
    response = shop.client.get(url, params=params | {"oauth_signature": "AAAA"})
    assert response.status_code == 401
    assert response.json() == auth_error("Invalid signature - provided signature does not match.")
    tampered = shop.client.get(url, params=params | {"per_page": "3"})
    assert tampered.json()["message"] == "Invalid signature - provided signature does not match."


def test_oauth_unknown_key_and_bad_method(shop: Shop) -> None:
    url = f"{shop.url}{V3}/customers"
    unknown = php_faithful_params("GET", url, {}, ("ck_nobody", "cs_x"), shop.now(), "u1")
    assert shop.client.get(url, params=unknown).json() == auth_error("Consumer key is invalid.")
    plain = php_faithful_params("GET", url, {}, read_auth(shop.sandbox), shop.now(), "u2")
    response = shop.client.get(url, params=plain | {"oauth_signature_method": "PLAINTEXT"})
    assert response.json() == auth_error("Invalid signature - signature method is invalid.")


def test_oauth_timestamp_window(shop: Shop) -> None:
    url = f"{shop.url}{V3}/customers"
    key = read_auth(shop.sandbox)
    stale = php_faithful_params("GET", url, {}, key, shop.now() - 16 * 60, "t1")
    assert shop.client.get(url, params=stale).json() == auth_error("Invalid timestamp.")
    fine = php_faithful_params("GET", url, {}, key, shop.now() - 14 * 60, "t2")
    assert shop.client.get(url, params=fine).status_code == 200
    shop.clock.advance(20 * 60)  # the sandbox clock decides, not the wall clock
    late = php_faithful_params("GET", url, {}, key, shop.now() - 20 * 60, "t3")
    assert shop.client.get(url, params=late).json() == auth_error("Invalid timestamp.")


def test_oauth_nonce_is_single_use(shop: Shop) -> None:
    url = f"{shop.url}{V3}/customers"
    params = php_faithful_params("GET", url, {}, read_auth(shop.sandbox), shop.now(), "once")
    assert shop.client.get(url, params=params).status_code == 200
    replay = shop.client.get(url, params=params)
    assert replay.json() == auth_error("Invalid nonce - nonce has already been used.")


def test_oauth_missing_parameters(shop: Shop) -> None:
    response = shop.client.get(f"{V3}/customers", params={"oauth_consumer_key": "ck_x"})
    assert response.status_code == 401
    assert response.json() == {
        "code": "woocommerce_rest_authentication_missing_parameter",
        "message": "Missing OAuth parameters oauth_timestamp, oauth_nonce, oauth_signature, "
        "oauth_signature_method",
        "data": {"status": 401},
    }


def test_read_key_cannot_write(shop: Shop) -> None:
    for method, path in (("POST", "/customers"), ("PUT", "/customers/2"), ("PUT", "/orders/1001")):
        response = shop.client.request(method, V3 + path, auth=read_auth(shop.sandbox), json={})
        assert response.status_code == 401
        assert response.json() == auth_error(
            "The API key provided does not have write permissions."
        )


def test_write_key_writes_and_anonymous_cannot(shop: Shop) -> None:
    response = shop.client.put(f"{V3}/orders/1005", auth=write_auth(shop.sandbox),
                               json={"status": "processing"})  # fmt: skip
    assert response.status_code == 200 and response.json()["status"] == "processing"
    anonymous = shop.client.put(f"{V3}/orders/1005", json={"status": "completed"})
    assert anonymous.json() == {
        "code": "woocommerce_rest_cannot_edit",
        "message": "Sorry, you are not allowed to edit this resource.",
        "data": {"status": 401},
    }
    create = shop.client.post(f"{V3}/customers", json={"email": "x@example.com"})
    assert create.json()["code"] == "woocommerce_rest_cannot_create"


def test_strict_mode_accepts_only_oauth_over_http(shop: Shop) -> None:
    shop.sandbox.strict = True
    ck, cs = read_auth(shop.sandbox)
    query = shop.client.get(f"{V3}/customers", params={"consumer_key": ck, "consumer_secret": cs})
    assert (query.status_code, query.json()) == (401, CANNOT_LIST)
    basic = shop.client.get(f"{V3}/customers", auth=(ck, cs))
    assert basic.json() == CANNOT_LIST
    # Even a wrong secret goes unnoticed: Basic is simply not read over HTTP.
    assert shop.client.get(f"{V3}/customers", auth=(ck, "cs_x")).json() == CANNOT_LIST
    url = f"{shop.url}{V3}/customers"
    signed = php_faithful_params("GET", url, {}, (ck, cs), shop.now(), "strict")
    assert shop.client.get(url, params=signed).status_code == 200


def test_strict_mode_behind_a_tls_proxy_accepts_basic(shop: Shop) -> None:
    shop.sandbox.strict = True
    headers = {"X-Forwarded-Proto": "https"}  # uvicorn trusts proxy headers from 127.0.0.1
    response = shop.client.get(f"{V3}/customers", auth=read_auth(shop.sandbox), headers=headers)
    assert response.status_code == 200
    assert response.headers["Link"].startswith("<https://")


def test_strict_constructor_flag() -> None:
    sandbox = WooCommerceSandbox(store(), strict=True, rate_limit=None)
    assert sandbox.strict
    with served(sandbox) as url:
        response = httpx.get(f"{url}{V3}/customers", auth=read_auth(sandbox))
    assert response.json() == CANNOT_LIST
