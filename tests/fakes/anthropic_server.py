"""A fake Anthropic server that speaks the Messages API wire format over real HTTP.

It lets the real `anthropic` SDK run against a scripted model on loopback, so tests see exactly what crosses
the wire: JSON messages, SSE streams (`message_start`, `content_block_start`, `content_block_delta` with
`text_delta` / `input_json_delta`, `content_block_stop`, `message_delta` with the stop reason and usage,
`message_stop`), HTTP errors with Anthropic's error body `{"type": "error", "error": {"type", "message"}}`,
`retry-after` / `retry-after-ms` / `x-should-retry` headers, 529 overloaded, slow answers, error events inside
a stream and dropped connections. Standard library only.

    from tests.fakes.anthropic_server import FakeAnthropicServer, FakeToolUse, TextReply, ToolUseReply

    with FakeAnthropicServer() as server:
        server.enqueue(ToolUseReply([FakeToolUse("add", {"a": 2, "b": 3})]), TextReply("5"))
        client = anthropic.AsyncAnthropic(api_key="test", base_url=server.url)
        ...
        assert server.requests[1].messages[-1]["content"][0]["type"] == "tool_result"

Each `POST /v1/messages` takes the next scripted reply; when none is left the server answers
`"ECHO: <last user text>"`. Every request is recorded (`server.requests`) with its JSON body, its headers,
when it arrived, and (for streams) each event as it was sent. Like the real API, the server refuses with a 400
`invalid_request_error` a request without `model`, `max_tokens` or `messages`, with an empty text block, or
whose `tool_use` blocks are not answered by `tool_result` blocks at the start of the very next (user) message;
and with a 401 `authentication_error` one that carries no credentials.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

import pytest

from tests.fakes._http import FakeHandler, FakeServer, header_number, split_fragments, split_words

__all__ = [
    "MESSAGES_PATH",
    "DisconnectReply",
    "ErrorReply",
    "FakeAnthropicServer",
    "FakeToolUse",
    "FakeUsage",
    "RawBodyReply",
    "RawEventsReply",
    "RecordedRequest",
    "Reply",
    "SentEvent",
    "TextReply",
    "ToolUseReply",
    "anthropic_server",
]

MESSAGES_PATH = "/v1/messages"


# --- the script ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FakeUsage:
    """Token counts reported for one reply (Anthropic's `usage`: input excludes the cached part)."""

    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
        }


@dataclass(frozen=True, slots=True)
class FakeToolUse:
    """One tool_use block. `input` is a mapping, or the raw JSON text the model "wrote" (streamed as is);
    `id` defaults to `toolu_<n>`, numbered across the server's life."""

    name: str
    input: Mapping[str, Any] | str = field(default_factory=dict[str, Any])
    id: str | None = None

    @property
    def input_json(self) -> str:
        return self.input if isinstance(self.input, str) else json.dumps(self.input)


@dataclass(frozen=True, slots=True)
class TextReply:
    """A text answer.

    Streamed, the text arrives in `chunks` (default: word by word, spaces kept), one `text_delta` each.
    `usage` defaults to a word count of the request and the reply. `delay` holds the whole answer back (to
    trip a client's timeout); `event_delay` waits that long before each event after `message_start` (a slow
    drip); `drop_after` cuts the stream off, unfinished, after `message_start` and that many more events.
    """

    content: str
    chunks: Sequence[str] | None = None
    usage: FakeUsage | None = None
    stop_reason: str = "end_turn"
    delay: float = 0.0
    event_delay: float = 0.0
    drop_after: int | None = None


@dataclass(frozen=True, slots=True)
class ToolUseReply:
    """An answer with one or several tool_use blocks (optionally after some text).

    Streamed, each block opens with its id, name and an empty input, then the input follows in
    `json_fragments` `input_json_delta` pieces, as Anthropic sends it. `delay`, `event_delay` and `drop_after`
    work as in `TextReply`.
    """

    calls: Sequence[FakeToolUse]
    content: str | None = None
    usage: FakeUsage | None = None
    stop_reason: str = "tool_use"
    json_fragments: int = 3
    delay: float = 0.0
    event_delay: float = 0.0
    drop_after: int | None = None


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """An HTTP error with Anthropic's error body. `retry_after` (seconds, or any header text) and
    `retry_after_ms` are sent as `retry-after` / `retry-after-ms`; `should_retry` as `x-should-retry`."""

    status: int
    message: str = "Internal server error"
    type: str = "api_error"
    retry_after: float | str | None = None
    retry_after_ms: float | None = None
    should_retry: bool | None = None
    delay: float = 0.0

    @classmethod
    def overloaded(cls, **options: Any) -> ErrorReply:
        """Anthropic's 529: the API is overloaded."""
        return cls(529, "Overloaded", "overloaded_error", **options)

    @classmethod
    def rate_limited(cls, **options: Any) -> ErrorReply:
        """A 429 `rate_limit_error`."""
        return cls(
            429, "Number of request tokens has exceeded your per-minute rate limit", "rate_limit_error", **options
        )


@dataclass(frozen=True, slots=True)
class RawEventsReply:
    """A 200 stream of exactly these `(event, data)` SSE events, `event_delay` apart: for error events
    inside a stream, a stream that ends without `message_stop`, and other things a test needs verbatim."""

    events: Sequence[tuple[str, Mapping[str, Any]]]
    delay: float = 0.0
    event_delay: float = 0.0


@dataclass(frozen=True, slots=True)
class RawBodyReply:
    """Exactly this status and body (an empty 200, a body that is not JSON...), streamed or not."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class DisconnectReply:
    """Read the request, then close the connection without answering (a dropped connection)."""

    delay: float = 0.0


Reply = TextReply | ToolUseReply | ErrorReply | RawEventsReply | RawBodyReply | DisconnectReply
"""Anything the server can be scripted to answer with."""


@dataclass(frozen=True, slots=True)
class SentEvent:
    """One SSE event as the server wrote it, and when (`time.monotonic()`)."""

    event: str
    data: Mapping[str, Any]
    sent_at: float


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request as the server received it. Header names are lower-cased."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: dict[str, Any]
    received_at: float = field(default_factory=time.monotonic)
    """`time.monotonic()` when the request had been read, to measure waits between retries."""
    sent: list[SentEvent] = field(default_factory=list[SentEvent])
    """The events of the streamed answer, appended as each is written (read it through `events_sent()`)."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], self.body.get("messages") or [])

    @property
    def tools(self) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], self.body.get("tools") or [])

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def api_key(self) -> str | None:
        """The credential sent: the `x-api-key` header, or the bearer token of `authorization` (the SDK has sent
        its key either way, depending on its version)."""
        key = self.headers.get("x-api-key")
        if key:
            return key
        authorization = self.headers.get("authorization") or ""
        return authorization.removeprefix("Bearer ").strip() or None

    def events_sent(self) -> list[SentEvent]:
        """The stream's events written so far (a copy: safe while the server is still writing)."""
        with self._lock:
            return list(self.sent)

    def _record(self, event: SentEvent) -> None:
        with self._lock:
            self.sent.append(event)


# --- the server ------------------------------------------------------------------------------------------


class FakeAnthropicServer(FakeServer[Reply, RecordedRequest]):
    """A scripted Anthropic Messages API on 127.0.0.1, served from a background thread.

    Use it as a context manager, or call `start()` and `stop()`. `url` (`http://127.0.0.1:PORT`) is what to
    give the SDK as `base_url` (it adds `/v1/messages`). The reply queue and the request log are safe to use
    from the test's thread while the server answers from its own.
    """

    def __init__(self, *replies: Reply, host: str = "127.0.0.1", port: int = 0, validate: bool = True) -> None:
        super().__init__(replies, host=host, port=port, name="Anthropic", handler=_Handler)
        self.validate = validate

    def _fallback(self, request: RecordedRequest) -> Reply:
        return TextReply(f"ECHO: {_last_user_text(request.messages)}")


@pytest.fixture
def anthropic_server() -> Iterator[FakeAnthropicServer]:
    """A running fake Anthropic server with an empty script, stopped after the test."""
    with FakeAnthropicServer() as server:
        yield server


class _Handler(FakeHandler[FakeAnthropicServer]):
    error_content_type = "application/json"
    error_message_format = '{"type": "error", "error": {"type": "invalid_request_error", "message": "%(message)s"}}'

    # --- routing ----------------------------------------------------------------------------------------

    def do_POST(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if path != MESSAGES_PATH:
            self._send_error_body(404, "not_found_error", f"Not found: POST {path}")
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send_error_body(400, "invalid_request_error", "The request body is not valid JSON.")
            return
        if not isinstance(body, dict):
            self._send_error_body(400, "invalid_request_error", "The request body must be a JSON object.")
            return
        request = RecordedRequest(method="POST", path=path, headers=self._headers(), body=cast(dict[str, Any], body))
        problem = _problem(request) if self.owner.validate else None
        if problem is not None:
            self.owner._record(request)  # refused before any reply is used
            status, kind, message = problem
            self._send_error_body(status, kind, message)
            return
        self._serve(request)

    # --- answers ----------------------------------------------------------------------------------------

    def _answer(self, reply: Reply, request: RecordedRequest) -> None:
        if isinstance(reply, DisconnectReply):
            self.close_connection = True
            return
        if isinstance(reply, ErrorReply):
            headers: dict[str, str] = {}
            if reply.retry_after is not None:
                headers["retry-after"] = header_number(reply.retry_after)
            if reply.retry_after_ms is not None:
                headers["retry-after-ms"] = header_number(reply.retry_after_ms)
            if reply.should_retry is not None:
                headers["x-should-retry"] = "true" if reply.should_retry else "false"
            self._send_error_body(reply.status, reply.type, reply.message, headers)
            return
        if isinstance(reply, RawBodyReply):
            self._send(reply.status, reply.body, reply.content_type)
            return
        if isinstance(reply, RawEventsReply):
            self._stream(request, list(reply.events), reply.event_delay, None)
            return
        owner = self.owner
        message_id = owner._next_id("msg_fake")
        calls = (
            [(c.id or owner._next_id("toolu_fake"), c.name, c.input_json) for c in reply.calls]
            if isinstance(reply, ToolUseReply)
            else []
        )
        usage = reply.usage or _estimate_usage(request.messages, reply.content, [c[2] for c in calls])
        model = str(request.body.get("model") or "claude-fake")
        if request.stream:
            events = _stream_events(reply, message_id, model, calls, usage)
            self._stream(request, events, reply.event_delay, reply.drop_after)
        else:
            self._send_json(200, _message(message_id, model, reply.content, calls, reply.stop_reason, usage))

    def _stream(
        self,
        request: RecordedRequest,
        events: list[tuple[str, Mapping[str, Any]]],
        event_delay: float,
        drop_after: int | None,
    ) -> None:
        request_id = self.owner._next_id("req_fake")
        self._start_stream("text/event-stream; charset=utf-8", {"Cache-Control": "no-cache", "request-id": request_id})
        for position, (event, data) in enumerate(events):
            if drop_after is not None and position > drop_after:
                self._drop()
                return
            if position and event_delay and self.owner._wait(event_delay):
                self._drop()  # stopping
                return
            self._write_chunk(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())
            request._record(SentEvent(event, data, time.monotonic()))
        self._write_chunk(b"")  # the chunked body's terminator

    # --- wire helpers -----------------------------------------------------------------------------------

    def _send_json(self, status: int, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> None:
        """Every JSON answer carries a `request-id`, as Anthropic's do."""
        super()._send_json(status, payload, {"request-id": self.owner._next_id("req_fake"), **(headers or {})})

    def _send_error_body(self, status: int, kind: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        self._send_json(status, {"type": "error", "error": {"type": kind, "message": message}}, headers)


# --- checks a real API makes -----------------------------------------------------------------------------


def _problem(request: RecordedRequest) -> tuple[int, str, str] | None:
    """Why the real API would refuse this request (status, error type, message), or None."""
    if not request.api_key:
        return 401, "authentication_error", "x-api-key header is required"
    if "anthropic-version" not in request.headers:
        return 400, "invalid_request_error", "anthropic-version: header is required"
    body = request.body
    for required in ("model", "max_tokens", "messages"):
        if required not in body:
            return 400, "invalid_request_error", f"{required}: Field required"
    if not isinstance(body["max_tokens"], int) or body["max_tokens"] < 1:
        return 400, "invalid_request_error", "max_tokens: must be a positive integer"
    messages = request.messages
    for index, message in enumerate(messages):
        role, content = message.get("role"), message.get("content")
        if role not in ("user", "assistant"):
            return 400, "invalid_request_error", f"messages.{index}.role: must be user or assistant"
        blocks = _blocks(content)
        if not blocks:
            return 400, "invalid_request_error", f"messages.{index}: content must be non-empty"
        if any(b.get("type") == "text" and not b.get("text") for b in blocks):
            return 400, "invalid_request_error", f"messages.{index}: text content blocks must be non-empty"
        uses = [str(b.get("id")) for b in blocks if b.get("type") == "tool_use"]
        if role == "assistant" and uses:
            following = _blocks(messages[index + 1].get("content")) if index + 1 < len(messages) else []
            results = list(itertools.takewhile(lambda b: b.get("type") == "tool_result", following))
            answered = {str(b.get("tool_use_id")) for b in results}
            missing = [u for u in uses if u not in answered]
            if missing or messages[index + 1].get("role") != "user":
                return (
                    400,
                    "invalid_request_error",
                    f"messages.{index + 1}: `tool_use` ids were found without `tool_result` blocks immediately "
                    f"after: {', '.join(missing)}. Each `tool_use` block must have a corresponding "
                    "`tool_result` block in the next message.",
                )
    for tool in request.tools:
        if "input_schema" not in tool or not re.fullmatch(r"[a-zA-Z0-9_-]{1,128}", str(tool.get("name", ""))):
            return 400, "invalid_request_error", "tools: each tool needs a valid name and an input_schema"
    return None


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if isinstance(content, list):
        return [cast(dict[str, Any], b) for b in cast(list[Any], content) if isinstance(b, dict)]
    return []


# --- payloads --------------------------------------------------------------------------------------------


def _message(
    message_id: str,
    model: str,
    content: str | None,
    calls: Sequence[tuple[str, str, str]],
    stop_reason: str,
    usage: FakeUsage,
) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [{"type": "text", "text": content}] if content else []
    blocks.extend(
        {"type": "tool_use", "id": call_id, "name": name, "input": _json_object(arguments)}
        for call_id, name, arguments in calls
    )
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage.to_dict(),
    }


def _stream_events(
    reply: TextReply | ToolUseReply,
    message_id: str,
    model: str,
    calls: Sequence[tuple[str, str, str]],
    usage: FakeUsage,
) -> list[tuple[str, Mapping[str, Any]]]:
    """The events Anthropic streams for this reply: input usage up front, the output count at the end."""
    start = _message(message_id, model, None, [], "", usage)
    start["stop_reason"] = None
    start["usage"] = {**usage.to_dict(), "output_tokens": 1}
    events: list[tuple[str, Mapping[str, Any]]] = [("message_start", {"type": "message_start", "message": start})]
    index = 0
    content = reply.content or ""
    if content:
        pieces = (
            list(reply.chunks) if isinstance(reply, TextReply) and reply.chunks is not None else split_words(content)
        )
        opening = {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}
        events.append(("content_block_start", opening))
        events.append(("ping", {"type": "ping"}))
        events.extend(
            (
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": p}},
            )
            for p in pieces
        )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    fragments = reply.json_fragments if isinstance(reply, ToolUseReply) else 1
    for call_id, name, arguments in calls:
        block = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
        events.append(("content_block_start", {"type": "content_block_start", "index": index, "content_block": block}))
        events.extend(
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": f},
                },
            )
            for f in split_fragments(arguments, fragments)
        )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    delta = {"stop_reason": reply.stop_reason, "stop_sequence": None}
    events.append(
        ("message_delta", {"type": "message_delta", "delta": delta, "usage": {"output_tokens": usage.output_tokens}})
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def _json_object(text: str) -> Any:
    """A tool_use input sent whole must be JSON; text that is not can only be streamed, so it becomes `{}`."""
    try:
        return json.loads(text)
    except ValueError:
        return {}


def _text_of(content: Any) -> str:
    """A message's text, whether its content is a string or a list of blocks (tool results included)."""
    if isinstance(content, str):
        return content
    return " ".join(_text_of(b.get("text", b.get("content", ""))) for b in _blocks(content))


def _last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return _text_of(message.get("content"))
    return ""


def _estimate_usage(messages: Sequence[Mapping[str, Any]], content: str | None, arguments: Sequence[str]) -> FakeUsage:
    """Words stand in for tokens, so usage is non-zero and predictable."""
    prompt = sum(len(_text_of(m.get("content")).split()) for m in messages)
    completion = len((content or "").split()) + sum(len(a.split()) for a in arguments)
    return FakeUsage(input_tokens=prompt, output_tokens=completion)
