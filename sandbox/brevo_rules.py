"""Brevo's error bodies and value rules (emails, phones, attribute types): pure, no IO.

BrevoError carries an HTTP status and the body Brevo returns, `{"code", "message"}`:

    BrevoError
     └── RateLimitExceeded   429 too_many_requests (lives in brevo_ratelimit)
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email

IDENTIFIER_TYPES = (
    "email_id",
    "contact_id",
    "ext_id",
    "phone_id",
    "whatsapp_id",
    "landline_number_id",
)
ATTRIBUTE_TYPES = ("text", "float", "date", "boolean")
EVENT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
ATTRIBUTE_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,49}$")
INTERNATIONAL_PHONE = re.compile(r"^(\+|00)[1-9]\d{5,14}$")


class BrevoError(Exception):
    """An error response from Brevo: HTTP status plus the JSON body."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """The JSON body Brevo sends with this error."""
        return {"code": self.code, "message": self.message, **self.extra}

    def to_json(self) -> str:
        """The body as compact JSON text."""
        return json.dumps(self.body(), separators=(",", ":"))


def invalid(message: str, **extra: Any) -> BrevoError:
    """400 invalid_parameter."""
    return BrevoError(400, "invalid_parameter", message, **extra)


def missing(message: str) -> BrevoError:
    """400 missing_parameter."""
    return BrevoError(400, "missing_parameter", message)


def duplicate(message: str, *identifiers: str) -> BrevoError:
    """400 duplicate_parameter, naming the clashing identifiers in metadata."""
    extra = {"metadata": {"duplicate_identifiers": list(identifiers)}} if identifiers else {}
    return BrevoError(400, "duplicate_parameter", message, **extra)


def not_found(message: str) -> BrevoError:
    """404 document_not_found."""
    return BrevoError(404, "document_not_found", message)


def normalize_email(value: str) -> str:
    """Lower-case a syntactically valid email; invalid_parameter otherwise."""
    stripped = value.strip() if isinstance(value, str) else ""
    try:
        validate_email(stripped, check_deliverability=False)
    except EmailNotValidError as exc:
        raise invalid("Invalid email address", metadata={"email": value}) from exc
    return stripped.lower()


def normalize_phone(value: str) -> str:
    """Return '+<digits>' for an international number (+33... or 0033...)."""
    if not isinstance(value, str) or not INTERNATIONAL_PHONE.match(value):
        raise invalid("Invalid phone number")
    e164 = "+" + value.removeprefix("+").removeprefix("00")
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException as exc:
        raise invalid("Invalid phone number") from exc
    if not phonenumbers.is_possible_number(parsed):
        raise invalid("Invalid phone number")
    return e164


def check_attribute(name: str, kind: str, value: Any) -> Any:
    """Return `value` if it fits attribute `name` of type `kind`; invalid_parameter otherwise."""
    if value is None:
        return None
    ok = {
        "text": lambda v: isinstance(v, str),
        "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "date": _is_iso_date,
    }[kind](value)
    if not ok:
        expected = {
            "text": "a string",
            "float": "a number",
            "boolean": "true or false",
            "date": "a date as YYYY-MM-DD",
        }[kind]
        raise invalid(
            f"Invalid value for attribute '{name}' of type {kind}: expected {expected}, "
            f"got {json.dumps(value)}"
        )
    return value


def _is_iso_date(value: Any) -> bool:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def check_attribute_name(name: str) -> str:
    """Upper-case an attribute name and check its characters."""
    upper = name.strip().upper()
    if not ATTRIBUTE_NAME.match(upper):
        raise invalid(
            f"Invalid attribute name '{name}': use letters, digits and underscores, "
            "starting with a letter"
        )
    return upper


def check_event_name(name: str) -> str:
    """Event names: up to 255 letters, digits, '-' and '_'."""
    if not EVENT_NAME.match(name):
        raise invalid("Invalid event_name: use up to 255 letters, digits, '-' and '_' (no spaces)")
    return name


def parse_datetime(value: str, field: str) -> datetime:
    """Parse an ISO-8601 date-time (a trailing Z allowed); invalid_parameter otherwise."""
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise invalid(
            f"Invalid {field}: expected an ISO-8601 date-time like 2024-05-01T10:00:00Z"
        ) from exc
    if parsed.tzinfo is None:
        raise invalid(f"Invalid {field}: include a timezone, e.g. 2024-05-01T10:00:00Z")
    return parsed


def guess_identifier_type(identifier: str) -> str:
    """Brevo's default when identifierType is omitted: digits are ids, the rest emails."""
    return "contact_id" if identifier.isdigit() else "email_id"


def check_page(limit: int, offset: int, maximum: int) -> None:
    """Validate limit/offset against an endpoint's maximum page size."""
    if limit < 0 or limit > maximum:
        raise invalid(f"limit should be between 0 and {maximum}")
    if offset < 0:
        raise invalid("offset should be 0 or more")


def check_sort(sort: str) -> bool:
    """Return True for descending order; Brevo accepts 'asc' and 'desc'."""
    if sort not in ("asc", "desc"):
        raise invalid("sort should be 'asc' or 'desc'")
    return sort == "desc"
