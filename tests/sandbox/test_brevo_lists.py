"""Lists, folders, events and campaigns through the sandbox's MCP tools over HTTP."""

from __future__ import annotations

import pytest

from sandbox.brevo import BrevoSandbox
from sandbox.server import ServedApp
from tests.sandbox.brevo_support import error, mcp_client, ok, text


@pytest.mark.anyio
async def test_a_list_needs_an_existing_folder(sandbox: BrevoSandbox, served: ServedApp) -> None:
    async with mcp_client(served, sandbox, "brevo") as client:
        no_folder = await client.call_tool("lists_create_list", {"name": "Shop"})
        unknown = error(
            await client.call_tool("lists_create_list", {"name": "Shop", "folderId": 9})
        )
        folder = ok(await client.call_tool("folders_create_folder", {"name": "Woo"}))
        created = ok(
            await client.call_tool("lists_create_list", {"name": "Shop", "folderId": folder["id"]})
        )
        folders = ok(await client.call_tool("folders_get_folders", {}))
        lists = ok(await client.call_tool("lists_get_lists", {}))
    assert no_folder.is_error and "folderId" in text(no_folder)
    assert unknown == {"code": "document_not_found", "message": "Folder ID does not exist"}
    assert folder == {"id": 2} and created == {"id": 1}
    assert (
        folders["count"] == 2 and {"id": 2, "name": "Woo"}.items() <= folders["folders"][0].items()
    )
    assert lists == {
        "lists": [{"id": 1, "name": "Shop", "folderId": 2, "uniqueSubscribers": 0, "totalBlacklisted": 0, "totalSubscribers": 0}],
        "count": 1,
    }  # fmt: skip


@pytest.mark.anyio
async def test_add_and_remove_contacts(sandbox: BrevoSandbox, served: ServedApp) -> None:
    async with mcp_client(served, sandbox, "brevo") as client:
        ok(await client.call_tool("lists_create_list", {"name": "Shop", "folderId": 1}))
        for email in ("a@example.com", "b@example.com"):
            ok(await client.call_tool("contacts_create_contact", {"email": email}))
        added = ok(
            await client.call_tool(
                "lists_add_contact_to_list",
                {"listId": 1, "emails": ["a@example.com", "ghost@example.com"]},
            )
        )
        by_id = ok(await client.call_tool("lists_add_contact_to_list", {"listId": 1, "ids": [2]}))
        again = error(
            await client.call_tool("lists_add_contact_to_list", {"listId": 1, "ids": [1, 2]})
        )
        members = ok(await client.call_tool("lists_get_contacts_from_list", {"listId": 1}))
        details = ok(await client.call_tool("lists_get_list", {"listId": 1}))
        removed = ok(
            await client.call_tool(
                "lists_remove_contact_from_list", {"listId": 1, "emails": ["a@example.com"]}
            )
        )
    assert added == {"contacts": {"success": ["a@example.com"], "failure": ["ghost@example.com"]}}
    assert by_id == {"contacts": {"success": [2], "failure": []}}
    assert again == {
        "code": "invalid_parameter",
        "message": "Contact already in list and/or does not exist",
    }
    assert members["count"] == 2 and details["uniqueSubscribers"] == 2
    assert removed == {"contacts": {"success": ["a@example.com"], "failure": []}}
    assert [c["listIds"] for c in sandbox.contacts()] == [[], [1]]


@pytest.mark.anyio
async def test_at_most_150_contacts_per_add(sandbox: BrevoSandbox, served: ServedApp) -> None:
    async with mcp_client(served, sandbox, "brevo_lists") as client:
        ok(await client.call_tool("create_list", {"name": "Shop", "folderId": 1}))
        emails = [f"c{n}@example.com" for n in range(151)]
        body = error(await client.call_tool("add_contact_to_list", {"listId": 1, "emails": emails}))
    assert body["code"] == "invalid_parameter" and "150" in body["message"]


@pytest.mark.anyio
async def test_unknown_list_is_document_not_found(sandbox: BrevoSandbox, served: ServedApp) -> None:
    not_found = {"code": "document_not_found", "message": "List ID does not exist"}
    async with mcp_client(served, sandbox, "brevo") as client:
        assert error(await client.call_tool("lists_get_list", {"listId": 7})) == not_found
        assert (
            error(await client.call_tool("lists_get_contacts_from_list", {"listId": 7}))
            == not_found
        )
        assert (
            error(await client.call_tool("lists_add_contact_to_list", {"listId": 7, "ids": [1]}))
            == not_found
        )
        create = {"email": "a@example.com", "listIds": [7]}
        assert error(await client.call_tool("contacts_create_contact", create)) == not_found
    assert sandbox.contacts() == []


@pytest.mark.anyio
async def test_create_contact_with_lists(sandbox: BrevoSandbox, served: ServedApp) -> None:
    async with mcp_client(served, sandbox, "brevo") as client:
        ok(await client.call_tool("lists_create_list", {"name": "Customers", "folderId": 1}))
        ok(
            await client.call_tool(
                "contacts_create_contact", {"email": "a@example.com", "listIds": [1]}
            )
        )
        update = {"identifier": "a@example.com", "unlinkListIds": [1], "emailBlacklisted": True}
        ok(await client.call_tool("contacts_update_contact", update))
    [contact] = sandbox.contacts()
    assert contact["listIds"] == [] and contact["emailBlacklisted"] is True


@pytest.mark.anyio
async def test_create_event_links_or_creates_the_contact(
    sandbox: BrevoSandbox, served: ServedApp
) -> None:
    order = {
        "event_name": "order_completed",
        "identifiers": {"email_id": "new@example.com"},
        "event_date": "2024-05-01T10:00:00Z",
        "contact_properties": {"FIRSTNAME": "Nia"},
        "event_properties": {"order_id": 12, "total": 30.5},
    }
    cart = {"event_name": "cart-updated", "identifiers": {"contact_id": 1}}
    async with mcp_client(served, sandbox, "brevo_events") as client:
        assert ok(await client.call_tool("create_event", order)) == {
            "status": 204,
            "accepted": True,
        }
        ok(await client.call_tool("create_event", cart))
    [contact] = sandbox.contacts()
    assert contact["email"] == "new@example.com" and contact["attributes"] == {"FIRSTNAME": "Nia"}
    events = sandbox.events()
    assert [(e["event_name"], e["contact_id"]) for e in events] == [
        ("order_completed", 1),
        ("cart-updated", 1),
    ]
    assert events[0]["event_date"] == "2024-05-01T10:00:00.000+00:00"
    assert events[0]["event_properties"] == {"order_id": 12, "total": 30.5}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("event", "code"),
    [
        ({"event_name": "order completed", "identifiers": {"email_id": "a@example.com"}}, "invalid_parameter"),
        ({"event_name": "x", "identifiers": {}}, "missing_parameter"),
        ({"event_name": "x", "identifiers": {"contact_id": 99}}, "document_not_found"),
        ({"event_name": "x", "identifiers": {"email_id": "a@example.com"}, "contact_properties": {"NOPE": 1}}, "invalid_parameter"),
        ({"event_name": "x", "identifiers": {"email_id": "a@example.com"}, "event_date": "May 1st"}, "invalid_parameter"),
    ],
)  # fmt: skip
async def test_invalid_events_are_refused(
    sandbox: BrevoSandbox, served: ServedApp, event: dict[str, object], code: str
) -> None:
    async with mcp_client(served, sandbox, "brevo_events") as client:
        assert error(await client.call_tool("create_event", event))["code"] == code
    assert sandbox.events() == [] and sandbox.contacts() == []


@pytest.mark.anyio
async def test_campaigns_and_test_emails(sandbox: BrevoSandbox, served: ServedApp) -> None:
    async with mcp_client(served, sandbox, "brevo") as client:
        ok(await client.call_tool("lists_create_list", {"name": "Customers", "folderId": 1}))
        campaign = {
            "name": "May",
            "subject": "Hello",
            "sender": {"name": "Shop", "email": "shop@example.com"},
            "htmlContent": "<p>Hi</p>",
            "recipients": {"listIds": [1]},
        }
        created = ok(
            await client.call_tool("email_campaign_management_create_email_campaign", campaign)
        )
        no_html = error(
            await client.call_tool(
                "email_campaign_management_create_email_campaign", campaign | {"htmlContent": None}
            )
        )
        bad_list = error(
            await client.call_tool(
                "email_campaign_management_create_email_campaign",
                campaign | {"recipients": {"listIds": [5]}},
            )
        )
        sent = ok(
            await client.call_tool(
                "email_campaign_management_send_test_email",
                {"campaignId": 1, "emailTo": ["me@example.com"]},
            )
        )
        ghost = error(
            await client.call_tool(
                "email_campaign_management_send_test_email",
                {"campaignId": 9, "emailTo": ["me@example.com"]},
            )
        )
        listed = ok(
            await client.call_tool(
                "email_campaign_management_get_email_campaigns", {"status": "draft"}
            )
        )
    assert created == {"id": 1}
    assert no_html["code"] == "missing_parameter" and bad_list["code"] == "document_not_found"
    assert sent == {"status": 204, "sent": True, "campaignId": 1, "emailTo": ["me@example.com"]}
    assert ghost == {"code": "document_not_found", "message": "Campaign ID does not exist"}
    assert listed["count"] == 1 and listed["campaigns"][0]["testSent"] is True
    assert listed["campaigns"][0]["recipients"] == {"lists": [1], "exclusionLists": []}
    assert sandbox.test_emails() == [{"campaignId": 1, "emailTo": "me@example.com"}]
