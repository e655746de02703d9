"""MCP tools of brevo_attributes, brevo_lists, brevo_folders, brevo_email_campaign_management
and brevo_events (conventions in sandbox.brevo_tools).

brevo_events is an ASSUMPTION: Brevo's MCP event tools are not public, so create_event is
modelled on the REST endpoint POST /v3/events and get_events on GET /v3/events.
"""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from sandbox import brevo_activity as activity
from sandbox import brevo_lists as lists
from sandbox.brevo_tools import Limit, ModuleTools, Offset, Result, Since, Sort, body

ListId = Annotated[int, Field(description="Id of the list.")]
FolderId = Annotated[int, Field(description="Id of an existing folder (1 is 'Your first folder').")]
Name = Annotated[str, Field(description="Name.")]
Emails = Annotated[
    list[str] | None, Field(description="Emails of existing contacts, at most 150 per call.")
]
Ids = Annotated[
    list[int] | None, Field(description="Or: ids of existing contacts, at most 150 per call.")
]


class AttributesTools(ModuleTools):
    """brevo_attributes."""

    module = "brevo_attributes"
    category = "attributes"
    tools = ("get_attributes", "create_attribute")

    async def get_attributes(self) -> Result:
        """List contact attributes (GET /v3/contacts/attributes).
        Returns {"attributes": [{"name": "FIRSTNAME", "category": "normal", "type": "text"}]}."""
        return self._run("get_attributes", lists.get_attributes)

    async def create_attribute(
        self,
        attributeName: Annotated[
            str, Field(description="Name, stored UPPERCASE, e.g. ORDER_TOTAL.")
        ],
        type: Annotated[
            Literal["text", "float", "date", "boolean"],
            Field(description="Value type: text, float (any number), date (YYYY-MM-DD), boolean."),
        ] = "text",
        attributeCategory: Annotated[
            Literal["normal"], Field(description="Category; 'normal' for contact data.")
        ] = "normal",
    ) -> Result:
        """Create a contact attribute (POST /v3/contacts/attributes/{category}/{name}).
        Returns {"status": 201, "created": true, "attributeName", "attributeCategory", "type"};
        an existing name fails with duplicate_parameter."""
        return self._run(
            "create_attribute",
            lambda tx: lists.create_attribute(tx, attributeCategory, attributeName, type),
        )


class ListsTools(ModuleTools):
    """brevo_lists."""

    module = "brevo_lists"
    category = "lists"
    tools = (
        "get_lists",
        "get_list",
        "create_list",
        "get_contacts_from_list",
        "add_contact_to_list",
        "remove_contact_from_list",
    )

    async def get_lists(self, limit: Limit = 10, offset: Offset = 0, sort: Sort = "desc") -> Result:
        """List contact lists (GET /v3/contacts/lists); limit is at most 50.
        Returns {"lists": [{"id", "name", "folderId", "uniqueSubscribers", ...}], "count": N}."""
        return self._run("get_lists", lambda tx: lists.get_lists(tx, limit, offset, sort))

    async def get_list(self, listId: ListId) -> Result:
        """Get one list (GET /v3/contacts/lists/{listId}).
        Unknown: error {"code": "document_not_found", "message": "List ID does not exist"}."""
        return self._run("get_list", lambda tx: lists.get_list(tx, listId))

    async def create_list(self, name: Name, folderId: FolderId) -> Result:
        """Create a list in a folder (POST /v3/contacts/lists); both fields are required and the
        folder must exist. Returns {"id": N}."""
        return self._run("create_list", lambda tx: lists.create_list(tx, name, folderId))

    async def get_contacts_from_list(
        self,
        listId: ListId,
        limit: Limit = 50,
        offset: Offset = 0,
        sort: Sort = "desc",
        modifiedSince: Since = None,
    ) -> Result:
        """List a list's contacts (GET /v3/contacts/lists/{listId}/contacts); limit at most 500.
        Returns {"contacts": [...], "count": N}."""
        return self._run(
            "get_contacts_from_list",
            lambda tx: lists.get_contacts_from_list(tx, listId, limit, offset, sort, modifiedSince),
        )

    async def add_contact_to_list(
        self, listId: ListId, emails: Emails = None, ids: Ids = None
    ) -> Result:
        """Add existing contacts to a list (POST /v3/contacts/lists/{listId}/contacts/add), by
        emails or ids, at most 150 per call. Returns {"contacts": {"success": [...],
        "failure": [...]}}; failure holds unknown contacts and contacts already in the list. If
        none succeeds: invalid_parameter "Contact already in list and/or does not exist"."""
        return self._run(
            "add_contact_to_list", lambda tx: lists.add_contacts(tx, listId, emails, ids)
        )

    async def remove_contact_from_list(
        self,
        listId: ListId,
        emails: Emails = None,
        ids: Ids = None,
        all: Annotated[bool, Field(description="true: remove every contact.")] = False,
    ) -> Result:
        """Remove contacts from a list (POST /v3/contacts/lists/{listId}/contacts/remove).
        Returns {"contacts": {"success": [...], "failure": [...]}} or, with all,
        {"contacts": {"total": N}}."""
        return self._run(
            "remove_contact_from_list",
            lambda tx: lists.remove_contacts(tx, listId, emails, ids, all),
        )


class FoldersTools(ModuleTools):
    """brevo_folders."""

    module = "brevo_folders"
    category = "folders"
    tools = ("get_folders", "create_folder")

    async def get_folders(
        self, limit: Limit = 10, offset: Offset = 0, sort: Sort = "desc"
    ) -> Result:
        """List folders of lists (GET /v3/contacts/folders); limit is at most 50.
        Returns {"folders": [{"id", "name", "uniqueSubscribers", ...}], "count": N}."""
        return self._run("get_folders", lambda tx: lists.get_folders(tx, limit, offset, sort))

    async def create_folder(self, name: Name) -> Result:
        """Create a folder for lists (POST /v3/contacts/folders). Returns {"id": N}."""
        return self._run("create_folder", lambda tx: lists.create_folder(tx, name))


class Sender(BaseModel):
    """The campaign's sender."""

    name: str | None = Field(None, description="Sender name shown to recipients.")
    email: str = Field(description="Sender email address.")


class Recipients(BaseModel):
    """Who receives the campaign."""

    listIds: list[int] = Field(default_factory=list, description="Lists to send to.")
    exclusionListIds: list[int] = Field(default_factory=list, description="Lists to leave out.")


class CampaignsTools(ModuleTools):
    """brevo_email_campaign_management."""

    module = "brevo_email_campaign_management"
    category = "campaigns"
    tools = ("get_email_campaigns", "create_email_campaign", "send_test_email")

    async def get_email_campaigns(
        self,
        status: Annotated[
            Literal["draft", "sent", "archive", "queued", "suspended", "in_process"] | None,
            Field(description="Only campaigns with this status."),
        ] = None,
        limit: Limit = 50,
        offset: Offset = 0,
        sort: Sort = "desc",
    ) -> Result:
        """List email campaigns (GET /v3/emailCampaigns); limit is at most 100.
        Returns {"campaigns": [{"id", "name", "subject", "status", "sender", ...}], "count": N}."""
        return self._run(
            "get_email_campaigns",
            lambda tx: activity.get_campaigns(tx, status, limit, offset, sort),
        )

    async def create_email_campaign(
        self,
        name: Annotated[str, Field(description="Internal name of the campaign.")],
        sender: Annotated[Sender, Field(description="Sender: {name, email}.")],
        subject: Annotated[str | None, Field(description="Subject line.")] = None,
        htmlContent: Annotated[str | None, Field(description="HTML body of the email.")] = None,
        recipients: Annotated[Recipients | None, Field(description="Lists to send to.")] = None,
        scheduledAt: Annotated[str | None, Field(description="UTC date-time to send at.")] = None,
        previewText: Annotated[str | None, Field(description="Preview text.")] = None,
        replyTo: Annotated[str | None, Field(description="Reply-to email.")] = None,
        tag: Annotated[str | None, Field(description="Tag.")] = None,
    ) -> Result:
        """Create an email campaign (POST /v3/emailCampaigns), a draft unless scheduledAt is
        set. name, sender.email and htmlContent are required. Returns {"id": N}."""
        request = body(
            name=name,
            sender=sender.model_dump(),
            subject=subject,
            htmlContent=htmlContent,
            recipients=recipients.model_dump() if recipients else None,
            scheduledAt=scheduledAt,
            previewText=previewText,
            replyTo=replyTo,
            tag=tag,
        )
        return self._run("create_email_campaign", lambda tx: activity.create_campaign(tx, request))

    async def send_test_email(
        self,
        campaignId: Annotated[int, Field(description="Id of the campaign.")],
        emailTo: Annotated[list[str], Field(description="Addresses to send the test to.")],
    ) -> Result:
        """Send a test of a campaign (POST /v3/emailCampaigns/{campaignId}/sendTest).
        Returns {"status": 204, "sent": true, "campaignId": N, "emailTo": [...]}."""
        return self._run("send_test_email", lambda tx: activity.send_test(tx, campaignId, emailTo))


class Identifiers(BaseModel):
    """Who did it: at least one identifier."""

    email_id: str | None = Field(None, description="The contact's email.")
    contact_id: int | None = Field(None, description="The contact's Brevo id.")
    ext_id: str | None = Field(None, description="The contact's ext_id.")
    phone_id: str | None = Field(None, description="The contact's SMS number (+33...).")
    whatsapp_id: str | None = Field(None, description="The contact's WhatsApp number.")
    landline_number_id: str | None = Field(None, description="The contact's landline number.")


class EventsTools(ModuleTools):
    """brevo_events (ASSUMPTION: modelled on POST and GET /v3/events)."""

    module = "brevo_events"
    category = "events"
    tools = ("create_event", "get_events")

    async def create_event(
        self,
        event_name: Annotated[
            str, Field(description="Event name: up to 255 letters, digits, '-' or '_'.")
        ],
        identifiers: Annotated[Identifiers, Field(description="The contact it concerns.")],
        event_date: Annotated[
            str | None,
            Field(description="When it happened, ISO-8601 with timezone; default now."),
        ] = None,
        contact_properties: Annotated[
            dict[str, Any] | None,
            Field(description="Contact attributes to save, {UPPERCASE_NAME: value}."),
        ] = None,
        event_properties: Annotated[
            dict[str, Any] | None,
            Field(description="Free-form details, e.g. {'order_id': 12, 'total': 30.5}."),
        ] = None,
    ) -> Result:
        """Record a custom event for a contact (ASSUMPTION: Brevo's MCP event tools are not
        public; this is POST /v3/events). An unknown email_id/ext_id/phone_id creates the
        contact. Brevo has no idempotency key: send each event once.
        Returns {"status": 204, "accepted": true}."""
        request = body(
            event_name=event_name,
            identifiers=identifiers.model_dump(exclude_none=True),
            event_date=event_date,
            contact_properties=contact_properties,
            event_properties=event_properties,
        )
        return self._run("create_event", lambda tx: activity.create_event(tx, request))

    async def get_events(
        self,
        contact_id: Annotated[
            list[int] | None, Field(description="Only events of these contact ids.")
        ] = None,
        event_name: Annotated[
            list[str] | None, Field(description="Only events with one of these exact names.")
        ] = None,
        object_type: Annotated[
            list[str] | None,
            Field(
                description="Only events linked to an object of these types (events sent "
                "without an object have none)."
            ),
        ] = None,
        startDate: Annotated[
            str | None,
            Field(
                description="Start of the window, inclusive: YYYY-MM-DD (UTC day) or RFC3339 "
                "like 2024-05-01T10:00:00Z. Required with endDate."
            ),
        ] = None,
        endDate: Annotated[
            str | None,
            Field(
                description="End of the window, inclusive (a YYYY-MM-DD covers that whole day). "
                "Required with startDate; with neither, the window is the last 6 months."
            ),
        ] = None,
        limit: Annotated[int, Field(description="Page size, 1 to 10000.")] = 100,
        offset: Offset = 0,
    ) -> Result:
        """List custom events, newest event_date first (ASSUMPTION: Brevo's MCP event tools
        are not public; this is GET /v3/events). Filters combine with AND, the values of one
        filter with OR. To check whether an event you sent arrived, filter by event_name and
        contact_id over a window around its event_date and compare event_properties.
        Returns {"events": [{"contact_id", "event_date", "event_name", "event_properties",
        "contact_properties"}], "count": N}; count is every match, page on with offset."""
        return self._run(
            "get_events",
            lambda tx: activity.get_events(
                tx, limit, offset, contact_id=contact_id or (), event_name=event_name or (),
                object_type=object_type or (), start_date=startDate, end_date=endDate,
            ),
            category="events_read",
        )  # fmt: skip
