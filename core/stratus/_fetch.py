"""The one way the server fetches a URL for a user (knowledge added by `url`), safe by construction against
server-side request forgery:

- only `http` and `https`, no credentials in the URL, a host that is not empty and carries no zone id, and
  not one of the ports the Fetch standard blocks for browsers (SMTP, SSH, IRC...: protocols a crafted HTTP
  request could speak to), unless the host is allow-listed;
- the host is resolved once (every address it has); the fetch is refused if ANY address is loopback, private
  (RFC 1918, CGNAT, unique-local), link-local, multicast, reserved, unspecified, a cloud metadata address, or an
  IPv6 form that embeds one of those (IPv4-mapped or -compatible, 6to4, NAT64); numeric hosts in the forms the
  OS resolver reads (`2130706433`, `0x7f.1`, `127.1`) are read the same way;
- the connection goes to the address that was checked (no second lookup, so no DNS rebinding), while the
  request still carries the original `Host` header and TLS verifies the original host name (`sni_hostname`);
- redirects are followed by hand, at most `max_redirects`, and each hop is checked like the first;
- the body is streamed and stops at `max_bytes`; connecting, each read and the whole fetch are time-bounded;
- proxies and `.netrc` from the environment are ignored (`trust_env=False`): they would bypass the pinning.

`STRATUS_FETCH_ALLOW` (comma-separated host names, addresses or CIDRs) names internal hosts a deployment does
want fetched; it is empty by default."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import ssl
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import httpx

from stratus.exceptions import FetchError, UnsafeURLError
from stratus.settings import STRATUS_FETCH_ALLOW

__all__ = ["AllowList", "Fetched", "IPAddress", "Resolver", "fetch_url", "literal_address", "refusal", "resolve_host"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[Sequence[IPAddress]]]
"""Resolves `(host, port)` to every address the host has (the default asks the OS resolver)."""

_METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack instance metadata
        "169.254.170.2",  # AWS ECS task credentials
        "fd00:ec2::254",  # AWS instance metadata over IPv6
        "100.100.100.200",  # Alibaba Cloud metadata
    )
)
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_SHOWN = 200  # characters of a URL quoted in an error


@dataclass(frozen=True)
class Fetched:
    """What a fetch brought back: the final URL (after redirects), the body and its media type."""

    url: str
    content: bytes
    content_type: str | None


@dataclass(frozen=True)
class AllowList:
    """Internal hosts that may be fetched anyway: by name (exact, case-insensitive) or by address (a CIDR)."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = field(default=())

    @classmethod
    def parse(cls, value: str | None) -> AllowList:
        """Read `STRATUS_FETCH_ALLOW`'s format: comma-separated host names, addresses or CIDRs."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in (value or "").split(","):
            entry = entry.strip().strip("[]").lower()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    @classmethod
    def from_environment(cls) -> AllowList:
        """The allow-list `STRATUS_FETCH_ALLOW` sets (empty when unset)."""
        return cls.parse(os.environ.get(STRATUS_FETCH_ALLOW))

    def allows_host(self, host: str) -> bool:
        """Whether `host` is allowed by name."""
        return host.lower().rstrip(".") in self.hosts

    def allows_address(self, address: IPAddress) -> bool:
        """Whether `address` lies in an allowed network."""
        return any(address.version == net.version and address in net for net in self.networks)


BAD_PORTS: frozenset[int] = frozenset(
    {1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104}
    | {109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515}
    | {526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049}
    | {3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080}
)
"""The Fetch standard's "bad ports" (https://fetch.spec.whatwg.org/#port-blocking): browsers never send HTTP
to them, and neither does this fetcher."""


def refusal(address: IPAddress) -> str | None:
    """Why `address` must not be fetched from for a user (e.g. "a loopback address"), or None if it is public."""
    if address in _METADATA:
        return "a cloud metadata address"
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return "a scoped (zone id) IPv6 address"
        embedded = (
            ("an IPv4-mapped", address.ipv4_mapped),
            ("a 6to4", address.sixtofour),
            ("a NAT64", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF) if address in _NAT64 else None),
        )
        for kind, inner in embedded:
            if inner is not None:
                why = refusal(inner)
                return f"{kind} IPv6 form of {why}" if why else None
        if address.teredo is not None:
            return "a Teredo address"
    checks: tuple[tuple[bool, str], ...] = (
        (address.is_loopback, "a loopback address"),
        (address.is_unspecified, "the unspecified address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (isinstance(address, ipaddress.IPv4Address) and address in _CGNAT, "a shared (CGNAT) address"),
        (isinstance(address, ipaddress.IPv6Address) and address in _UNIQUE_LOCAL, "a unique-local address"),
        (isinstance(address, ipaddress.IPv6Address) and address in _IPV4_COMPATIBLE, "an IPv4-compatible address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "a non-public address"),
    )
    return next((why for hit, why in checks if hit), None)


def literal_address(host: str) -> IPAddress | None:
    """The address `host` spells if it is a numeric host, read as the OS resolver reads it (`inet_aton`:
    `2130706433`, `0177.0.0.1`, `0x7f.1` and `127.1` all are 127.0.0.1); None for a host name.

    Raises:
        UnsafeURLError: An IPv6 literal that does not parse."""
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise UnsafeURLError(f"{host!r} is not a valid IPv6 address") from None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


async def resolve_host(host: str, port: int) -> list[IPAddress]:
    """Every address the OS resolver gives `host` (the default `Resolver`)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0])) for info in infos]


async def fetch_url(
    url: str,
    *,
    max_bytes: int,
    allow: AllowList | None = None,
    resolver: Resolver | None = None,
    time_limit: float = 30.0,
    connect_limit: float = 10.0,
    max_redirects: int = 5,
    transport: httpx.AsyncBaseTransport | None = None,
    verify: ssl.SSLContext | bool = True,
) -> Fetched:
    """GET `url` for a user, refusing what is not safe to fetch from a server (see the module's docstring).

    Args:
        url: The http(s) URL to fetch.
        max_bytes: The largest body accepted.
        allow: Internal hosts that may be fetched anyway (default: `STRATUS_FETCH_ALLOW`).
        resolver: Resolves a host name to all its addresses (default: the OS resolver).
        time_limit: Seconds for the whole fetch, redirects included; also the bound of each read.
        connect_limit: Seconds to connect to one host.
        max_redirects: Redirects followed at most.
        transport: The httpx transport to send through (tests hand in a spy); connections go to the checked
            address either way.
        verify: How TLS certificates are verified (default: the certifi bundle, against the URL's host name;
            an `ssl.SSLContext` trusts its own CAs, e.g. a company's).

    Raises:
        UnsafeURLError: The URL, or a redirect's target, is refused; nothing was sent to it.
        FetchError: The fetch failed: unreachable, an HTTP error status, too large, too slow, too many redirects.
    """
    allowed = allow if allow is not None else AllowList.from_environment()
    resolve = resolver or resolve_host
    try:
        async with asyncio.timeout(time_limit):
            options = _ClientOptions(time_limit, connect_limit, transport, verify)
            return await _follow(url, max_bytes, allowed, resolve, max_redirects, options)
    except TimeoutError:
        raise FetchError(f"{_shown(url)} took longer than {time_limit:g} s to fetch") from None


@dataclass(frozen=True)
class _ClientOptions:
    time_limit: float
    connect_limit: float
    transport: httpx.AsyncBaseTransport | None
    verify: ssl.SSLContext | bool


async def _follow(
    url: str,
    max_bytes: int,
    allowed: AllowList,
    resolve: Resolver,
    max_redirects: int,
    options: _ClientOptions,
) -> Fetched:
    current = _parse(url)
    for _ in range(max_redirects + 1):
        targets, host_header, sni = await _pin(current, allowed, resolve)
        extensions = {"sni_hostname": sni} if sni else None
        async with httpx.AsyncClient(  # one client per hop: a pooled connection never serves another host name
            transport=options.transport,
            verify=options.verify,
            trust_env=False,
            follow_redirects=False,
            timeout=httpx.Timeout(options.time_limit, connect=options.connect_limit),
        ) as client:
            response = await _send(client, targets, host_header, extensions, current)
            try:
                location = response.headers.get("location")
                if response.status_code in _REDIRECTS and location:
                    try:
                        current = current.join(location)
                    except httpx.InvalidURL as exc:
                        raise UnsafeURLError(f"{_shown(current)} redirects to an invalid URL: {exc}") from None
                    continue
                if response.status_code >= 400:
                    raise FetchError(f"{_shown(current)} answered HTTP {response.status_code}")
                return Fetched(str(current), await _read(response, current, max_bytes), _media_type(response))
            finally:
                await response.aclose()
    raise FetchError(f"{_shown(url)} redirected more than {max_redirects} times")


async def _send(
    client: httpx.AsyncClient,
    targets: Sequence[httpx.URL],
    host_header: str,
    extensions: dict[str, str] | None,
    url: httpx.URL,
) -> httpx.Response:
    """Send the GET to the first of the host's checked addresses that accepts a connection (as a dual-stack
    host on an IPv4-only network needs), never to an address that was not checked."""
    for attempt, target in enumerate(targets, start=1):
        headers = {"Host": host_header, "Accept-Encoding": ACCEPT_ENCODING}
        request = client.build_request("GET", target, headers=headers, extensions=extensions)
        try:
            return await client.send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            if attempt < len(targets):
                continue
            raise FetchError(f"{_shown(url)} could not be fetched: {type(exc).__name__}: {exc}") from exc
        except httpx.HTTPError as exc:
            raise FetchError(f"{_shown(url)} could not be fetched: {type(exc).__name__}: {exc}") from exc
    raise FetchError(f"{_shown(url)} has no address to connect to")


def _parse(url: str | httpx.URL) -> httpx.URL:
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise UnsafeURLError(f"{_shown(url)} is not a valid URL: {exc}") from None
    if parsed.scheme not in ("http", "https"):
        raise UnsafeURLError(f"{_shown(url)}: only http and https URLs can be fetched")
    if parsed.userinfo:
        raise UnsafeURLError("URLs carrying credentials (user@host) are refused")
    if not parsed.host:
        raise UnsafeURLError(f"{_shown(url)} names no host")
    if "%" in parsed.host:
        raise UnsafeURLError(f"{_shown(url)}: IPv6 zone ids are refused")
    return parsed


async def _pin(url: httpx.URL, allowed: AllowList, resolve: Resolver) -> tuple[list[httpx.URL], str, str | None]:
    """Check every address of `url`'s host. Returns the URL aimed at each checked address (in the resolver's
    order), the `Host` header to send and the TLS server name (None when the host is an address)."""
    url = _parse(url)  # a redirect's target gets the same checks as the first URL
    host = url.raw_host.decode("ascii")  # IDNA-encoded, as it goes on the wire
    port = url.port or (443 if url.scheme == "https" else 80)
    if port in BAD_PORTS and not allowed.allows_host(host):
        raise UnsafeURLError(f"port {port} is refused (a port the Fetch standard blocks); use 80, 443 or another")
    literal = literal_address(host)
    if literal is not None:
        addresses: Sequence[IPAddress] = [literal]
    else:
        try:
            addresses = await resolve(host, port)
        except OSError as exc:
            raise FetchError(f"{host} could not be resolved: {exc}") from None
        if not addresses:
            raise FetchError(f"{host} could not be resolved")
    if not allowed.allows_host(host):
        for address in addresses:
            why = refusal(address)
            if why and not allowed.allows_address(address):
                if literal is None:  # not the address itself: a refusal must not map the internal DNS for a caller
                    what = f"{host} resolves to {why}"
                else:
                    what = f"{host} is {why}" if str(literal) == host else f"{host} ({literal}) is {why}"
                raise UnsafeURLError(f"{what}; the server does not fetch from it (allow it with {STRATUS_FETCH_ALLOW})")
    sni = host if literal is None and url.scheme == "https" else None
    targets = [url.copy_with(host=str(address)) for address in dict.fromkeys(addresses)]
    return targets, url.netloc.decode("ascii"), sni


ACCEPT_ENCODING = "gzip, deflate"
"""What the fetcher decodes itself, with the output bounded as it inflates (see `_read`)."""


async def _read(response: httpx.Response, url: httpx.URL, max_bytes: int) -> bytes:
    """The body, decoded, refused once it passes `max_bytes`. A compressed body is inflated here, at most
    `max_bytes + 1` bytes at a time, so a small "zip bomb" cannot balloon in memory before the limit trips
    (httpx would inflate each network read whole)."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(f"{_shown(url)} is larger than {max_bytes} bytes")
    if response.is_stream_consumed:  # a response built in memory (a test transport): already whole and decoded
        if len(response.content) > max_bytes:
            raise FetchError(f"{_shown(url)} is larger than {max_bytes} bytes")
        return response.content
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        decoder = None
    elif encoding in ("gzip", "x-gzip", "deflate"):
        decoder = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib framing, whichever it is
    else:
        raise FetchError(f"{_shown(url)} came with an unsupported Content-Encoding {encoding!r}")
    data = bytearray()
    received = 0

    def add(piece: bytes) -> None:
        data.extend(piece)
        if len(data) > max_bytes:
            raise FetchError(f"{_shown(url)} is larger than {max_bytes} bytes")

    try:
        async for raw in response.aiter_raw():
            received += len(raw)
            if received > max_bytes + 65536:  # compressed or not, the wire carries no more than this
                raise FetchError(f"{_shown(url)} is larger than {max_bytes} bytes")
            if decoder is None:
                add(raw)
                continue
            pending = raw
            while pending:
                add(decoder.decompress(pending, max_bytes + 1 - len(data)))
                pending = decoder.unconsumed_tail
        if decoder is not None:
            add(decoder.flush())
    except zlib.error as exc:
        raise FetchError(f"{_shown(url)} could not be decoded ({encoding}): {exc}") from exc
    except httpx.HTTPError as exc:
        raise FetchError(f"{_shown(url)} could not be read: {type(exc).__name__}: {exc}") from exc
    return bytes(data)


def _media_type(response: httpx.Response) -> str | None:
    return response.headers.get("content-type", "").split(";")[0].strip() or None


def _shown(url: str | httpx.URL) -> str:
    text = str(url)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"
