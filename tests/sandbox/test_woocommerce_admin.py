"""Changing the store: REST writes, the Python API and the /__sandbox/ admin routes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from sandbox.woocommerce import WooCommerceSandbox
from tests.sandbox.woo_support import NOW, FakeClock, read_auth, served, store, write_auth

V3 = "/wp-json/wc/v3"
STAMP_GMT = NOW.strftime("%Y-%m-%dT%H:%M:%S")


@dataclass
class Shop:
    sandbox: WooCommerceSandbox
    clock: FakeClock
    client: httpx.Client  # the read key
    writer: httpx.Client  # the read/write key


@pytest.fixture
def shop() -> Iterator[Shop]:
    clock = FakeClock()
    sandbox = WooCommerceSandbox(store(), clock=clock, rate_limit=None)
    with (
        served(sandbox) as url,
        httpx.Client(base_url=url, auth=read_auth(sandbox)) as client,
        httpx.Client(base_url=url, auth=write_auth(sandbox)) as writer,
    ):
        yield Shop(sandbox, clock, client, writer)


def _customer(shop: Shop, cid: int) -> dict[str, Any]:
    body: dict[str, Any] = shop.client.get(f"{V3}/customers/{cid}").json()
    return body


def test_modify_customer_bumps_date_modified(shop: Shop) -> None:
    updated = shop.sandbox.modify_customer(20, first_name="Renée", billing={"phone": "+33 1"})
    assert updated["date_modified_gmt"] == STAMP_GMT
    seen = _customer(shop, 20)
    assert seen["first_name"] == "Renée" and seen["billing"]["phone"] == "+33 1"
    # Paris moved to summer time at 01:00 UTC that very day: local = GMT + 2.
    assert seen["date_modified"] == (NOW.replace(hour=NOW.hour + 2)).strftime("%Y-%m-%dT%H:%M:%S")


def test_touch_and_complete_order(shop: Shop) -> None:
    shop.clock.advance(60)
    touched = shop.sandbox.touch("customers", 17)
    assert touched["date_modified_gmt"] is not None  # the null one gets a date
    order = shop.sandbox.complete_order(1005)
    assert order["status"] == "completed"
    assert order["date_completed_gmt"] == order["date_modified_gmt"] == order["date_paid_gmt"]
    listed = shop.client.get(f"{V3}/orders", params={"status": "completed", "include": "1005"})
    assert [o["id"] for o in listed.json()] == [1005]
    with pytest.raises(KeyError, match="No orders with id 5"):
        shop.sandbox.complete_order(5)


def test_admin_routes(shop: Shop) -> None:
    base = "/__sandbox"
    changed = shop.client.post(f"{base}/customers/21", json={"email": "new@example.net"})
    assert changed.status_code == 200 and changed.json()["email"] == "new@example.net"
    assert _customer(shop, 21)["date_modified_gmt"] == STAMP_GMT
    completed = shop.client.post(f"{base}/orders/1006/complete").json()
    assert completed["status"] == "completed" and completed["date_completed_gmt"] == STAMP_GMT
    touched = shop.client.post(f"{base}/products/101/touch").json()
    assert touched["date_modified_gmt"] == STAMP_GMT
    assert shop.client.post(f"{base}/orders/99/complete").status_code == 404
    assert shop.client.post(f"{base}/widgets/1/touch").status_code == 404
    requests = shop.client.get(f"{base}/requests").json()
    assert [r["path"] for r in requests] == [f"{V3}/customers/21"]
    assert shop.client.post(f"{base}/reset").json() == {"reset": True}
    assert _customer(shop, 21)["email"] != "new@example.net"
    assert shop.sandbox.requests == [shop.sandbox.requests[0]]  # only the GET after reset


def test_reset_restores_data_and_clears_state(shop: Shop) -> None:
    shop.sandbox.modify_customer(2, last_name="Changed")
    shop.sandbox.add_fault("orders", "drop")
    shop.sandbox.reset()
    assert shop.sandbox.get("customers", 2)["last_name"] != "Changed"  # type: ignore[index]
    assert shop.sandbox.faults.rules == [] and shop.sandbox.requests == []


def test_create_customer(shop: Shop) -> None:
    response = shop.writer.post(f"{V3}/customers", json={"email": "new.one@example.org",
                                                         "first_name": "New"})  # fmt: skip
    assert response.status_code == 201
    body = response.json()
    assert body["id"] == 63 and body["username"] == "new.one"  # users 1..62 exist
    assert response.headers["Location"].endswith(f"{V3}/customers/63")
    assert body["date_created_gmt"] == STAMP_GMT
    again = shop.writer.post(f"{V3}/customers", json={"email": "NEW.ONE@example.org"})
    assert again.status_code == 400 and again.json()["code"] == "registration-error-email-exists"
    missing = shop.writer.post(f"{V3}/customers", json={"first_name": "X"})
    assert missing.json() == {"code": "rest_missing_callback_param",
                              "message": "Missing parameter(s): email",
                              "data": {"status": 400, "params": ["email"]}}  # fmt: skip
    bad = shop.writer.post(f"{V3}/customers", json={"email": "nope"})
    assert bad.json()["data"]["params"] == {"email": "Invalid email address."}


def test_update_customer(shop: Shop) -> None:
    response = shop.writer.put(f"{V3}/customers/3", json={
        "last_name": "Tanaka", "shipping": {"city": "Osaka"},
        "meta_data": [{"key": "newsletter_opt_in", "value": "yes"}]})  # fmt: skip
    assert response.status_code == 200
    body = response.json()
    assert body["last_name"] == "Tanaka" and body["shipping"]["city"] == "Osaka"
    assert {"key": "newsletter_opt_in", "value": "yes"}.items() <= body["meta_data"][-1].items()
    assert body["date_modified_gmt"] == STAMP_GMT
    unknown = shop.writer.put(f"{V3}/customers/9999", json={"last_name": "X"})
    assert (unknown.status_code, unknown.json()["code"]) == (400, "woocommerce_rest_invalid_id")


def test_orders_write(shop: Shop) -> None:
    created = shop.writer.post(f"{V3}/orders", json={
        "customer_id": 2, "line_items": [{"product_id": 101, "quantity": 2}]})  # fmt: skip
    assert created.status_code == 201
    order = created.json()
    assert order["status"] == "pending" and order["total"] == "30.00"
    assert order["_links"]["customer"][0]["href"].endswith(f"{V3}/customers/2")
    updated = shop.writer.put(f"{V3}/orders/{order['id']}", json={"status": "completed"}).json()
    assert updated["date_completed_gmt"] == STAMP_GMT
    bad = shop.writer.put(f"{V3}/orders/1001", json={"status": "done"})
    assert bad.status_code == 400 and bad.json()["code"] == "rest_invalid_param"
    unknown = shop.writer.put(f"{V3}/orders/5", json={"status": "completed"})
    assert unknown.json()["code"] == "woocommerce_rest_shop_order_invalid_id"
    guest = shop.writer.post(f"{V3}/orders", json={"customer_id": 9999})
    assert guest.json()["code"] == "woocommerce_rest_invalid_customer_id"


def test_v2_total_spent_follows_status_changes(shop: Shop) -> None:
    unpaid = next(o for o in shop.sandbox.store.all("orders")
                  if o["customer_id"] and o["status"] in ("pending", "on-hold", "failed"))  # fmt: skip
    path = f"/wp-json/wc/v2/customers/{unpaid['customer_id']}"
    before = shop.client.get(path).json()
    shop.sandbox.complete_order(unpaid["id"])
    after = shop.client.get(path).json()
    assert after["orders_count"] == before["orders_count"]
    expected = float(before["total_spent"]) + float(unpaid["total"])
    assert float(after["total_spent"]) == pytest.approx(expected)
