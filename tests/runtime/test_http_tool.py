"""The http_request tool end to end, against a small Starlette app on real loopback HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from runtime.agentfile import AuthSpec, RateLimit
from runtime.clock import FrozenClock
from runtime.config import ResolvedSource
from runtime.tools import ToolResult
from runtime.tools.http import HttpTool
from sandbox.server import ServedApp
from tests.runtime.test_ratelimit import max_in_any_window

KEY, SECRET = "ck_4f1a2b3c4d5e6f7a8b9c0d1e", "cs_9f8e7d6c5b4a3f2e1d0c9b8a"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
BASE = "/wp-json/wc/v3"
UNRESERVED = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def php_rawurlencode(text: str) -> str:
    return "".join(chr(b) if b in UNRESERVED else f"%{b:02X}" for b in text.encode())


class Shop:
    """What the test server saw; it runs in uvicorn's thread, so guarded by a lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: list[dict[str, Any]] = []
        self.hits: Counter[str] = Counter()
        self.nonces: set[str] = set()

    def record(self, request: Request, body: bytes) -> int:
        with self.lock:
            self.seen.append(
                {
                    "method": request.method,
                    "path": request.url.path,
                    "query": list(request.query_params.multi_items()),
                    "headers": dict(request.headers),
                    "body": body.decode(errors="replace"),
                }
            )
            self.hits[request.url.path] += 1
            return self.hits[request.url.path]


def oauth_problem(request: Request, shop: Shop) -> str | None:
    """WooCommerce's OAuth 1.0a check (class-wc-rest-authentication.php), independently."""
    params = dict(request.query_params)  # the last value of a repeated key wins, as in PHP
    sent = params.pop("oauth_signature", None)
    if sent is None or params.get("oauth_consumer_key") != KEY:
        return "missing or unknown consumer key"
    if abs(int(params["oauth_timestamp"]) - NOW.timestamp()) > 900:
        return "stale timestamp"
    with shop.lock:
        if params["oauth_nonce"] in shop.nonces:
            return "nonce reused"
        shop.nonces.add(params["oauth_nonce"])
    normalized = {php_rawurlencode(k): php_rawurlencode(v) for k, v in sorted(params.items())}
    query = "%26".join(php_rawurlencode(f"{k}={v}") for k, v in normalized.items())
    raw_path = request.scope["raw_path"].decode()
    base_uri = php_rawurlencode(f"http://{request.headers['host']}{raw_path}")
    to_sign = f"{request.method}&{base_uri}&{query}"
    algo = {"HMAC-SHA256": hashlib.sha256, "HMAC-SHA1": hashlib.sha1}[
        params["oauth_signature_method"]
    ]
    expected = base64.b64encode(hmac.new(f"{SECRET}&".encode(), to_sign.encode(), algo).digest())
    return None if hmac.compare_digest(expected.decode(), sent) else "bad signature"


def make_app(shop: Shop) -> Starlette:
    async def echo(request: Request) -> Response:
        shop.record(request, await request.body())
        data = shop.seen[-1]
        if "oauth_signature" in request.query_params and (problem := oauth_problem(request, shop)):
            return JSONResponse(
                {"code": "woocommerce_rest_authentication_error", "message": problem}, 401
            )
        return JSONResponse(data, headers={"X-WP-Total": "1", "X-Debug": "hidden"})

    async def customers(request: Request) -> Response:
        shop.record(request, b"")
        # Real WooCommerce copies every query parameter, credentials too, into Link.
        link = f'<{request.url.include_query_params(page=2)}>; rel="next"'
        items = [{"id": i, "email": f"c{i}@example.com"} for i in range(3)]
        headers = {"Link": link, "X-WP-Total": "30", "X-WP-TotalPages": "10"}
        return JSONResponse(items, headers=headers)

    async def flaky(request: Request) -> Response:
        n = shop.record(request, b"")
        return JSONResponse({"n": n}, 500 if n == 1 else 200)

    async def limited(request: Request) -> Response:
        n = shop.record(request, b"")
        if n == 1:
            return JSONResponse({"code": "too_many"}, 429, headers={"Retry-After": "7"})
        return JSONResponse({"n": n})

    async def missing(request: Request) -> Response:
        shop.record(request, b"")
        return JSONResponse(
            {"code": "woocommerce_rest_invalid_id", "message": "Invalid resource ID."}, 404
        )

    async def big(request: Request) -> Response:
        shop.record(request, b"")
        return JSONResponse([{"id": i, "note": "x" * 150} for i in range(300)])

    async def fixed(request: Request) -> Response:
        shop.record(request, b"")
        kind = request.path_params["kind"]
        if kind == "text":
            return PlainTextResponse("line\n" * 5000)
        if kind == "binary":
            return Response(
                b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)), media_type="image/png"
            )
        if kind == "latin1":
            return Response(
                "caf\xe9 cr\xe8me".encode("latin-1"), media_type="text/plain; charset=utf-8"
            )
        if kind == "leak":  # a debug page echoing the request back, credentials and all
            echoed = f"{request.url} {request.headers.get('authorization')}"
            return PlainTextResponse(f"Fatal error while handling {echoed}", 500)
        return JSONResponse({"outer": {"rows": ["y" * 100] * 200, "total": 200}, "ok": True})

    async def redirect(request: Request) -> Response:
        shop.record(request, b"")
        to = {
            "in": f"{BASE}/echo?from=redirect&consumer_key={KEY}",
            "off": "http://evil.example/steal",
            "loop": f"{BASE}/redirect/loop",
        }[request.path_params["where"]]
        return RedirectResponse(to, 302)

    routes = [
        Route(f"{BASE}/echo", echo, methods=["GET", "HEAD", "POST", "PUT", "DELETE"]),
        Route(f"{BASE}/customers", customers),
        Route(f"{BASE}/flaky", flaky),
        Route(f"{BASE}/limited", limited),
        Route(f"{BASE}/missing", missing),
        Route(f"{BASE}/big", big),
        Route(f"{BASE}/fixed/{{kind}}", fixed),
        Route(f"{BASE}/redirect/{{where}}", redirect),
    ]
    return Starlette(routes=routes)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, Shop]]:
    shop = Shop()
    with ServedApp(make_app(shop)) as server:
        yield server.url, shop


@pytest.fixture
def server(served: tuple[str, Shop]) -> Iterator[tuple[str, Shop]]:
    url, shop = served
    with shop.lock:
        shop.seen.clear()
        shop.hits.clear()
        shop.nonces.clear()
    yield url, shop


def woo(url: str, auth: AuthSpec | None = None, **kw: Any) -> dict[str, ResolvedSource]:
    src = ResolvedSource(
        "woocommerce", url + BASE, auth or AuthSpec(type="oauth1", key=KEY, secret=SECRET),
        kw.get("rate_limit"), kw.get("write", False), kw.get("allow_private", False), 5.0,
    )  # fmt: skip
    return {"woocommerce": src}


def tool(sources: dict[str, ResolvedSource], **kw: Any) -> HttpTool:
    nonces = (f"nonce{n}" for n in itertools.count())
    kw.setdefault("clock", FrozenClock(NOW))
    return HttpTool(sources, nonce_factory=lambda: next(nonces), **kw)


def body(result: ToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    return json.loads(result.content)


@pytest.mark.anyio
@pytest.mark.parametrize("algorithm", ["HMAC-SHA256", "HMAC-SHA1"])
async def test_oauth1_is_accepted_by_a_woocommerce_style_check(server, algorithm: str) -> None:
    url, shop = server
    auth = AuthSpec(type="oauth1", key=KEY, secret=SECRET, signature_method=algorithm)
    async with tool(woo(url, auth)) as t:
        for search in ["a/b c+d", "plain"]:  # "/" must be encoded as PHP does
            out = body(await t.call({"method": "GET", "url": "echo", "params": {"search": search}}))
            assert out["status"] == 200, out
    assert len(shop.nonces) == 2  # a fresh nonce each request


@pytest.mark.anyio
async def test_the_test_server_does_reject_a_wrong_oauth_secret(server) -> None:
    url, _ = server
    async with tool(woo(url, AuthSpec(type="oauth1", key=KEY, secret="cs_wrong_secret"))) as t:
        out = body(await t.call({"method": "GET", "url": "echo"}))
    assert out["status"] == 401 and out["body"]["message"] == "bad signature"


@pytest.mark.anyio
async def test_basic_query_bearer_and_header_auth_reach_the_server(server) -> None:
    url, shop = server
    cases = [
        (AuthSpec(type="basic", key=KEY, secret=SECRET), "authorization",
         "Basic " + base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()),
        (AuthSpec(type="bearer", token="tok_abcdef123456"), "authorization", "Bearer tok_abcdef123456"),
        (AuthSpec(type="header", name="X-Api-Key", value="hv_abcdef123456"), "x-api-key", "hv_abcdef123456"),
    ]  # fmt: skip
    for auth, header, expected in cases:
        async with tool(woo(url, auth)) as t:
            assert body(await t.call({"method": "GET", "url": "echo"}))["status"] == 200
        assert shop.seen[-1]["headers"][header] == expected
    async with tool(woo(url, AuthSpec(type="query", key=KEY, secret=SECRET))) as t:
        await t.call({"method": "GET", "url": "echo", "params": {"page": 2}})
    assert shop.seen[-1]["query"] == [
        ("page", "2"),
        ("consumer_key", KEY),
        ("consumer_secret", SECRET),
    ]


@pytest.mark.anyio
async def test_model_supplied_credentials_are_dropped(server) -> None:
    url, shop = server
    args = {
        "method": "GET",
        "url": "echo?consumer_secret=guess",
        "params": {"consumer_key": "ck_guess", "oauth_signature": "x", "per_page": 5},
        "headers": {"Authorization": "Basic Z3Vlc3M=", "X-Trace": "1", "Host": "evil.example"},
    }
    async with tool(woo(url, AuthSpec(type="bearer", token="tok_abcdef123456"))) as t:
        out = body(await t.call(args))
    seen = shop.seen[-1]
    assert seen["query"] == [("per_page", "5")]
    assert seen["headers"]["authorization"] == "Bearer tok_abcdef123456"
    assert seen["headers"]["x-trace"] == "1" and seen["headers"]["host"] != "evil.example"
    assert "Dropped 'consumer_secret', 'consumer_key', 'oauth_signature'" in out["note"]
    assert "'Authorization'" in out["note"] and "'Host'" in out["note"]


@pytest.mark.anyio
async def test_url_forms(server) -> None:
    url, shop = server
    async with tool(woo(url)) as t:
        for form in ["echo", "/echo", "woocommerce:echo", f"{BASE}/echo", f"{url}{BASE}/echo?x=1"]:
            result = await t.call({"method": "GET", "url": form})
            assert body(result)["status"] == 200
            assert result.meta["url"].startswith(f"{url}{BASE}/echo")
    assert len(shop.seen) == 5


@pytest.mark.anyio
async def test_result_shape_and_meta(server) -> None:
    url, _ = server
    async with tool(woo(url)) as t:
        result = await t.call({"method": "GET", "url": "customers", "params": {"per_page": 3}})
    out = body(result)
    assert list(out) == ["status", "headers", "body", "truncated"]
    assert out["headers"]["x-wp-total"] == "30" and out["headers"]["x-wp-totalpages"] == "10"
    assert out["headers"]["content-type"] == "application/json"
    assert out["body"][0] == {"id": 0, "email": "c0@example.com"} and out["truncated"] is False
    assert result.content == json.dumps(out, separators=(",", ":"))  # compact
    assert result.meta == {
        "method": "GET", "url": f"{url}{BASE}/customers?per_page=3", "status": 200,
        "attempts": 1, "duration_s": 0.0, "source": "woocommerce",
    }  # fmt: skip


@pytest.mark.anyio
async def test_link_header_loses_credentials_and_oauth_params(server) -> None:
    url, _ = server
    for auth in [
        AuthSpec(type="oauth1", key=KEY, secret=SECRET),
        AuthSpec(type="query", key=KEY, secret=SECRET),
    ]:
        async with tool(woo(url, auth)) as t:
            out = body(
                await t.call({"method": "GET", "url": "customers", "params": {"per_page": 3}})
            )
        assert out["headers"]["link"] == f'<{url}{BASE}/customers?per_page=3&page=2>; rel="next"'


@pytest.mark.anyio
async def test_writes_are_refused_on_a_read_only_source(server) -> None:
    url, shop = server
    async with tool(woo(url)) as t:
        for method in ["POST", "PUT", "PATCH", "DELETE"]:
            result = await t.call({"method": method, "url": "echo", "json": {"email": "a@b.c"}})
            assert result.is_error
            assert result.content.startswith(f"Source 'woocommerce' is read-only: {method}")
    assert shop.seen == []


@pytest.mark.anyio
async def test_writes_go_through_on_a_writable_source(server) -> None:
    url, shop = server
    async with tool(woo(url, write=True)) as t:
        assert t.destructive
        out = body(await t.call({"method": "POST", "url": "echo", "json": {"email": "a@b.c"}}))
    assert out["status"] == 200  # the OAuth signature checked out for a POST too
    assert shop.seen[-1]["method"] == "POST" and json.loads(shop.seen[-1]["body"]) == {
        "email": "a@b.c"
    }


@pytest.mark.anyio
async def test_500_then_200_is_two_attempts_and_404_one(server) -> None:
    url, _ = server
    async with tool(woo(url)) as t:
        flaky = await t.call({"method": "GET", "url": "flaky"})
        missing = await t.call({"method": "GET", "url": "missing"})
    assert body(flaky)["status"] == 200 and flaky.meta["attempts"] == 2
    assert body(missing)["status"] == 404 and missing.meta["attempts"] == 1
    assert body(missing)["body"]["code"] == "woocommerce_rest_invalid_id"


@pytest.mark.anyio
async def test_429_waits_for_retry_after_on_the_fake_clock(server) -> None:
    url, _ = server
    clock = FrozenClock(NOW)
    async with tool(woo(url, rate_limit=RateLimit(requests=25, per_seconds=10)), clock=clock) as t:
        result = await t.call({"method": "GET", "url": "limited"})
    assert body(result)["status"] == 200
    assert result.meta["attempts"] == 2 and result.meta["duration_s"] == 7.0


@pytest.mark.anyio
async def test_rate_limit_is_never_exceeded_under_concurrency(server) -> None:
    url, shop = server
    clock = FrozenClock(NOW)
    sent: list[float] = []

    class Recording(httpx.AsyncHTTPTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            sent.append(clock.monotonic())  # as it leaves for the server, by the fake clock
            return await super().handle_async_request(request)

    limit = RateLimit(requests=10, per_seconds=1)
    statuses: list[int] = []

    async def one(t: HttpTool) -> None:
        statuses.append(body(await t.call({"method": "GET", "url": "echo"}))["status"])

    t = tool(woo(url, rate_limit=limit), clock=clock, transport=Recording())
    async with t, anyio.create_task_group() as tg:
        for _ in range(60):
            tg.start_soon(one, t)
    assert statuses == [200] * 60 and len(sent) == 60 and shop.hits[f"{BASE}/echo"] == 60
    assert max_in_any_window(sent, 1.0) == 10
    # The first ten leave at once (no needless serialising). Throughput is measured with
    # the real clock in benchmarks/b1_source_throughput.py: here answers arrive in real time
    # while the fake clock jumps, so fake-time throughput means nothing.
    assert sorted(sent)[9] == 0.0


@pytest.mark.anyio
async def test_large_json_is_cut_to_a_valid_prefix(server) -> None:
    url, _ = server
    async with tool(woo(url), max_body_chars=5000) as t:
        listed = body(await t.call({"method": "GET", "url": "big"}))
        nested = body(await t.call({"method": "GET", "url": "fixed/nested"}))
    assert listed["truncated"] is True
    assert 20 < len(listed["body"]) < 40 and listed["body"][0]["id"] == 0
    assert len(json.dumps(listed["body"], separators=(",", ":"))) <= 5000
    assert (
        "of 300 items" in listed["note"]
        and "_fields" in listed["note"]
        and "per_page" in listed["note"]
    )
    assert nested["truncated"] is True and nested["body"]["ok"] is True
    assert 0 < len(nested["body"]["outer"]["rows"]) < 200


@pytest.mark.anyio
async def test_text_binary_and_bad_utf8_bodies(server) -> None:
    url, _ = server
    async with tool(woo(url), max_body_chars=1000) as t:
        text = body(await t.call({"method": "GET", "url": "fixed/text"}))
        binary = body(await t.call({"method": "GET", "url": "fixed/binary"}))
        latin = body(await t.call({"method": "GET", "url": "fixed/latin1"}))
        head = body(await t.call({"method": "HEAD", "url": "echo"}))
    assert text["truncated"] is True and len(text["body"]) == 1000 and "_fields" in text["note"]
    assert binary["body"] == "<binary body: 266 bytes, content-type 'image/png'>"
    assert latin["body"] == "caf\ufffd cr\ufffdme"
    assert head["status"] == 200 and head["body"] == ""


@pytest.mark.anyio
async def test_redirects_are_followed_within_the_source_only(server) -> None:
    url, shop = server
    async with tool(woo(url)) as t:
        inside = await t.call({"method": "GET", "url": "redirect/in"})
        off = await t.call({"method": "GET", "url": "redirect/off"})
        loop = await t.call({"method": "GET", "url": "redirect/loop"})
    assert body(inside)["status"] == 200  # re-signed for the new URL
    assert inside.meta["url"] == f"{url}{BASE}/echo?from=redirect"
    assert inside.meta["attempts"] == 2
    assert off.is_error and off.content == (
        "Redirect to 'http://evil.example/steal' refused: Host 'evil.example' is not a "
        f"declared source. Declared: woocommerce ({url}{BASE})."
    )
    assert loop.is_error and "Stopped after 3 redirects" in loop.content
    assert not any(s["path"] == "/steal" for s in shop.seen)


@pytest.mark.anyio
async def test_ssrf_refusals_never_reach_the_network(server) -> None:
    url, shop = server
    async with tool(woo(url)) as t:
        cases = {
            "http://evil.example/x": "Host 'evil.example' is not a declared source",
            "file:///etc/passwd": "Only http and https",
            "http://169.254.169.254/latest/meta-data/": "Host '169.254.169.254' is not a declared",
            f"{url}/wp-json/wp/v2/users": "outside source 'woocommerce'",
        }
        for target, message in cases.items():
            result = await t.call({"method": "GET", "url": target})
            assert result.is_error and message in result.content
    assert shop.seen == []


@pytest.mark.anyio
async def test_a_named_host_resolving_to_loopback_needs_allow_private(server) -> None:
    url, shop = server
    port = url.rsplit(":", 1)[1]

    async def resolve(host: str) -> list[str]:
        return ["127.0.0.1"] if host == "shop.test" else []

    named = f"http://shop.test:{port}"
    async with tool(woo(named), resolver=resolve) as t:
        refused = await t.call({"method": "GET", "url": "echo"})
    assert refused.is_error and "resolves to '127.0.0.1', a loopback address" in refused.content
    assert shop.seen == []
    async with tool(woo(named, allow_private=True), resolver=resolve) as t:
        allowed = await t.call({"method": "GET", "url": "echo"})
    # Connected to the checked address; the server saw the name, and the signature held.
    assert body(allowed)["status"] == 200
    assert shop.seen[-1]["headers"]["host"] == f"shop.test:{port}"


@pytest.mark.anyio
async def test_timeouts_and_connection_errors_become_error_results() -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    async with tool(woo("http://127.0.0.1:9"), transport=httpx.MockTransport(hang)) as t:
        result = await t.call({"method": "GET", "url": "customers"})
    assert result.is_error and result.meta["attempts"] == 3
    assert result.content == (
        "Request to 'http://127.0.0.1:9/wp-json/wc/v3/customers' timed out (3 attempts). "
        "Ask for less or retry later."
    )
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    async with tool(woo(closed)) as t:
        result = await t.call({"method": "GET", "url": "customers"})
    assert (
        result.is_error and result.meta["attempts"] == 3 and "failed (3 attempts)" in result.content
    )


@pytest.mark.anyio
async def test_a_stalled_response_times_out_by_the_source_timeout() -> None:
    class Stall(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            await anyio.Event().wait()  # never answers
            raise AssertionError

    sources = woo("http://127.0.0.1:9")
    sources["woocommerce"] = ResolvedSource(
        **{**sources["woocommerce"].__dict__, "timeout_s": 0.01}
    )
    async with tool(sources, transport=Stall()) as t:
        result = await t.call({"method": "GET", "url": "customers"})
    assert result.is_error and "timed out (3 attempts)" in result.content


@pytest.mark.anyio
async def test_bad_arguments_are_error_results() -> None:
    async with tool(woo("http://127.0.0.1:9")) as t:
        cases = [
            ({"method": "TRACE", "url": "x"}, "Method 'TRACE' is not supported"),
            ({"method": "GET"}, "'url' is required"),
            ({"method": "GET", "url": "x", "json": {}}, "A JSON body cannot go with GET"),
            ({"method": "GET", "url": "x", "params": [1]}, "'params' must be an object"),
            (
                {"method": "GET", "url": "x", "params": {"a": {"b": 1}}},
                "Parameter 'a' is an object",
            ),
            ({"method": "GET", "url": "x", "headers": "h"}, "'headers' must be an object"),
        ]
        for args, message in cases:
            result = await t.call(args)
            assert result.is_error and message in result.content, result.content


@pytest.mark.anyio
async def test_params_are_rendered_for_wordpress(server) -> None:
    url, shop = server
    async with tool(woo(url)) as t:
        params = {"include": [1, 2, 3], "dates_are_gmt": True, "skip": None, "per_page": 100}
        await t.call({"method": "GET", "url": "echo?per_page=5&page=2", "params": params})
    query = [(k, v) for k, v in shop.seen[-1]["query"] if not k.startswith("oauth_")]
    assert query == [
        ("page", "2"),
        ("include", "1,2,3"),
        ("dates_are_gmt", "true"),
        ("per_page", "100"),
    ]


def test_description_lists_sources_and_the_url_rule() -> None:
    sources = woo("http://127.0.0.1:8081", rate_limit=RateLimit(requests=25, per_seconds=10))
    t = tool(sources)
    try:
        assert t.name == "http_request" and not t.destructive
        assert (
            "- woocommerce: http://127.0.0.1:8081/wp-json/wc/v3 (read-only: GET and HEAD, "
            "at most 25 requests per 10 s)" in t.description
        )
        assert "'woocommerce:customers/42'" in t.description
        assert t.input_schema["required"] == ["method", "url"]
        assert set(t.input_schema["properties"]) == {"method", "url", "params", "json", "headers"}
    finally:
        anyio.run(t.aclose)


@pytest.mark.anyio
async def test_no_credential_ever_appears_in_content_or_meta(server) -> None:
    url, _ = server
    forms = {
        KEY,
        SECRET,
        quote(KEY),
        quote(SECRET),
        base64.b64encode(f"{KEY}:{SECRET}".encode()).decode(),
    }
    calls = [
        {"method": "GET", "url": "customers", "params": {"per_page": 3}},
        {"method": "GET", "url": "echo", "params": {"consumer_key": KEY}},
        {"method": "GET", "url": "fixed/leak"},
        {"method": "GET", "url": "redirect/in"},
        {"method": "GET", "url": "redirect/off"},
        {"method": "POST", "url": "echo", "json": {"k": 1}},
        {"method": "GET", "url": f"http://evil.example/?consumer_secret={SECRET}"},
        {"method": "GET", "url": f"echo?consumer_key={KEY}&consumer_secret={SECRET}"},
    ]
    auths = [AuthSpec(type=kind, key=KEY, secret=SECRET) for kind in ("oauth1", "query", "basic")]
    outputs = []
    for auth in auths:
        async with tool(woo(url, auth)) as t:
            for args in calls:
                result = await t.call(args)
                outputs.append(result.content + json.dumps(result.meta))
    leaks = [(form, out[:200]) for out in outputs for form in forms if form in out]
    assert leaks == []
    assert any("[redacted]" in out for out in outputs)  # the leaky page was redacted
