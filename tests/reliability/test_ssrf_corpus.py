"""An SSRF corpus against the live server's one fetching route, `POST /knowledge/content` with a `url`: a
canary on loopback (IPv4 and IPv6) that no request may reach, named every way a URL can name it (dotted,
short, decimal, hex, octal, IPv4-mapped IPv6, `localhost` and the machine's own names, credentials before
the host), private, shared, link-local, metadata and multicast addresses, other schemes, and redirects from
an allowed host to each of those. Every one answers 422 before anything is stored; the canary is never asked;
the allowed host itself is fetched (the control that shows the refusals are refusals)."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

from tests.e2e.conftest import Server, start_server, stop_server

pytestmark = pytest.mark.e2e

CANARY = f"CANARY-{uuid.uuid4()}"
ALLOWED = "127.0.0.2"  # a loopback address the server is told to allow (STRATUS_FETCH_ALLOW): the "internal host"


@dataclass
class Listener:
    """A tiny HTTP server that records who asked for what."""

    host: str
    family: int = socket.AF_INET
    hits: list[str] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])

    def start(self) -> Listener:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.hits.append(self.path)
                query = parse_qs(urlsplit(self.path).query)
                if "to" in query:
                    self.send_response(302)
                    self.send_header("Location", query["to"][0])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = f"<html><body><p>{CANARY} page {self.path}</p></body></html>".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            address_family = self.family
            daemon_threads = True

        self.server = Server((self.host, 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def _ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def canary() -> Iterator[Listener]:
    listener = Listener("127.0.0.1").start()
    yield listener
    listener.stop()


@pytest.fixture(scope="module")
def canary6() -> Iterator[Listener | None]:
    if not _ipv6():
        yield None
        return
    listener = Listener("::1", socket.AF_INET6).start()
    yield listener
    listener.stop()


@pytest.fixture(scope="module")
def allowed() -> Iterator[Listener]:
    listener = Listener(ALLOWED).start()
    yield listener
    listener.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    live = start_server(
        tmp_path_factory.mktemp("ssrf"), app="tests.fakes.apps:knowledge_app", env={"STRATUS_FETCH_ALLOW": ALLOWED}
    )
    yield live
    stop_server(live)


def direct_targets(port: int, port6: int | None) -> list[str]:
    """URLs that name the canary (or another private place) directly."""
    p = port
    own = socket.gethostname()
    return [
        f"http://127.0.0.1:{p}/",
        f"http://127.0.0.1:{p}/admin?x=1",
        f"http://127.1:{p}/",
        f"http://127.0.1:{p}/",
        f"http://2130706433:{p}/",
        f"http://0x7f000001:{p}/",
        f"http://0x7f.0.0.1:{p}/",
        f"http://0177.0.0.1:{p}/",
        f"http://017700000001:{p}/",
        f"http://127.000.000.001:{p}/",
        f"http://localhost:{p}/",
        f"http://LOCALHOST:{p}/",
        f"http://localhost.:{p}/",
        f"http://ip6-localhost:{p}/",
        f"http://{own}:{p}/",
        f"http://0.0.0.0:{p}/",
        f"http://0:{p}/",
        f"http://user:pw@127.0.0.1:{p}/",
        f"http://public.example@127.0.0.1:{p}/",
        f"http://127.0.0.1:{p}#@public.example/",
        f"http://127.0.0.1:{p}\\@public.example/",
        f"https://127.0.0.1:{p}/",
        f"HTTP://127.0.0.1:{p}/",
        f"http://[::ffff:127.0.0.1]:{p}/",
        f"http://[::ffff:7f00:1]:{p}/",
        f"http://[0:0:0:0:0:ffff:127.0.0.1]:{p}/",
        f"http://[::1]:{port6 or p}/",
        f"http://[0:0:0:0:0:0:0:1]:{port6 or p}/",
        f"http://[::]:{p}/",
        "http://10.0.0.1/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://198.18.0.1/",
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://169.254.170.2/v2/credentials",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://224.0.0.1/",
        "http://[ff02::1]/",
        "http://255.255.255.255/",
        "file:///etc/passwd",
        f"gopher://127.0.0.1:{p}/_GET",
        f"ftp://127.0.0.1:{p}/",
        f"dict://127.0.0.1:{p}/",
        "data:text/html,<p>hi</p>",
        "javascript:alert(1)",
        f"//127.0.0.1:{p}/",
        "http://public.example:25/",  # a port browsers block (SMTP), on any host
        f"127.0.0.1:{p}",
    ]


def redirect_targets(port: int, port6: int | None, allowed_port: int) -> list[str]:
    """URLs on the allowed host that redirect to a private place (each hop must be checked again)."""
    hop = f"http://{ALLOWED}:{allowed_port}/r"
    targets = [
        f"http://127.0.0.1:{port}/",
        f"http://localhost:{port}/",
        f"http://2130706433:{port}/",
        f"http://[::ffff:127.0.0.1]:{port}/",
        f"http://[::1]:{port6 or port}/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "file:///etc/passwd",
        f"gopher://127.0.0.1:{port}/",
        f"{hop}?to={quote(f'http://127.0.0.1:{port}/', safe='')}",  # two hops, the second one private
    ]
    return [f"{hop}?to={quote(target, safe='')}" for target in targets]


def _post(server: Server, url: str) -> httpx.Response:
    return httpx.post(f"{server.url}/knowledge/content", data={"url": url, "name": "page"}, timeout=60)


def test_the_corpus_is_large_enough() -> None:
    assert len(direct_targets(1, 2)) + len(redirect_targets(1, 2, 3)) >= 40
    assert len(direct_targets(1, 2)) >= 40


def test_no_url_in_the_corpus_reaches_a_private_address(
    server: Server, canary: Listener, canary6: Listener | None, allowed: Listener
) -> None:
    port6 = canary6.port if canary6 is not None else None
    answers: dict[str, int] = {}
    for url in direct_targets(canary.port, port6) + redirect_targets(canary.port, port6, allowed.port):
        response = _post(server, url)
        answers[url] = response.status_code
        assert "detail" in response.json()
        assert CANARY not in response.text
    wrong = {url: status for url, status in answers.items() if status != 422}
    assert not wrong, f"not refused with 422: {wrong}"
    assert canary.hits == [], f"the canary was asked: {canary.hits}"
    # the redirects' first hops were fetched (the allowed host was asked), their private next hops refused
    assert len([hit for hit in allowed.hits if hit.startswith("/r?")]) >= len(redirect_targets(1, 2, 3))
    assert canary6 is None or canary6.hits == []
    # nothing was stored, and nothing of the canary is searchable
    assert httpx.get(f"{server.url}/knowledge/content", timeout=10).json()["data"] == []
    found = httpx.post(f"{server.url}/knowledge/search", json={"query": CANARY}, timeout=10).json()
    assert found["data"] == []


def test_the_allowed_host_is_fetched(server: Server, allowed: Listener) -> None:
    """The control: the internal host the allow-list names is fetched, stored and searchable."""
    response = _post(server, f"http://{ALLOWED}:{allowed.port}/welcome")
    assert response.status_code in (200, 202), response.text
    assert "/welcome" in allowed.hits
