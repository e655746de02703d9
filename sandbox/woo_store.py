"""The WooCommerce sandbox's mutable records, behind one lock.

Records are replaced on every change, never edited in place, so a list handed to a
request stays consistent while another thread writes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sandbox.data import StoreData, local_and_gmt
from sandbox.woo_http import WpError
from sandbox.woo_seed_orders import blank_order

Record = dict[str, Any]
# wc_get_is_paid_statuses(): what WC_Customer::get_total_spent sums.
PAID_STATUSES = ("processing", "completed")
ADDRESS_KEYS = (
    "first_name",
    "last_name",
    "company",
    "address_1",
    "address_2",
    "city",
    "state",
    "postcode",
    "country",
    "email",
    "phone",
)
KINDS = ("customers", "orders", "products", "coupons")


def _dates(name: str, when: datetime, tz: ZoneInfo) -> Record:
    local, gmt = local_and_gmt(when, tz)
    return {f"date_{name}": local, f"date_{name}_gmt": gmt}


class WooStore:
    """Users, orders, products and coupons, thread-safe."""

    def __init__(self, data: StoreData, clock: Callable[[], datetime]) -> None:
        self._initial = data.to_json()
        self._clock = clock
        self._lock = threading.Lock()
        self.tz = ZoneInfo(data.site["timezone"])
        self.reset()

    def reset(self) -> None:
        """Back to the generated data."""
        data = json.loads(self._initial)
        users = sorted(data["customers"] + data["other_users"], key=lambda u: u["id"])
        with self._lock:
            self._version = 0
            self._memo: dict[tuple[str, str], list[Record]] = {}
            self._tables: dict[str, dict[int, Record]] = {
                "customers": {u["id"]: u for u in users},
                "orders": {o["id"]: o for o in data["orders"]},
                "products": {p["id"]: p for p in data["products"]},
                "coupons": {c["id"]: c for c in data["coupons"]},
            }

    def all(self, kind: str) -> list[Record]:
        """Every record of a kind ('customers' holds all users), by id."""
        with self._lock:
            return list(self._tables[kind].values())

    def get(self, kind: str, rid: int) -> Record | None:
        """One record, or None."""
        with self._lock:
            return self._tables[kind].get(rid)

    def _now(self) -> datetime:
        return self._clock().replace(microsecond=0)

    def _put(self, kind: str, record: Record) -> Record:
        self._tables[kind][record["id"]] = record
        self._version += 1
        self._memo.clear()
        return record

    def select(
        self, kind: str, key: str, choose: Callable[[list[Record]], list[Record]]
    ) -> list[Record]:
        """`choose(every record)`, memoised by `key` until the next write.

        Walking 10,000 customers page by page then sorts them once, not once a page.
        """
        with self._lock:
            cached = self._memo.get((kind, key))
            if cached is not None:
                return cached
            rows, version = list(self._tables[kind].values()), self._version
        chosen = choose(rows)
        with self._lock:
            if version == self._version:
                if len(self._memo) >= 64:
                    self._memo.clear()
                self._memo[(kind, key)] = chosen
        return chosen

    def touch(self, kind: str, rid: int) -> Record | None:
        """Bump date_modified to the sandbox clock's now."""
        with self._lock:
            record = self._tables[kind].get(rid)
            if record is None:
                return None
            return self._put(kind, record | _dates("modified", self._now(), self.tz))

    def update_customer(self, cid: int, fields: Record) -> Record | None:
        """Merge writable fields into a customer and bump date_modified; None if unknown."""
        with self._lock:
            current = self._tables["customers"].get(cid)
            if current is None:
                return None
            email = str(fields.get("email", current["email"]) or "")
            if email != current["email"]:  # as the REST controller: only a changed email
                self._check_email(email, cid)
            changed = _merge(current, fields, ("email", "first_name", "last_name"))
            return self._put("customers", changed | _dates("modified", self._now(), self.tz))

    def create_customer(self, fields: Record) -> Record:
        """A new customer with the next user id."""
        with self._lock:
            self._check_email(fields["email"], None)
            cid = max(self._tables["customers"], default=0) + 1
            now = self._now()
            username = fields.get("username") or fields["email"].split("@")[0].lower()
            blank = dict.fromkeys(ADDRESS_KEYS, "")
            record: Record = {
                "id": cid,
                **_dates("created", now, self.tz),
                **_dates("modified", now, self.tz),
                "email": fields["email"],
                "first_name": "",
                "last_name": "",
                "role": "customer",
                "username": username,
                "billing": blank,
                "shipping": {k: "" for k in ADDRESS_KEYS[:9]},
                "is_paying_customer": False,
                "avatar_url": "",
                "meta_data": [],
            }
            return self._put("customers", _merge(record, fields, ("first_name", "last_name")))

    def _check_email(self, email: str, cid: int | None) -> None:
        # email_exists() goes through a case-insensitive MySQL collation.
        for user in self._tables["customers"].values():
            if user["id"] != cid and email and user["email"].casefold() == email.casefold():
                raise WpError(
                    400,
                    "registration-error-email-exists",
                    "An account is already registered with your email address. "
                    '<a href="#" class="showlogin">Please log in.</a>',
                )

    def update_order(self, oid: int, fields: Record) -> Record | None:
        """Merge writable fields and apply status side effects; None if unknown."""
        with self._lock:
            current = self._tables["orders"].get(oid)
            if current is None:
                return None
            keys = ("customer_note", "transaction_id", "customer_id")
            changed = _merge(current, fields, keys) | _status_dates(
                current, fields.get("status"), self._now(), self.tz
            )
            return self._put("orders", changed | _dates("modified", self._now(), self.tz))

    def complete_order(self, oid: int) -> Record | None:
        """Status completed, with date_completed (and date_paid if unset) and date_modified."""
        return self.update_order(oid, {"status": "completed"})

    def create_order(self, fields: Record) -> Record:
        """A new order (default status pending) priced from the catalogue at 20% VAT."""
        with self._lock:
            customer_id = int(fields.get("customer_id") or 0)
            if customer_id and customer_id not in self._tables["customers"]:
                raise WpError(
                    400, "woocommerce_rest_invalid_customer_id", "Customer ID is invalid."
                )
            oid = max(self._tables["orders"], default=1000) + 1
            template = _new_order(oid, self._now(), self.tz, self._line_items(fields))
            order = _merge(template, fields, ("customer_note", "customer_id"))
            status = "processing" if fields.get("set_paid") else fields.get("status", "pending")
            order |= _status_dates(order, status, self._now(), self.tz)
            return self._put("orders", order)

    def _line_items(self, fields: Record) -> list[Record]:
        items = []
        for i, line in enumerate(fields.get("line_items") or [], start=1):
            product = self._tables["products"].get(int(line.get("product_id", 0)))
            if product is None:
                raise WpError(400, "woocommerce_rest_invalid_product_id", "Invalid product ID.")
            qty = int(line.get("quantity", 1))
            total = Decimal(product["price"]) * qty
            tax = (total * Decimal("0.20")).quantize(Decimal("0.01"))
            items.append(
                {
                    "id": i,
                    "name": product["name"],
                    "product_id": product["id"],
                    "variation_id": 0,
                    "quantity": qty,
                    "tax_class": "",
                    "subtotal": f"{total:.2f}",
                    "subtotal_tax": f"{tax:.2f}",
                    "total": f"{total:.2f}",
                    "total_tax": f"{tax:.2f}",
                    "taxes": [],
                    "meta_data": [],
                    "sku": product["sku"],
                    "price": float(product["price"]),
                    "parent_name": None,
                }
            )
        return items

    def customer_stats(self) -> dict[int, tuple[int, Decimal]]:
        """orders_count (every order) and total_spent (paid statuses) per customer id."""
        stats: dict[int, tuple[int, Decimal]] = {}
        for order in self.all("orders"):
            count, spent = stats.get(order["customer_id"], (0, Decimal("0")))
            paid = Decimal(order["total"]) if order["status"] in PAID_STATUSES else Decimal("0")
            stats[order["customer_id"]] = (count + 1, spent + paid)
        return stats


def _merge(record: Record, fields: Record, scalars: tuple[str, ...]) -> Record:
    """A copy of `record` with scalars, billing/shipping keys and meta_data from `fields`."""
    out = record | {k: fields[k] for k in scalars if k in fields}
    for address in ("billing", "shipping"):
        if isinstance(fields.get(address), dict):
            known = record[address]
            out[address] = known | {k: v for k, v in fields[address].items() if k in known}
    if isinstance(fields.get("meta_data"), list):
        out["meta_data"] = _merge_meta(record["meta_data"], fields["meta_data"])
    return out


def _merge_meta(meta: list[Record], changes: list[Record]) -> list[Record]:
    out = [dict(m) for m in meta]
    next_id = max((m["id"] for m in out), default=0) + 1
    for change in changes:
        match = next(
            (m for m in out if m["id"] == change.get("id") or m["key"] == change.get("key")), None
        )
        if match:
            match["value"] = change.get("value")
        else:
            out.append({"id": next_id, "key": change.get("key"), "value": change.get("value")})
            next_id += 1
    return out


def _status_dates(order: Record, status: str | None, now: datetime, tz: ZoneInfo) -> Record:
    """What WC_Order sets when the status changes: date_paid, date_completed."""
    out: Record = {}
    if status in PAID_STATUSES and not order.get("date_paid"):
        out |= _dates("paid", now, tz)
    if status == "completed" and not order.get("date_completed"):
        out |= _dates("completed", now, tz)
    if status:
        out["status"] = status
    return out


def _new_order(oid: int, now: datetime, tz: ZoneInfo, items: list[Record]) -> Record:
    total = sum((Decimal(i["total"]) for i in items), Decimal("0"))
    tax = sum((Decimal(i["total_tax"]) for i in items), Decimal("0"))
    order = blank_order(oid, "pending") | _dates("created", now, tz) | _dates("modified", now, tz)
    money = dict.fromkeys(
        ("discount_total", "discount_tax", "shipping_total", "shipping_tax"), "0.00"
    )
    money |= {"cart_tax": f"{tax:.2f}", "total": f"{total + tax:.2f}", "total_tax": f"{tax:.2f}"}
    return (
        order
        | money
        | {
            "order_key": f"wc_order_sandbox{oid}",
            "billing": dict.fromkeys(ADDRESS_KEYS, ""),
            "shipping": dict.fromkeys(ADDRESS_KEYS[:9], ""),
            "created_via": "rest-api",
            "line_items": items,
        }
    )
