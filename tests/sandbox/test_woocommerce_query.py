"""GET collections over real HTTP: bounds, pagination headers, dates, _fields, filters."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from sandbox.woocommerce import WooCommerceSandbox
from tests.sandbox.woo_support import FakeClock, get_json, read_auth, served, store

V3 = "/wp-json/wc/v3"


# Every test here only reads: one server for the module.
@pytest.fixture(scope="module")
def sandbox() -> WooCommerceSandbox:
    return WooCommerceSandbox(store(), clock=FakeClock(), rate_limit=None)


@pytest.fixture(scope="module")
def client(sandbox: WooCommerceSandbox) -> Iterator[httpx.Client]:
    with (
        served(sandbox) as url,
        httpx.Client(base_url=url, auth=read_auth(sandbox), trust_env=False) as client,
    ):
        yield client


def _invalid(client: httpx.Client, path: str, **params: Any) -> dict[str, Any]:
    response = client.get(path, params=params)
    assert response.status_code == 400, response.text
    return response.json()


@pytest.mark.parametrize(
    ("params", "errors"),
    [
        ({"per_page": 0}, {"per_page": "per_page must be between 1 (inclusive) and 100 (inclusive)"}),
        ({"per_page": 101}, {"per_page": "per_page must be between 1 (inclusive) and 100 (inclusive)"}),
        ({"per_page": "ten"}, {"per_page": "per_page is not of type integer."}),
        ({"page": 0}, {"page": "page must be greater than or equal to 1"}),
        ({"order": "up"}, {"order": "order is not one of asc and desc."}),
        (
            {"orderby": "email"},
            {"orderby": "orderby is not one of id, include, name, and registered_date."},
        ),
        ({"email": "jane@"}, {"email": "Invalid email address."}),
        ({"include": "3,x"}, {"include": "include[1] is not of type integer."}),
        (
            {"role": "owner"},
            {"role": "role is not one of all, administrator, editor, author, contributor, "
                     "subscriber, customer, and shop_manager."},
        ),
        (
            {"page": 0, "per_page": 500},
            {"page": "page must be greater than or equal to 1",
             "per_page": "per_page must be between 1 (inclusive) and 100 (inclusive)"},
        ),
    ],
)  # fmt: skip
def test_customer_parameter_bounds(
    client: httpx.Client, params: dict[str, Any], errors: dict[str, str]
) -> None:
    body = _invalid(client, f"{V3}/customers", **params)
    assert body == {
        "code": "rest_invalid_param",
        "message": f"Invalid parameter(s): {', '.join(errors)}",
        "data": {"status": 400, "params": errors},
    }


@pytest.mark.parametrize(
    ("params", "name", "message"),
    [
        ({"after": "2025-03-01"}, "after", "Invalid date."),
        ({"modified_after": "yesterday"}, "modified_after", "Invalid date."),
        ({"before": "2025-02-30T00:00:00"}, "before", "Invalid date."),
        ({"dates_are_gmt": "yes"}, "dates_are_gmt", "dates_are_gmt is not of type boolean."),
        ({"status": "done"}, "status", "status[0] is not one of any, trash, pending, processing, "
                                       "on-hold, completed, cancelled, refunded, failed, and "
                                       "checkout-draft."),
        ({"customer": "guest"}, "customer", "customer is not of type integer."),
        ({"orderby": "total"}, "orderby", "orderby is not one of date, id, include, title, slug, "
                                          "and modified."),
    ],
)  # fmt: skip
def test_order_parameter_bounds(
    client: httpx.Client, params: dict[str, Any], name: str, message: str
) -> None:
    body = _invalid(client, f"{V3}/orders", **params)
    assert body["message"] == f"Invalid parameter(s): {name}"
    assert body["data"] == {"status": 400, "params": {name: message}}


def test_validation_comes_before_authentication_checks(client: httpx.Client) -> None:
    response = httpx.get(str(client.base_url) + f"{V3}/customers", params={"per_page": 0})
    assert response.status_code == 400


def test_pagination_headers_and_link(sandbox: WooCommerceSandbox, client: httpx.Client) -> None:
    key = sandbox.read_key
    auth = {"consumer_key": key.consumer_key, "consumer_secret": key.consumer_secret}
    with httpx.Client(base_url=client.base_url) as anonymous:
        response = anonymous.get(f"{V3}/customers", params={**auth, "per_page": 25, "page": 2})
    assert response.status_code == 200
    assert response.headers["X-WP-Total"] == "60"
    assert response.headers["X-WP-TotalPages"] == "3"
    links = _links(response)
    assert set(links) == {"prev", "next"}
    for rel, page in (("prev", "1"), ("next", "3")):
        url = urlsplit(links[rel])
        assert f"{url.scheme}://{url.netloc}" == str(client.base_url)
        assert url.path == f"{V3}/customers"
        query = parse_qs(url.query)
        # Real WooCommerce copies every parameter, credentials included.
        assert query == {"consumer_key": [key.consumer_key],
                         "consumer_secret": [key.consumer_secret],
                         "per_page": ["25"], "page": [page]}  # fmt: skip


def _links(response: httpx.Response) -> dict[str, str]:
    out = {}
    for part in response.headers.get("Link", "").split(", "):
        if part:
            url, rel = part.split("; ")
            out[rel.removeprefix('rel="').rstrip('"')] = url.strip("<>")
    return out


def test_head_carries_the_totals(client: httpx.Client) -> None:
    response = client.head(f"{V3}/customers", params={"per_page": 50})
    assert response.status_code == 200 and response.content == b""
    assert response.headers["X-WP-TotalPages"] == "2"


def test_first_and_last_pages_link_one_way(client: httpx.Client) -> None:
    first = client.get(f"{V3}/customers", params={"per_page": 25})
    assert set(_links(first)) == {"next"}
    last = client.get(f"{V3}/customers", params={"per_page": 25, "page": 3})
    assert set(_links(last)) == {"prev"} and len(last.json()) == 10


def test_page_past_the_end_is_empty_with_correct_totals(client: httpx.Client) -> None:
    response = client.get(f"{V3}/customers", params={"per_page": 25, "page": 9})
    assert response.json() == []
    assert response.headers["X-WP-Total"] == "60"
    assert response.headers["X-WP-TotalPages"] == "3"
    assert parse_qs(urlsplit(_links(response)["prev"]).query)["page"] == ["3"]


def test_following_next_links_visits_every_customer_once(client: httpx.Client) -> None:
    seen: list[int] = []
    url: str | None = f"{V3}/customers?orderby=id&per_page=7&search="
    while url:
        response = client.get(url)
        seen += [c["id"] for c in response.json()]
        url = _links(response).get("next")
    assert seen == list(range(2, 62))


def test_link_keeps_arrays_and_encodes_like_php(client: httpx.Client) -> None:
    response = client.get(
        f"{V3}/orders?status[]=completed&status[]=processing&per_page=2&search=Café moulu&after="
        "2025-01-01T00:00:00"
    )
    next_link = _links(response)["next"]
    assert "status%5B0%5D=completed&status%5B1%5D=processing" in next_link
    assert "search=Caf%C3%A9+moulu" in next_link and "after=2025-01-01T00%3A00%3A00" in next_link


def test_offset_overrides_page(client: httpx.Client) -> None:
    ids = [c["id"] for c in get_json(client, f"{V3}/customers", orderby="id", per_page=5,
                                     page=4, offset=2)]  # fmt: skip
    assert ids == [4, 5, 6, 7, 8]


def test_customers_default_to_role_customer_sorted_by_name(client: httpx.Client) -> None:
    rows = get_json(client, f"{V3}/customers", per_page=100)
    assert len(rows) == 60 and {r["role"] for r in rows} == {"customer"}
    names = [f"{r['first_name']} {r['last_name']}".strip().casefold() for r in rows]
    assert names == sorted(names)
    everyone = get_json(client, f"{V3}/customers", per_page=100, role="all")
    assert {r["role"] for r in everyone} == {"customer", "administrator", "subscriber"}


def test_order_and_orderby_with_id_tiebreak(client: httpx.Client) -> None:
    rows = get_json(client, f"{V3}/customers", per_page=100, orderby="registered_date",
                    order="desc")  # fmt: skip
    keys = [(r["date_created_gmt"], r["id"]) for r in rows]
    assert keys == sorted(keys, reverse=True)
    include = get_json(client, f"{V3}/customers", include="9,3,5", orderby="include")
    assert [r["id"] for r in include] == [9, 3, 5]


def test_customer_email_is_exact_and_case_insensitive(client: httpx.Client) -> None:
    rows = get_json(client, f"{V3}/customers", email="SAM.LEE@example.com")
    assert sorted(r["id"] for r in rows) == [8, 9]
    assert get_json(client, f"{V3}/customers", email="sam.lee@example.co") == []


def test_customer_search_include_exclude(client: httpx.Client, sandbox: WooCommerceSandbox) -> None:
    rows = get_json(client, f"{V3}/customers", search="sam", per_page=100)
    assert {8, 9} <= {r["id"] for r in rows}
    rows = get_json(client, f"{V3}/customers", include="2,3,4", exclude="3")
    assert sorted(r["id"] for r in rows) == [2, 4]


def test_customers_ignore_unregistered_date_filters(client: httpx.Client) -> None:
    plain = client.get(f"{V3}/customers", params={"per_page": 100})
    for params in ({"modified_after": "2025-03-29T00:00:00"}, {"after": "2099-01-01T00:00:00"},
                   {"before": "2000-01-01T00:00:00"}, {"modified_after": "not a date"}):  # fmt: skip
        filtered = client.get(f"{V3}/customers", params={"per_page": 100, **params})
        assert filtered.status_code == 200
        assert filtered.json() == plain.json()
        assert filtered.headers["X-WP-Total"] == "60"


def test_tied_orders_straddle_pages_ordered_by_id(client: httpx.Client) -> None:
    page1 = get_json(client, f"{V3}/orders", orderby="id", order="asc", per_page=10)
    page2 = get_json(client, f"{V3}/orders", orderby="id", order="asc", per_page=10, page=2)
    stamp = {o["id"]: o["date_modified_gmt"] for o in page1 + page2}
    assert stamp[1009] == stamp[1010] == stamp[1011] == stamp[1012]
    assert [o["id"] for o in page1][-2:] == [1009, 1010]
    assert [o["id"] for o in page2][:2] == [1011, 1012]


def test_orders_default_to_date_desc(client: httpx.Client) -> None:
    rows = get_json(client, f"{V3}/orders", per_page=100)
    keys = [(o["date_created"], o["id"]) for o in rows]
    assert keys == sorted(keys, reverse=True)


def _order(sandbox: WooCommerceSandbox, oid: int) -> dict[str, Any]:
    record = sandbox.get("orders", oid)
    assert record is not None
    return record


def _shift(stamp: str, seconds: int) -> str:
    return (datetime.fromisoformat(stamp) + timedelta(seconds=seconds)).isoformat()


def _ids(client: httpx.Client, **params: Any) -> set[int]:
    ids: set[int] = set()
    for page in (1, 2):  # 150 orders at most 100 a page
        ids |= {
            o["id"] for o in get_json(client, f"{V3}/orders", per_page=100, page=page, **params)
        }
    return ids


def test_date_bounds_are_exclusive(client: httpx.Client, sandbox: WooCommerceSandbox) -> None:
    created = _order(sandbox, 1020)["date_created"]
    assert 1020 not in _ids(client, after=created)
    assert 1020 in _ids(client, after=_shift(created, -1))
    assert 1020 not in _ids(client, before=created)
    assert 1020 in _ids(client, before=_shift(created, 1))
    tied = _order(sandbox, 1009)["date_modified"]
    assert not {1009, 1010, 1011, 1012} & _ids(client, modified_after=tied)
    assert {1009, 1010, 1011, 1012} <= _ids(client, modified_after=_shift(tied, -1))
    assert not {1009, 1010, 1011, 1012} & _ids(client, modified_before=tied)


def test_dates_are_gmt_switches_the_compared_column(
    client: httpx.Client, sandbox: WooCommerceSandbox
) -> None:
    order = _order(sandbox, 1020)
    gmt = order["date_created_gmt"]
    assert order["date_created"] == _shift(gmt, 3600)  # Paris in winter
    # By default the bound is site-local time: the order's local date is an hour later.
    assert 1020 in _ids(client, after=gmt)
    assert 1020 not in _ids(client, after=gmt, dates_are_gmt="true")
    assert 1020 in _ids(client, after=_shift(gmt, -1), dates_are_gmt="true")
    # An explicit offset is converted into the compared frame.
    assert 1020 not in _ids(client, after=gmt + "Z")
    assert 1020 in _ids(client, after=_shift(gmt, -1) + "+00:00")


def test_modified_after_selects_recent_changes(
    client: httpx.Client, sandbox: WooCommerceSandbox
) -> None:
    since = "2025-03-25T00:00:00"
    expected = {o["id"] for o in sandbox.store.all("orders") if o["date_modified_gmt"] > since}
    assert _ids(client, modified_after=since, dates_are_gmt="true") == expected


def test_fields_top_level_and_dotted(client: httpx.Client) -> None:
    rows = get_json(client, f"{V3}/customers", _fields="id,billing.email,billing.phone")
    assert rows and all(set(r) == {"id", "billing"} for r in rows)
    assert all(set(r["billing"]) == {"email", "phone"} for r in rows)
    whole = get_json(client, f"{V3}/customers", _fields="billing.email,billing")
    assert len(whole[0]["billing"]) == 11


def test_fields_drop_links_from_collections_but_not_single_items(client: httpx.Client) -> None:
    rows = get_json(client, f"{V3}/orders", _fields="id,status")
    assert set(rows[0]) == {"id", "status"}
    with_links = get_json(client, f"{V3}/orders", _fields="id,_links")
    assert "self" in with_links[0]["_links"]
    single = get_json(client, f"{V3}/customers/2", _fields="id,email")
    assert set(single) == {"id", "email", "_links"}


def test_order_filters(client: httpx.Client, sandbox: WooCommerceSandbox) -> None:
    orders = sandbox.store.all("orders")
    wanted = {o["id"] for o in orders if o["status"] in ("completed", "refunded")}
    assert _ids(client, status="completed,refunded") == wanted
    guests = {o["id"] for o in orders if o["customer_id"] == 0}
    assert _ids(client, customer=0) == guests
    with_product = {o["id"] for o in orders if any(i["product_id"] == 101 for i in o["line_items"])}
    assert _ids(client, product=101) == with_product
    assert _ids(client, include="1001,1002,1003", exclude="1002") == {1001, 1003}
    assert _ids(client, search="1005") == {1005}


def test_duplicate_query_parameters_take_the_last_value(client: httpx.Client) -> None:
    rows = client.get(f"{V3}/customers?per_page=3&per_page=5").json()
    assert len(rows) == 5


def test_dp_rounds_money(client: httpx.Client) -> None:
    order = get_json(client, f"{V3}/orders/1001", dp=0)
    assert "." not in order["total"]
    assert get_json(client, f"{V3}/orders/1001")["total"].count(".") == 1


def test_products_and_coupons_are_paginated(client: httpx.Client) -> None:
    response = client.get(f"{V3}/products", params={"per_page": 5})
    assert response.headers["X-WP-Total"] == "12" and response.headers["X-WP-TotalPages"] == "3"
    assert len(response.json()) == 5 and "next" in _links(response)
    coupons = client.get(f"{V3}/coupons", params={"per_page": 2})
    assert coupons.headers["X-WP-Total"] == "3" and len(coupons.json()) == 2
    assert get_json(client, f"{V3}/coupons", code="WELCOME10")[0]["code"] == "welcome10"


def test_v2_customers_carry_orders_count_and_total_spent(
    client: httpx.Client, sandbox: WooCommerceSandbox
) -> None:
    orders = sandbox.store.all("orders")
    for customer in get_json(client, "/wp-json/wc/v2/customers", per_page=100):
        mine = [o for o in orders if o["customer_id"] == customer["id"]]
        spent = sum(float(o["total"]) for o in mine if o["status"] in ("processing", "completed"))
        assert customer["orders_count"] == len(mine)
        assert customer["total_spent"] == f"{spent:.2f}"
    v3 = get_json(client, f"{V3}/customers/2")
    assert "orders_count" not in v3 and "total_spent" not in v3
    v2 = get_json(client, "/wp-json/wc/v2/customers/2")
    assert list(v2)[13:15] == ["orders_count", "total_spent"]


def test_not_found_bodies(client: httpx.Client) -> None:
    customer = client.get(f"{V3}/customers/99999")
    assert (customer.status_code, customer.json()) == (404, {
        "code": "woocommerce_rest_invalid_id", "message": "Invalid resource ID.",
        "data": {"status": 404}})  # fmt: skip
    order = client.get(f"{V3}/orders/99999")
    assert (order.status_code, order.json()) == (404, {
        "code": "woocommerce_rest_shop_order_invalid_id", "message": "Invalid ID.",
        "data": {"status": 404}})  # fmt: skip
    for path in (f"{V3}/refunds", f"{V3}/customers/abc", "/wp-json/wc/v2/orders", "/wp-json/x"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json() == {
            "code": "rest_no_route",
            "message": "No route was found matching the URL and request method.",
            "data": {"status": 404},
        }


def test_json_is_encoded_like_php(client: httpx.Client) -> None:
    raw = client.get(f"{V3}/customers/2").content
    assert b"\\/" in raw  # escaped slashes in URLs
    assert b"\\u" in raw and raw.isascii()  # Arabic name as \u escapes
    assert (
        client.get(f"{V3}/customers/2").headers["content-type"] == "application/json; charset=UTF-8"
    )
