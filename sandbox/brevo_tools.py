"""MCP tools of the brevo_contacts and brevo_contact_import_export modules, plus the shared base.

A tool's docstring is its description and its parameters follow the REST v3 field names
(email, ext_id, attributes, listIds, updateEnabled ...): the model reads both. Errors are
raised as ToolError carrying Brevo's JSON body, e.g. {"code":"duplicate_parameter",...};
the SDK prefixes the text with "Error executing tool NAME: ".

Result shapes mirror REST: a creation returns its 201 body ({"id": N}); a REST 204 (no
body) is reported as {"status": 204, ...} naming what happened, e.g.
{"status": 204, "updated": true, "id": 12}.
"""

from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, ConfigDict, Field

from sandbox import brevo_contacts as contact_ops
from sandbox import brevo_imports as imports
from sandbox.brevo_account import BrevoAccount
from sandbox.brevo_rules import BrevoError
from sandbox.brevo_store import Tx

Result = dict[str, Any]

Email = Annotated[
    str | None,
    Field(description="The contact's email. Required unless ext_id or attributes.SMS is given."),
]
ExtId = Annotated[
    str | None,
    Field(description="Your own unique id for the contact (e.g. the shop's customer id)."),
]
Attributes = Annotated[
    dict[str, Any] | None,
    Field(
        description=(
            "Contact attributes as {UPPERCASE_NAME: value}. Every attribute must already exist "
            "(see get_attributes; create it with create_attribute) and its value must match the "
            "type: text -> string, float -> number, date -> 'YYYY-MM-DD', boolean -> true/false. "
            "SMS must be international: +33612345678 or 0033612345678. Do not put EMAIL here "
            "when creating: use 'email'. On update, EMAIL changes the contact's email."
        )
    ),
]
ListIds = Annotated[
    list[int] | None, Field(description="Ids of existing lists to add the contact to.")
]
UnlinkListIds = Annotated[
    list[int] | None, Field(description="Ids of lists to remove the contact from.")
]
EmailBlacklisted = Annotated[
    bool | None, Field(description="true to blacklist the contact for emails (unsubscribe).")
]
SmsBlacklisted = Annotated[bool | None, Field(description="true to blacklist the contact for SMS.")]
UpdateEnabled = Annotated[
    bool,
    Field(description="true: when a contact with this email (or ext_id) exists, update it."),
]
Identifier = Annotated[
    str,
    Field(description="The contact's email, id, ext_id or phone number, as identifierType says."),
]
IdentifierType = Annotated[
    Literal["email_id", "contact_id", "ext_id", "phone_id", "whatsapp_id", "landline_number_id"]
    | None,
    Field(
        description="What identifier is. Omitted: digits are a contact id, anything else an email."
    ),
]
Limit = Annotated[int, Field(description="Page size.")]
Offset = Annotated[int, Field(description="Index of the first item to return.")]
Sort = Annotated[
    Literal["asc", "desc"], Field(description="Order by creation: 'desc' (newest first) or 'asc'.")
]
Since = Annotated[
    str | None,
    Field(description="Only items changed at or after this UTC time, e.g. 2024-05-01T10:00:00Z."),
]


class BatchContact(BaseModel):
    """One contact of update_batch_contacts: an identifier plus the fields to change."""

    model_config = ConfigDict(extra="forbid")
    email: str | None = Field(None, description="Identifies the contact by email.")
    id: int | None = Field(None, description="Identifies the contact by id.")
    ext_id: str | None = Field(None, description="Identifies the contact by ext_id.")
    sms: str | None = Field(None, description="Identifies the contact by SMS number.")
    attributes: dict[str, Any] | None = Field(
        None, description="Attributes to set, {UPPERCASE_NAME: value}."
    )
    emailBlacklisted: bool | None = None
    smsBlacklisted: bool | None = None
    listIds: list[int] | None = None
    unlinkListIds: list[int] | None = None


class NewList(BaseModel):
    """A list to create for an import."""

    listName: str = Field(description="Name of the new list.")
    folderId: int = Field(description="Id of an existing folder (1 is 'Your first folder').")


JsonBody = Annotated[
    list[dict[str, Any]] | None,
    Field(description='Contacts: [{"email": "a@b.com", "attributes": {"FIRSTNAME": "Ann"}}, ...]'),
]
FileBody = Annotated[
    str | None,
    Field(description="CSV: a header line (EMAIL;FIRSTNAME;...), then one contact a line."),
]
FileUrl = Annotated[
    str | None, Field(description="URL of a CSV file (the sandbox cannot fetch it).")
]
ImportListIds = Annotated[
    list[int] | None, Field(description="Existing lists to add the contacts to.")
]
ImportNewList = Annotated[NewList | None, Field(description="Or: a new list to create for them.")]
UpdateExisting = Annotated[bool, Field(description="Update contacts that already exist.")]
BlacklistEmails = Annotated[bool, Field(description="Blacklist the imported contacts for emails.")]
BlacklistSms = Annotated[bool, Field(description="Blacklist the imported contacts for SMS.")]
ProcessId = Annotated[int, Field(description="The processId returned by import_contacts.")]


def body(**fields: Any) -> dict[str, Any]:
    """A REST body from keyword arguments, leaving out the ones not given (None)."""
    return {key: value for key, value in fields.items() if value is not None}


class ModuleTools:
    """The tools of one Brevo MCP module; subclasses list theirs in `tools`."""

    module: ClassVar[str]
    category: ClassVar[str]
    tools: ClassVar[tuple[str, ...]]

    def __init__(self, account: BrevoAccount) -> None:
        self._account = account

    @classmethod
    def prefix(cls) -> str:
        """Prefix of this module's tools on the combined endpoint: 'contacts' for brevo_contacts."""
        return cls.module.removeprefix("brevo_")

    def functions(self) -> list[tuple[str, Callable[..., Any]]]:
        """(tool name, bound method) pairs, to register on an MCPServer."""
        return [(name, getattr(self, name)) for name in self.tools]

    def _run(self, tool: str, op: Callable[[Tx], Result], category: str | None = None) -> Result:
        try:
            self._account.admit(category or self.category, tool)
            return self._account.execute(op)
        except BrevoError as exc:
            raise ToolError(exc.to_json()) from exc


class ContactsTools(ModuleTools):
    """brevo_contacts."""

    module = "brevo_contacts"
    category = "contacts"
    tools = (
        "get_contacts",
        "get_contact_info",
        "create_contact",
        "update_contact",
        "delete_contact",
        "update_batch_contacts",
    )

    async def get_contacts(
        self,
        limit: Limit = 50,
        offset: Offset = 0,
        sort: Sort = "desc",
        modifiedSince: Since = None,
        createdSince: Since = None,
    ) -> Result:
        """List contacts (GET /v3/contacts), newest first; limit is at most 1000.
        Returns {"contacts": [{"email", "id", "attributes", "listIds", "createdAt",
        "modifiedAt", "emailBlacklisted", "smsBlacklisted"}], "count": total}."""
        return self._run(
            "get_contacts",
            lambda tx: contact_ops.get_contacts(
                tx, limit, offset, sort, modifiedSince, createdSince
            ),
        )

    async def get_contact_info(
        self, identifier: Identifier, identifierType: IdentifierType = None
    ) -> Result:
        """Get one contact (GET /v3/contacts/{identifier}) with its attributes and listIds.
        Unknown: error {"code": "document_not_found", "message": "Contact does not exist"}."""
        return self._run(
            "get_contact_info", lambda tx: contact_ops.get_contact(tx, identifier, identifierType)
        )

    async def create_contact(
        self,
        email: Email = None,
        ext_id: ExtId = None,
        attributes: Attributes = None,
        listIds: ListIds = None,
        updateEnabled: UpdateEnabled = False,
        emailBlacklisted: EmailBlacklisted = None,
        smsBlacklisted: SmsBlacklisted = None,
    ) -> Result:
        """Create a contact (POST /v3/contacts). Returns {"id": N} when created (HTTP 201) or
        {"status": 204, "updated": true, "id": N} when updateEnabled updated an existing contact.
        An existing email without updateEnabled fails with duplicate_parameter; so does an SMS
        number or ext_id already used by another contact."""
        request = body(
            email=email,
            ext_id=ext_id,
            attributes=attributes,
            listIds=listIds,
            updateEnabled=updateEnabled,
            emailBlacklisted=emailBlacklisted,
            smsBlacklisted=smsBlacklisted,
        )
        return self._run("create_contact", lambda tx: contact_ops.create_contact(tx, request))

    async def update_contact(
        self,
        identifier: Identifier,
        identifierType: IdentifierType = None,
        attributes: Attributes = None,
        ext_id: ExtId = None,
        listIds: ListIds = None,
        unlinkListIds: UnlinkListIds = None,
        emailBlacklisted: EmailBlacklisted = None,
        smsBlacklisted: SmsBlacklisted = None,
    ) -> Result:
        """Update a contact (PUT /v3/contacts/{identifier}). Attributes are merged; listIds adds
        to lists, unlinkListIds removes. Returns {"status": 204, "updated": true, "id": N}."""
        request = body(
            attributes=attributes,
            ext_id=ext_id,
            listIds=listIds,
            unlinkListIds=unlinkListIds,
            emailBlacklisted=emailBlacklisted,
            smsBlacklisted=smsBlacklisted,
        )
        return self._run(
            "update_contact",
            lambda tx: contact_ops.update_contact(tx, identifier, identifierType, request),
        )

    async def delete_contact(
        self, identifier: Identifier, identifierType: IdentifierType = None
    ) -> Result:
        """Delete a contact (DELETE /v3/contacts/{identifier}).
        Returns {"status": 204, "deleted": true, "id": N}."""
        return self._run(
            "delete_contact", lambda tx: contact_ops.delete_contact(tx, identifier, identifierType)
        )

    async def update_batch_contacts(
        self,
        contacts: Annotated[
            list[BatchContact],
            Field(description="1 to 100 contacts, each with an identifier and changes."),
        ],
    ) -> Result:
        """Update up to 100 existing contacts at once (POST /v3/contacts/batch). All or nothing:
        an error names the failing item, e.g. "contacts[3]: Contact does not exist".
        Returns {"status": 204, "updated": N}."""
        items = [item.model_dump(exclude_none=True) for item in contacts]
        return self._run("update_batch_contacts", lambda tx: contact_ops.update_batch(tx, items))


class ImportExportTools(ModuleTools):
    """brevo_contact_import_export."""

    module = "brevo_contact_import_export"
    category = "contacts"
    tools = ("import_contacts", "get_process")

    async def import_contacts(
        self,
        jsonBody: JsonBody = None,
        fileBody: FileBody = None,
        fileUrl: FileUrl = None,
        listIds: ImportListIds = None,
        newList: ImportNewList = None,
        updateExistingContacts: UpdateExisting = True,
        emailBlacklist: BlacklistEmails = False,
        smsBlacklist: BlacklistSms = False,
    ) -> Result:
        """Import contacts asynchronously (POST /v3/contacts/import). Needs one of jsonBody,
        fileBody or fileUrl and one of listIds or newList. Returns {"processId": N}: poll
        get_process until its status is "completed" before reading the contacts."""
        request = body(
            jsonBody=jsonBody,
            fileBody=fileBody,
            fileUrl=fileUrl,
            listIds=listIds,
            newList=newList.model_dump() if newList else None,
            updateExistingContacts=updateExistingContacts,
            emailBlacklist=emailBlacklist,
            smsBlacklist=smsBlacklist,
        )
        return self._run("import_contacts", lambda tx: imports.import_contacts(tx, request))

    async def get_process(self, processId: ProcessId) -> Result:
        """Status of a background process such as an import (GET /v3/processes/{processId}).
        Returns {"id", "status": "queued" | "in_process" | "completed", "name", "export_url"}."""
        return self._run(
            "get_process", lambda tx: imports.get_process(tx, processId), category="processes"
        )
