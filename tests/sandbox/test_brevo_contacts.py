"""Contacts and attributes through the sandbox's MCP tools over HTTP: Brevo's rules and errors."""

from __future__ import annotations

import pytest

from sandbox.brevo import BrevoSandbox
from sandbox.server import ServedApp
from tests.sandbox.brevo_support import FakeClock, error, mcp_client, ok

DUPLICATE_EMAIL = "Unable to create contact, email is already associated with another Contact"


def test_fresh_account(sandbox: BrevoSandbox) -> None:
    assert sandbox.folders() == [{"id": 1, "name": "Your first folder"}]
    names = [attribute["name"] for attribute in sandbox.attributes()]
    assert {"FIRSTNAME", "LASTNAME", "SMS"} <= set(names)
    assert sandbox.lists() == [] and sandbox.contacts() == [] and sandbox.events() == []
    assert sandbox.token.startswith("sandbox-mcp-")
    assert sandbox.api_key.startswith("xkeysib-sandbox-")


@pytest.mark.anyio
async def test_create_then_update_enabled_shows_201_and_204(
    sandbox: BrevoSandbox, served: ServedApp, clock: FakeClock
) -> None:
    async with mcp_client(served, sandbox, "brevo_contacts") as client:
        created = ok(
            await client.call_tool(
                "create_contact",
                {"email": "Ann@Example.com", "ext_id": "woo-7", "attributes": {"FIRSTNAME": "Ann"}},
            )
        )
        clock.advance(60)
        again = {"email": "ann@example.com", "attributes": {"LASTNAME": "Lee"}}
        duplicate = error(await client.call_tool("create_contact", again))
        updated = ok(await client.call_tool("create_contact", again | {"updateEnabled": True}))
    assert created == {"id": 1}
    assert duplicate["code"] == "duplicate_parameter" and duplicate["message"] == DUPLICATE_EMAIL
    assert updated == {"status": 204, "updated": True, "id": 1}
    [contact] = sandbox.contacts()
    assert contact["email"] == "ann@example.com"
    assert contact["attributes"] == {"EXT_ID": "woo-7", "FIRSTNAME": "Ann", "LASTNAME": "Lee"}
    assert contact["createdAt"] == "2024-05-01T12:00:00.000+00:00"
    assert contact["modifiedAt"] == "2024-05-01T12:01:00.000+00:00"


@pytest.mark.anyio
async def test_invalid_email_is_invalid_parameter(sandbox: BrevoSandbox, served: ServedApp) -> None:
    async with mcp_client(served, sandbox, "brevo_contacts") as client:
        body = error(await client.call_tool("create_contact", {"email": "ann@"}))
        nothing = error(
            await client.call_tool("create_contact", {"attributes": {"FIRSTNAME": "A"}})
        )
    assert body["code"] == "invalid_parameter" and body["message"] == "Invalid email address"
    assert nothing["code"] == "missing_parameter"
    assert sandbox.contacts() == []


@pytest.mark.anyio
async def test_sms_must_be_international_and_unique(
    sandbox: BrevoSandbox, served: ServedApp
) -> None:
    async with mcp_client(served, sandbox, "brevo_contacts") as client:
        plus = ok(
            await client.call_tool(
                "create_contact", {"email": "a@example.com", "attributes": {"SMS": "+33612345678"}}
            )
        )
        zeros = ok(
            await client.call_tool(
                "create_contact", {"email": "b@example.com", "attributes": {"SMS": "0033612345679"}}
            )
        )
        national = error(
            await client.call_tool(
                "create_contact", {"email": "c@example.com", "attributes": {"SMS": "0612345678"}}
            )
        )
        taken = error(
            await client.call_tool(
                "create_contact", {"email": "d@example.com", "attributes": {"SMS": "0033612345678"}}
            )
        )
    assert plus == {"id": 1} and zeros == {"id": 2}
    assert national == {"code": "invalid_parameter", "message": "Invalid phone number"}
    assert taken["code"] == "duplicate_parameter" and "SMS" in taken["message"]
    assert [c["attributes"]["SMS"] for c in sandbox.contacts()] == ["+33612345678", "+33612345679"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("attributes", "words"),
    [
        ({"LOYALTY": "gold"}, ["'LOYALTY'", "does not exist"]),
        ({"FIRSTNAME": 12}, ["'FIRSTNAME'", "text"]),
        ({"ORDERS": "three"}, ["'ORDERS'", "float"]),
        ({"ORDERS": True}, ["'ORDERS'", "float"]),
        ({"BIRTHDAY": "01/05/1990"}, ["'BIRTHDAY'", "YYYY-MM-DD"]),
        ({"BIRTHDAY": "1990-02-30"}, ["'BIRTHDAY'", "YYYY-MM-DD"]),
        ({"VIP": "yes"}, ["'VIP'", "boolean"]),
        ({"EMAIL": "x@example.com"}, ["EMAIL", "'email'"]),
    ],
)
async def test_attributes_must_exist_and_match_their_type(
    sandbox: BrevoSandbox, served: ServedApp, attributes: dict[str, object], words: list[str]
) -> None:
    async with mcp_client(served, sandbox, "brevo") as client:
        for name, kind in (("ORDERS", "float"), ("BIRTHDAY", "date"), ("VIP", "boolean")):
            ok(
                await client.call_tool(
                    "attributes_create_attribute", {"attributeName": name, "type": kind}
                )
            )
        body = error(
            await client.call_tool(
                "contacts_create_contact", {"email": "a@example.com", "attributes": attributes}
            )
        )
    assert body["code"] == "invalid_parameter"
    assert all(word in body["message"] for word in words), body["message"]
    assert sandbox.contacts() == []


@pytest.mark.anyio
async def test_typed_attributes_are_stored(sandbox: BrevoSandbox, served: ServedApp) -> None:
    async with mcp_client(served, sandbox, "brevo") as client:
        made = ok(
            await client.call_tool(
                "attributes_create_attribute", {"attributeName": "order_total", "type": "float"}
            )
        )
        ok(
            await client.call_tool(
                "attributes_create_attribute", {"attributeName": "LAST_ORDER", "type": "date"}
            )
        )
        ok(
            await client.call_tool(
                "attributes_create_attribute", {"attributeName": "VIP", "type": "boolean"}
            )
        )
        again = error(
            await client.call_tool(
                "attributes_create_attribute", {"attributeName": "VIP", "type": "text"}
            )
        )
        values = {"ORDER_TOTAL": 30.5, "LAST_ORDER": "2024-04-30", "VIP": True}
        ok(
            await client.call_tool(
                "contacts_create_contact", {"email": "a@example.com", "attributes": values}
            )
        )
        listed = ok(await client.call_tool("attributes_get_attributes", {}))
    assert made == {
        "status": 201,
        "created": True,
        "attributeName": "ORDER_TOTAL",
        "attributeCategory": "normal",
        "type": "float",
    }
    assert again["code"] == "duplicate_parameter"
    assert {"name": "ORDER_TOTAL", "category": "normal", "type": "float"} in listed["attributes"]
    assert sandbox.contacts()[0]["attributes"] == values


@pytest.mark.anyio
async def test_update_contact_by_each_identifier_type(
    sandbox: BrevoSandbox, served: ServedApp
) -> None:
    async with mcp_client(served, sandbox, "brevo_contacts") as client:
        ok(
            await client.call_tool(
                "create_contact",
                {
                    "email": "a@example.com",
                    "ext_id": "woo-1",
                    "attributes": {"SMS": "+33612345678"},
                },
            )
        )
        results = [
            ok(
                await client.call_tool(
                    "update_contact",
                    {
                        "identifier": ident,
                        "identifierType": kind,
                        "attributes": {"FIRSTNAME": name},
                    },
                )
            )
            for ident, kind, name in [
                ("a@example.com", "email_id", "A"),
                ("1", "contact_id", "B"),
                ("woo-1", "ext_id", "C"),
                ("+33612345678", "phone_id", "D"),
                ("1", None, "E"),
            ]
        ]
        missing = error(
            await client.call_tool(
                "update_contact", {"identifier": "nobody@example.com", "attributes": {}}
            )
        )
    assert results == [{"status": 204, "updated": True, "id": 1}] * 5
    assert missing == {"code": "document_not_found", "message": "Contact does not exist"}
    assert sandbox.contacts()[0]["attributes"]["FIRSTNAME"] == "E"


@pytest.mark.anyio
async def test_update_can_change_email_through_attributes(
    sandbox: BrevoSandbox, served: ServedApp
) -> None:
    async with mcp_client(served, sandbox, "brevo_contacts") as client:
        ok(await client.call_tool("create_contact", {"email": "a@example.com"}))
        ok(await client.call_tool("create_contact", {"email": "b@example.com"}))
        taken = error(
            await client.call_tool(
                "update_contact",
                {"identifier": "a@example.com", "attributes": {"EMAIL": "b@example.com"}},
            )
        )
        ok(
            await client.call_tool(
                "update_contact",
                {"identifier": "a@example.com", "attributes": {"EMAIL": "new@example.com"}},
            )
        )
    assert taken["code"] == "duplicate_parameter"
    assert [c["email"] for c in sandbox.contacts()] == ["new@example.com", "b@example.com"]


@pytest.mark.anyio
async def test_get_and_delete_contact(sandbox: BrevoSandbox, served: ServedApp) -> None:
    async with mcp_client(served, sandbox, "brevo_contacts") as client:
        ok(await client.call_tool("create_contact", {"email": "a@example.com"}))
        info = ok(await client.call_tool("get_contact_info", {"identifier": "a@example.com"}))
        deleted = ok(
            await client.call_tool(
                "delete_contact", {"identifier": "1", "identifierType": "contact_id"}
            )
        )
        gone = error(await client.call_tool("get_contact_info", {"identifier": "a@example.com"}))
    assert info["id"] == 1 and info["email"] == "a@example.com" and info["listIds"] == []
    assert deleted == {"status": 204, "deleted": True, "id": 1}
    assert gone == {"code": "document_not_found", "message": "Contact does not exist"}


@pytest.mark.anyio
async def test_get_contacts_pages_and_filters_by_modified_since(
    sandbox: BrevoSandbox, served: ServedApp, clock: FakeClock
) -> None:
    async with mcp_client(served, sandbox, "brevo_contacts") as client:
        for n in range(3):
            ok(await client.call_tool("create_contact", {"email": f"c{n}@example.com"}))
            clock.advance(3600)
        page = ok(await client.call_tool("get_contacts", {"limit": 2, "offset": 0}))
        recent = ok(
            await client.call_tool("get_contacts", {"modifiedSince": "2024-05-01T13:00:00Z"})
        )
        too_big = error(await client.call_tool("get_contacts", {"limit": 1001}))
        bad_date = error(await client.call_tool("get_contacts", {"modifiedSince": "yesterday"}))
    assert page["count"] == 3 and [c["email"] for c in page["contacts"]] == [
        "c2@example.com",
        "c1@example.com",
    ]
    assert recent["count"] == 2
    assert too_big["code"] == "invalid_parameter" and bad_date["code"] == "invalid_parameter"


@pytest.mark.anyio
async def test_batch_update_is_all_or_nothing(sandbox: BrevoSandbox, served: ServedApp) -> None:
    async with mcp_client(served, sandbox, "brevo_contacts") as client:
        ok(await client.call_tool("create_contact", {"email": "a@example.com"}))
        ok(await client.call_tool("create_contact", {"email": "b@example.com"}))
        done = ok(await client.call_tool("update_batch_contacts", {"contacts": [
            {"email": "a@example.com", "attributes": {"FIRSTNAME": "A"}},
            {"id": 2, "attributes": {"FIRSTNAME": "B"}},
        ]}))  # fmt: skip
        failed = error(await client.call_tool("update_batch_contacts", {"contacts": [
            {"email": "a@example.com", "attributes": {"FIRSTNAME": "changed"}},
            {"email": "nobody@example.com", "attributes": {"FIRSTNAME": "X"}},
        ]}))  # fmt: skip
    assert done == {"status": 204, "updated": 2}
    assert failed == {
        "code": "document_not_found",
        "message": "contacts[1]: Contact does not exist",
    }
    assert [c["attributes"]["FIRSTNAME"] for c in sandbox.contacts()] == ["A", "B"]


@pytest.mark.anyio
async def test_schema_violations_are_tool_errors(sandbox: BrevoSandbox, served: ServedApp) -> None:
    async with mcp_client(served, sandbox, "brevo_contacts") as client:
        result = await client.call_tool("update_contact", {"attributes": {}})
    assert result.is_error
    assert sandbox.call_counts() == {}
