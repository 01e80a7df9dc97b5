"""The one fetcher the server uses for a user's URL refuses server-side request forgery by construction: an
SSRF corpus of loopback, private, link-local, metadata and disguised addresses never gets a request; the
connection goes to the address that was checked (DNS rebinding); each redirect hop is checked again; size
and time are bounded; the allow-list lets a named internal host through. Every real connection here goes to
127.0.0.1: "public" hosts are fake resolver answers, served by a spy transport that never connects."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from stratus._fetch import AllowList, IPAddress, fetch_url, literal_address, refusal
from stratus.exceptions import FetchError, KnowledgeError, StratusError, UnsafeURLError
from stratus.knowledge import Knowledge
from stratus.knowledge.embedders.testing import HashEmbedder
from stratus.storage.records import ContentQuery
from stratus.storage.sqlite import SqliteStore

PUBLIC = "93.184.216.34"  # a global address: only ever handed to the spy transport, never connected to
FAKE_DNS: dict[str, list[str]] = {
    "public.example": [PUBLIC],
    "internal.example": ["10.0.0.5"],
    "cgnat.example": ["100.64.1.1"],
    "metadata.example": ["169.254.169.254"],
    "v6loop.example": ["::1"],
    "mixed.example": [PUBLIC, "10.0.0.1"],  # one private address among public ones is enough to refuse
    "mapped.example": ["::ffff:127.0.0.1"],
    "localhost.": ["127.0.0.1"],
}


async def fake_resolver(host: str, port: int) -> list[IPAddress]:
    if host not in FAKE_DNS:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return [ipaddress.ip_address(a) for a in FAKE_DNS[host]]


class SpyTransport(httpx.AsyncBaseTransport):
    """Records every request and answers it without any network (a stand-in for the public internet)."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.answer = answer or (
            lambda _: httpx.Response(200, text="public page", headers={"content-type": "text/html"})
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)


# (url, what the refusal says). Literal hosts are refused before any lookup; names go through FAKE_DNS.
CORPUS: list[tuple[str, str]] = [
    # loopback
    ("http://127.0.0.1/", "loopback"),
    ("http://127.0.0.1:8080/admin", "loopback"),
    ("http://127.255.255.254/", "loopback"),
    ("http://[::1]/", "loopback"),
    ("http://[::1]:9000/x", "loopback"),
    ("http://localhost/", "loopback"),  # the real resolver: localhost is 127.0.0.1 / ::1
    ("http://localhost./", "loopback"),
    ("http://v6loop.example/", "loopback"),
    # RFC 1918
    ("http://10.0.0.1/", "private"),
    ("http://10.255.255.255/", "private"),
    ("http://172.16.0.1/", "private"),
    ("http://172.31.255.254/", "private"),
    ("http://192.168.0.1/", "private"),
    ("http://192.168.255.255/", "private"),
    ("http://internal.example/wiki", "private"),
    ("http://mixed.example/", "private"),
    # CGNAT
    ("http://100.64.0.1/", "CGNAT"),
    ("http://100.127.255.254/", "CGNAT"),
    ("http://cgnat.example/", "CGNAT"),
    # link-local
    ("http://169.254.0.1/", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    # cloud metadata
    ("http://169.254.169.254/latest/meta-data/iam/security-credentials/", "metadata"),
    ("http://169.254.170.2/v2/credentials", "metadata"),
    ("http://[fd00:ec2::254]/latest/meta-data/", "metadata"),
    ("http://100.100.100.200/latest/meta-data/", "metadata"),
    ("http://metadata.example/", "metadata"),
    ("http://2852039166/latest/meta-data/", "metadata"),  # 169.254.169.254 in decimal
    # unspecified
    ("http://0.0.0.0/", "unspecified"),
    ("http://0/", "unspecified"),
    ("http://[::]/", "unspecified"),
    # IPv4 embedded in IPv6
    ("http://[::ffff:7f00:1]/", "IPv4-mapped IPv6 form of a loopback"),
    ("http://[::ffff:127.0.0.1]/", "IPv4-mapped IPv6 form of a loopback"),
    ("http://[::ffff:10.0.0.1]/", "IPv4-mapped IPv6 form of a private"),
    ("http://[::ffff:169.254.169.254]/", "IPv4-mapped IPv6 form of a cloud metadata"),
    ("http://mapped.example/", "IPv4-mapped"),
    ("http://[::127.0.0.1]/", "IPv4-compatible"),
    ("http://[64:ff9b::7f00:1]/", "NAT64 IPv6 form of a loopback"),
    ("http://[64:ff9b::a9fe:a9fe]/", "NAT64 IPv6 form of a cloud metadata"),
    ("http://[2002:7f00:1::]/", "6to4 IPv6 form of a loopback"),
    ("http://[2002:a00:1::1]/", "6to4 IPv6 form of a private"),
    # unique-local, multicast, reserved, documentation
    ("http://[fc00::1]/", "unique-local"),
    ("http://[fd12:3456::1]/", "unique-local"),
    ("http://224.0.0.1/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    ("http://240.0.0.1/", "private"),
    ("http://255.255.255.255/", "private"),
    ("http://192.0.2.1/", "private"),
    # numeric forms the OS resolver reads as 127.0.0.1 or 10.0.0.1
    ("http://2130706433/", "loopback"),
    ("http://017700000001/", "loopback"),
    ("http://0x7f000001/", "loopback"),
    ("http://0x7f.1/", "loopback"),
    ("http://0x7f.0.0.1/", "loopback"),
    ("http://127.1/", "loopback"),
    ("http://127.0.1/", "loopback"),
    ("http://10.1/", "private"),
    ("http://0177.0.0.1/", "not a valid URL"),  # httpx refuses the dotted octal form outright
    # parser tricks: what is connected to is what was checked, whatever the spelling
    ("http://127\u30020\u30020\u30021/", "loopback"),  # ideographic full stops, IDNA-mapped to dots
    ("http://127.0.0.1#@public.example/", "loopback"),
    ("http://0x7f.0x0.0x0.0x1/", "loopback"),
    ("HTTP://127.0.0.1/", "loopback"),
    ("http://[0:0:0:0:0:ffff:7f00:1]/", "IPv4-mapped"),
    # IPv6 zone ids
    ("http://[fe80::1%25eth0]/", "zone id"),
    ("http://[::1%25lo]/", "zone id"),
    # schemes
    ("file:///etc/passwd", "only http and https"),
    ("gopher://127.0.0.1:70/_stats", "only http and https"),
    ("ftp://public.example/file", "only http and https"),
    ("dict://127.0.0.1:11211/stat", "only http and https"),
    ("ws://public.example/", "only http and https"),
    ("data:text/plain,secret", "only http and https"),
    ("//127.0.0.1/", "only http and https"),
    # credentials in the URL, even toward a public host
    ("http://evil@127.0.0.1/", "credentials"),
    ("http://public.example@127.0.0.1/", "credentials"),
    ("http://user:pass@public.example/", "credentials"),
    ("http://:@public.example/", "credentials"),
    ("http://public.example\\@127.0.0.1/", "credentials"),
    # no host
    ("http:///secret", "no host"),
    ("http://:80/", "no host"),
]


def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 40


@pytest.mark.parametrize(("url", "why"), CORPUS, ids=[u for u, _ in CORPUS])
async def test_every_ssrf_case_is_refused_before_any_request(url: str, why: str) -> None:
    spy = SpyTransport()
    resolver = None if url.startswith("http://localhost/") else fake_resolver

    with pytest.raises(UnsafeURLError, match=why) as caught:
        await fetch_url(url, max_bytes=1000, allow=AllowList(), resolver=resolver, transport=spy)

    assert spy.requests == []
    assert isinstance(caught.value, FetchError)
    assert isinstance(caught.value, StratusError)


@pytest.mark.parametrize(
    ("host", "address"),
    [("2130706433", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"), ("0x7f.1", "127.0.0.1"), ("127.1", "127.0.0.1")],
)
def test_numeric_hosts_read_as_the_os_resolver_reads_them(host: str, address: str) -> None:
    assert str(literal_address(host)) == address
    assert literal_address("public.example") is None


def test_public_addresses_are_not_refused() -> None:
    for address in (PUBLIC, "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"):
        assert refusal(ipaddress.ip_address(address)) is None, address


async def test_a_public_host_is_fetched_at_the_checked_address_with_its_own_host_name() -> None:
    spy = SpyTransport()

    fetched = await fetch_url(
        "https://public.example/page?q=1", max_bytes=1000, allow=AllowList(), resolver=fake_resolver, transport=spy
    )

    assert fetched.content == b"public page"
    assert fetched.content_type == "text/html"
    assert fetched.url == "https://public.example/page?q=1"
    (request,) = spy.requests
    assert request.url.host == PUBLIC  # the connection is aimed at the address that was checked
    assert request.url.raw_path == b"/page?q=1"
    assert request.headers["host"] == "public.example"  # the server still sees its own name
    assert request.extensions["sni_hostname"] == "public.example"  # and TLS verifies that name


async def test_the_host_that_is_checked_is_the_host_that_is_asked() -> None:
    spy = SpyTransport()

    await fetch_url(
        "http://public.example#@127.0.0.1/", max_bytes=1000, allow=AllowList(), resolver=fake_resolver, transport=spy
    )

    assert [(r.url.host, r.headers["host"]) for r in spy.requests] == [(PUBLIC, "public.example")]


async def test_a_refused_name_does_not_reveal_what_it_resolves_to() -> None:
    with pytest.raises(UnsafeURLError) as caught:
        await fetch_url("http://internal.example/", max_bytes=1000, allow=AllowList(), resolver=fake_resolver)

    assert str(caught.value).startswith("internal.example resolves to a private address; ")
    assert "10.0.0.5" not in str(caught.value)


async def test_a_host_with_several_addresses_is_tried_at_each_checked_one_in_turn() -> None:
    second = "93.184.216.35"

    async def dual(host: str, port: int) -> list[IPAddress]:
        return [ipaddress.ip_address(PUBLIC), ipaddress.ip_address(PUBLIC), ipaddress.ip_address(second)]

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == PUBLIC:  # as an unreachable first address would
            raise httpx.ConnectError("no route to host", request=request)
        return httpx.Response(200, text="from the second")

    spy = SpyTransport(answer)

    fetched = await fetch_url("http://dual.example/", max_bytes=1000, allow=AllowList(), resolver=dual, transport=spy)

    assert fetched.content == b"from the second"
    assert [r.url.host for r in spy.requests] == [PUBLIC, second]
    assert {r.headers["host"] for r in spy.requests} == {"dual.example"}


async def test_dns_rebinding_cannot_move_the_connection_after_the_check() -> None:
    # Given a resolver that answers a public address first and loopback afterwards
    answers = [[PUBLIC], ["127.0.0.1"], ["127.0.0.1"]]
    lookups: list[str] = []

    async def rebinding(host: str, port: int) -> list[IPAddress]:
        lookups.append(host)
        return [ipaddress.ip_address(a) for a in answers[len(lookups) - 1]]

    spy = SpyTransport()

    await fetch_url("http://rebind.example/", max_bytes=1000, allow=AllowList(), resolver=rebinding, transport=spy)

    # Then the name was resolved once, and the request went to that checked public address
    assert lookups == ["rebind.example"]
    assert [r.url.host for r in spy.requests] == [PUBLIC]


# --- real connections, to 127.0.0.1 only ---------------------------------------------------------------------


@dataclass
class LocalServer:
    port: int
    hits: list[tuple[str, str]] = field(default_factory=list)  # (path, Host header)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


Route = Callable[[BaseHTTPRequestHandler, "LocalServer"], None]


@pytest.fixture
def serve() -> Iterator[Callable[[dict[str, Route]], LocalServer]]:
    started: list[tuple[ThreadingHTTPServer, threading.Thread]] = []
    stop = threading.Event()

    def start(routes: dict[str, Route]) -> LocalServer:
        info = LocalServer(0)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                info.hits.append((self.path, self.headers.get("host", "")))
                route = routes.get(self.path.split("?", 1)[0])
                if route is None:
                    self.send_error(404)
                    return
                route(self, info)

            def log_message(self, format: str, *args: Any) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.stop = stop  # type: ignore[attr-defined]
        info.port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        started.append((server, thread))
        return info

    yield start
    stop.set()
    for server, thread in started:
        server.shutdown()
        server.server_close()
        thread.join()


def text(body: str, status: int = 200) -> Route:
    def route(handler: BaseHTTPRequestHandler, _: LocalServer) -> None:
        data = body.encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    return route


def redirect(location: Callable[[LocalServer], str]) -> Route:
    def route(handler: BaseHTTPRequestHandler, info: LocalServer) -> None:
        handler.send_response(302)
        handler.send_header("Location", location(info))
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return route


LOOPBACK_ALLOWED = AllowList(networks=(ipaddress.ip_network("127.0.0.1/32"),))


def loopback_resolver(*names: str) -> Callable[[str, int], Any]:
    """Names that resolve to 127.0.0.1 (so a "public-looking" host can be served locally)."""

    async def resolve(host: str, port: int) -> Sequence[IPAddress]:
        if host not in names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [ipaddress.ip_address("127.0.0.1")]

    return resolve


async def test_a_redirect_from_an_allowed_host_to_loopback_is_refused(
    serve: Callable[[dict[str, Route]], LocalServer],
) -> None:
    # Given an allowed host (served locally) that redirects to a loopback-only service
    local = serve({"/start": redirect(lambda s: f"{s.base}/secret"), "/secret": text("the secret")})

    with pytest.raises(UnsafeURLError, match=r"127\.0\.0\.1 is a loopback address"):
        await fetch_url(
            f"http://docs.example:{local.port}/start",
            max_bytes=1000,
            allow=AllowList(hosts=frozenset({"docs.example"})),
            resolver=loopback_resolver("docs.example"),
        )

    # Then the first hop was asked, with its own name, and the secret never was
    assert local.hits == [("/start", f"docs.example:{local.port}")]


async def test_each_hop_is_checked_scheme_and_count(serve: Callable[[dict[str, Route]], LocalServer]) -> None:
    local = serve(
        {
            "/to-file": redirect(lambda _: "file:///etc/passwd"),
            "/to-metadata": redirect(lambda _: "http://169.254.169.254/latest/meta-data/"),
            "/to-credentials": redirect(lambda s: f"http://a:b@127.0.0.1:{s.port}/ok"),
            "/relative": redirect(lambda _: "/ok"),
            "/loop": redirect(lambda _: "/loop"),
            "/ok": text("fine"),
        }
    )

    async def get(path: str) -> bytes:
        fetched = await fetch_url(f"{local.base}{path}", max_bytes=1000, allow=LOOPBACK_ALLOWED)
        return fetched.content

    with pytest.raises(UnsafeURLError, match="only http and https"):
        await get("/to-file")
    with pytest.raises(UnsafeURLError, match="metadata"):
        await get("/to-metadata")
    with pytest.raises(UnsafeURLError, match="credentials"):
        await get("/to-credentials")
    with pytest.raises(FetchError, match="redirected more than 5 times"):
        await get("/loop")
    assert await get("/relative") == b"fine"
    assert [p for p, _ in local.hits].count("/loop") == 6


async def test_the_connection_goes_to_the_checked_address_at_the_socket(
    serve: Callable[[dict[str, Route]], LocalServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a name the checked lookup answers with 127.0.0.1 (allowed) but the OS resolver would answer with a
    # private address, should anything look it up again
    local = serve({"/page": text("pinned")})

    def rebinding_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.1", local.port))]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    connected: list[Any] = []
    guarded_connect = socket.socket.connect

    def spy_connect(self: socket.socket, address: Any) -> None:
        connected.append(address)
        return guarded_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", spy_connect)

    # When it is fetched with the real transport
    fetched = await fetch_url(
        f"http://rebind.example:{local.port}/page",
        max_bytes=1000,
        allow=LOOPBACK_ALLOWED,
        resolver=loopback_resolver("rebind.example"),
    )

    # Then the socket connected to the checked address only, and the server saw the original name
    assert fetched.content == b"pinned"
    assert [a[0] for a in connected] == ["127.0.0.1"]
    assert local.hits == [("/page", f"rebind.example:{local.port}")]


async def test_bodies_are_bounded_by_size(serve: Callable[[dict[str, Route]], LocalServer]) -> None:
    def chunked(handler: BaseHTTPRequestHandler, _: LocalServer) -> None:
        handler.protocol_version = "HTTP/1.1"
        handler.send_response(200)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.send_header("Connection", "close")
        handler.end_headers()
        try:
            for _chunk in range(100):
                handler.wfile.write(b"400\r\n" + b"x" * 1024 + b"\r\n")
            handler.wfile.write(b"0\r\n\r\n")
        except OSError:
            return

    local = serve({"/declared": text("y" * 5000), "/chunked": chunked, "/small": text("z" * 100)})

    with pytest.raises(FetchError, match="larger than 4096 bytes"):
        await fetch_url(f"{local.base}/declared", max_bytes=4096, allow=LOOPBACK_ALLOWED)
    with pytest.raises(FetchError, match="larger than 4096 bytes"):
        await fetch_url(f"{local.base}/chunked", max_bytes=4096, allow=LOOPBACK_ALLOWED)
    assert (await fetch_url(f"{local.base}/small", max_bytes=4096, allow=LOOPBACK_ALLOWED)).content == b"z" * 100


async def test_a_slow_body_is_cut_off_by_the_time_limit(serve: Callable[[dict[str, Route]], LocalServer]) -> None:
    def trickle(handler: BaseHTTPRequestHandler, _: LocalServer) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "100000")
        handler.end_headers()
        stop: threading.Event = handler.server.stop  # type: ignore[attr-defined]
        try:
            while not stop.wait(0.05):  # a byte every 50 ms: each read is quick, the whole never ends
                handler.wfile.write(b"x")
                handler.wfile.flush()
        except OSError:
            return

    local = serve({"/slow": trickle})
    started = time.monotonic()

    with pytest.raises(FetchError, match=r"took longer than 0\.5 s"):
        await fetch_url(f"{local.base}/slow", max_bytes=1_000_000, allow=LOOPBACK_ALLOWED, time_limit=0.5)

    assert time.monotonic() - started < 3


async def test_http_errors_and_unresolvable_names_are_fetch_errors(
    serve: Callable[[dict[str, Route]], LocalServer],
) -> None:
    local = serve({"/gone": text("no", status=410)})

    with pytest.raises(FetchError, match="answered HTTP 410"):
        await fetch_url(f"{local.base}/gone", max_bytes=1000, allow=LOOPBACK_ALLOWED)
    with pytest.raises(FetchError, match="could not be resolved") as caught:
        await fetch_url("http://nowhere.example/", max_bytes=1000, allow=AllowList(), resolver=fake_resolver)
    assert not isinstance(caught.value, UnsafeURLError)


def test_the_allow_list_reads_names_addresses_and_cidrs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATUS_FETCH_ALLOW", " wiki.internal. , 10.1.0.0/16,127.0.0.1, [::1] ,")

    allowed = AllowList.from_environment()

    assert allowed.allows_host("WIKI.internal")
    assert not allowed.allows_host("other.internal")
    assert allowed.allows_address(ipaddress.ip_address("10.1.2.3"))
    assert allowed.allows_address(ipaddress.ip_address("127.0.0.1"))
    assert allowed.allows_address(ipaddress.ip_address("::1"))
    assert not allowed.allows_address(ipaddress.ip_address("10.2.0.1"))
    assert not allowed.allows_address(ipaddress.ip_address("127.0.0.2"))


async def test_the_environment_allow_list_lets_one_internal_host_through(
    serve: Callable[[dict[str, Route]], LocalServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    local = serve({"/doc": text("internal doc")})

    with pytest.raises(UnsafeURLError, match="STRATUS_FETCH_ALLOW"):
        await fetch_url(f"{local.base}/doc", max_bytes=1000)
    monkeypatch.setenv("STRATUS_FETCH_ALLOW", "127.0.0.1")

    assert (await fetch_url(f"{local.base}/doc", max_bytes=1000)).content == b"internal doc"
    assert [p for p, _ in local.hits] == ["/doc"]


async def test_knowledge_add_refuses_an_unsafe_url_and_stores_nothing(store: SqliteStore) -> None:
    docs = Knowledge("docs", embedder=HashEmbedder(16), store=store)
    try:
        with pytest.raises(KnowledgeError, match="metadata address") as caught:
            await docs.add(url="http://169.254.169.254/latest/meta-data/")
        assert isinstance(caught.value.__cause__, UnsafeURLError)
        assert (await docs.list_contents(ContentQuery(knowledge_id="docs"))).total == 0
    finally:
        await docs.close()


def self_signed(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A certificate for `name` only (not for 127.0.0.1), and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


async def test_tls_goes_to_the_pinned_address_but_verifies_the_original_host_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an HTTPS server on 127.0.0.1 whose certificate names docs.example only
    cert, key = self_signed(tmp_path, "docs.example")
    served = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    served.load_cert_chain(cert, key)
    names: list[str | None] = []
    served.sni_callback = lambda sock, name, ctx: names.append(name)  # pyright: ignore[reportUnknownLambdaType]

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"over tls to {self.headers.get('host')}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    server.socket = served.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    connected: list[Any] = []
    guarded_connect = socket.socket.connect

    def spy_connect(self: socket.socket, address: Any) -> None:
        connected.append(address)
        return guarded_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", spy_connect)
    trusted = ssl.create_default_context(cafile=str(cert))
    resolve = loopback_resolver("docs.example", "other.example")
    try:
        # When it is fetched by name, the socket goes to the checked 127.0.0.1 yet TLS verifies docs.example
        fetched = await fetch_url(
            f"https://docs.example:{port}/", max_bytes=1000, allow=LOOPBACK_ALLOWED, resolver=resolve, verify=trusted
        )
        # And a name the certificate does not cover fails verification, though the address is the same
        with pytest.raises(FetchError, match="could not be fetched: ConnectError"):
            await fetch_url(
                f"https://other.example:{port}/",
                max_bytes=1000,
                allow=LOOPBACK_ALLOWED,
                resolver=resolve,
                verify=trusted,
            )
    finally:
        server.shutdown()
        server.server_close()
        thread.join()

    assert fetched.content == f"over tls to docs.example:{port}".encode()
    assert [a[0] for a in connected] == ["127.0.0.1", "127.0.0.1"]
    assert names[0] == "docs.example"


def compressed(body: bytes, encoding: str = "gzip") -> Route:
    import gzip
    import zlib

    data = gzip.compress(body) if encoding == "gzip" else zlib.compress(body) if encoding == "deflate" else body

    def route(handler: BaseHTTPRequestHandler, _: LocalServer) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Content-Encoding", encoding)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    return route


async def test_a_compressed_body_is_decoded_and_a_bomb_is_refused_without_inflating_it(
    serve: Callable[[dict[str, Route]], LocalServer],
) -> None:
    import tracemalloc

    local = serve(
        {
            "/page": compressed(b"hello " * 1000),
            "/zlib": compressed(b"deflated " * 100, "deflate"),
            "/bomb": compressed(b"\0" * 200_000_000),  # 200 MB of zeros: about 190 KB on the wire
            "/br": compressed(b"whatever", "br"),
            "/garbage": compressed(b"not gzip at all", "identity-but-called-gzip"),
        }
    )
    page = await fetch_url(f"{local.base}/page", max_bytes=1_000_000, allow=LOOPBACK_ALLOWED)
    assert page.content == b"hello " * 1000
    assert (
        await fetch_url(f"{local.base}/zlib", max_bytes=10_000, allow=LOOPBACK_ALLOWED)
    ).content == b"deflated " * 100

    tracemalloc.start()
    try:
        with pytest.raises(FetchError, match="larger than 1000000 bytes"):
            await fetch_url(f"{local.base}/bomb", max_bytes=1_000_000, allow=LOOPBACK_ALLOWED)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000, f"inflating the bomb peaked at {peak} bytes"

    with pytest.raises(FetchError, match="unsupported Content-Encoding"):
        await fetch_url(f"{local.base}/br", max_bytes=1_000_000, allow=LOOPBACK_ALLOWED)
    with pytest.raises(FetchError, match="unsupported Content-Encoding"):
        await fetch_url(f"{local.base}/garbage", max_bytes=1_000_000, allow=LOOPBACK_ALLOWED)
    assert all(host.startswith("127.0.0.1") for _, host in local.hits)


async def test_a_corrupt_gzip_body_is_a_fetch_error(serve: Callable[[dict[str, Route]], LocalServer]) -> None:
    def corrupt(handler: BaseHTTPRequestHandler, _: LocalServer) -> None:
        handler.send_response(200)
        handler.send_header("Content-Encoding", "gzip")
        handler.send_header("Content-Length", "12")
        handler.end_headers()
        handler.wfile.write(b"\x1f\x8bnot-really")

    local = serve({"/corrupt": corrupt})
    with pytest.raises(FetchError, match="could not be decoded"):
        await fetch_url(f"{local.base}/corrupt", max_bytes=1_000_000, allow=LOOPBACK_ALLOWED)


@pytest.mark.parametrize("port", [25, 22, 23, 110, 143, 465, 587, 6667, 10080, 2049])
async def test_ports_browsers_block_are_refused_on_public_hosts_too(port: int) -> None:
    spy = SpyTransport()
    with pytest.raises(UnsafeURLError, match=f"port {port} is refused"):
        await fetch_url(
            f"http://public.example:{port}/", max_bytes=1000, allow=AllowList(), resolver=fake_resolver, transport=spy
        )
    assert spy.requests == []


async def test_ordinary_ports_are_fetched_and_an_allowed_host_may_use_any_port() -> None:
    spy = SpyTransport()
    for port in (80, 443, 8080, 8443, 3000):
        await fetch_url(
            f"http://public.example:{port}/", max_bytes=1000, allow=AllowList(), resolver=fake_resolver, transport=spy
        )
    assert [r.url.port or 80 for r in spy.requests] == [80, 443, 8080, 8443, 3000]
    allowed = AllowList(hosts=frozenset({"internal.example"}))
    await fetch_url("http://internal.example:25/", max_bytes=1000, allow=allowed, resolver=fake_resolver, transport=spy)
    assert spy.requests[-1].url.port == 25
