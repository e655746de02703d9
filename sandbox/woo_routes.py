"""The WooCommerce REST routes, dispatched in WordPress's order.

authentication -> API key read/write check -> route match (rest_no_route) -> parameter
validation (400) -> endpoint permission (401 for anonymous) -> handler (404...).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox.woo_auth import ApiKey, Authenticator, AuthInput, check_permissions
from sandbox.woo_http import NO_ROUTE, Query, WpError, error_response, parse_php_query, wp_response
from sandbox.woo_query import (
    COUPON_PARAMS,
    CUSTOMER_PARAMS,
    ITEM_PARAMS,
    ORDER_PARAMS,
    ORDER_STATUSES,
    PRODUCT_PARAMS,
    Param,
    fields_tree,
    is_email,
    paginate,
    pagination_headers,
    pick_fields,
    round_money,
    select_posts,
    select_users,
    validate,
)
from sandbox.woo_store import WooStore

Record = dict[str, Any]
# What an anonymous caller is told, per kind of endpoint.
DENIED = {
    "list": ("woocommerce_rest_cannot_view", "Sorry, you cannot list resources."),
    "view": ("woocommerce_rest_cannot_view", "Sorry, you cannot view this resource."),
    "create": ("woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources."),
    "edit": ("woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource."),
}


@dataclass(frozen=True)
class Call:
    """One REST request, parsed."""

    store: WooStore
    method: str
    namespace: str  # wc/v3 or wc/v2
    resource: str  # customers, orders, products, coupons
    rid: int | None
    query: Query
    body: Record
    site: str  # scheme://host, the store's home URL as the client reached it
    args: Record = field(default_factory=dict)  # validated query parameters

    def url(self, path: str = "") -> str:
        """Absolute URL of this namespace's resource (plus `path`)."""
        return f"{self.site}/wp-json/{self.namespace}/{self.resource}{path}"


Handler = Callable[[Call], Response]


async def dispatch(request: Request, store: WooStore, auth: Authenticator) -> Response:
    """Answer one /wp-json request the way WordPress + WooCommerce would."""
    route = "/" + request.path_params.get("rest_route", "").strip("/")
    query = parse_php_query(request.url.query)
    try:
        form, body = await _body(request)
        key = _authenticate(request, route, query, form, auth)
        call, handler, kind, params = _match(request.method, route, store, query, body, request)
        if params is not None:
            call = replace(call, args=validate(params, query))
        if key is None:
            code, message = DENIED[kind]
            raise WpError(401, code, message)
        return handler(call)
    except WpError as error:
        return error_response(error)


def _authenticate(
    request: Request, route: str, query: Query, form: Query, auth: Authenticator
) -> ApiKey | None:
    if not route.startswith("/wc/"):
        return None
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    auth_input = AuthInput(
        request.method,
        request.url.scheme,
        request.headers.get("host", ""),
        raw_path.decode("latin-1"),
        query,
        form,
        request.headers.get("authorization", ""),
    )
    key = auth.authenticate(auth_input)
    if key:
        check_permissions(key, request.method)
    return key


async def _body(request: Request) -> tuple[Query, Record]:
    """Form fields (they join OAuth's parameters, as $_POST does) and the JSON body."""
    kind = request.headers.get("content-type", "")
    if kind.startswith("application/x-www-form-urlencoded"):
        form = parse_php_query((await request.body()).decode("latin-1"))
        return form, dict(form)
    raw = await request.body()
    if not raw or "json" not in kind:
        return {}, {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise WpError(400, "rest_invalid_json", "Invalid JSON body passed.") from exc
    return {}, body if isinstance(body, dict) else {}


ROUTE_RE = re.compile(r"^/(wc/v[23])/(customers|orders|products|coupons)(?:/(\d+))?$", re.I)


def _match(
    method: str, route: str, store: WooStore, query: Query, body: Record, request: Request
) -> tuple[Call, Handler, str, list[Param] | None]:
    found = ROUTE_RE.match(route)
    if not found:
        raise WpError(404, *NO_ROUTE)
    namespace, resource, rid = found[1].lower(), found[2].lower(), found[3]
    table = ITEM_ROUTES if rid else LIST_ROUTES
    # WordPress answers HEAD with the GET handler (the server drops the body).
    entry = table.get((namespace, resource, "GET" if method == "HEAD" else method))
    if entry is None:
        raise WpError(404, *NO_ROUTE)
    handler, kind, params = entry
    site = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"
    call = Call(store, method, namespace, resource, int(rid) if rid else None, query, body, site)
    return call, handler, kind, params


def _links(call: Call, record: Record) -> Record:
    links = {"self": [{"href": call.url(f"/{record['id']}")}], "collection": [{"href": call.url()}]}
    if call.resource == "orders" and record.get("customer_id"):
        links["customer"] = [
            {"href": f"{call.site}/wp-json/{call.namespace}/customers/{record['customer_id']}"}
        ]
    return {"_links": links}


def _render(call: Call, record: Record, stats: dict[int, Any] | None) -> Record:
    if call.resource == "orders":
        return round_money(record, _dp(call))
    if stats is None:
        return record
    count, spent = stats.get(record["id"], (0, 0))
    # v1/v2 only: orders_count and total_spent sit after is_paying_customer.
    out: Record = {}
    for key, value in record.items():
        out[key] = value
        if key == "is_paying_customer":
            out |= {"orders_count": count, "total_spent": f"{spent:.2f}"}
    return out


def _dp(call: Call) -> int:
    raw = call.query.get("dp")
    if raw is None:
        return 2
    try:  # WooCommerce reads `dp` even where it isn't registered, through absint()
        return abs(int(float(raw))) if isinstance(raw, str) else 0
    except ValueError:
        return 0


def _stats(call: Call) -> dict[int, Any] | None:
    if call.resource == "customers" and call.namespace == "wc/v2":
        return call.store.customer_stats()
    return None


def list_items(call: Call) -> Response:
    """GET a collection: filter, sort, paginate, _fields, pagination headers."""
    args = call.args
    selection = {k: v for k, v in args.items() if k not in ("page", "per_page", "offset")}

    def choose(rows: list[Record]) -> list[Record]:
        if call.resource == "customers":
            return select_users(rows, args)
        return select_posts(rows, args, call.store.tz)

    rows = call.store.select(call.resource, repr(sorted(selection.items())), choose)
    page = paginate(rows, args)
    stats = _stats(call)
    # In a collection each item's _links is part of its data, so _fields can drop it.
    items = [_render(call, r, stats) | _links(call, r) for r in page.rows]
    tree = fields_tree(call.query.get("_fields"))
    if tree:
        items = [pick_fields(item, tree) for item in items]
    return wp_response(items, headers=pagination_headers(page, call.url(), call.query))


def _found(call: Call, status: int) -> Record:
    record = call.store.get(call.resource, call.rid or 0)
    if record is None:
        raise _invalid_id(call, status)
    return record


def _invalid_id(call: Call, status: int) -> WpError:
    if call.resource == "orders":
        return WpError(status, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
    return WpError(status, "woocommerce_rest_invalid_id", "Invalid resource ID.")


def _single(call: Call, record: Record, status: int = 200) -> Response:
    item = _render(call, record, _stats(call))
    tree = fields_tree(call.query.get("_fields"))
    if tree:
        item = pick_fields(item, tree)
    headers = {"Location": call.url(f"/{record['id']}")} if status == 201 else {}
    # A single item's links are added after _fields filtering, so they always appear.
    return wp_response(item | _links(call, record), status, headers)


def get_item(call: Call) -> Response:
    """GET one customer or order."""
    return _single(call, _found(call, 404))


def _check_customer_body(body: Record, creating: bool) -> None:
    if creating and not body.get("email"):
        raise WpError(
            400, "rest_missing_callback_param", "Missing parameter(s): email", params=["email"]
        )
    if "email" in body and not (isinstance(body["email"], str) and is_email(body["email"])):
        raise WpError(
            400,
            "rest_invalid_param",
            "Invalid parameter(s): email",
            params={"email": "Invalid email address."},
        )


def create_customer(call: Call) -> Response:
    """POST /customers."""
    _check_customer_body(call.body, creating=True)
    return _single(call, call.store.create_customer(call.body), 201)


def update_customer(call: Call) -> Response:
    """PUT/POST/PATCH /customers/{id}: merge fields, bump date_modified."""
    _found(call, 400)
    _check_customer_body(call.body, creating=False)
    record = call.store.update_customer(call.rid or 0, call.body)
    return _single(call, record or _found(call, 400))


def _check_status(body: Record) -> None:
    status = body.get("status")
    if status is not None and status not in ORDER_STATUSES:
        message = (
            f"status is not one of {', '.join(ORDER_STATUSES[:-1])}, and {ORDER_STATUSES[-1]}."
        )
        raise WpError(
            400, "rest_invalid_param", "Invalid parameter(s): status", params={"status": message}
        )


def create_order(call: Call) -> Response:
    """POST /orders."""
    _check_status(call.body)
    return _single(call, call.store.create_order(call.body), 201)


def update_order(call: Call) -> Response:
    """PUT/POST/PATCH /orders/{id}: merge fields, status side effects, bump date_modified."""
    _found(call, 400)
    _check_status(call.body)
    record = call.store.update_order(call.rid or 0, call.body)
    return _single(call, record or _found(call, 400))


Entry = tuple[Handler, str, list[Param] | None]
LIST_ROUTES: dict[tuple[str, str, str], Entry] = {}
ITEM_ROUTES: dict[tuple[str, str, str], Entry] = {}
for _ns in ("wc/v3", "wc/v2"):
    LIST_ROUTES[(_ns, "customers", "GET")] = (list_items, "list", CUSTOMER_PARAMS)
    ITEM_ROUTES[(_ns, "customers", "GET")] = (get_item, "view", ITEM_PARAMS)
for _resource, _params in (
    ("orders", ORDER_PARAMS),
    ("products", PRODUCT_PARAMS),
    ("coupons", COUPON_PARAMS),
):
    LIST_ROUTES[("wc/v3", _resource, "GET")] = (list_items, "list", _params)
ITEM_ROUTES[("wc/v3", "orders", "GET")] = (get_item, "view", ITEM_PARAMS)
LIST_ROUTES[("wc/v3", "customers", "POST")] = (create_customer, "create", None)
LIST_ROUTES[("wc/v3", "orders", "POST")] = (create_order, "create", None)
for _method in ("POST", "PUT", "PATCH"):
    ITEM_ROUTES[("wc/v3", "customers", _method)] = (update_customer, "edit", None)
    ITEM_ROUTES[("wc/v3", "orders", _method)] = (update_order, "edit", None)


def render_item(store: WooStore, resource: str, rid: int, site: str) -> Record | None:
    """What GET /wc/v3/{resource}/{rid} returns from `site`, or None if unknown."""
    record = store.get(resource, rid)
    if record is None:
        return None
    call = Call(store, "GET", "wc/v3", resource, rid, {}, {}, site.rstrip("/"))
    return _render(call, record, None) | _links(call, record)
