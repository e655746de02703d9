"""The sandbox's read-only REST v3 mirror: api-key, Brevo's shapes, rate-limit headers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sandbox.brevo import BrevoSandbox
from sandbox.server import ServedApp
from tests.sandbox.brevo_support import FakeClock, mcp_client, ok


@pytest.fixture
def rest(sandbox: BrevoSandbox, served: ServedApp) -> Iterator[httpx.Client]:
    headers = {"api-key": sandbox.api_key}
    with httpx.Client(base_url=served.url + "/v3", headers=headers) as client:
        yield client


@pytest.mark.parametrize("key", [None, "xkeysib-wrong"])
def test_without_a_valid_api_key_is_401(served: ServedApp, key: str | None) -> None:
    headers = {} if key is None else {"api-key": key}
    response = httpx.get(served.url + "/v3/contacts", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"code": "unauthorized", "message": "Key not found"}


def test_mcp_token_is_not_an_api_key(sandbox: BrevoSandbox, served: ServedApp) -> None:
    response = httpx.get(served.url + "/v3/contacts", headers={"api-key": sandbox.token})
    assert response.status_code == 401


@pytest.mark.anyio
async def test_rest_shows_what_the_tools_did(
    sandbox: BrevoSandbox, served: ServedApp, rest: httpx.Client
) -> None:
    async with mcp_client(served, sandbox) as client:
        ok(await client.call_tool("lists_create_list", {"name": "Shop", "folderId": 1}))
        create = {"email": "a@example.com", "attributes": {"FIRSTNAME": "Ann"}, "listIds": [1]}
        ok(await client.call_tool("contacts_create_contact", create))
        ok(
            await client.call_tool(
                "events_create_event", {"event_name": "signup", "identifiers": {"contact_id": 1}}
            )
        )
    contacts = rest.get("/contacts").json()
    assert contacts["count"] == 1
    assert {"email": "a@example.com", "id": 1, "listIds": [1]}.items() <= contacts["contacts"][
        0
    ].items()
    assert rest.get("/contacts/a@example.com").json()["attributes"] == {"FIRSTNAME": "Ann"}
    assert rest.get("/contacts/1").json()["email"] == "a@example.com"
    assert rest.get("/contacts/lists").json()["lists"][0]["uniqueSubscribers"] == 1
    assert rest.get("/contacts/lists/1/contacts").json()["count"] == 1
    assert {"name": "FIRSTNAME", "category": "normal", "type": "text"} in rest.get(
        "/contacts/attributes"
    ).json()["attributes"]
    [event] = rest.get("/events").json()["events"]
    assert event["event_name"] == "signup" and event["contact_id"] == 1


def test_rest_errors_are_brevo_bodies(rest: httpx.Client) -> None:
    missing = rest.get("/contacts/nobody@example.com")
    assert missing.status_code == 404
    assert missing.json() == {"code": "document_not_found", "message": "Contact does not exist"}
    assert rest.get("/contacts/lists/3/contacts").json()["message"] == "List ID does not exist"
    bad = rest.get("/contacts", params={"limit": "many"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_parameter"


@pytest.mark.anyio
async def test_rest_pages_and_filters(
    sandbox: BrevoSandbox, served: ServedApp, rest: httpx.Client, clock: FakeClock
) -> None:
    async with mcp_client(served, sandbox, "brevo_contacts") as client:
        for n in range(3):
            ok(await client.call_tool("create_contact", {"email": f"c{n}@example.com"}))
            clock.advance(10)
    page = rest.get("/contacts", params={"limit": 1, "offset": 1, "sort": "asc"}).json()
    assert page["count"] == 3 and [c["email"] for c in page["contacts"]] == ["c1@example.com"]
    since = rest.get("/contacts", params={"modifiedSince": "2024-05-01T12:00:10.000Z"}).json()
    assert since["count"] == 2


def test_the_mirror_is_read_only(rest: httpx.Client) -> None:
    assert rest.post("/contacts", json={"email": "a@example.com"}).status_code == 405


def test_rate_limit_headers_and_429(clock: FakeClock) -> None:
    sandbox = BrevoSandbox(clock=clock, rate_limits={"contacts": (2, 1.0)})
    with sandbox, ServedApp(sandbox.app) as served:
        headers = {"api-key": sandbox.api_key}
        with httpx.Client(base_url=served.url + "/v3", headers=headers) as rest:
            first, second, third = (rest.get("/contacts") for _ in range(3))
            clock.advance(1.0)
            fourth = rest.get("/contacts")
            lists = rest.get("/contacts/lists")
    assert first.headers["x-sib-ratelimit-limit"] == "2"
    assert first.headers["x-sib-ratelimit-remaining"] == "1"
    assert first.headers["x-sib-ratelimit-reset"] == "1"
    assert second.headers["x-sib-ratelimit-remaining"] == "0"
    assert third.status_code == 429
    assert third.json()["code"] == "too_many_requests" and third.json()["reset"] == 1
    assert third.headers["x-sib-ratelimit-remaining"] == "0"
    assert "retry-after" not in third.headers
    assert fourth.status_code == 200
    assert "x-sib-ratelimit-limit" not in lists.headers  # lists are unlimited in this setup
