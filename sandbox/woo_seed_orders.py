"""Orders, products and coupons for the WooCommerce data generator (see sandbox/data.py)."""

from __future__ import annotations

import itertools
import random
import re
import unicodedata
from bisect import bisect_left
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from sandbox import woo_pools as pools
from sandbox.woo_seed import (
    DATE_FORMAT,
    SITE_URL,
    WC_VERSION,
    Record,
    before,
    billing_of,
    make_person,
    set_dates,
    spread,
)

FIRST_ORDER_ID = 1001
FIRST_PRODUCT_ID = 101
FIRST_COUPON_ID = 301
GUEST_SHARE = 0.15
VAT = Decimal("0.20")
PAID_STATUSES = ("processing", "completed", "refunded")
KEY_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
EDGE_ORDERS: dict[str, tuple[int, ...]] = {
    "completed": (1001,),
    "processing": (1002,),
    "refunded": (1003,),
    "cancelled": (1004,),
    "pending": (1005,),
    "on_hold": (1006,),
    "guest": (1007, 1008),
    "guest_with_customer_email": (1008,),
    "tied_modified": (1009, 1010, 1011, 1012),
    "null_billing_email": (1013,),
}
_FORCED_STATUS = {1001: "completed", 1002: "processing", 1003: "refunded", 1004: "cancelled"}
_FORCED_STATUS |= {1005: "pending", 1006: "on-hold"} | dict.fromkeys(range(1009, 1013), "completed")
_STATUS_WEIGHTS = {
    "completed": 55,
    "processing": 17,
    "pending": 7,
    "on-hold": 6,
    "cancelled": 7,
    "refunded": 5,
    "failed": 3,
}


PRODUCT_DEFAULTS: Record = {
    "type": "simple", "status": "publish", "featured": False, "sale_price": "",
    "on_sale": False, "purchasable": True, "virtual": False, "downloadable": False,
    "tax_status": "taxable", "tax_class": "", "manage_stock": False, "stock_quantity": None,
    "stock_status": "instock", "images": [], "meta_data": [],
}  # fmt: skip
COUPON_DEFAULTS: Record = {
    "description": "", "date_expires": None, "date_expires_gmt": None, "individual_use": False,
    "product_ids": [], "excluded_product_ids": [], "usage_limit": None,
    "usage_limit_per_user": None, "minimum_amount": "0.00", "maximum_amount": "0.00",
    "email_restrictions": [], "used_by": [], "meta_data": [],
}  # fmt: skip
# The key order of a real v3 order (the *_gmt dates come last).
ORDER_KEYS = (
    "id", "parent_id", "status", "currency", "version", "prices_include_tax", "date_created",
    "date_modified", "discount_total", "discount_tax", "shipping_total", "shipping_tax",
    "cart_tax", "total", "total_tax", "customer_id", "order_key", "billing", "shipping",
    "payment_method", "payment_method_title", "transaction_id", "customer_ip_address",
    "customer_user_agent", "created_via", "customer_note", "date_completed", "date_paid",
    "cart_hash", "number", "meta_data", "line_items", "tax_lines", "shipping_lines",
    "fee_lines", "coupon_lines", "refunds", "payment_url", "is_editable", "needs_payment",
    "needs_processing", "date_created_gmt", "date_modified_gmt", "date_completed_gmt",
    "date_paid_gmt", "currency_symbol",
)  # fmt: skip


def make_products(rng: random.Random, n: int, anchor: datetime, tz: ZoneInfo) -> list[Record]:
    """`n` simple products created 60 to 75 days before `anchor`, ids from 101."""
    out = []
    for i, created in enumerate(spread(rng, anchor, n, 60, 75)):
        name, price, category = pools.PRODUCT_NAMES[i % len(pools.PRODUCT_NAMES)]
        name += f" #{i // len(pools.PRODUCT_NAMES) + 1}" if i >= len(pools.PRODUCT_NAMES) else ""
        pid = FIRST_PRODUCT_ID + i
        slug = re.sub(r"-+", "-", re.sub(r"[^a-z0-9]", "-", _ascii_keep_spaces(name))).strip("-")
        modified = created if rng.random() < 0.6 else anchor - timedelta(days=rng.uniform(1, 30))
        record: Record = {"id": pid, "name": name, "slug": slug}
        record["permalink"] = f"{SITE_URL}/product/{slug}/"
        set_dates(record, "created", created, tz)
        set_dates(record, "modified", modified.replace(microsecond=0), tz)
        cat = {"id": pools.CATEGORIES[category], "name": category.title(), "slug": category}
        money = {"sku": f"SKU-{pid}", "price": price, "regular_price": price}
        out.append(record | PRODUCT_DEFAULTS | money | {"categories": [cat]})
    return out


def _ascii_keep_spaces(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def make_orders(
    rng: random.Random,
    n: int,
    anchor: datetime,
    tz: ZoneInfo,
    customers: list[Record],
    products: list[Record],
) -> list[Record]:
    """`n` orders in creation order from id 1001, with the edge cases of EDGE_ORDERS."""
    registered = [c["date_created_gmt"] for c in customers]  # sorted: ids follow creation
    item_ids = itertools.count(1)
    statuses, weights = list(_STATUS_WEIGHTS), list(_STATUS_WEIGHTS.values())
    out = []
    for i, created in enumerate(spread(rng, anchor, n, 0, 60)):
        oid = FIRST_ORDER_ID + i
        status = _FORCED_STATUS.get(oid) or rng.choices(statuses, weights)[0]
        eligible = bisect_left(registered, created.strftime(DATE_FORMAT))
        guest = oid in (1007, 1008, 1013) or rng.random() < GUEST_SHARE or eligible == 0
        buyer = None if guest else customers[rng.randrange(eligible)]
        order = _order(rng, oid, created, status, buyer, products, anchor, tz, item_ids)
        out.append(order)
    _order_edges(out, customers, anchor, tz)
    return out


def _order_edges(
    orders: list[Record], customers: list[Record], anchor: datetime, tz: ZoneInfo
) -> None:
    by_id = {o["id"]: o for o in orders}
    if 1008 in by_id and len(customers) > 7:
        by_id[1008]["billing"]["email"] = customers[6]["email"].upper()
    if 1013 in by_id:
        by_id[1013]["billing"]["email"] = None
        by_id[1013]["created_via"] = "admin"
    tied = [by_id[i] for i in EDGE_ORDERS["tied_modified"] if i in by_id]
    if len(tied) == len(EDGE_ORDERS["tied_modified"]):
        latest = max(datetime.fromisoformat(o["date_created_gmt"]) for o in tied)
        stamp = max(anchor - timedelta(days=2, hours=-9), latest.replace(tzinfo=UTC))
        stamp = before(anchor, stamp)  # one bulk "mark complete" touched them all at once
        for order in tied:
            set_dates(order, "modified", stamp, tz)
            set_dates(order, "completed", stamp, tz)


def _order(
    rng: random.Random,
    oid: int,
    created: datetime,
    status: str,
    buyer: Record | None,
    products: list[Record],
    anchor: datetime,
    tz: ZoneInfo,
    item_ids: Iterator[int],
) -> Record:
    billing = _order_billing(rng, oid, buyer)
    picks = rng.sample(products, k=min(len(products), rng.randint(1, 3)))
    coupon = rng.random() < 0.1
    lines = [_line_item(rng, next(item_ids), p, coupon) for p in picks]
    method, title = rng.choice(pools.PAYMENT_METHODS)
    paid, completed = _milestones(rng, created, status, anchor)
    modified = _last_change(rng, status, anchor, created, paid, completed)
    key = "wc_order_" + "".join(rng.choices(KEY_CHARS, k=13))
    order = blank_order(oid, status) | _totals(lines, coupon, item_ids)
    for name, when in (("created", created), ("modified", modified), ("completed", completed),
                       ("paid", paid)):  # fmt: skip
        set_dates(order, name, when, tz)
    order |= {
        "customer_id": buyer["id"] if buyer else 0, "order_key": key, "billing": billing,
        "shipping": {k: v for k, v in billing.items() if k not in ("email", "phone")},
        "payment_method": method, "payment_method_title": title,
        "transaction_id": f"ch_{rng.getrandbits(96):024x}" if paid and method == "stripe" else "",
        "customer_ip_address": f"203.0.113.{rng.randint(1, 254)}",
        "customer_user_agent": rng.choice(pools.USER_AGENTS), "created_via": "checkout",
        "line_items": lines, "payment_url": f"{SITE_URL}/checkout/order-pay/{oid}/"
        f"?pay_for_order=true&key={key}",
    }  # fmt: skip
    if status == "refunded":
        order["refunds"] = [{"id": 20000 + oid, "reason": "", "total": f"-{order['total']}"}]
    return {k: order[k] for k in ORDER_KEYS}


def blank_order(oid: int, status: str) -> Record:
    """An order with every field at its empty value, in the real key order."""
    order: Record = dict.fromkeys(ORDER_KEYS, "")
    order |= {
        "id": oid, "parent_id": 0, "status": status, "currency": "EUR", "version": WC_VERSION,
        "prices_include_tax": False, "customer_id": 0, "number": str(oid), "meta_data": [],
        "line_items": [], "tax_lines": [], "shipping_lines": [], "fee_lines": [],
        "coupon_lines": [], "refunds": [], "is_editable": status in ("pending", "on-hold"),
        "needs_payment": status in ("pending", "failed"), "needs_processing": True,
        "currency_symbol": "€",
    }  # fmt: skip
    for name in ("created", "modified", "completed", "paid"):
        order[f"date_{name}"] = order[f"date_{name}_gmt"] = None
    return order


def _order_billing(rng: random.Random, oid: int, buyer: Record | None) -> Record:
    person = make_person(rng, oid, {}, "example.org")
    if buyer is None:
        return billing_of(person)
    if not buyer["billing"]["first_name"]:  # never filled in: the checkout fills it now
        return billing_of(person) | {"email": buyer["email"]}
    return dict(buyer["billing"])


def _last_change(
    rng: random.Random,
    status: str,
    anchor: datetime,
    *moments: datetime | None,
) -> datetime:
    last = max(d for d in moments if d)
    late = status in ("refunded", "cancelled")
    bump = rng.randint(3600, 5 * 86400) if late else rng.choice((0, 0, rng.randint(1, 7200)))
    return max(last, before(anchor, last + timedelta(seconds=bump)))


def _milestones(
    rng: random.Random, created: datetime, status: str, anchor: datetime
) -> tuple[datetime | None, datetime | None]:
    paid = completed = None
    if status in PAID_STATUSES:
        paid = before(anchor, created + timedelta(seconds=rng.randint(5, 600)))
    if paid and status in ("completed", "refunded"):
        completed = before(anchor, paid + timedelta(seconds=rng.randint(3600, 4 * 86400)))
    return paid, completed


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), ROUND_HALF_UP)


def _line_item(rng: random.Random, item_id: int, product: Record, coupon: bool) -> Record:
    qty = rng.randint(1, 3)
    subtotal = _cents(Decimal(product["price"]) * qty)
    total = _cents(subtotal * Decimal("0.9")) if coupon else subtotal
    sub_tax, tax = _cents(subtotal * VAT), _cents(total * VAT)
    return {
        "id": item_id,
        "name": product["name"],
        "product_id": product["id"],
        "variation_id": 0,
        "quantity": qty,
        "tax_class": "",
        "subtotal": str(subtotal),
        "subtotal_tax": str(sub_tax),
        "total": str(total),
        "total_tax": str(tax),
        "taxes": [{"id": 1, "total": str(tax), "subtotal": str(sub_tax)}],
        "meta_data": [],
        "sku": product["sku"],
        "price": float(total / qty),
        "parent_name": None,
    }


def _totals(lines: list[Record], coupon: bool, item_ids: Iterator[int]) -> Record:
    """Order money fields and the tax/shipping/coupon line lists."""

    def total(key: str) -> Decimal:
        return sum((Decimal(line[key]) for line in lines), Decimal("0.00"))

    shipping = Decimal("0.00") if total("total") >= 60 else Decimal("4.90")
    ship_tax, cart_tax = _cents(shipping * VAT), total("total_tax")
    discount, discount_tax = total("subtotal") - total("total"), total("subtotal_tax") - cart_tax
    grand = total("total") + shipping + cart_tax + ship_tax
    money = {"discount_total": discount, "discount_tax": discount_tax, "shipping_total": shipping,
             "shipping_tax": ship_tax, "cart_tax": cart_tax, "total": grand,
             "total_tax": cart_tax + ship_tax}  # fmt: skip
    tax_line = {"id": next(item_ids), "rate_code": "FR-TVA-1", "rate_id": 1, "label": "TVA",
                "compound": False, "tax_total": str(cart_tax),
                "shipping_tax_total": str(ship_tax), "rate_percent": 20.0,
                "meta_data": []}  # fmt: skip
    ship_line = {"id": next(item_ids), "method_title": "Colissimo", "method_id": "flat_rate",
                 "instance_id": "1", "total": str(shipping), "total_tax": str(ship_tax),
                 "taxes": [{"id": 1, "total": str(ship_tax), "subtotal": ""}],
                 "meta_data": []}  # fmt: skip
    coupons = [{"id": next(item_ids), "code": "welcome10", "discount": str(discount),
                "discount_tax": str(discount_tax), "meta_data": []}] if coupon else []  # fmt: skip
    return {k: str(v) for k, v in money.items()} | {
        "tax_lines": [tax_line], "shipping_lines": [ship_line],
        "coupon_lines": coupons,
    }  # fmt: skip


def make_coupons(anchor: datetime, tz: ZoneInfo, orders: list[Record]) -> list[Record]:
    """Three coupons; welcome10's usage_count counts the orders that used it."""
    used = sum(1 for o in orders if o["coupon_lines"])
    specs = (("welcome10", "10.00", "percent", used), ("livraison", "0.00", "fixed_cart", 0),
             ("summer5", "5.00", "fixed_cart", 0))  # fmt: skip
    out = []
    for i, (code, amount, kind, usage) in enumerate(specs):
        record: Record = {"id": FIRST_COUPON_ID + i, "code": code, "amount": amount}
        record["status"] = "publish"
        set_dates(record, "created", anchor - timedelta(days=70 - i * 20), tz)
        set_dates(record, "modified", anchor - timedelta(days=50 - i * 20), tz)
        extra = {"discount_type": kind, "usage_count": usage, "free_shipping": code == "livraison"}
        out.append(record | COUPON_DEFAULTS | extra)
    return out
