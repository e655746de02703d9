"""Paged reading of a declared source for the data plane, one page in memory at a time.

    reader = PageReader(http, plan.source, items_expr, next_expr)
    async for page in reader.pages():     # Page(number, items, total)
        ...

Requests go through `HttpTool.fetch_json`: the same NetGuard check, rate limiter,
authentication and retries as an `http_request` call. Pagination modes:

- "page": `page=1, 2, ...` until X-WP-TotalPages (re-read on every page, so a store
  that grows while we read is followed; AHEAD pages in flight at once, in order, so the
  rate limit is used to the full), else the Link header's rel="next", else an empty or
  short page.
- "cursor": the body's `next_cursor` (a JMESPath) sent back as the `cursor` parameter
  until it is null.
- "none": one request.

`params` may hold "$cursor" (the stream's committed cursor less its overlap; left out
when there is none), for APIs that filter on the server (`updated_since`).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import anyio
import httpx
from jmespath.parser import ParsedResult

from runtime.errors import AgentsError
from runtime.tools.sync_plan import SourcePlan

LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?', re.IGNORECASE)
AHEAD = 4  # pages in flight once the page count is known


class SourceError(AgentsError):
    """A page could not be read, or its body is not what the plan says."""


class JsonFetcher(Protocol):
    """What the reader needs from HttpTool."""

    async def fetch_json(
        self, source: str, path: str, params: dict[str, Any] | None = None
    ) -> tuple[int, httpx.Headers, Any]: ...


@dataclass
class Page:
    """One page of records; `total` is the source's count of all records when it says,
    `now` the source's clock when it answered (its Date header), when it says."""

    number: int
    items: list[Any]
    total: int | None
    now: datetime | None = None


class PageReader:
    """Reads the pages of one source request."""

    def __init__(
        self,
        http: JsonFetcher,
        plan: SourcePlan,
        items: ParsedResult | None,
        next_cursor: ParsedResult | None,
        params: dict[str, Any] | None = None,
    ) -> None:
        self._http, self._plan = http, plan
        self._items, self._next = items, next_cursor
        self._params = plan.params if params is None else params  # '$cursor' filled in

    async def pages(self) -> AsyncIterator[Page]:
        """Every page in order; raises SourceError when one cannot be read."""
        mode = self._plan.pagination
        if mode == "page":
            async for page in self._by_page():
                yield page
        elif mode == "cursor":
            async for page in self._by_cursor():
                yield page
        else:
            _, _, page = await self._get(self._plan.path, dict(self._params), 1)
            yield page

    async def _by_page(self) -> AsyncIterator[Page]:
        key = self._plan.page_param
        number = int(self._params.get(key, 1))
        headers, _, page = await self._get(self._plan.path, {**self._params, key: number}, 1)
        yield page
        pages = _int(headers.get("x-wp-totalpages"))
        if pages is None:
            async for more in self._by_link(headers, page, number):
                yield more
            return
        count = 1
        while number < pages:  # the count is known: several pages in flight at once
            wanted = list(range(number + 1, min(pages, number + AHEAD) + 1))
            if count + len(wanted) > self._plan.max_pages:
                raise SourceError(f"Stopped after {count} pages ('source.max_pages').")
            fetched, failure = await self._many(wanted, count)
            for headers, page in fetched:
                yield page
                pages = max(pages, _int(headers.get("x-wp-totalpages")) or 0)  # it grew
            if failure is not None:
                raise failure
            number, count = wanted[-1], count + len(wanted)

    async def _many(
        self, numbers: list[int], count: int
    ) -> tuple[list[tuple[httpx.Headers, Page]], AgentsError | None]:
        """Pages `numbers`, fetched concurrently (the rate limiter still paces them): the
        pages before the first failure, in order, and that failure."""
        key = self._plan.page_param
        out: dict[int, tuple[httpx.Headers, Page]] = {}
        failures: dict[int, AgentsError] = {}

        async def one(i: int, number: int) -> None:
            try:
                headers, _, page = await self._get(
                    self._plan.path, {**self._params, key: number}, count + i + 1
                )
            except AgentsError as exc:  # raised by the caller as it is, not in a group
                failures[i] = exc
            else:
                out[i] = (headers, page)

        async with anyio.create_task_group() as tg:
            for i, number in enumerate(numbers):
                tg.start_soon(one, i, number)
        first = min(failures, default=len(numbers))
        return [out[i] for i in range(first)], failures.get(first)

    async def _by_link(
        self, headers: httpx.Headers, page: Page, number: int
    ) -> AsyncIterator[Page]:
        """No page count: follow Link rel="next", else stop at an empty or short page."""
        per_page = _int(self._params.get("per_page"))
        for count in range(2, self._plan.max_pages + 1):
            link = _next_link(headers.get("link"))
            if link is not None:
                path, params = link, {}  # the link carries every parameter
            elif not page.items or (per_page and len(page.items) < per_page):
                return
            else:
                number += 1
                path, params = self._plan.path, {**self._params, self._plan.page_param: number}
            headers, _, page = await self._get(path, params, count)
            yield page
        raise SourceError(f"Stopped after {self._plan.max_pages} pages ('source.max_pages').")

    async def _by_cursor(self) -> AsyncIterator[Page]:
        params = dict(self._params)
        seen: set[str] = set()
        for count in range(1, self._plan.max_pages + 1):
            _, body, page = await self._get(self._plan.path, params, count)
            yield page
            token = self._next.search(body) if self._next is not None else None
            if token in (None, "", False):
                return
            if str(token) in seen:
                raise SourceError(f"The source sent the cursor '{token}' twice; stopping.")
            seen.add(str(token))
            params = {**self._params, self._plan.cursor_param: token}
        raise SourceError(f"Stopped after {self._plan.max_pages} pages ('source.max_pages').")

    async def _get(
        self, path: str, params: dict[str, Any], count: int
    ) -> tuple[httpx.Headers, Any, Page]:
        status, headers, body = await self._http.fetch_json(self._plan.source, path, params)
        if status != 200:
            raise SourceError(f"Page {count} of '{self._plan.path}': HTTP {status}: {_brief(body)}")
        total, now = _int(headers.get("x-wp-total")), _date(headers.get("date"))
        return headers, body, Page(count, self._extract(body, count), total, now)

    def _extract(self, body: Any, count: int) -> list[Any]:
        if self._items is not None:
            found = self._items.search(body)
            if isinstance(found, list):
                return found
            raise SourceError(
                f"'source.items' ('{self._plan.items}') gave {_kind(found)} on page {count}, not "
                f"a list of records. {_shape(body)}"
            )
        if isinstance(body, list):
            return body
        raise SourceError(
            f"Page {count} of '{self._plan.path}' is {_kind(body)}, not a list. {_shape(body)} "
            "Give 'source.items', a JMESPath to the records (e.g. 'data')."
        )


def _next_link(value: str | None) -> str | None:
    match = LINK_NEXT.search(value or "")
    return match.group(1) if match else None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _date(value: str | None) -> datetime | None:
    """An HTTP Date header as an aware UTC datetime; None when absent or unreadable."""
    try:
        when = parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", type(None): "nothing"}.get(
        type(value), type(value).__name__
    )


def _shape(body: Any) -> str:
    if isinstance(body, dict):
        return f"The body's keys are: {', '.join(list(body)[:12])}."
    return ""


def _brief(body: Any) -> str:
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return text[:300]
