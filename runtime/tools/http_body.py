"""Response bodies for `http_request`: read with a cap, decoded, cut to fit, headers picked.

    content, capped = await read_capped(response, limit)     stop reading at `limit` bytes
    body, truncated, note = render_body(response, method, budget, capped)
    select_headers(response.headers)                         pagination, rate limits, ...

Pure but for `read_capped`, which reads a streamed response.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

SHOWN_HEADERS = frozenset(
    {"x-wp-total", "x-wp-totalpages", "link", "retry-after", "content-type", "location"}
)
RATE_HEADER_PREFIXES = ("ratelimit-", "x-ratelimit-", "x-rate-limit-", "x-sib-ratelimit-")
BINARY_KINDS = frozenset({"image", "audio", "video", "font"})
BINARY_TYPES = frozenset({"application/octet-stream", "application/pdf", "application/zip"})
NARROW = (
    "Narrow the request: '_fields' to return only the fields you need "
    "(e.g. _fields=id,email,date_modified_gmt) and a smaller 'per_page', then page through."
)


async def read_capped(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """The decoded body, cut after `limit` bytes; True when it was cut."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit], True
    return b"".join(chunks), False


def render_body(
    response: httpx.Response, method: str, budget: int, capped: bool = False
) -> tuple[Any, bool, str | None]:
    """(body, truncated, note): parsed JSON or text, cut to about `budget` characters."""
    if method == "HEAD" or not response.content:
        return "", capped, None
    body = decode_body(response)
    if isinstance(body, str):
        if len(body) <= budget and not capped:
            return body, False, None
        return body[:budget], True, f"Body cut to {min(len(body), budget)} characters. {NARROW}"
    if len(_dumps(body)) <= budget:
        return body, False, None
    cut = _fit(body, budget)
    if isinstance(body, list):
        note = f"Body cut to the first {len(cut)} of {len(body)} items ({budget} characters max)."
    else:
        note = f"Body cut to {budget} characters."
    return cut, True, f"{note} {NARROW}"


def decode_body(response: httpx.Response) -> Any:
    """Parsed JSON when the body is JSON, else text; binary bodies are only described."""
    ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
    content = response.content
    if ctype.split("/")[0] in BINARY_KINDS or ctype in BINARY_TYPES or b"\x00" in content[:2048]:
        return f"<binary body: {len(content)} bytes, content-type '{ctype or 'none'}'>"
    text = response.text  # undecodable bytes become U+FFFD
    if ctype.endswith("json") or text.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(text, parse_constant=str)  # NaN/Infinity stay strings
        except (ValueError, RecursionError):
            pass
    return text


def _fit(value: Any, budget: int) -> Any:
    """A prefix of `value` whose JSON fits about `budget` (lists by item, dicts by key)."""
    if isinstance(value, list):
        out: list[Any] = []
        used = 2
        for item in value:
            size = len(_dumps(item)) + 1
            if used + size > budget:
                if not out and budget - used > 200:  # one huge item: show part of it
                    out.append(_fit(item, budget - used))
                break
            out.append(item)
            used += size
        return out
    if isinstance(value, dict):
        kept: dict[str, Any] = {}
        used = 2
        for key, item in value.items():
            room = budget - used - len(_dumps(key)) - 2
            if len(_dumps(item)) > room and room > 200:
                item = _fit(item, room)  # cut this value down; smaller keys may follow
            if len(_dumps(item)) <= room:
                kept[key] = item
                used += len(_dumps(key)) + len(_dumps(item)) + 2
        return kept
    if isinstance(value, str):
        return value[: max(budget - 2, 0)]
    return value if len(_dumps(value)) <= budget else None


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def select_headers(headers: httpx.Headers) -> dict[str, str]:
    """The headers worth showing the model: pagination, rate limits, type, redirects."""
    out: dict[str, str] = {}
    for name, value in headers.multi_items():
        if name in SHOWN_HEADERS or name.startswith(RATE_HEADER_PREFIXES):
            out[name] = f"{out[name]}, {value}" if name in out else value
    return out
