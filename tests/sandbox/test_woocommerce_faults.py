"""Host-level behaviour over real HTTP: the rate limit, injected faults, the request log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from sandbox.faults import FaultInjector, busiest_window
from sandbox.woocommerce import RateLimit, WooCommerceSandbox
from tests.sandbox.woo_support import FakeClock, read_auth, served, store

V3 = "/wp-json/wc/v3"


@dataclass
class Shop:
    sandbox: WooCommerceSandbox
    clock: FakeClock
    url: str
    client: httpx.Client


def _shop(**options: object) -> Iterator[Shop]:
    clock = FakeClock()
    sandbox = WooCommerceSandbox(store(), clock=clock, **options)  # type: ignore[arg-type]
    with served(sandbox) as url, httpx.Client(base_url=url, auth=read_auth(sandbox)) as client:
        yield Shop(sandbox, clock, url, client)


@pytest.fixture
def shop() -> Iterator[Shop]:
    yield from _shop(rate_limit=None)


@pytest.fixture
def limited() -> Iterator[Shop]:
    yield from _shop(rate_limit=RateLimit(requests=3, window=10.0))


def test_default_rate_limit_is_25_per_10_seconds() -> None:
    sandbox = WooCommerceSandbox(store())
    assert sandbox.rate_limit == RateLimit(25, 10.0)
    assert sandbox.limiter is not None and sandbox.limiter.limit == 25


def test_rate_limit_answers_429_with_retry_after(limited: Shop) -> None:
    statuses = [limited.client.get(f"{V3}/customers").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = limited.client.get(f"{V3}/customers")
    assert refused.headers["Retry-After"] == "10"
    assert refused.json() == {
        "code": "too_many_requests",
        "message": "Too many requests. Retry after 10 seconds.",
        "data": {"status": 429},
    }
    limited.clock.advance(6)
    assert limited.client.get(f"{V3}/customers").headers["Retry-After"] == "4"
    limited.clock.advance(4)
    assert limited.client.get(f"{V3}/customers").status_code == 200


def test_window_slides(limited: Shop) -> None:
    for _ in range(3):
        assert limited.client.get(f"{V3}/orders").status_code == 200
        limited.clock.advance(4)
    # t=12: the request at t=0 has left the window, those at 4 and 8 have not.
    assert limited.client.get(f"{V3}/orders").status_code == 200
    assert limited.client.get(f"{V3}/orders").status_code == 429


def test_request_log_counts_per_window(limited: Shop) -> None:
    for _ in range(5):
        limited.client.get(f"{V3}/customers")
        limited.clock.advance(1)
    log = limited.sandbox.requests
    assert [r.status for r in log] == [200, 200, 200, 429, 429]
    assert [r.rate_limited for r in log] == [False, False, False, True, True]
    assert log[0].method == "GET" and log[0].path == f"{V3}/customers"
    assert limited.sandbox.busiest_window() == 3 <= limited.sandbox.rate_limit.requests  # type: ignore[union-attr]
    assert busiest_window([r.at for r in log], 10) == 5


def test_rate_limit_can_be_disabled(shop: Shop) -> None:
    assert {shop.client.get(f"{V3}/products").status_code for _ in range(30)} == {200}
    assert shop.sandbox.busiest_window(10) == 30


def test_admin_routes_are_not_limited_or_logged(limited: Shop) -> None:
    for _ in range(5):
        assert limited.client.get("/__sandbox/requests").status_code == 200
    assert limited.sandbox.requests == []


@pytest.mark.parametrize("status", [500, 502, 503])
def test_status_faults(shop: Shop, status: int) -> None:
    shop.sandbox.add_fault("customers", "status", status=status)
    response = shop.client.get(f"{V3}/customers")
    assert response.status_code == status
    if status == 500:
        assert response.json()["code"] == "internal_server_error"
    else:
        assert response.headers["content-type"] == "text/html"
        assert f"<title>{status} " in response.text and "nginx" in response.text
    assert shop.sandbox.requests[-1].fault == "status"


def test_injected_429_carries_retry_after(shop: Shop) -> None:
    shop.sandbox.add_fault("orders", "status", status=429, retry_after=7)
    response = shop.client.get(f"{V3}/orders")
    assert response.status_code == 429 and response.headers["Retry-After"] == "7"


def test_schedule_fires_on_given_requests_only(shop: Shop) -> None:
    shop.sandbox.add_fault("orders", "status", status=503, on=[1, 2])
    statuses = [shop.client.get(f"{V3}/orders").status_code for _ in range(4)]
    assert statuses == [503, 503, 200, 200]


def test_route_patterns(shop: Shop) -> None:
    shop.sandbox.add_fault("orders/*", "status", status=502)
    assert shop.client.get(f"{V3}/orders").status_code == 200
    assert shop.client.get(f"{V3}/orders/1001").status_code == 502
    shop.sandbox.add_fault("wc/v2/*", "status", status=500)
    assert shop.client.get("/wp-json/wc/v2/customers").status_code == 500
    assert shop.client.get(f"{V3}/customers").status_code == 200


def test_method_filter(shop: Shop) -> None:
    shop.sandbox.add_fault("orders/*", "status", status=503, method="PUT")
    assert shop.client.get(f"{V3}/orders/1001").status_code == 200
    assert shop.client.put(f"{V3}/orders/1001", json={}).status_code == 503


def _statuses(seed: int) -> list[int]:
    sandbox = WooCommerceSandbox(store(), rate_limit=None, fault_seed=seed)
    sandbox.add_fault("customers", "status", status=503, probability=0.5)
    with served(sandbox) as url, httpx.Client(base_url=url, auth=read_auth(sandbox)) as client:
        return [client.get(f"{V3}/customers").status_code for _ in range(12)]


def test_probability_is_seeded_and_repeatable() -> None:
    first = _statuses(seed=11)
    assert first == _statuses(seed=11)
    assert {200, 503} == set(first)


def test_slow_responses_still_answer(shop: Shop) -> None:
    shop.sandbox.add_fault("customers", "slow", delay=0.05)
    assert shop.client.get(f"{V3}/customers").status_code == 200
    assert shop.sandbox.requests[-1].fault == "slow"


def test_timeout_outlasts_the_client(shop: Shop) -> None:
    shop.sandbox.add_fault("customers", "timeout", on=[1])
    with pytest.raises(httpx.ReadTimeout):
        shop.client.get(f"{V3}/customers", timeout=0.3)
    assert shop.client.get(f"{V3}/customers").status_code == 200


def test_timeout_ends_with_a_gateway_timeout_for_patient_clients(shop: Shop) -> None:
    shop.sandbox.add_fault("customers", "timeout", delay=0.05)
    response = shop.client.get(f"{V3}/customers")
    assert response.status_code == 504 and "Gateway Time-out" in response.text


def test_truncated_json(shop: Shop) -> None:
    shop.sandbox.add_fault("orders", "truncate", on=[1])
    response = shop.client.get(f"{V3}/orders")
    assert response.status_code == 200
    assert int(response.headers["content-length"]) == len(response.content)
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert shop.client.get(f"{V3}/orders").json()


def test_dropped_connection(shop: Shop) -> None:
    shop.sandbox.add_fault("customers/*", "drop", on=[1])
    with pytest.raises(httpx.RemoteProtocolError):
        shop.client.get(f"{V3}/customers/2")
    assert shop.client.get(f"{V3}/customers/2").status_code == 200
    assert [(r.status, r.fault) for r in shop.sandbox.requests] == [(0, "drop"), (200, None)]


def test_faults_through_the_admin_routes(shop: Shop) -> None:
    added = shop.client.post("/__sandbox/faults", json={"route": "orders", "kind": "status",
                                                        "status": 502, "on": [1]})  # fmt: skip
    assert added.status_code == 201
    assert added.json() | {"id": 0} == {"id": 0, "route": "orders", "kind": "status",
                                        "status": 502, "delay": 0.0, "probability": None,
                                        "on": [1], "method": None, "retry_after": 1}  # fmt: skip
    assert len(shop.client.get("/__sandbox/faults").json()) == 1
    assert shop.client.get(f"{V3}/orders").status_code == 502
    assert (
        shop.client.post("/__sandbox/faults", json={"route": "x", "kind": "boom"}).status_code
        == 400
    )
    assert shop.client.delete("/__sandbox/faults").json() == {"cleared": True}
    assert shop.sandbox.faults.rules == []


def test_injector_counts_each_rule_separately() -> None:
    injector = FaultInjector()
    first = injector.add("orders", "status", on=[2])
    second = injector.add("*", "drop", on=[1])
    assert injector.pick("GET", ["orders"]) == second
    assert injector.pick("GET", ["orders"]) == first
    assert injector.pick("GET", ["orders"]) is None
    with pytest.raises(ValueError, match="Unknown fault kind 'boom'"):
        injector.add("x", "boom")  # type: ignore[arg-type]
