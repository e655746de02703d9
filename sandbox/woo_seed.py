"""Helpers shared by the WooCommerce data generator: dates, people, addresses."""

from __future__ import annotations

import random
import re
import unicodedata
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sandbox import woo_pools as pools

Record = dict[str, Any]

SITE_URL = "https://shop.example.com"
SITE_TIMEZONE = "Europe/Paris"
WC_VERSION = "9.4.2"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"
RECENT_SHARE = 0.35


def local_and_gmt(when: datetime, tz: ZoneInfo) -> tuple[str, str]:
    """WooCommerce's pair of date strings: site-local wall time, then GMT."""
    return when.astimezone(tz).strftime(DATE_FORMAT), when.strftime(DATE_FORMAT)


def set_dates(record: Record, name: str, when: datetime | None, tz: ZoneInfo) -> None:
    """Set date_{name} and date_{name}_gmt (both None when `when` is)."""
    local, gmt = local_and_gmt(when, tz) if when else (None, None)
    record[f"date_{name}"], record[f"date_{name}_gmt"] = local, gmt


def spread(rng: random.Random, anchor: datetime, n: int, lo: float, hi: float) -> list[datetime]:
    """`n` sorted instants before `anchor`: a RECENT_SHARE in the last 7 days when lo == 0."""
    out = []
    for _ in range(n):
        recent = lo == 0 and rng.random() < RECENT_SHARE
        days = rng.uniform(0, 7) if recent else rng.uniform(max(lo, 7 if lo == 0 else lo), hi)
        out.append(anchor - timedelta(seconds=max(60, int(days * 86400))))
    return sorted(out)


def before(anchor: datetime, when: datetime) -> datetime:
    """`when`, but at least a second before `anchor`."""
    return min(when, anchor - timedelta(seconds=1))


def ascii_fold(text: str) -> str:
    """Lowercase ASCII letters and digits of `text` (accents folded, the rest dropped)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", folded.lower())


def address(rng: random.Random, country: str | None) -> dict[str, str]:
    """A street address, in `country` when the pools have one there."""
    places = [p for p in pools.PLACES if p[0] == country] or list(pools.PLACES)
    country, city, postcode, state = rng.choice(places)
    street = f"{rng.randint(1, 120)} {rng.choice(pools.STREETS)}"
    return {
        "company": rng.choice(pools.COMPANIES),
        "address_1": street,
        "address_2": "",
        "city": city,
        "state": state,
        "postcode": postcode,
        "country": country,
    }


def make_person(rng: random.Random, number: int, edge: dict[str, Any], domain: str) -> Record:
    """Names, email, phone and address for a customer or guest; `edge` overrides."""
    first = edge.get("first_name") or rng.choice(pools.FIRST_NAMES)
    last = edge.get("last_name") or rng.choice(pools.LAST_NAMES)
    place = address(rng, edge.get("country"))
    phone = pools.phone_for(rng, place["country"])
    local = ".".join(p for p in (ascii_fold(first)[:12], ascii_fold(last)) if p) or "client"
    email = edge.get("email", f"{local}{number}@{domain}")
    return {
        "first_name": first,
        "last_name": last,
        "email": email,
        "phone": edge.get("phone", phone),
        **place,
    }


def billing_of(person: Record) -> Record:
    """The v3 billing address of a person."""
    keys = ("first_name", "last_name", "company", "address_1", "address_2", "city", "state")
    billing = {k: person[k] for k in keys}
    billing |= {"postcode": person["postcode"], "country": person["country"]}
    return billing | {"email": person["email"], "phone": person["phone"]}


def shipping_of(person: Record) -> Record:
    """The v3 shipping address of a person."""
    # The reference's v3 shipping address carries neither email nor phone.
    return {k: v for k, v in billing_of(person).items() if k not in ("email", "phone")}
