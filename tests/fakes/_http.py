"""The plumbing the wire fakes (`openai_server`, `anthropic_server`, `bedrock_server`) share: a scripted
server on loopback with a reply queue and a request log, and a request handler with the HTTP helpers.

A fake subclasses `FakeServer` (its replies, its recorded requests, the answer once the script is used up)
and `FakeHandler` (its routes and its wire format); what is left here is the same for every provider.
Standard library only.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import socket
import sys
import threading
from collections import deque
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Generic, Self, TypeVar, cast

__all__ = ["FakeHandler", "FakeServer", "header_number", "split_fragments", "split_words"]

ReplyT = TypeVar("ReplyT")
RequestT = TypeVar("RequestT")
ServerT = TypeVar("ServerT", bound="FakeServer[Any, Any]")


class FakeServer(Generic[ReplyT, RequestT]):
    """A scripted server on 127.0.0.1, served from a background thread.

    Use it as a context manager, or call `start()` and `stop()`. The reply queue and the request log are safe
    to use from the test's thread while the server answers from its own. A subclass names the provider (for
    messages and the thread's name), gives its handler class, and says what to answer once the script is
    used up (`_fallback`).
    """

    def __init__(
        self,
        replies: tuple[ReplyT, ...],
        *,
        host: str,
        port: int,
        name: str,
        handler: type[FakeHandler[Any]],
    ) -> None:
        self._host = host
        self._port = port
        self._name = name
        self._handler = handler
        self._lock = threading.Lock()
        self._replies: deque[ReplyT] = deque(replies)
        self._requests: list[RequestT] = []
        self._ids = itertools.count(1)
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle --------------------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind (to a free port unless one was given) and serve in a daemon thread; returns `self`."""
        if self._httpd is not None:
            raise RuntimeError(f"the fake {self._name} server is already running")
        self._stopping.clear()
        httpd = _HTTPServer((self._host, self._port), self._handler)
        httpd.owner = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-{self._name.lower()}-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: wake delayed replies, close open connections, join every thread. Idempotent."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()  # joins the handler threads
        if thread is not None:
            thread.join()
        self._httpd = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError(f"the fake {self._name} server is not running; call start() first")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The server's root, `http://127.0.0.1:PORT`."""
        return f"http://{self._host}:{self.port}"

    # --- script and log ---------------------------------------------------------------------------------

    def enqueue(self, *replies: ReplyT) -> None:
        """Add replies to the end of the queue; each request takes the next one."""
        with self._lock:
            self._replies.extend(replies)

    @property
    def pending(self) -> int:
        """How many scripted replies are still waiting for a request."""
        with self._lock:
            return len(self._replies)

    @property
    def requests(self) -> list[RequestT]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def last_request(self) -> RequestT:
        with self._lock:
            if not self._requests:
                raise AssertionError(f"the fake {self._name} server has received no request")
            return self._requests[-1]

    def reset(self) -> None:
        """Forget the received requests and drop the replies not yet used."""
        with self._lock:
            self._requests.clear()
            self._replies.clear()

    # --- used by the handler ----------------------------------------------------------------------------

    def _fallback(self, request: RequestT) -> ReplyT:
        """The answer once the script is used up."""
        raise NotImplementedError

    def _record(self, request: RequestT) -> None:
        """Log a request that takes no reply (one the fake refuses, as the real API would)."""
        with self._lock:
            self._requests.append(request)

    def _take(self, request: RequestT) -> ReplyT:
        with self._lock:
            self._requests.append(request)
            if self._replies:
                return self._replies.popleft()
        return self._fallback(request)

    def _next_id(self, prefix: str) -> str:
        with self._lock:
            return f"{prefix}{next(self._ids)}"

    def _wait(self, seconds: float) -> bool:
        """Sleep `seconds` unless the server stops first; True when it is stopping."""
        return self._stopping.wait(seconds) if seconds > 0 else self._stopping.is_set()


class FakeHandler(BaseHTTPRequestHandler, Generic[ServerT]):
    """Answers one connection's requests for a `FakeServer` (`owner`). A subclass adds its routes
    (`do_POST`...) and `_answer`, which writes a scripted reply in its provider's wire format."""

    protocol_version = "HTTP/1.1"  # keep-alive, and chunked transfer for streams, as the real APIs do

    @property
    def http(self) -> _HTTPServer:
        return cast(_HTTPServer, self.server)

    @property
    def owner(self) -> ServerT:
        return cast(ServerT, self.http.owner)

    def setup(self) -> None:
        super().setup()
        self.http.track(self.connection, open=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.http.track(self.connection, open=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests assert on `requests`, not on an access log."""

    def _headers(self) -> dict[str, str]:
        """The request's headers, names lower-cased."""
        return {k.lower(): v for k, v in self.headers.items()}

    def _serve(self, request: Any) -> None:
        """Take the next reply for `request`, hold it back its `delay` (unless the server stops), answer it."""
        owner = self.owner
        reply = owner._take(request)
        if owner._wait(getattr(reply, "delay", 0.0)):
            self.close_connection = True  # stopping: give up on the delayed answer
            return
        try:
            self._answer(reply, request)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True  # the client gave up (a timeout, an early close); nobody is listening

    def _answer(self, reply: Any, request: Any) -> None:
        raise NotImplementedError

    # --- wire helpers -----------------------------------------------------------------------------------

    def _send(self, status: int, data: bytes, content_type: str, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _send_json(self, status: int, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _start_stream(self, content_type: str, headers: Mapping[str, str] | None = None) -> None:
        """A 200 whose body follows in chunks (`_write_chunk`), each reaching the client as it is written."""
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()

    def _write_chunk(self, payload: bytes) -> None:
        """One chunk of a chunked body; an empty one is the body's terminator."""
        self.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))
        self.wfile.flush()

    def _drop(self) -> None:
        """End the connection mid-body, as a crashed upstream would."""
        self.close_connection = True
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = False  # tracked, so server_close() can join them...
    block_on_close = True
    owner: FakeServer[Any, Any]

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def track(self, connection: socket.socket, *, open: bool) -> None:
        with self._open_lock:
            if open:
                self._open.add(connection)
            else:
                self._open.discard(connection)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client that hung up (a timeout, a closed pool, a stream closed early) is no fault of ours
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """...once each idle keep-alive connection is shut down, which ends its handler's read."""
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)


# --- pieces of a streamed answer -------------------------------------------------------------------------


def split_words(text: str) -> list[str]:
    """`"Hello big world"` -> `["Hello ", "big ", "world"]`: several deltas that join back to the text."""
    return re.findall(r"\s*\S+\s*", text) if text.strip() else ([text] if text else [])


def split_fragments(text: str, pieces: int) -> list[str]:
    """`text` in `pieces` non-empty fragments of near-equal length (fewer when the text is shorter)."""
    if not text:
        return []
    pieces = max(1, min(pieces, len(text)))
    size, extra = divmod(len(text), pieces)
    out: list[str] = []
    start = 0
    for i in range(pieces):
        end = start + size + (1 if i < extra else 0)
        out.append(text[start:end])
        start = end
    return out


def header_number(value: float | str) -> str:
    """A header value in seconds (or milliseconds): `2.5` -> `"2.5"`, `3.0` -> `"3"`; text is sent as is."""
    return value if isinstance(value, str) else f"{value:g}"
