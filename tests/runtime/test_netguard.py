"""runtime.netguard: only declared sources, only public addresses unless allowed."""

from __future__ import annotations

import socket

import pytest

from runtime.agentfile import AuthSpec
from runtime.config import ResolvedSource
from runtime.netguard import (
    BlockedURLError,
    NetGuard,
    address_problem,
    allows_private,
    redirect_method,
    resolve_url,
)

WOO = "http://127.0.0.1:8081/wp-json/wc/v3"


def source(name: str, base_url: str, *, allow_private: bool = False) -> ResolvedSource:
    return ResolvedSource(name, base_url, AuthSpec(type="none"), None, False, allow_private, 5.0)


def resolver(table: dict[str, list[str]]):
    async def resolve(host: str) -> list[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    return resolve


def guard(*sources: ResolvedSource, table: dict[str, list[str]] | None = None) -> NetGuard:
    return NetGuard({s.name: s for s in sources}, resolver(table or {}))


async def refused(g: NetGuard, url: str) -> str:
    with pytest.raises(BlockedURLError) as info:
        await g.check(url)
    return str(info.value)


@pytest.mark.anyio
async def test_undeclared_host_is_refused_with_the_declared_list() -> None:
    message = await refused(guard(source("woocommerce", WOO)), "http://evil.example/x")
    assert message == (
        "Host 'evil.example' is not a declared source. "
        "Declared: woocommerce (http://127.0.0.1:8081/wp-json/wc/v3)."
    )


@pytest.mark.anyio
@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "gopher://127.0.0.1:8081/wp-json/wc/v3",
        "ftp://127.0.0.1:8081/wp-json/wc/v3/x",
    ],
)
async def test_only_http_and_https(url: str) -> None:
    assert "Only http and https" in await refused(guard(source("woocommerce", WOO)), url)


@pytest.mark.anyio
async def test_same_host_other_port_or_scheme_is_refused() -> None:
    g = guard(source("woocommerce", WOO))
    assert "not a declared source" in await refused(g, "http://127.0.0.1:8082/wp-json/wc/v3/x")
    assert "not a declared source" in await refused(g, "https://127.0.0.1:8081/wp-json/wc/v3/x")


@pytest.mark.anyio
async def test_paths_outside_the_base_path_are_refused() -> None:
    g = guard(source("woocommerce", WOO))
    message = await refused(g, "http://127.0.0.1:8081/wp-json/wp/v2/users")
    assert "outside source 'woocommerce'" in message and "'/wp-json/wc/v3'" in message
    assert "outside" in await refused(g, "http://127.0.0.1:8081/wp-json/wc/v3-evil/x")
    for sneaky in ["/wp-json/wc/v3/%2e%2e/%2e%2e/wp/v2/users", "/wp-json/wc/v3/..%2f..%2fwp"]:
        assert "'..'" in await refused(g, "http://127.0.0.1:8081" + sneaky)


@pytest.mark.anyio
async def test_user_info_is_refused() -> None:
    g = guard(source("woocommerce", WOO))
    assert "user:password@" in await refused(g, "http://a:b@127.0.0.1:8081/wp-json/wc/v3/x")


@pytest.mark.anyio
async def test_loopback_sandbox_is_implicitly_allowed_and_not_pinned() -> None:
    g = guard(source("woocommerce", WOO), source("local", "http://localhost:9000/api"))
    target = await g.check(WOO + "/customers?page=2")
    assert target.source.name == "woocommerce" and target.address is None
    assert (await g.check("http://localhost:9000/api/x")).source.name == "local"


@pytest.mark.anyio
async def test_metadata_address_is_refused() -> None:
    g = guard(source("woocommerce", WOO))
    assert "not a declared source" in await refused(g, "http://169.254.169.254/latest/meta-data")
    # Even a source declared there, with allow_private, cannot reach it.
    meta = source("meta", "http://169.254.169.254/latest", allow_private=True)
    assert "never reachable" in await refused(guard(meta), "http://169.254.169.254/latest/x")
    named = source("shop", "https://shop.example/api", allow_private=True)
    table = {"shop.example": ["169.254.169.254"]}
    assert "cloud metadata" in await refused(
        guard(named, table=table), "https://shop.example/api/x"
    )
    ipv6 = {"shop.example": ["fd00:ec2::254"]}
    assert "cloud metadata" in await refused(guard(named, table=ipv6), "https://shop.example/api/x")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("ip", "kind"),
    [
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("169.254.1.1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("100.64.0.1", "non-public"),
    ],
)
async def test_declared_name_resolving_to_a_private_address_is_refused(ip: str, kind: str) -> None:
    g = guard(source("shop", "https://shop.example/api"), table={"shop.example": [ip]})
    message = await refused(g, "https://shop.example/api/customers")
    assert f"resolves to '{ip}'" in message and kind in message
    assert "allow_private: true" in message


@pytest.mark.anyio
async def test_one_private_answer_among_public_ones_is_enough_to_refuse() -> None:
    g = guard(
        source("shop", "https://shop.example/api"),
        table={"shop.example": ["93.184.216.34", "10.0.0.1"]},
    )
    assert "private" in await refused(g, "https://shop.example/api/x")


@pytest.mark.anyio
async def test_allow_private_lets_a_named_host_through_and_pins_it() -> None:
    shop = source("shop", "https://shop.example/api", allow_private=True)
    target = await guard(shop, table={"shop.example": ["::1", "10.0.0.7"]}).check(
        "https://shop.example/api/x"
    )
    assert target.address == "10.0.0.7"  # IPv4 first: the checked address is the one used


@pytest.mark.anyio
async def test_public_host_is_pinned_to_its_checked_address() -> None:
    g = guard(source("shop", "https://shop.example/api"), table={"shop.example": ["93.184.216.34"]})
    target = await g.check("https://SHOP.example:443/api/customers")
    assert target.address == "93.184.216.34" and target.source.name == "shop"


@pytest.mark.anyio
async def test_unresolvable_host_is_a_readable_refusal() -> None:
    g = guard(source("shop", "https://shop.example/api"))
    assert "Cannot resolve host 'shop.example'" in await refused(g, "https://shop.example/api/x")


@pytest.mark.anyio
async def test_longest_base_path_wins() -> None:
    v3 = source("v3", "http://127.0.0.1:8081/wp-json/wc/v3")
    root = source("wp", "http://127.0.0.1:8081/wp-json")
    g = guard(root, v3)
    assert (await g.check("http://127.0.0.1:8081/wp-json/wc/v3/orders")).source.name == "v3"
    assert (await g.check("http://127.0.0.1:8081/wp-json/wp/v2/posts")).source.name == "wp"


@pytest.mark.anyio
async def test_redirects_stay_on_their_source() -> None:
    woo = source("woocommerce", WOO)
    other = source("crm", "http://127.0.0.1:9000/api")
    g = guard(woo, other)
    start = await g.check(WOO + "/customers")
    hop = await g.check_redirect(start, "/wp-json/wc/v3/customers?page=2")
    assert str(hop.url) == WOO + "/customers?page=2"
    message = str(await _redirect_refusal(g, start, "http://evil.example/steal"))
    assert message.startswith("Redirect to 'http://evil.example/steal' refused: Host")
    assert "leaves source 'woocommerce'" in str(
        await _redirect_refusal(g, start, "http://127.0.0.1:9000/api/x")
    )


async def _redirect_refusal(g: NetGuard, start, location: str) -> BlockedURLError:
    with pytest.raises(BlockedURLError) as info:
        await g.check_redirect(start, location)
    return info.value


def test_redirect_method() -> None:
    assert redirect_method(303, "POST") == "GET" and redirect_method(303, "HEAD") == "HEAD"
    assert redirect_method(302, "POST") == "GET" and redirect_method(307, "POST") == "POST"
    assert redirect_method(301, "GET") == "GET" and redirect_method(308, "PUT") == "PUT"


def test_address_problem_and_implicit_allowance() -> None:
    assert address_problem("93.184.216.34") is None
    assert address_problem("2606:2800:220:1:248:1893:25c8:1946") is None
    assert address_problem("fe80::1%eth0") == "a link-local address"
    assert allows_private(source("a", "http://127.0.0.1:1/x"))
    assert allows_private(source("a", "http://10.0.0.5/x"))
    assert allows_private(source("a", "http://api.localhost/x"))
    assert not allows_private(source("a", "https://shop.example/x"))
    assert allows_private(source("a", "https://shop.example/x", allow_private=True))


def test_resolve_url_rule() -> None:
    woo = {"woocommerce": source("woocommerce", WOO)}
    assert resolve_url("customers", woo) == WOO + "/customers"
    assert resolve_url("/customers?per_page=5", woo) == WOO + "/customers?per_page=5"
    assert resolve_url("woocommerce:customers/42", woo) == WOO + "/customers/42"
    assert resolve_url("/wp-json/wc/v3/orders", woo) == WOO + "/orders"
    assert resolve_url(WOO + "/orders", woo) == WOO + "/orders"
    assert resolve_url("file:///etc/passwd", woo) == "file:///etc/passwd"  # refused by check()
    both = {**woo, "crm": source("crm", "http://127.0.0.1:9000/api")}
    assert resolve_url("crm:contacts", both) == "http://127.0.0.1:9000/api/contacts"
    with pytest.raises(
        BlockedURLError, match="prefix the path with one, as in 'woocommerce:customers'"
    ):
        resolve_url("customers", both)
    with pytest.raises(BlockedURLError, match="absolute URL"):
        resolve_url("//evil.example/x", woo)
