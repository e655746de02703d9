"""A read-only mirror of Brevo's REST v3 (header `api-key`), to check what the MCP tools did.

Responses carry Brevo's shapes, error bodies and x-sib-ratelimit-* headers; the requests
share the MCP tools' rate-limit windows, as both reach the same account.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox import brevo_activity as activity
from sandbox import brevo_contacts as contacts
from sandbox import brevo_imports as imports
from sandbox import brevo_lists as lists
from sandbox.brevo_account import BrevoAccount
from sandbox.brevo_ratelimit import RateLimitExceeded
from sandbox.brevo_rules import BrevoError, invalid
from sandbox.brevo_store import Tx

Op = Callable[[Tx], dict[str, Any]]


def query_int(request: Request, name: str, default: int) -> int:
    """An integer query parameter; invalid_parameter if it is not one."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise invalid(f"{name} should be an integer") from exc


def query_ints(request: Request, name: str) -> list[int]:
    """A repeatable integer query parameter (name=1&name=2); invalid_parameter if one is not."""
    values = [raw for raw in request.query_params.getlist(name) if raw != ""]
    try:
        return [int(raw) for raw in values]
    except ValueError as exc:
        raise invalid(f"{name} should be a list of integers") from exc


class RestMirror:
    """GET endpoints under /v3, authenticated by the `api-key` header."""

    def __init__(self, account: BrevoAccount, api_key: str) -> None:
        self.account = account
        self.api_key = api_key

    def routes(self) -> list[BaseRoute]:
        """Starlette routes, to mount at /v3 (specific paths before /contacts/{identifier})."""
        return [
            Route("/contacts", self.get_contacts),
            Route("/contacts/lists", self.get_lists),
            Route("/contacts/lists/{list_id:int}/contacts", self.get_list_contacts),
            Route("/contacts/attributes", self.get_attributes),
            Route("/contacts/folders", self.get_folders),
            Route("/contacts/{identifier}", self.get_contact),
            Route("/events", self.get_events),
            Route("/processes/{process_id:int}", self.get_process),
        ]

    def _serve(self, request: Request, category: str, op: Callable[[], Op]) -> Response:
        key = request.headers.get("api-key", "")
        if not secrets.compare_digest(key.encode(), self.api_key.encode()):
            return JSONResponse({"code": "unauthorized", "message": "Key not found"}, 401)
        try:
            status = self.account.admit(category)
        except RateLimitExceeded as exc:
            return JSONResponse(exc.body(), exc.status, headers=exc.status_info.headers())
        headers = status.headers() if status else {}
        try:  # a bad query parameter raises from op() too: a 400 with the headers
            result = self.account.execute(op())
        except BrevoError as exc:
            return JSONResponse(exc.body(), exc.status, headers=headers)
        return JSONResponse(result, headers=headers)

    async def get_contacts(self, request: Request) -> Response:
        """GET /v3/contacts?limit&offset&sort&modifiedSince&createdSince."""

        def op() -> Op:
            q = request.query_params
            limit, offset = query_int(request, "limit", 50), query_int(request, "offset", 0)
            sort, modified, created = (
                q.get("sort", "desc"),
                q.get("modifiedSince"),
                q.get("createdSince"),
            )
            return lambda tx: contacts.get_contacts(tx, limit, offset, sort, modified, created)

        return self._serve(request, "contacts", op)

    async def get_contact(self, request: Request) -> Response:
        """GET /v3/contacts/{identifier}?identifierType=..."""
        identifier = request.path_params["identifier"]
        kind = request.query_params.get("identifierType")
        return self._serve(
            request, "contacts", lambda: lambda tx: contacts.get_contact(tx, identifier, kind)
        )

    async def get_lists(self, request: Request) -> Response:
        """GET /v3/contacts/lists?limit&offset&sort."""

        def op() -> Op:
            limit, offset = query_int(request, "limit", 10), query_int(request, "offset", 0)
            sort = request.query_params.get("sort", "desc")
            return lambda tx: lists.get_lists(tx, limit, offset, sort)

        return self._serve(request, "lists", op)

    async def get_list_contacts(self, request: Request) -> Response:
        """GET /v3/contacts/lists/{listId}/contacts?limit&offset&sort&modifiedSince."""

        def op() -> Op:
            list_id = request.path_params["list_id"]
            limit, offset = query_int(request, "limit", 50), query_int(request, "offset", 0)
            sort, since = (
                request.query_params.get("sort", "desc"),
                request.query_params.get("modifiedSince"),
            )
            return lambda tx: lists.get_contacts_from_list(tx, list_id, limit, offset, sort, since)

        return self._serve(request, "lists", op)

    async def get_attributes(self, request: Request) -> Response:
        """GET /v3/contacts/attributes."""
        return self._serve(request, "attributes", lambda: lists.get_attributes)

    async def get_folders(self, request: Request) -> Response:
        """GET /v3/contacts/folders?limit&offset&sort."""

        def op() -> Op:
            limit, offset = query_int(request, "limit", 10), query_int(request, "offset", 0)
            sort = request.query_params.get("sort", "desc")
            return lambda tx: lists.get_folders(tx, limit, offset, sort)

        return self._serve(request, "folders", op)

    async def get_events(self, request: Request) -> Response:
        """GET /v3/events?contact_id&event_name&object_type&startDate&endDate&limit&offset."""

        def op() -> Op:
            q = request.query_params
            limit, offset = query_int(request, "limit", 100), query_int(request, "offset", 0)
            contact_ids = query_ints(request, "contact_id")
            names, types = q.getlist("event_name"), q.getlist("object_type")
            start, end = q.get("startDate"), q.get("endDate")
            return lambda tx: activity.get_events(
                tx, limit, offset, contact_id=contact_ids, event_name=names, object_type=types,
                start_date=start, end_date=end,
            )  # fmt: skip

        return self._serve(request, "events_read", op)

    async def get_process(self, request: Request) -> Response:
        """GET /v3/processes/{processId}."""
        process_id = request.path_params["process_id"]
        return self._serve(
            request, "processes", lambda: lambda tx: imports.get_process(tx, process_id)
        )
