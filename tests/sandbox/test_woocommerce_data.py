"""The seeded store: determinism, real shapes, dates around the anchor, edge cases."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.data import (
    EDGE_CUSTOMERS,
    EDGE_ORDERS,
    INJECTION,
    StoreData,
    edge_cases,
    generate_store,
)
from tests.sandbox.woo_support import ANCHOR, store

DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
CUSTOMER_KEYS = [
    "id", "date_created", "date_created_gmt", "date_modified", "date_modified_gmt", "email",
    "first_name", "last_name", "role", "username", "billing", "shipping",
    "is_paying_customer", "avatar_url", "meta_data",
]  # fmt: skip


def _gmt(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_same_seed_and_anchor_give_the_same_bytes() -> None:
    assert store(seed=3).to_json() == store(seed=3).to_json()
    assert store(seed=3).to_json() != store(seed=4).to_json()
    later = generate_store(seed=3, anchor=ANCHOR + timedelta(days=1))
    assert later.to_json() != store(seed=3).to_json()


def test_default_anchor_is_today_midnight_utc() -> None:
    data = generate_store(customers=20, orders=20)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    # Around midnight the two calls may straddle the day change.
    assert data.site["anchor"] in {
        today.strftime("%Y-%m-%dT%H:%M:%S"),
        (today - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S"),
        (today + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S"),
    }


def test_sizes_and_id_ranges() -> None:
    data = generate_store(customers=25, orders=40, products=5, anchor=ANCHOR)
    assert [c["id"] for c in data.customers] == list(range(2, 27))
    assert [o["id"] for o in data.orders] == list(range(1001, 1041))
    assert [p["id"] for p in data.products] == list(range(101, 106))
    assert [(u["id"], u["role"]) for u in data.other_users] == [
        (1, "administrator"),
        (27, "subscriber"),
    ]


def test_customers_have_the_v3_shape_and_no_v2_counters() -> None:
    for customer in store().customers:
        assert list(customer) == CUSTOMER_KEYS
        assert "orders_count" not in customer and "total_spent" not in customer
        assert "email" not in customer["shipping"] and "phone" not in customer["shipping"]
        assert customer["role"] == "customer"


def test_orders_have_the_v3_shape() -> None:
    order = store().orders[0]
    for key in ("id", "parent_id", "number", "order_key", "created_via", "version", "status",
                "currency", "date_paid_gmt", "date_completed_gmt", "discount_total", "total",
                "prices_include_tax", "customer_id", "billing", "shipping", "payment_method",
                "transaction_id", "line_items", "tax_lines", "shipping_lines", "fee_lines",
                "coupon_lines", "refunds", "meta_data"):  # fmt: skip
        assert key in order
    assert order["number"] == str(order["id"])
    assert isinstance(order["total"], str) and re.fullmatch(r"\d+\.\d\d", order["total"])
    item = order["line_items"][0]
    assert {"id", "name", "product_id", "variation_id", "quantity", "subtotal", "total", "sku",
            "price"} <= set(item)  # fmt: skip


def test_order_totals_add_up() -> None:
    for order in store().orders:
        items = sum(float(i["total"]) for i in order["line_items"])
        expected = items + float(order["shipping_total"]) + float(order["total_tax"])
        assert float(order["total"]) == pytest.approx(expected, abs=0.001)


def _all_dates(data: StoreData) -> list[tuple[str | None, str | None]]:
    pairs = []
    for record in data.customers + data.orders:
        for name in ("created", "modified", "paid", "completed"):
            if f"date_{name}" in record:
                pairs.append((record[f"date_{name}"], record[f"date_{name}_gmt"]))
    return pairs


def test_dates_sit_in_the_60_days_before_the_anchor_with_a_recent_share() -> None:
    data = store()
    for local, gmt in _all_dates(data):
        if gmt is None:
            continue
        assert DATE.match(local or "") and DATE.match(gmt)
        assert ANCHOR - timedelta(days=61) < _gmt(gmt) < ANCHOR
        # Paris is GMT+1 or GMT+2: local dates never equal GMT ones.
        assert local != gmt
    recent = [c for c in data.customers if _gmt(c["date_created_gmt"]) > ANCHOR - timedelta(7)]
    assert len(recent) >= len(data.customers) * 0.2
    recent_orders = [o for o in data.orders if _gmt(o["date_created_gmt"]) > ANCHOR - timedelta(7)]
    assert len(recent_orders) >= len(data.orders) * 0.2


def test_dates_are_consistent() -> None:
    for order in store().orders:
        created, modified = order["date_created_gmt"], order["date_modified_gmt"]
        assert modified >= created
        if order["date_completed_gmt"]:
            assert order["date_paid_gmt"] and order["date_completed_gmt"] >= created
    for customer in store().customers:
        if customer["date_modified_gmt"]:
            assert customer["date_modified_gmt"] >= customer["date_created_gmt"]


def test_ids_follow_creation_order() -> None:
    data = store()
    created = [o["date_created_gmt"] for o in data.orders]
    assert created == sorted(created)
    assert [c["date_created_gmt"] for c in data.customers] == sorted(
        c["date_created_gmt"] for c in data.customers
    )


def test_emails_use_example_domains_only() -> None:
    data = store()
    emails = [c["email"] for c in data.customers + data.other_users]
    emails += [o["billing"]["email"] for o in data.orders if o["billing"]["email"]]
    for email in emails:
        if "@" in email and email.split("@")[1]:
            assert email.split("@")[1].lower() in {"example.com", "example.org", "example.net"}


def test_orders_only_belong_to_customers_registered_before() -> None:
    data = store()
    registered = {c["id"]: c["date_created_gmt"] for c in data.customers}
    for order in data.orders:
        if order["customer_id"]:
            assert registered[order["customer_id"]] < order["date_created_gmt"]


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(min_value=0, max_value=10_000))
def test_edge_cases_are_present_whatever_the_seed(seed: int) -> None:
    data = generate_store(seed=seed, customers=20, orders=20, anchor=ANCHOR)
    found = edge_cases(data)
    assert set(EDGE_CUSTOMERS) | set(EDGE_ORDERS) <= set(found)
    by_id = {c["id"]: c for c in data.customers}
    orders = {o["id"]: o for o in data.orders}
    assert by_id[5]["email"] == "not-an-email" and by_id[6]["email"] == "jane@"
    assert by_id[7]["email"] == ""
    assert by_id[8]["email"].lower() == by_id[9]["email"].lower() != by_id[9]["email"]
    assert re.search(r"[\u0600-\u06ff]", by_id[2]["first_name"])
    assert re.search(
        r"[\u3040-\u30ff\u4e00-\u9fff]", by_id[3]["first_name"] + by_id[3]["last_name"]
    )
    assert "🌸" in by_id[4]["first_name"]
    phones = [by_id[i]["billing"]["phone"] for i in range(10, 15)]
    assert phones == ["", "06 12 34 56 78", "+33 6 98 76 54 32", "+442079460958", "12-AB"]
    assert by_id[15]["first_name"] == INJECTION
    assert any(m["value"] == INJECTION for m in by_id[16]["meta_data"])
    assert by_id[17]["date_modified_gmt"] is None and by_id[17]["date_modified"] is None
    statuses = {o["status"] for o in data.orders}
    assert {"completed", "processing", "refunded", "cancelled", "pending", "on-hold"} <= statuses
    assert orders[1007]["customer_id"] == 0 and orders[1007]["billing"]["email"]
    assert orders[1008]["billing"]["email"] == by_id[8]["email"].upper()
    assert orders[1013]["billing"]["email"] is None
    tied = {orders[i]["date_modified_gmt"] for i in EDGE_ORDERS["tied_modified"]}
    assert len(tied) == 1


def test_tied_orders_straddle_the_page_boundary() -> None:
    by_id = sorted(store().orders, key=lambda o: o["id"])
    page1, page2 = by_id[:10], by_id[10:20]
    stamp = by_id[8]["date_modified_gmt"]
    assert sum(o["date_modified_gmt"] == stamp for o in page1) >= 2
    assert sum(o["date_modified_gmt"] == stamp for o in page2) >= 1


def test_small_stores_keep_the_edge_cases_that_fit() -> None:
    data = generate_store(customers=5, orders=3, anchor=ANCHOR)
    found = edge_cases(data)
    assert found["arabic_name"] == [2] and "null_date_modified" not in found
    assert "tied_modified" not in found


def test_ten_thousand_customers() -> None:
    data = generate_store(customers=10_000, orders=150, anchor=ANCHOR)
    assert len({c["id"] for c in data.customers}) == 10_000
    assert len({c["username"] for c in data.customers}) == 10_000
