"""Value transforms of the data plane (`map.X.transform`) and phone normalisation.

TRANSFORMS["lower"](" A@B.C ")   # -> " a@b.c "
e164("06 12 34 56 78", "FR")    # -> "+33612345678"
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import phonenumbers


def parse_time(value: Any) -> datetime | None:
    """An aware UTC datetime from ISO 8601 text (naive means UTC); None if it is not one."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


MIN_E164_DIGITS = 7  # the shortest numbers in use (+683 1234, Niue) have 7 digits


class TransformError(ValueError):
    """A value a transform cannot convert."""


def e164(value: Any, region: str | None) -> str | None:
    """The phone in E.164 (+33612345678), or None when it cannot be a phone number.

    "Possible" (the length fits the country), not "valid" (an allocated range): the
    lenient check Brevo's SMS attribute is known to apply, and no real number is lost
    to a stale numbering plan.
    """
    text = str(value).strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, (region or "").upper() or None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    formatted = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    # Some plans (Germany's) call two digits "possible"; no real number is that short.
    return formatted if len(formatted) > MIN_E164_DIGITS else None


def _float(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    return float(value.strip()) if isinstance(value, str) else float(value)


def _int(value: Any) -> int:
    number = _float(value)
    if not number.is_integer():
        raise ValueError("not a whole number")
    return int(number)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "y", "on"):
        return True
    if text in ("false", "0", "no", "n", "off", ""):
        return False
    raise ValueError("not a boolean")


def _date(value: Any) -> str:
    when = parse_time(value)
    if when is None:
        raise ValueError("not an ISO 8601 date")
    return when.strftime("%Y-%m-%d")


def _str(value: Any) -> str:
    if isinstance(value, dict | list):
        raise TypeError("an object or list is not text")
    return str(value)


TRANSFORMS: dict[str, Callable[[Any], Any]] = {
    "lower": lambda v: _str(v).lower(),
    "trim": lambda v: _str(v).strip(),
    "float": _float,
    "int": _int,
    "bool": _bool,
    "date": _date,
    "str": _str,
}
