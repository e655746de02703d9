"""The Brevo sandbox's MCP endpoints over real streamable HTTP: tools, auth, limits, imports."""

from __future__ import annotations

import httpx
import pytest
from mcp import MCPError

from sandbox.brevo import BrevoSandbox
from sandbox.server import ServedApp
from tests.sandbox.brevo_support import FakeClock, error, leaves, mcp_client, ok

MODULE_TOOLS = {
    "brevo_contacts": [
        "get_contacts",
        "get_contact_info",
        "create_contact",
        "update_contact",
        "delete_contact",
        "update_batch_contacts",
    ],
    "brevo_attributes": ["get_attributes", "create_attribute"],
    "brevo_lists": [
        "get_lists",
        "get_list",
        "create_list",
        "get_contacts_from_list",
        "add_contact_to_list",
        "remove_contact_from_list",
    ],
    "brevo_folders": ["get_folders", "create_folder"],
    "brevo_contact_import_export": ["import_contacts", "get_process"],
    "brevo_email_campaign_management": [
        "get_email_campaigns",
        "create_email_campaign",
        "send_test_email",
    ],
    "brevo_events": ["create_event", "get_events"],
}


@pytest.mark.anyio
async def test_each_module_lists_its_tools_without_prefix(
    sandbox: BrevoSandbox, served: ServedApp
) -> None:
    assert sorted(sandbox.modules()) == sorted(MODULE_TOOLS)
    for module, expected in MODULE_TOOLS.items():
        async with mcp_client(served, sandbox, module) as client:
            listed = await client.list_tools()
        assert [tool.name for tool in listed.tools] == expected
        assert all(tool.description for tool in listed.tools)


@pytest.mark.anyio
async def test_combined_endpoint_prefixes_tools_with_their_module(
    sandbox: BrevoSandbox, served: ServedApp
) -> None:
    async with mcp_client(served, sandbox, "brevo") as client:
        listed = await client.list_tools()
    expected = {
        f"{module.removeprefix('brevo_')}_{name}"
        for module, names in MODULE_TOOLS.items()
        for name in names
    }
    assert {tool.name for tool in listed.tools} == expected
    assert "contacts_create_contact" in expected and "lists_get_lists" in expected


@pytest.mark.anyio
async def test_input_schemas_use_rest_v3_field_names(
    sandbox: BrevoSandbox, served: ServedApp
) -> None:
    async with mcp_client(served, sandbox, "brevo_contacts") as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    create = tools["create_contact"].input_schema["properties"]
    assert {"email", "ext_id", "attributes", "listIds", "updateEnabled"} <= set(create)
    assert {"emailBlacklisted", "smsBlacklisted"} <= set(create)
    assert "UPPERCASE" in create["attributes"]["description"]
    update = tools["update_contact"].input_schema
    assert update["required"] == ["identifier"]
    assert "identifierType" in update["properties"]


@pytest.mark.anyio
async def test_events_module_says_it_is_an_assumption(
    sandbox: BrevoSandbox, served: ServedApp
) -> None:
    async with mcp_client(served, sandbox, "brevo_events") as client:
        tools = (await client.list_tools()).tools
    assert all("ASSUMPTION" in (tool.description or "") for tool in tools)


@pytest.mark.anyio
async def test_legacy_initialize_handshake_works(sandbox: BrevoSandbox, served: ServedApp) -> None:
    async with mcp_client(served, sandbox, "brevo_lists", mode="legacy") as client:
        created = ok(await client.call_tool("create_list", {"name": "Shop", "folderId": 1}))
    assert created == {"id": 1}
    assert [item["name"] for item in sandbox.lists()] == ["Shop"]


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", "Basic abc"])
def test_bad_or_missing_token_is_401_invalid_token(
    sandbox: BrevoSandbox, served: ServedApp, header: str | None
) -> None:
    headers = {"Accept": "application/json, text/event-stream"}
    if header is not None:
        headers["Authorization"] = header
    payload = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    response = httpx.post(served.url + "/v1/brevo_contacts/mcp", json=payload, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "INVALID_TOKEN"


@pytest.mark.anyio
async def test_mcp_client_with_bad_token_fails_to_connect(
    sandbox: BrevoSandbox, served: ServedApp
) -> None:
    with pytest.raises(BaseException) as caught:
        async with mcp_client(served, sandbox, "brevo_contacts", token="wrong") as client:
            await client.list_tools()
    assert any(isinstance(leaf, MCPError) for leaf in leaves(caught.value))
    assert sandbox.call_counts() == {}


def test_dns_rebinding_protection_stays_on(sandbox: BrevoSandbox, served: ServedApp) -> None:
    headers = {"Authorization": f"Bearer {sandbox.token}", "Host": "evil.example"}
    response = httpx.post(served.url + "/v1/brevo/mcp", json={}, headers=headers)
    assert response.status_code == 421


@pytest.mark.anyio
async def test_localhost_works_and_the_app_can_be_served_again(sandbox: BrevoSandbox) -> None:
    for name in ("first", "second"):
        with ServedApp(sandbox.app) as served:
            served.host = "localhost"
            async with mcp_client(served, sandbox, "brevo_folders") as client:
                ok(await client.call_tool("create_folder", {"name": name}))
    assert [folder["name"] for folder in sandbox.folders()][1:] == ["first", "second"]


def test_unknown_module_is_404(sandbox: BrevoSandbox, served: ServedApp) -> None:
    headers = {"Authorization": f"Bearer {sandbox.token}"}
    response = httpx.post(served.url + "/v1/brevo_nothing/mcp", json={}, headers=headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


@pytest.mark.anyio
async def test_unauthorised_ip_lists_zero_tools(sandbox: BrevoSandbox, served: ServedApp) -> None:
    sandbox.ip_authorised = False
    async with mcp_client(served, sandbox, "brevo_contacts") as client:
        assert (await client.list_tools()).tools == []


@pytest.mark.anyio
async def test_contacts_are_limited_to_10_per_second(
    sandbox: BrevoSandbox, served: ServedApp, clock: FakeClock
) -> None:
    async with mcp_client(served, sandbox, "brevo_contacts") as client:
        for n in range(10):
            ok(await client.call_tool("create_contact", {"email": f"c{n}@example.com"}))
        refused = error(await client.call_tool("create_contact", {"email": "late@example.com"}))
        clock.advance(1.0)
        ok(await client.call_tool("create_contact", {"email": "late@example.com"}))
    assert refused["code"] == "too_many_requests"
    assert refused["reset"] == 1 and refused["limit"] == 10 and refused["remaining"] == 0
    assert len(sandbox.contacts()) == 11
    assert sandbox.call_counts() == {"create_contact": 12}


@pytest.mark.anyio
async def test_lists_are_limited_per_hour_with_reset_seconds(clock: FakeClock) -> None:
    sandbox = BrevoSandbox(clock=clock, rate_limits={"lists": (2, 3600.0)})
    with sandbox, ServedApp(sandbox.app) as served:
        async with mcp_client(served, sandbox, "brevo") as client:
            ok(await client.call_tool("lists_get_lists", {}))
            clock.advance(600)
            ok(await client.call_tool("lists_get_lists", {}))
            refused = error(await client.call_tool("lists_get_lists", {}))
            for _ in range(20):  # categories left out of rate_limits are unlimited
                ok(await client.call_tool("contacts_get_contacts", {}))
    assert refused["code"] == "too_many_requests"
    assert refused["reset"] == 3000
    assert sandbox.call_counts() == {"get_contacts": 20, "get_lists": 3}


@pytest.mark.anyio
async def test_rate_limits_can_be_disabled(clock: FakeClock) -> None:
    sandbox = BrevoSandbox(clock=clock, rate_limits={})
    with sandbox, ServedApp(sandbox.app) as served:
        async with mcp_client(served, sandbox, "brevo_contacts") as client:
            for n in range(25):
                ok(await client.call_tool("create_contact", {"email": f"c{n}@example.com"}))
        assert len(sandbox.contacts()) == 25


@pytest.mark.anyio
async def test_import_is_asynchronous_and_completes_on_get_process(
    sandbox: BrevoSandbox, served: ServedApp
) -> None:
    rows = [
        {"email": "ann@example.com", "attributes": {"FIRSTNAME": "Ann"}},
        {"email": "not-an-email"},
        {"email": "bob@example.com", "attributes": {"LASTNAME": "Stone"}},
    ]
    async with mcp_client(served, sandbox, "brevo_contact_import_export") as client:
        queued = ok(
            await client.call_tool(
                "import_contacts",
                {"jsonBody": rows, "listIds": [], "newList": {"listName": "Import", "folderId": 1}},
            )
        )
        assert sandbox.contacts() == []
        process = ok(await client.call_tool("get_process", {"processId": queued["processId"]}))
    assert process == {
        "id": queued["processId"],
        "status": "completed",
        "name": "Import contacts",
        "export_url": None,
    }
    assert [c["email"] for c in sandbox.contacts()] == ["ann@example.com", "bob@example.com"]
    [import_list] = sandbox.lists()
    assert all(c["listIds"] == [import_list["id"]] for c in sandbox.contacts())
    [report] = [p["report"] for p in sandbox.processes()]
    assert report["created"] == 2 and report["invalid"][0]["row"] == 2


@pytest.mark.anyio
async def test_import_completes_by_itself_once_the_delay_has_passed(
    sandbox: BrevoSandbox, served: ServedApp, clock: FakeClock
) -> None:
    csv_body = "EMAIL;FIRSTNAME\nann@example.com;Ann\nbob@example.com;Bob"
    async with mcp_client(served, sandbox, "brevo") as client:
        ok(
            await client.call_tool(
                "contact_import_export_import_contacts",
                {"fileBody": csv_body, "newList": {"listName": "CSV", "folderId": 1}},
            )
        )
        assert ok(await client.call_tool("contacts_get_contacts", {}))["count"] == 0
        clock.advance(1.0)
        listed = ok(await client.call_tool("contacts_get_contacts", {"sort": "asc"}))
    assert [c["attributes"]["FIRSTNAME"] for c in listed["contacts"]] == ["Ann", "Bob"]
