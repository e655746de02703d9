"""WordPress REST wire details: error bodies, PHP's JSON encoding, PHP's query parsing."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus

from starlette.responses import Response

QueryValue = str | list[str]
Query = dict[str, QueryValue]

JSON_TYPE = "application/json; charset=UTF-8"
# What every WordPress REST response carries besides the body.
BASE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Access-Control-Expose-Headers": "X-WP-Total, X-WP-TotalPages, Link",
    "Access-Control-Allow-Headers": "Authorization, X-WP-Nonce, Content-Disposition, "
    "Content-MD5, Content-Type",
}
NO_ROUTE = ("rest_no_route", "No route was found matching the URL and request method.")


class WpError(Exception):
    """A WP_Error: serialised as {"code", "message", "data": {"status", ...}}."""

    def __init__(self, status: int, code: str, message: str, **data: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.data = status, code, message, data

    def body(self) -> dict[str, Any]:
        """The JSON body WordPress sends for this error."""
        return {
            "code": self.code,
            "message": self.message,
            "data": {"status": self.status, **self.data},
        }


def php_json(value: Any) -> bytes:
    """Encode like PHP's json_encode defaults: ASCII only, "/" escaped, compact."""
    # "/" only occurs inside strings in JSON text, so escaping it everywhere is safe.
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/").encode()


def wp_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A REST response with WordPress's content type and standard headers."""
    all_headers = BASE_HEADERS | (headers or {})
    return Response(php_json(value), status, headers=all_headers, media_type=JSON_TYPE)


def error_response(error: WpError) -> Response:
    """The response for a WP_Error."""
    return wp_response(error.body(), error.status)


def parse_php_query(raw: str) -> Query:
    """Parse a query string as PHP fills $_GET: last duplicate wins, `k[]=` builds lists."""
    out: Query = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        base, bracket, rest = key.partition("[")
        if bracket and rest.endswith("]") and (rest[:-1] == "" or rest[:-1].isdigit()):
            current = out.get(base)
            out[base] = [*current, value] if isinstance(current, list) else [value]
        else:
            out[key] = value  # dict assignment keeps the first position, as PHP arrays do
    return out


def rawurlencode(value: str) -> str:
    """PHP's rawurlencode (RFC 3986: only A-Z a-z 0-9 - _ . ~ stay as they are)."""
    return quote(value, safe="~")


def php_urlencode(value: str) -> str:
    """PHP's urlencode: like quote_plus, but "~" is encoded too."""
    return quote_plus(value, safe="").replace("~", "%7E")


def http_build_query(query: Query) -> str:
    """PHP's http_build_query: lists become key[0]=a&key[1]=b (brackets encoded)."""
    parts = []
    for key, value in query.items():
        if isinstance(value, list):
            for i, item in enumerate(value):
                parts.append(f"{php_urlencode(f'{key}[{i}]')}={php_urlencode(item)}")
        else:
            parts.append(f"{php_urlencode(key)}={php_urlencode(value)}")
    return "&".join(parts)
