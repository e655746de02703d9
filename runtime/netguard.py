"""Which URLs the http_request tool may reach (SSRF guard).

A URL is reachable when it is http(s), its scheme, host and port are those of a
declared source, its path lies under the source's base path, and every address the
host resolves to is public. Private, loopback, link-local, multicast, reserved and
unspecified addresses are refused unless the source allows them: explicitly with
`allow_private: true`, or implicitly when its base URL names a loopback or private
address literally, or `localhost` (the sandbox). Cloud metadata addresses are refused
always.

The checked address is also the one connected to (`Target.address`): resolving again
in the transport would let a DNS answer change between the check and the connection.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote

import anyio
import httpx

from runtime.config import ResolvedSource
from runtime.errors import AgentsError

Resolver = Callable[[str], Awaitable[list[str]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS = {"http": 80, "https": 443}
REDIRECTS = frozenset({301, 302, 303, 307, 308})
METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200")
)
SOURCE_PREFIX = re.compile(r"^([a-z][a-z0-9_]*):(?!//)(.*)$", re.S)
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
CATEGORIES = (
    ("is_unspecified", "an unspecified"),
    ("is_loopback", "a loopback"),
    ("is_link_local", "a link-local"),
    ("is_multicast", "a multicast"),
    ("is_private", "a private"),
    ("is_reserved", "a reserved"),
)


class BlockedURLError(AgentsError):
    """The URL may not be reached; the message says why, without secrets."""


@dataclass(frozen=True)
class Target:
    """A checked URL: its source, and the address to connect to (None: let DNS decide)."""

    source: ResolvedSource
    url: httpx.URL
    address: str | None


async def system_resolver(host: str) -> list[str]:
    """The addresses of `host` from the system resolver (in a worker thread)."""
    infos = await anyio.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def address_problem(ip: str) -> str | None:
    """Why `ip` is not a public address ('a private address'), or None when it is."""
    addr: IPAddress = ipaddress.ip_address(ip.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    if addr in METADATA:
        return "a cloud metadata address"
    for attr, label in CATEGORIES:
        if getattr(addr, attr):
            return f"{label} address"
    return None if addr.is_global else "a non-public address"


def is_local_host(host: str) -> bool:
    """True for 'localhost' and for loopback or private address literals."""
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        problem = address_problem(host)
    except ValueError:
        return False
    return problem is not None and problem != "a cloud metadata address"


def allows_private(source: ResolvedSource) -> bool:
    """True when `source` may reach non-public addresses (explicitly or as the sandbox)."""
    return source.allow_private or is_local_host(httpx.URL(source.base_url).host)


def describe(sources: Mapping[str, ResolvedSource]) -> str:
    """'woocommerce (http://127.0.0.1:8081/wp-json/wc/v3), crm (...)' for messages."""
    shown = [f"{name} ({display_url(s.base_url)})" for name, s in sources.items()]
    return ", ".join(shown) or "none"


def display_url(url: str | httpx.URL) -> str:
    """scheme://host[:port]/path of `url`: no query, no user info."""
    u = httpx.URL(str(url))
    host = f"[{u.host}]" if ":" in u.host else u.host
    port = f":{u.port}" if u.port else ""
    return f"{u.scheme}://{host}{port}{u.path}"


class NetGuard:
    """Decides whether a URL may be reached, and where to connect."""

    def __init__(
        self,
        sources: Mapping[str, ResolvedSource],
        resolver: Resolver | None = None,
        *,
        resolve_timeout_s: float = 10.0,
    ) -> None:
        self._sources = dict(sources)
        self._resolver = resolver or system_resolver
        self._timeout = resolve_timeout_s

    def match(self, url: str | httpx.URL) -> tuple[ResolvedSource, httpx.URL]:
        """The declared source `url` belongs to, without DNS; raises BlockedURLError."""
        parsed = _parse(url)
        origin = _origin(parsed)
        same_origin = [
            s for s in self._sources.values() if _origin(httpx.URL(s.base_url)) == origin
        ]
        if not same_origin:
            raise BlockedURLError(self._undeclared(parsed))
        path = parsed.path
        under = [s for s in same_origin if _is_under(path, httpx.URL(s.base_url).path)]
        if not under:
            src = same_origin[0]
            base_path = httpx.URL(src.base_url).path
            raise BlockedURLError(
                f"Path '{path}' is outside source '{src.name}' ({display_url(src.base_url)}). "
                f"Use a path under '{base_path}'."
            )
        best = max(under, key=lambda s: len(httpx.URL(s.base_url).path))
        return best, parsed

    async def check(self, url: str | httpx.URL) -> Target:
        """Match `url` to a source and vet the addresses its host resolves to."""
        source, parsed = self.match(url)
        host = parsed.host
        private_ok = allows_private(source)
        if private_ok and _is_name(host) and is_local_host(host):
            return Target(source, parsed, None)  # the sandbox: let the transport resolve
        addresses = [host] if not _is_name(host) else await self._resolve(host)
        for ip in addresses:
            problem = address_problem(ip)
            if problem == "a cloud metadata address" or (problem and not private_ok):
                raise BlockedURLError(_private_message(source, host, ip, problem))
        pinned = next((a for a in addresses if ":" not in a), addresses[0])
        return Target(source, parsed, pinned if _is_name(host) else None)

    async def check_redirect(self, target: Target, location: str) -> Target:
        """Check where a redirect from `target` leads; refused when it leaves the source."""
        url = target.url.join(location)
        try:
            hop = await self.check(url)
            if hop.source.name != target.source.name:
                raise BlockedURLError(f"it leaves source '{target.source.name}'.")
        except BlockedURLError as exc:
            raise BlockedURLError(f"Redirect to '{display_url(url)}' refused: {exc}") from None
        return hop

    async def _resolve(self, host: str) -> list[str]:
        try:
            with anyio.fail_after(self._timeout):
                addresses = await self._resolver(host)
        except TimeoutError:
            raise BlockedURLError(
                f"Resolving host '{host}' took longer than {self._timeout:g} s."
            ) from None
        except OSError as exc:
            raise BlockedURLError(f"Cannot resolve host '{host}': {exc}.") from None
        if not addresses:
            raise BlockedURLError(f"Host '{host}' has no addresses.")
        return addresses

    def _undeclared(self, url: httpx.URL) -> str:
        declared = describe(self._sources)
        hosts = {httpx.URL(s.base_url).host for s in self._sources.values()}
        if url.host in hosts:
            return f"'{_origin_text(url)}' is not a declared source. Declared: {declared}."
        return f"Host '{url.host}' is not a declared source. Declared: {declared}."


def redirect_method(status: int, method: str) -> str:
    """The method after a redirect: 303, and 301/302 after POST, turn into GET."""
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        return "GET"
    return method


def resolve_url(raw: str, sources: Mapping[str, ResolvedSource]) -> str:
    """An absolute URL for `raw`: absolute, 'source:path', or a path under the only source."""
    raw = raw.strip()
    if (m := SOURCE_PREFIX.match(raw)) and m.group(1) in sources:
        return _join(sources[m.group(1)].base_url, m.group(2))
    if SCHEME.match(raw):
        return raw  # an absolute URL; NetGuard checks the scheme and the host
    if raw.startswith("//"):
        raise BlockedURLError("Use an absolute URL with 'http://' or 'https://', or a path.")
    if len(sources) == 1:
        return _join(next(iter(sources.values())).base_url, raw)
    if not sources:
        raise BlockedURLError("No sources are declared, so no URL is reachable.")
    names = ", ".join(sources)
    first = next(iter(sources))
    raise BlockedURLError(
        f"Several sources are declared ({names}): prefix the path with one, "
        f"as in '{first}:{raw.lstrip('/')}', or use an absolute URL."
    )


def _join(base_url: str, path: str) -> str:
    """`path` under `base_url`; a path already starting with the base path is kept whole."""
    base = httpx.URL(base_url)
    base_path = base.path.rstrip("/")
    rel = "/" + path.lstrip("/")
    if base_path and (rel == base_path or rel.startswith(base_path + "/")):
        return str(base.copy_with(raw_path=b"/")).rstrip("/") + rel
    return base_url.rstrip("/") + (rel if rel != "/" else "")


def _parse(url: str | httpx.URL) -> httpx.URL:
    try:
        parsed = httpx.URL(str(url))
    except (httpx.InvalidURL, ValueError, TypeError):
        raise BlockedURLError(f"'{str(url)[:200]}' is not a valid URL.") from None
    if parsed.scheme not in DEFAULT_PORTS:
        shown = parsed.scheme or "none"
        raise BlockedURLError(f"Only http and https URLs can be fetched; the scheme is '{shown}'.")
    if not parsed.host:
        raise BlockedURLError("The URL has no host.")
    if parsed.userinfo:
        raise BlockedURLError(
            "URLs with 'user:password@' are not allowed: the runtime adds credentials itself."
        )
    segments = unquote(parsed.raw_path.split(b"?", 1)[0].decode("ascii")).split("/")
    if ".." in segments or "." in segments:
        raise BlockedURLError("Paths with '.' or '..' segments are not allowed.")
    return parsed


def _origin(url: httpx.URL) -> tuple[str, str, int]:
    host = url.host.lower().rstrip(".")
    return url.scheme, host, url.port or DEFAULT_PORTS[url.scheme]


def _origin_text(url: httpx.URL) -> str:
    scheme, host, port = _origin(url)
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}:{port}"


def _is_under(path: str, base_path: str) -> bool:
    base = base_path.rstrip("/")
    return not base or path == base or path.startswith(base + "/")


def _is_name(host: str) -> bool:
    """True for a DNS name, False for an IP address literal."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False


def _private_message(source: ResolvedSource, host: str, ip: str, problem: str | None) -> str:
    shown = host if host == ip else f"{host}' resolves to '{ip}"
    if problem == "a cloud metadata address":
        return f"Host '{shown}', {problem}, which is never reachable."
    return (
        f"Host '{shown}', {problem}; only public addresses are reachable. If source "
        f"'{source.name}' is meant to be on a private network, set 'allow_private: true' on it."
    )
