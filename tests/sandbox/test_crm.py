"""The CRM sandbox over real loopback HTTP: bearer auth, cursor pages, updated_since, errors,
the rate limit (with a clock the test moves) and the Python API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from sandbox.crm import CrmRateLimit, CrmSandbox, generate_contacts
from sandbox.server import ServedApp
from tests.sandbox.brevo_support import FakeClock

if TYPE_CHECKING:  # importing it before pytest registers the plugin would skip its rewrite
    from tests.fixtures_sandbox import Served

pytest_plugins = ["tests.fixtures_sandbox"]

ANCHOR = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def api(crm_server: Served[CrmSandbox]) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {crm_server.sandbox.token}"}
    with httpx.Client(base_url=crm_server.url + "/api", headers=headers) as client:
        yield client


def read_all(api: httpx.Client, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Follow next_cursor to the end; (rows, pages)."""
    rows, pages, cursor = [], 0, None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        answer = api.get("/contacts", params=query)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert set(body) == {"data", "next_cursor"}
        rows += body["data"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return rows, pages


def order_key(row: dict[str, Any]) -> tuple[str, str]:
    return row["updated_at"], row["id"]


def test_requests_without_the_right_bearer_token_get_401(
    crm_server: Served[CrmSandbox],
) -> None:
    token = crm_server.sandbox.token
    with httpx.Client(base_url=crm_server.url) as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {token}"}):
            answer = client.get("/api/contacts", headers=headers)
            assert answer.status_code == 401
            assert answer.json()["error"]["type"] == "unauthorized"
            assert answer.headers["www-authenticate"].startswith("Bearer")
            assert token not in answer.text
        lower = client.get("/api/contacts", headers={"Authorization": f"bearer {token}"})
        assert lower.status_code == 200


def test_pages_follow_next_cursor_in_updated_at_then_id_order(
    api: httpx.Client, crm_server: Served[CrmSandbox]
) -> None:
    rows, pages = read_all(api, limit=7)
    assert pages == 6  # 40 contacts: 5 full pages of 7, then 5
    assert [r["id"] for r in rows] == [r["id"] for r in sorted(rows, key=order_key)]
    assert sorted(r["id"] for r in rows) == [c["id"] for c in crm_server.sandbox.contacts()]
    first, second = crm_server.sandbox.edge_cases["tied_updated_at"]
    ids = [r["id"] for r in rows]
    assert ids.index(second) == ids.index(first) + 1  # a tie is broken by id
    default = api.get("/contacts").json()
    assert len(default["data"]) == 40 and default["next_cursor"] is None  # default limit 50
    assert len(api.get("/contacts", params={"limit": 200}).json()["data"]) == 40


def test_contacts_have_the_documented_shape(api: httpx.Client) -> None:
    row = api.get("/contacts", params={"limit": 1}).json()["data"][0]
    assert set(row) == {
        "id", "email", "first_name", "last_name", "company", "created_at", "updated_at",
    }  # fmt: skip
    assert row["updated_at"].endswith("Z")
    datetime.fromisoformat(row["updated_at"])
    assert api.get(f"/contacts/{row['id']}").json() == row


def test_updated_since_is_strictly_after_and_accepts_iso_forms(api: httpx.Client) -> None:
    everything, _ = read_all(api)
    pivot = everything[len(everything) // 2]["updated_at"]
    expected = [r["id"] for r in everything if r["updated_at"] > pivot]
    rows, _ = read_all(api, updated_since=pivot, limit=4)
    assert [r["id"] for r in rows] == expected
    assert pivot not in {r["updated_at"] for r in rows}
    when = datetime.fromisoformat(pivot)
    same = [
        when.strftime("%Y-%m-%dT%H:%M:%S"),  # naive: UTC
        when.astimezone(UTC).isoformat(),
        when.astimezone(timezone(timedelta(hours=2))).isoformat(),
    ]
    for form in same:
        assert [r["id"] for r in read_all(api, updated_since=form)[0]] == expected
    assert read_all(api, updated_since="2999-01-01T00:00:00Z")[0] == []


def test_a_contact_modified_while_paging_is_read_again_and_none_is_skipped(
    api: httpx.Client, crm_server: Served[CrmSandbox]
) -> None:
    first = api.get("/contacts", params={"limit": 10}).json()
    moved = first["data"][-1]["id"]
    crm_server.sandbox.modify_contact(moved, company="Moved Inc")
    rest, _ = read_all(api, limit=10, cursor=first["next_cursor"])
    seen = [r["id"] for r in first["data"]] + [r["id"] for r in rest]
    assert sorted(set(seen)) == [c["id"] for c in crm_server.sandbox.contacts()]
    assert seen.count(moved) == 2 and rest[-1]["id"] == moved
    assert rest[-1]["company"] == "Moved Inc"


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "-5"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "WzFd"}, "cursor"),  # base64 of [1]
        ({"updated_since": "last tuesday"}, "updated_since"),
        ({"updated_since": "2026-13-01"}, "updated_since"),
    ],
)
def test_bad_parameters_get_400_naming_the_parameter(
    api: httpx.Client, params: dict[str, str], param: str
) -> None:
    answer = api.get("/contacts", params=params)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["type"] == "invalid_request" and error["param"] == param
    assert error["detail"]


def test_unknown_contact_route_and_method_get_json_errors(api: httpx.Client) -> None:
    missing = api.get("/contacts/ct_99999")
    assert missing.status_code == 404
    assert missing.json() == {
        "error": {"type": "not_found", "detail": "No contact with id 'ct_99999'."}
    }
    assert api.get("/deals").json()["error"]["type"] == "not_found"
    post = api.post("/contacts", json={})
    assert post.status_code == 405 and post.json()["error"]["type"] == "method_not_allowed"


def test_rate_limit_answers_429_with_retry_after_until_the_window_passes() -> None:
    clock = FakeClock(ANCHOR)
    crm = CrmSandbox(rate_limit=CrmRateLimit(requests=3, window=1.0), clock=clock)
    headers = {"Authorization": f"Bearer {crm.token}"}
    with ServedApp(crm.app) as served, httpx.Client(base_url=served.url, headers=headers) as c:
        assert [c.get("/api/contacts").status_code for _ in range(3)] == [200, 200, 200]
        limited = c.get("/api/contacts")
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "1"
        assert limited.json()["error"]["type"] == "rate_limited"
        clock.advance(0.5)
        assert c.get("/api/contacts/ct_00001").status_code == 429
        clock.advance(0.5)
        assert c.get("/api/contacts/ct_00001").status_code == 200
        assert c.post("/__sandbox/contacts/ct_00001", json={"company": "X"}).status_code == 200
    assert crm.statuses == [200, 200, 200, 429, 429, 200]  # admin routes are not limited


def test_no_rate_limit_when_disabled() -> None:
    crm = CrmSandbox(rate_limit=None, clock=FakeClock(ANCHOR))
    headers = {"Authorization": f"Bearer {crm.token}"}
    with ServedApp(crm.app) as served, httpx.Client(base_url=served.url, headers=headers) as c:
        assert {c.get("/api/contacts").status_code for _ in range(30)} == {200}


def test_data_is_seeded_deterministic_and_has_the_edge_cases() -> None:
    a = CrmSandbox(seed=3, contacts=40, anchor=ANCHOR)
    b = CrmSandbox(seed=3, contacts=40, anchor=ANCHOR)
    assert a.contacts() == b.contacts()
    assert a.contacts() != CrmSandbox(seed=4, contacts=40, anchor=ANCHOR).contacts()
    assert generate_contacts(3, 40, ANCHOR) == a.contacts()
    rows = {c["id"]: c for c in a.contacts()}
    assert len(rows) == 40
    assert all(c["updated_at"] < "2026-03-01T00:00:00Z" for c in rows.values())
    assert all(c["created_at"] < c["updated_at"] for c in rows.values())
    invalid = a.edge_cases["invalid_email"]
    assert [rows[i]["email"] for i in invalid] == ["not-an-email", "", "sam.lee@localhost"]
    original, copy = a.edge_cases["duplicate_email"]
    assert rows[copy]["email"] != rows[original]["email"]
    assert rows[copy]["email"].lower() == rows[original]["email"].lower()
    tied = a.edge_cases["tied_updated_at"]
    assert rows[tied[0]]["updated_at"] == rows[tied[1]]["updated_at"]
    valid = [c for c in rows.values() if c["id"] not in invalid]
    assert all("@" in c["email"] and "." in c["email"].split("@")[1] for c in valid)


@pytest.mark.parametrize("count", [1, 8, 12, 27])
def test_small_stores_keep_their_edge_cases_apart(count: int) -> None:
    crm = CrmSandbox(contacts=count, anchor=ANCHOR)
    assert len(crm.contacts()) == count
    cases = crm.edge_cases
    assert not set(cases["invalid_email"]) & set(cases["duplicate_email"])


def test_modify_contact_bumps_updated_at_even_with_a_stale_clock() -> None:
    clock = FakeClock(ANCHOR)
    crm = CrmSandbox(anchor=ANCHOR, clock=clock)
    before = crm.get("ct_00005")
    assert before is not None
    after = crm.modify_contact("ct_00005", first_name="Zoé", company=None)
    assert after["first_name"] == "Zoé" and after["company"] is None
    assert after["updated_at"] == "2026-03-01T00:00:00Z" > before["updated_at"]
    again = crm.modify_contact("ct_00005", last_name="Z")  # clock has not moved: still later
    assert again["updated_at"] == "2026-03-01T00:00:01Z"
    assert crm.get("ct_00005") == again
    with pytest.raises(KeyError):
        crm.modify_contact("ct_99999", company="X")
    with pytest.raises(ValueError, match="id"):
        crm.modify_contact("ct_00005", id="ct_1")


def test_admin_route_modifies_a_contact(crm_server: Served[CrmSandbox]) -> None:
    url = crm_server.url + "/__sandbox/contacts/"
    with httpx.Client() as client:
        changed = client.post(url + "ct_00002", json={"email": "new@globex.com"})
        assert changed.status_code == 200 and changed.json()["email"] == "new@globex.com"
        assert client.post(url + "ct_99999", json={}).status_code == 404
        assert client.post(url + "ct_00002", json={"bogus": 1}).status_code == 400
    row = crm_server.sandbox.get("ct_00002")
    assert row is not None and row["email"] == "new@globex.com"
