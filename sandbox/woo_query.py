"""Collection parameters as WordPress validates them, and WooCommerce's list semantics.

Validation follows rest_validate_value_from_schema: every registered parameter is
checked in registration order, all failures are reported at once in a 400
`rest_invalid_param`. Unregistered parameters are ignored, which is why /customers
answers `?modified_after=...` with the unfiltered list.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sandbox.woo_http import Query, QueryValue, WpError, http_build_query

Record = dict[str, Any]
Args = dict[str, Any]

DATE_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:Z|[+-]\d{2}(?::\d{2})?)?$"
)
NUMERIC_RE = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$")
ROLES = (
    "all",
    "administrator",
    "editor",
    "author",
    "contributor",
    "subscriber",
    "customer",
    "shop_manager",
)
ORDER_STATUSES = (
    "pending",
    "processing",
    "on-hold",
    "completed",
    "cancelled",
    "refunded",
    "failed",
    "checkout-draft",
)


@dataclass(frozen=True)
class Param:
    """One registered query parameter and its schema."""

    name: str
    type: str  # integer | string | boolean | date-time | email | array
    default: Any = None
    minimum: int | None = None
    maximum: int | None = None
    enum: tuple[str, ...] = ()
    items: str = "string"  # item type of an array: integer | string


def _collection(order: str, orderby: str, orderbys: tuple[str, ...]) -> list[Param]:
    return [
        Param("context", "string", "view", enum=("view", "edit")),
        Param("page", "integer", 1, minimum=1),
        Param("per_page", "integer", 10, minimum=1, maximum=100),
        Param("search", "string"),
        Param("exclude", "array", [], items="integer"),
        Param("include", "array", [], items="integer"),
        Param("offset", "integer"),
        Param("order", "string", order, enum=("asc", "desc")),
        Param("orderby", "string", orderby, enum=orderbys),
    ]


def _dated(params: list[Param]) -> list[Param]:
    dates = [
        Param(n, "date-time") for n in ("after", "before", "modified_after", "modified_before")
    ]
    return [*params[:4], *dates, Param("dates_are_gmt", "boolean", False), *params[4:]]


POST_ORDERBY = ("date", "id", "include", "title", "slug", "modified")
CUSTOMER_PARAMS = [
    *_collection("asc", "name", ("id", "include", "name", "registered_date")),
    Param("email", "email"),
    Param("role", "string", "customer", enum=ROLES),
]
ORDER_PARAMS = [
    *_dated(_collection("desc", "date", POST_ORDERBY)),
    Param("parent", "array", [], items="integer"),
    Param("parent_exclude", "array", [], items="integer"),
    Param("status", "array", ["any"], enum=("any", "trash", *ORDER_STATUSES)),
    Param("customer", "integer"),
    Param("product", "integer"),
    Param("dp", "integer", 2),
]
PRODUCT_PARAMS = [*_dated(_collection("desc", "date", POST_ORDERBY)), Param("sku", "string")]
COUPON_PARAMS = [*_dated(_collection("desc", "date", POST_ORDERBY)), Param("code", "string")]
ITEM_PARAMS = [Param("context", "string", "view", enum=("view", "edit"))]


def wp_list(items: Sequence[str]) -> str:
    """wp_sprintf_l: 'a', 'a and b', 'a, b, and c'."""
    if len(items) < 3:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


def is_email(value: str) -> bool:
    """WordPress's is_email, without DNS."""
    if len(value) < 6 or "@" not in value[1:]:
        return False
    local, _, domain = value.rpartition("@")
    if not re.fullmatch(r"[a-zA-Z0-9!#$%&'*+/=?^_`{|}~.-]+", local) or ".." in domain:
        return False
    subs = domain.strip(" \t\n\r\0\x0b.").split(".")
    ok = [
        re.fullmatch(r"[a-z0-9-]+", s, re.I) and not s.startswith("-") and not s.endswith("-")
        for s in subs
    ]
    return len(subs) >= 2 and all(ok)


def _integer(name: str, raw: QueryValue) -> tuple[Any, str | None]:
    if not isinstance(raw, str) or not NUMERIC_RE.match(raw) or float(raw) != round(float(raw)):
        return None, f"{name} is not of type integer."
    return int(float(raw)), None


def _scalar(param: Param, name: str, raw: QueryValue) -> tuple[Any, str | None]:
    kind = param.items if param.type == "array" else param.type
    if kind == "integer":
        value, error = _integer(name, raw)
        if error or param.type == "array":
            return value, error
        low, high = param.minimum, param.maximum
        if low is not None and high is not None and not low <= value <= high:
            return None, f"{name} must be between {low} (inclusive) and {high} (inclusive)"
        if low is not None and value < low:
            return None, f"{name} must be greater than or equal to {low}"
        return value, None
    if not isinstance(raw, str):
        return None, f"{name} is not of type {'boolean' if kind == 'boolean' else 'string'}."
    if kind == "boolean":
        if raw.lower() not in ("true", "false", "1", "0"):
            return None, f"{name} is not of type boolean."
        return raw.lower() in ("true", "1"), None
    if param.enum and raw not in param.enum:
        return None, f"{name} is not one of {wp_list(param.enum)}."
    if kind == "date-time" and not _parses(raw):
        return None, "Invalid date."
    if kind == "email" and not is_email(raw):
        return None, "Invalid email address."
    return raw, None


def _parses(raw: str) -> bool:
    """rest_parse_date: the RFC 3339 shape, and a real calendar date."""
    try:
        return DATE_RE.match(raw) is not None and bool(date_bound(raw, True, ZoneInfo("UTC")))
    except ValueError:
        return False


def _check(param: Param, raw: QueryValue) -> tuple[Any, str | None]:
    if param.type != "array":
        return _scalar(param, param.name, raw)
    items = raw if isinstance(raw, list) else [p for p in re.split(r"[\s,]+", raw) if p]
    values = []
    for i, item in enumerate(items):
        value, error = _scalar(param, f"{param.name}[{i}]", item)
        if error:
            return None, error
        values.append(value)
    return values, None


def validate(params: list[Param], query: Query) -> Args:
    """Checked, sanitised arguments with defaults; raises the 400 rest_invalid_param."""
    args: Args = {}
    errors: dict[str, str] = {}
    for param in params:
        if param.name not in query:
            args[param.name] = param.default
            continue
        value, error = _check(param, query[param.name])
        if error:
            errors[param.name] = error
        args[param.name] = value
    if errors:
        message = f"Invalid parameter(s): {', '.join(errors)}"
        raise WpError(400, "rest_invalid_param", message, params=errors)
    for name in ("offset", "include", "exclude", "parent", "parent_exclude"):
        value = args.get(name)  # sanitize_callback absint / wp_parse_id_list
        args[name] = [abs(v) for v in value] if isinstance(value, list) else value
        args[name] = abs(value) if isinstance(value, int) else args[name]
    return args


def display_name(user: Record) -> str:
    """The display_name WordPress sorts users by: 'First Last', else the username."""
    name = f"{user['first_name']} {user['last_name']}".strip()
    return name or user["username"]


def _user_matches(user: Record, term: str) -> bool:
    """WP_User_Query's `*term*` search with its column choice."""
    needle = term.strip("*").casefold()
    if "@" in term:
        return needle in user["email"].casefold()
    if needle.isdigit() and str(user["id"]) == needle:
        return True
    columns = (user["username"], user["email"], display_name(user))
    return any(needle in c.casefold() for c in columns)


def select_users(users: list[Record], args: Args) -> list[Record]:
    """Filter and sort users as GET /customers does."""
    rows = users if args["role"] == "all" else [u for u in users if u["role"] == args["role"]]
    rows = _include_exclude(rows, args)
    if args["email"]:  # email replaces search: both set WP_User_Query's `search`
        rows = [u for u in rows if u["email"].casefold() == args["email"].casefold()]
    elif args["search"]:
        rows = [u for u in rows if _user_matches(u, args["search"])]
    keys: dict[str, Callable[[Record], Any]] = {
        "id": lambda u: 0,
        "name": lambda u: display_name(u).casefold(),
        "registered_date": lambda u: u["date_created_gmt"],
        "include": _position(args["include"]),
    }
    return _sorted(rows, keys[args["orderby"]], args["order"])


def _position(include: list[int]) -> Callable[[Record], Any]:
    where = {rid: i for i, rid in enumerate(include)}
    return lambda r: where.get(r["id"], len(where))


def _sorted(rows: list[Record], key: Callable[[Record], Any], order: str) -> list[Record]:
    # Ties broken by id in the same direction, so pages never shuffle.
    return sorted(rows, key=lambda r: (key(r), r["id"]), reverse=order == "desc")


def _include_exclude(rows: list[Record], args: Args) -> list[Record]:
    if args["include"]:
        wanted = set(args["include"])
        rows = [r for r in rows if r["id"] in wanted]
    if args["exclude"]:
        unwanted = set(args["exclude"])
        rows = [r for r in rows if r["id"] not in unwanted]
    return rows


def date_bound(value: str, gmt: bool, tz: ZoneInfo) -> str:
    """A bound as the wall time it is compared with: GMT, or the site's local time.

    Naive values are read in that frame; values with an offset are converted to it.
    Fractions are dropped, as WP_Date_Query does.
    """
    parsed = datetime.fromisoformat(value[:10] + "T" + value[11:])
    if parsed.tzinfo:
        parsed = parsed.astimezone(UTC if gmt else tz)
    return parsed.strftime("%Y-%m-%dT%H:%M:%S")


def _date_filter(rows: list[Record], args: Args, tz: ZoneInfo) -> list[Record]:
    gmt = args["dates_are_gmt"]
    bounds = (
        ("after", "created", ">"),
        ("before", "created", "<"),
        ("modified_after", "modified", ">"),
        ("modified_before", "modified", "<"),
    )
    for name, column, op in bounds:
        if args[name] is None:
            continue
        bound = date_bound(args[name], gmt, tz)
        field = f"date_{column}_gmt" if gmt else f"date_{column}"
        # Exclusive, as WP_Date_Query with inclusive=false.
        if op == ">":
            rows = [r for r in rows if r[field] is not None and r[field] > bound]
        else:
            rows = [r for r in rows if r[field] is not None and r[field] < bound]
    return rows


def _order_matches(order: Record, term: str) -> bool:
    needle = term.casefold()
    if needle.isdigit() and str(order["id"]) == needle:
        return True
    texts = [*order["billing"].values(), *order["shipping"].values()]
    texts += [item["name"] for item in order["line_items"]]
    return any(isinstance(t, str) and needle in t.casefold() for t in texts)


def select_posts(rows: list[Record], args: Args, tz: ZoneInfo) -> list[Record]:
    """Filter and sort orders, products or coupons as their GET collection does."""
    rows = _date_filter(_include_exclude(rows, args), args, tz)
    statuses = args.get("status")
    if statuses and "any" not in statuses:
        rows = [r for r in rows if r["status"] in statuses]
    if args.get("parent"):
        rows = [r for r in rows if r["parent_id"] in args["parent"]]
    if args.get("parent_exclude"):
        rows = [r for r in rows if r["parent_id"] not in args["parent_exclude"]]
    if args.get("customer") is not None:  # customer=0 selects guest orders
        rows = [r for r in rows if r["customer_id"] == args["customer"]]
    if args.get("product") is not None:
        rows = [r for r in rows if any(i["product_id"] == args["product"] for i in r["line_items"])]
    for name in ("sku", "code"):
        if args.get(name):
            rows = [r for r in rows if r[name].casefold() == args[name].casefold()]
    if args["search"]:
        rows = [r for r in rows if _post_matches(r, args["search"])]
    return _sorted(rows, _post_key(args), args["order"])


def _post_matches(row: Record, term: str) -> bool:
    if "line_items" in row:
        return _order_matches(row, term)
    text = row.get("name") or row.get("code") or ""
    return term.casefold() in text.casefold()


def _post_key(args: Args) -> Callable[[Record], Any]:
    if args["orderby"] == "id":
        return lambda r: 0
    if args["orderby"] == "include":
        return _position(args["include"])
    if args["orderby"] == "modified":
        return lambda r: r["date_modified"]
    # title and slug embed the creation date for orders: sort them like date.
    return lambda r: r["date_created"]


@dataclass(frozen=True)
class Page:
    """One page of a collection and the totals for its headers."""

    rows: list[Record]
    total: int
    pages: int
    page: int


def paginate(rows: list[Record], args: Args) -> Page:
    """Slice by offset (when given) or page; totals count every match."""
    per_page, page = args["per_page"], args["page"]
    start = args["offset"] if args["offset"] is not None else (page - 1) * per_page
    total = len(rows)
    return Page(rows[start : start + per_page], total, math.ceil(total / per_page), page)


def pagination_headers(page: Page, base_url: str, query: Query) -> dict[str, str]:
    """X-WP-Total, X-WP-TotalPages and a Link with rel prev/next keeping every parameter."""
    headers = {"X-WP-Total": str(page.total), "X-WP-TotalPages": str(page.pages)}
    links = []
    if page.page > 1:
        prev = min(page.page - 1, page.pages)
        links.append(f'<{base_url}?{http_build_query(query | {"page": str(prev)})}>; rel="prev"')
    if page.pages > page.page:
        after = http_build_query(query | {"page": str(page.page + 1)})
        links.append(f'<{base_url}?{after}>; rel="next"')
    if links:
        headers["Link"] = ", ".join(links)
    return headers


def fields_tree(raw: QueryValue | None) -> dict[str, Any] | None:
    """rest_filter_response_fields' nested field map from `_fields` (None: keep all)."""
    if raw is None:
        return None
    names = raw if isinstance(raw, list) else re.split(r"[\s,]+", raw)
    tree: dict[str, Any] = {}
    for name in (n.strip() for n in names if n.strip()):
        *parents, last = name.split(".")
        node = tree
        for part in parents:
            if node.get(part) is True:
                break  # the parent is already wanted whole
            node = node.setdefault(part, {})
        else:
            node[last] = True
    return tree or None


def pick_fields(record: Record, tree: dict[str, Any]) -> Record:
    """_rest_array_intersect_key_recursive: keep only the wanted (nested) keys."""
    out: Record = {}
    for key, value in record.items():
        want = tree.get(key)
        if want is None:
            continue
        if isinstance(want, dict) and isinstance(value, dict):
            out[key] = pick_fields(value, want)
        elif isinstance(want, dict) and isinstance(value, list):
            out[key] = []  # a list's keys are indexes, never named sub-fields
        else:
            out[key] = value
    return out


MONEY_FIELDS = (
    "discount_total",
    "discount_tax",
    "shipping_total",
    "shipping_tax",
    "cart_tax",
    "total",
    "total_tax",
)


def round_money(order: Record, dp: int) -> Record:
    """Apply the `dp` parameter to an order's money strings (wc_format_decimal)."""
    if dp == 2:
        return order

    def fmt(value: str) -> str:
        places = max(dp, 0)
        quantum = Decimal(1).scaleb(-places)
        return f"{Decimal(value).quantize(quantum, ROUND_HALF_UP):.{places}f}"

    out = order | {k: fmt(order[k]) for k in MONEY_FIELDS}
    item_keys = ("subtotal", "subtotal_tax", "total", "total_tax")
    out["line_items"] = [i | {k: fmt(i[k]) for k in item_keys} for i in order["line_items"]]
    return out
