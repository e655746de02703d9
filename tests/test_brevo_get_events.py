"""GET /v3/events in the Brevo sandbox, over REST and as the brevo_events MCP tool get_events.

Brevo lists custom events newest event_date first with the total `count` of matches; the
date window is inclusive, startDate and endDate go together and default to the last 6
months; limit is 1..10000.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from mcp import Client

from sandbox.brevo import BrevoSandbox
from sandbox.server import ServedApp
from tests.sandbox.brevo_support import FakeClock, error, mcp_client, ok

# Module-wide: one served sandbox and one MCP client (keeps the file fast). The clock
# stands at 2024-05-01T12:00:00Z (brevo_support.START) unless a test moves it.
SENT = [
    ("order_completed", "a@example.com", "2024-04-30T23:59:59.999Z", {"order_id": 1}),
    ("order_completed", "b@example.com", "2024-05-01T00:00:00Z", {"order_id": 2}),
    ("cart_updated", "a@example.com", "2024-05-01T23:59:59.999+00:00", {"items": 3}),
    ("order_completed", "a@example.com", "2024-05-02T00:00:00Z", {"order_id": 3}),
    ("order_completed", "b@example.com", "2024-04-20T10:00:00+02:00", {"order_id": 4}),
]


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def served(clock: FakeClock) -> Iterator[tuple[BrevoSandbox, ServedApp]]:
    with BrevoSandbox(clock=clock, rate_limits={}) as sandbox, ServedApp(sandbox.app) as server:
        yield sandbox, server


@pytest.fixture(scope="module")
async def events(served: tuple[BrevoSandbox, ServedApp]) -> AsyncIterator[Client]:
    """An MCP client of brevo_events, after SENT was recorded (contact 1 is a@, 2 is b@)."""
    sandbox, server = served
    async with mcp_client(server, sandbox, "brevo_events") as client:
        for name, email, when, properties in SENT:
            event = {"event_name": name, "identifiers": {"email_id": email}}
            event |= {"event_date": when, "event_properties": properties}
            ok(await client.call_tool("create_event", event))
        yield client


@pytest.fixture(scope="module")
def rest(served: tuple[BrevoSandbox, ServedApp]) -> Iterator[httpx.Client]:
    sandbox, server = served
    headers = {"api-key": sandbox.api_key}
    with httpx.Client(base_url=server.url + "/v3", headers=headers) as client:
        yield client


async def listed(client: Client, **arguments: Any) -> dict[str, Any]:
    """The get_events tool's result."""
    result: dict[str, Any] = ok(await client.call_tool("get_events", arguments))
    return result


def dates(page: dict[str, Any]) -> list[str]:
    """The event_date of each listed event, in order."""
    return [event["event_date"] for event in page["events"]]


WIDE = {"startDate": "2024-01-01", "endDate": "2024-12-31"}


@pytest.mark.anyio
async def test_tool_is_listed_with_the_rest_query_names(events: Client) -> None:
    tools = {tool.name: tool for tool in (await events.list_tools()).tools}
    tool = tools["get_events"]
    assert tool.description is not None and "ASSUMPTION" in tool.description
    assert "GET /v3/events" in tool.description
    assert list(tool.input_schema["properties"]) == [
        "contact_id",
        "event_name",
        "object_type",
        "startDate",
        "endDate",
        "limit",
        "offset",
    ]
    assert tool.input_schema.get("required", []) == []


@pytest.mark.anyio
async def test_newest_event_date_first_with_brevo_fields(events: Client) -> None:
    page = await listed(events, **WIDE)
    assert page["count"] == 5
    assert dates(page) == [
        "2024-05-02T00:00:00.000+00:00",
        "2024-05-01T23:59:59.999+00:00",
        "2024-05-01T00:00:00.000+00:00",
        "2024-04-30T23:59:59.999+00:00",
        "2024-04-20T08:00:00.000+00:00",
    ]
    assert page["events"][0] == {
        "contact_id": 1,
        "event_date": "2024-05-02T00:00:00.000+00:00",
        "event_name": "order_completed",
        "event_properties": {"order_id": 3},
        "contact_properties": {},
    }


@pytest.mark.anyio
async def test_filters_by_event_name_and_contact_id(events: Client) -> None:
    orders = await listed(events, event_name=["order_completed"], **WIDE)
    assert orders["count"] == 4
    assert {e["event_name"] for e in orders["events"]} == {"order_completed"}
    of_a = await listed(events, contact_id=[1], **WIDE)
    assert [e["event_properties"] for e in of_a["events"]] == [
        {"order_id": 3},
        {"items": 3},
        {"order_id": 1},
    ]
    both = await listed(events, contact_id=[2], event_name=["order_completed"], **WIDE)
    assert [e["event_properties"]["order_id"] for e in both["events"]] == [2, 4]
    either = await listed(events, event_name=["cart_updated", "order_completed"], **WIDE)
    assert either["count"] == 5
    assert (await listed(events, contact_id=[1, 2], **WIDE))["count"] == 5
    assert (await listed(events, contact_id=[99], **WIDE))["count"] == 0
    # Events are sent without an object, so none has an object_type.
    assert await listed(events, object_type=["subscription"], **WIDE) == {"events": [], "count": 0}


@pytest.mark.anyio
async def test_date_window_is_inclusive_at_both_ends(events: Client) -> None:
    day = await listed(events, startDate="2024-05-01", endDate="2024-05-01")
    assert dates(day) == ["2024-05-01T23:59:59.999+00:00", "2024-05-01T00:00:00.000+00:00"]
    exact = await listed(
        events, startDate="2024-04-30T23:59:59.999Z", endDate="2024-05-02T00:00:00Z"
    )
    assert exact["count"] == 4
    offset = await listed(
        events, startDate="2024-04-20T10:00:00+02:00", endDate="2024-04-20T10:00:00+02:00"
    )
    assert [e["event_properties"] for e in offset["events"]] == [{"order_id": 4}]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        ({"startDate": "2024-05-01"}, "missing_parameter"),
        ({"endDate": "2024-05-01"}, "missing_parameter"),
        ({"startDate": "2024-05-02", "endDate": "2024-05-01"}, "invalid_parameter"),
        ({"startDate": "May 1st", "endDate": "2024-05-01"}, "invalid_parameter"),
        ({"startDate": "2024-02-30", "endDate": "2024-05-01"}, "invalid_parameter"),
        ({"startDate": "2024-05-01T10:00:00", "endDate": "2024-05-02"}, "invalid_parameter"),
        ({"limit": 0}, "invalid_parameter"),
        ({"limit": 10001}, "invalid_parameter"),
        ({"offset": -1}, "invalid_parameter"),
    ],
)
async def test_bad_arguments_are_brevo_errors(
    events: Client, arguments: dict[str, Any], code: str
) -> None:
    assert error(await events.call_tool("get_events", arguments))["code"] == code


@pytest.mark.anyio
async def test_count_is_every_match_and_pages_follow_the_order(events: Client) -> None:
    whole = await listed(events, **WIDE)
    pages = [await listed(events, limit=2, offset=offset, **WIDE) for offset in (0, 2, 4, 6)]
    assert [page["count"] for page in pages] == [5, 5, 5, 5]
    assert [len(page["events"]) for page in pages] == [2, 2, 1, 0]
    assert [e for page in pages for e in page["events"]] == whole["events"]
    assert (await listed(events, limit=10000, **WIDE))["count"] == 5
    assert len((await listed(events, limit=1, **WIDE))["events"]) == 1


async def send(client: Client, name: str, ext_id: str, when: str | None = None) -> None:
    """create_event for the contact with this ext_id (created on first use)."""
    event: dict[str, Any] = {"event_name": name, "identifiers": {"ext_id": ext_id}}
    ok(await client.call_tool("create_event", event | ({"event_date": when} if when else {})))


def contact_id(sandbox: BrevoSandbox, ext_id: str) -> int:
    [contact] = [c for c in sandbox.contacts() if c["attributes"].get("EXT_ID") == ext_id]
    return int(contact["id"])


def stamp(moment: datetime) -> str:
    """A UTC time as the listing shows it."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


@pytest.mark.anyio
async def test_default_window_is_the_last_six_months_up_to_now(
    events: Client, served: tuple[BrevoSandbox, ServedApp], clock: FakeClock
) -> None:
    now = clock.now
    six_months_ago = now.replace(year=2023, month=11)  # the clock is in May 2024
    ms = timedelta(milliseconds=1)
    await send(events, "too-old", "window", stamp(six_months_ago - ms))
    await send(events, "six-months-ago", "window", stamp(six_months_ago))
    await send(events, "future", "window", stamp(now + ms))
    await send(events, "now", "window")
    mine = [contact_id(served[0], "window")]
    default = await listed(events, contact_id=mine)
    clock.advance(1)
    later = await listed(events, contact_id=mine)
    assert [e["event_name"] for e in default["events"]] == ["now", "six-months-ago"]
    assert default["count"] == 2 and default["events"][0]["event_date"] == stamp(now)
    # A second later the window has slid: the future event is in, the oldest one out.
    assert [e["event_name"] for e in later["events"]] == ["future", "now"]


@pytest.mark.anyio
async def test_an_event_without_date_is_dated_and_found_by_its_arrival(
    events: Client, served: tuple[BrevoSandbox, ServedApp], clock: FakeClock
) -> None:
    clock.advance(60)
    await send(events, "first", "arrival")
    clock.advance(60)
    await send(events, "second", "arrival")
    arrived = stamp(clock.now)
    mine = [contact_id(served[0], "arrival")]
    found = await listed(events, contact_id=mine, startDate=arrived, endDate=arrived)
    assert [(e["event_name"], e["event_date"]) for e in found["events"]] == [("second", arrived)]
    both = await listed(events, contact_id=mine)
    assert [e["event_name"] for e in both["events"]] == ["second", "first"]


@pytest.mark.anyio
async def test_rest_lists_as_the_tool_does(events: Client, rest: httpx.Client) -> None:
    query = [("event_name", "order_completed"), ("contact_id", "1"), ("contact_id", "2")]
    query += [("startDate", "2024-04-30"), ("endDate", "2024-05-01T23:59:59Z"), ("limit", "2")]
    response = rest.get("/events", params=query)
    assert response.status_code == 200
    tool = await listed(
        events,
        event_name=["order_completed"],
        contact_id=[1, 2],
        startDate="2024-04-30",
        endDate="2024-05-01T23:59:59Z",
        limit=2,
    )
    assert response.json() == tool
    assert tool["count"] == 2 and dates(tool) == [
        "2024-05-01T00:00:00.000+00:00",
        "2024-04-30T23:59:59.999+00:00",
    ]
    # The default window (the last 6 months up to now) leaves out the two later events.
    assert rest.get("/events", params={"contact_id": ["1", "2"]}).json()["count"] == 3
    assert rest.get("/events", params={"object_type": "contact"}).json()["count"] == 0


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"endDate": "2024-05-01"}, "missing_parameter"),
        ({"startDate": "2024-05-01"}, "missing_parameter"),
        ({"startDate": "2024-05-03", "endDate": "2024-05-01"}, "invalid_parameter"),
        ({"limit": "0"}, "invalid_parameter"),
        ({"limit": "10001"}, "invalid_parameter"),
        ({"offset": "-1"}, "invalid_parameter"),
        ({"contact_id": "a@example.com"}, "invalid_parameter"),
        ({"contact_id": str(2**63)}, "invalid_parameter"),
    ],
)
def test_rest_refuses_bad_queries_with_400(
    rest: httpx.Client, query: dict[str, str], code: str
) -> None:
    response = rest.get("/events", params=query)
    assert response.status_code == 400
    assert response.json()["code"] == code and response.json()["message"]
