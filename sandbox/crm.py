"""A small CRM REST API, deliberately unlike WooCommerce, for the generic connector template.

    crm = CrmSandbox(seed=7, contacts=40)        # seeded contacts, a fresh bearer token
    with ServedApp(crm.app) as served:
        httpx.get(served.url + "/api/contacts", params={"limit": 20},
                  headers={"Authorization": f"Bearer {crm.token}"})

API (JSON; every error is {"error": {"type", "detail", "param"?}}):

    GET /api/contacts        limit (1..200, default 50), cursor (opaque, from next_cursor),
                             updated_since (ISO 8601; strictly after). Ordered by
                             (updated_at, id): {"data": [...], "next_cursor": str | null}
    GET /api/contacts/{id}   one contact, or 404 not_found

    401 unauthorized         missing or wrong `Authorization: Bearer <token>`
    400 invalid_request      a bad parameter, named in "param"
    429 rate_limited         over the limit (default 10 per second), with Retry-After

Cursors are keyset positions (the last row's updated_at and id), so a contact modified
while a client pages moves behind the cursor and is read again, never skipped.
Admin route (no auth, never limited): POST /__sandbox/contacts/{id} merges JSON fields
into a contact and bumps its updated_at, as `modify_contact` does from Python.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import Headers, QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.faults import Message, Receive, Scope, Send, SlidingWindowLimiter

Record = dict[str, Any]
Clock = Callable[[], datetime]
DEFAULT_LIMIT, MAX_LIMIT = 50, 200
FIELDS = ("email", "first_name", "last_name", "company")
FIRST = ("Ada", "Bruno", "Chloé", "Dmitri", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas")
LAST = ("Moreau", "Schmidt", "Rossi", "Garcia", "Novak", "Okafor", "Larsen", "Dubois", "Khan")
COMPANIES = (
    ("Northwind Traders", "northwind.co"),
    ("Globex", "globex.com"),
    ("Initech", "initech.io"),
    ("Umbrella Analytics", "umbrella-analytics.net"),
    ("Hooli", "hooli.xyz"),
    (None, "fastmail.com"),
)
INVALID_EMAILS = ("not-an-email", "", "sam.lee@localhost")


def system_clock() -> datetime:
    """The real time, aware UTC."""
    return datetime.now(UTC)


def iso(when: datetime) -> str:
    """'2026-01-14T09:30:00Z': UTC, whole seconds, a Z suffix."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class CrmRateLimit:
    """At most `requests` per sliding `window` seconds."""

    requests: int = 10
    window: float = 1.0


class CrmError(Exception):
    """An error answer: status, type, detail and the offending parameter."""

    def __init__(self, status: int, type: str, detail: str, param: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.type, self.detail, self.param = status, type, detail, param

    def response(self, headers: dict[str, str] | None = None) -> JSONResponse:
        """The JSON error response."""
        error: Record = {"type": self.type, "detail": self.detail}
        if self.param:
            error["param"] = self.param
        return JSONResponse({"error": error}, self.status, headers)


def generate_contacts(seed: int, count: int, anchor: datetime) -> list[Record]:
    """Seeded contacts updated before `anchor`, with the edge cases of `edge_case_ids`."""
    rng = random.Random(seed)
    rows = []
    for n in range(1, count + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        company, domain = rng.choice(COMPANIES)
        created = anchor - timedelta(days=rng.randint(20, 400), seconds=rng.randint(0, 86_399))
        updated = anchor - timedelta(days=rng.randint(0, 19), seconds=rng.randint(60, 86_399))
        ascii_first = first.replace("é", "e").lower()
        rows.append(
            {
                "id": f"ct_{n:05d}",
                "email": f"{ascii_first}.{last.lower()}{n}@{domain}",
                "first_name": first,
                "last_name": last,
                "company": company,
                "created_at": iso(created),
                "updated_at": iso(updated),
            }
        )
    _add_edge_cases(rows)
    return rows


def edge_case_ids(count: int) -> dict[str, list[str]]:
    """Which generated ids carry invalid emails, a case-duplicate email and a tied updated_at."""
    positions = (4, 12, 27)
    invalid = [f"ct_{n:05d}" for n in positions if n <= count]
    last = count - 1 if count in positions else count
    duplicate = [f"ct_{n:05d}" for n in (6, last)] if count >= 8 else []
    tie = [f"ct_{n:05d}" for n in (2, 3)] if count >= 8 else []
    return {"invalid_email": invalid, "duplicate_email": duplicate, "tied_updated_at": tie}


def _add_edge_cases(rows: list[Record]) -> None:
    by_id = {r["id"]: r for r in rows}
    cases = edge_case_ids(len(rows))
    for cid, email in zip(cases["invalid_email"], INVALID_EMAILS, strict=False):
        by_id[cid]["email"] = email
    if cases["duplicate_email"]:
        original, copy = (by_id[c] for c in cases["duplicate_email"])
        copy["email"] = original["email"].upper()  # same person, typed differently
    if cases["tied_updated_at"]:
        first, second = (by_id[c] for c in cases["tied_updated_at"])
        second["updated_at"] = first["updated_at"]


def encode_cursor(row: Record) -> str:
    """The opaque position after `row`."""
    raw = json.dumps([row["updated_at"], row["id"]], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> tuple[str, str]:
    """(updated_at, id) of a cursor; CrmError 400 when it isn't one of ours."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        updated_at, cid = json.loads(raw)
        if isinstance(updated_at, str) and isinstance(cid, str):
            return updated_at, cid
    except (binascii.Error, ValueError, TypeError):
        pass
    raise CrmError(400, "invalid_request", "cursor is not a valid cursor.", "cursor")


def parse_limit(raw: str | None) -> int:
    """The page size; CrmError 400 outside 1..200."""
    if raw is None:
        return DEFAULT_LIMIT
    if raw.strip().isdigit() and 1 <= int(raw) <= MAX_LIMIT:
        return int(raw)
    detail = f"limit must be an integer between 1 and {MAX_LIMIT}."
    raise CrmError(400, "invalid_request", detail, "limit")


def parse_since(raw: str | None) -> str | None:
    """updated_since as a comparable '...Z' string (naive times are UTC)."""
    if raw is None:
        return None
    try:
        when = datetime.fromisoformat(raw.strip().replace("z", "Z"))
    except ValueError:
        detail = "updated_since must be an ISO 8601 date-time, e.g. 2026-01-31T09:00:00Z."
        raise CrmError(400, "invalid_request", detail, "updated_since") from None
    return iso(when if when.tzinfo else when.replace(tzinfo=UTC))


def page(rows: list[Record], query: QueryParams) -> Record:
    """One page of GET /api/contacts from every contact."""
    limit = parse_limit(query.get("limit"))
    since = parse_since(query.get("updated_since"))
    after = decode_cursor(query["cursor"]) if query.get("cursor") else None
    ordered = sorted(rows, key=lambda r: (r["updated_at"], r["id"]))
    chosen = [
        r
        for r in ordered
        if (since is None or r["updated_at"] > since)
        and (after is None or (r["updated_at"], r["id"]) > after)
    ]
    data = chosen[:limit]
    more = len(chosen) > limit
    return {"data": data, "next_cursor": encode_cursor(data[-1]) if more else None}


class CrmSandbox:
    """The CRM: seeded contacts, a bearer token, a rate limit, the ASGI app (`.app`)."""

    def __init__(
        self,
        *,
        seed: int = 7,
        contacts: int = 40,
        anchor: datetime | None = None,
        token: str | None = None,
        rate_limit: CrmRateLimit | None = CrmRateLimit(),
        clock: Clock = system_clock,
    ) -> None:
        self.clock = clock
        self.anchor = anchor or clock().replace(hour=0, minute=0, second=0, microsecond=0)
        self.token = token or "crm_sandbox_" + secrets.token_urlsafe(24)
        self.rate_limit = rate_limit
        self.limiter = (
            SlidingWindowLimiter(rate_limit.requests, rate_limit.window) if rate_limit else None
        )
        self.edge_cases = edge_case_ids(contacts)
        self._rows = {r["id"]: r for r in generate_contacts(seed, contacts, self.anchor)}
        self._lock = threading.Lock()
        self._statuses: list[int] = []
        self._inner = self._create_app()

    @property
    def app(self) -> CrmSandbox:
        """The ASGI app to serve (the sandbox itself)."""
        return self

    @property
    def statuses(self) -> list[int]:
        """The status of every /api request answered so far, oldest first."""
        with self._lock:
            return list(self._statuses)

    def contacts(self) -> list[Record]:
        """Every contact, by id."""
        with self._lock:
            return [dict(r) for _, r in sorted(self._rows.items())]

    def get(self, cid: str) -> Record | None:
        """One contact, or None."""
        with self._lock:
            row = self._rows.get(cid)
            return dict(row) if row else None

    def modify_contact(self, cid: str, **fields: Any) -> Record:
        """Merge fields (email, first_name, last_name, company) and bump updated_at."""
        unknown = set(fields) - set(FIELDS)
        if unknown:
            raise ValueError(f"Unknown contact fields: {', '.join(sorted(unknown))}.")
        with self._lock:
            row = self._rows.get(cid)
            if row is None:
                raise KeyError(f"No contact with id '{cid}' in the sandbox.")
            now = self.clock().replace(microsecond=0)
            # Strictly later than before, so an incremental reader sees the change.
            previous = datetime.fromisoformat(row["updated_at"])
            stamp = iso(max(now, previous + timedelta(seconds=1)))
            self._rows[cid] = row | fields | {"updated_at": stamp}
            return dict(self._rows[cid])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI: bearer auth and the rate limit in front of /api."""
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/api"):
            await self._inner(scope, receive, send)
            return
        refusal = self._refusal(Headers(scope=scope))

        async def tap(message: Message) -> None:
            if message["type"] == "http.response.start":
                with self._lock:
                    self._statuses.append(message["status"])
            await send(message)

        await (refusal or self._inner)(scope, receive, tap)

    def _refusal(self, headers: Headers) -> Response | None:
        scheme, _, credential = headers.get("authorization", "").partition(" ")
        authorised = scheme.lower() == "bearer" and secrets.compare_digest(
            credential.strip().encode(), self.token.encode()
        )
        if not authorised:
            detail = "Missing or invalid bearer token. Send 'Authorization: Bearer <token>'."
            challenge = {"WWW-Authenticate": 'Bearer realm="crm"'}
            return CrmError(401, "unauthorized", detail).response(challenge)
        wait = self.limiter.admit(self.clock()) if self.limiter else None
        if wait is not None:
            detail = f"Rate limit exceeded. Retry after {wait} seconds."
            return CrmError(429, "rate_limited", detail).response({"Retry-After": str(wait)})
        return None

    def _create_app(self) -> Starlette:
        async def list_contacts(request: Request) -> Response:
            with self._lock:
                rows = list(self._rows.values())
            return JSONResponse(page(rows, request.query_params))

        async def get_contact(request: Request) -> Response:
            row = self.get(request.path_params["id"])
            if row is None:
                detail = f"No contact with id '{request.path_params['id']}'."
                raise CrmError(404, "not_found", detail)
            return JSONResponse(row)

        async def modify(request: Request) -> Response:
            try:
                return JSONResponse(
                    self.modify_contact(request.path_params["id"], **await request.json())
                )
            except KeyError as exc:
                return CrmError(404, "not_found", str(exc.args[0])).response()
            except (ValueError, TypeError) as exc:
                return CrmError(400, "invalid_request", str(exc)).response()

        routes = [
            Route("/api/contacts", list_contacts),
            Route("/api/contacts/{id}", get_contact),
            Route("/__sandbox/contacts/{id}", modify, methods=["POST"]),
        ]
        handlers: Any = {CrmError: _crm_error, HTTPException: _http_error}
        return Starlette(routes=routes, exception_handlers=handlers)


async def _crm_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CrmError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        kind, detail = "not_found", f"No route {request.method} {request.url.path}."
    elif exc.status_code == 405:
        kind, detail = "method_not_allowed", f"{request.method} is not allowed here."
    else:
        kind, detail = "invalid_request", exc.detail
    return CrmError(exc.status_code, kind, detail).response(dict(exc.headers or {}))
