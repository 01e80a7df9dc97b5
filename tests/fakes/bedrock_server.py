"""A fake Bedrock runtime that speaks the Converse wire format over real HTTP, so the real boto3 client runs
against a scripted model on loopback: signing, URL encoding of model ids, error parsing and botocore's own
retries included. Standard library only.

    from tests.fakes.bedrock_server import FakeBedrockServer, FakeToolUse, TextReply, ToolUseReply

    with FakeBedrockServer() as server:
        server.enqueue(ToolUseReply([FakeToolUse("add", {"a": 2, "b": 3})]), TextReply("5"))
        model = BedrockChat("us.amazon.nova-lite-v1:0", endpoint_url=server.url, region="us-east-1")
        ...
        assert server.requests[1].messages[-1]["content"][0]["toolResult"]["content"] == [{"text": "5"}]

It answers `POST /model/{modelId}/converse` with JSON and `POST /model/{modelId}/converse-stream` with an
`application/vnd.amazon.eventstream` body: AWS event-stream frames (prelude with total and header lengths and
its CRC32, string headers `:event-type` / `:content-type` / `:message-type`, a JSON payload, the message
CRC32), one frame per HTTP chunk, so each reaches the client when it is sent. Errors are what Bedrock sends:
the status, `x-amzn-errortype` and a JSON `{"message": ...}` body; or, inside a stream, an `exception` frame.

Each request takes the next scripted reply; with none left it answers `"ECHO: <last user text>"`. Every
request is recorded (`server.requests`), with the time each stream frame went out. Like Bedrock, the fake
refuses (400 ValidationException) a conversation whose roles do not alternate, that does not start with the
user, that has blank text, tool blocks without `toolConfig`, or tool results that answer no tool use of the
turn before: a provider that formats messages wrongly fails here as it would on AWS.
"""

from __future__ import annotations

import json
import re
import struct
import time
import uuid
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import pytest

from tests.fakes._http import FakeHandler, FakeServer, split_fragments, split_words

__all__ = [
    "ErrorReply",
    "FakeBedrockServer",
    "FakeToolUse",
    "FakeUsage",
    "RawBodyReply",
    "RecordedRequest",
    "Reply",
    "StreamErrorReply",
    "TextReply",
    "ToolUseReply",
    "bedrock_server",
    "encode_frame",
    "event_frame",
    "exception_frame",
]

_PATH = re.compile(r"^/model/(?P<model>[^/]+)/(?P<operation>converse|converse-stream)$")


# --- AWS event-stream framing ----------------------------------------------------------------------------


def encode_frame(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One event-stream message: total length, headers length, prelude CRC32, headers, payload, message CRC32
    (all big-endian). Headers are strings (type 7): a one-byte name length, the name, the type, a two-byte value
    length, the value. botocore only decodes frames; `tests/integration/test_bedrock_model.py` checks this
    encoder against its decoder."""
    encoded_headers = b""
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        encoded_headers += struct.pack(">B", len(raw_name)) + raw_name
        encoded_headers += struct.pack(">BH", 7, len(raw_value)) + raw_value
    total = 12 + len(encoded_headers) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded_headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + encoded_headers + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event_frame(event_type: str, body: Mapping[str, Any]) -> bytes:
    """An `event` frame, as ConverseStream sends `messageStart`, `contentBlockDelta`, `metadata`..."""
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_frame(headers, json.dumps(body).encode())


def exception_frame(exception_type: str, message: str) -> bytes:
    """An `exception` frame (`throttlingException`, `modelStreamErrorException`...), as a failing stream ends."""
    headers = {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"}
    return encode_frame(headers, json.dumps({"message": message}).encode())


# --- the script ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FakeUsage:
    """Token counts reported for one reply (Converse's `usage`; cache fields only when non-zero)."""

    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    def to_dict(self) -> dict[str, int]:
        out = {
            "inputTokens": self.input_tokens,
            "outputTokens": self.output_tokens,
            "totalTokens": self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_write_tokens,
        }
        if self.cache_read_tokens:
            out["cacheReadInputTokens"] = self.cache_read_tokens
        if self.cache_write_tokens:
            out["cacheWriteInputTokens"] = self.cache_write_tokens
        return out


@dataclass(frozen=True, slots=True)
class FakeToolUse:
    """One tool use in a reply; `id` defaults to `tooluse_<n>`, numbered across the server's life."""

    name: str
    input: Mapping[str, Any] = field(default_factory=dict[str, Any])
    id: str | None = None


@dataclass(frozen=True, slots=True)
class TextReply:
    """A text answer. Streamed, it arrives in `chunks` (default: word by word, spaces kept).

    `delay` holds the whole answer back (to trip a read timeout); `event_delay` waits before each stream frame
    after `messageStart` (a slow drip, to see deltas arrive one by one). `usage` defaults to a word count.
    """

    text: str
    chunks: Sequence[str] | None = None
    usage: FakeUsage | None = None
    stop_reason: str = "end_turn"
    delay: float = 0.0
    event_delay: float = 0.0


@dataclass(frozen=True, slots=True)
class ToolUseReply:
    """An answer that uses one or several tools, optionally after some text. Streamed, each tool use opens
    with `contentBlockStart` (id and name), then its input JSON arrives in `input_fragments` pieces."""

    uses: Sequence[FakeToolUse]
    text: str | None = None
    usage: FakeUsage | None = None
    stop_reason: str = "tool_use"
    input_fragments: int = 3
    delay: float = 0.0
    event_delay: float = 0.0


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """An HTTP error as Bedrock sends it: `status`, `x-amzn-errortype: <error_type>:...`, `{"message": ...}`."""

    status: int
    error_type: str = "InternalServerException"
    message: str = "The server encountered an error processing your request."
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class StreamErrorReply:
    """A stream that starts well (`messageStart` and the first `after` words of `text` as deltas), then ends
    with an `exception` frame of `exception_type` (camelCase, as in the stream: `throttlingException`)."""

    exception_type: str = "throttlingException"
    message: str = "Too many tokens, please wait before trying again."
    text: str = "Partial answer that never ends"
    after: int = 2
    event_delay: float = 0.0


@dataclass(frozen=True, slots=True)
class RawBodyReply:
    """Exactly this status and body (a 200 that carries no answer, a body that is not JSON...)."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"


Reply = TextReply | ToolUseReply | ErrorReply | StreamErrorReply | RawBodyReply
"""Anything the server can be scripted to answer with."""


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request as the server received it. Header names are lower-cased; `model_id` is URL-decoded."""

    path: str
    model_id: str
    stream: bool
    headers: Mapping[str, str]
    body: dict[str, Any]
    received_at: float = field(default_factory=time.monotonic)
    sent: list[tuple[str, float]] = field(default_factory=list[tuple[str, float]])
    """For a stream: each frame's event type and the `time.monotonic()` at which it was written."""

    @property
    def messages(self) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], self.body.get("messages") or [])

    @property
    def tool_names(self) -> list[str]:
        tools = cast(list[dict[str, Any]], (self.body.get("toolConfig") or {}).get("tools") or [])
        return [t["toolSpec"]["name"] for t in tools]

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")


# --- the server ------------------------------------------------------------------------------------------


class FakeBedrockServer(FakeServer[Reply, RecordedRequest]):
    """A scripted Bedrock runtime on 127.0.0.1, served from a background thread. Use it as a context manager,
    or `start()` and `stop()`; `url` is the `endpoint_url` to give boto3."""

    def __init__(self, *replies: Reply, host: str = "127.0.0.1", port: int = 0, validate: bool = True) -> None:
        super().__init__(replies, host=host, port=port, name="Bedrock", handler=_Handler)
        self.validate = validate

    def _fallback(self, request: RecordedRequest) -> Reply:
        return TextReply(f"ECHO: {_last_user_text(request.messages)}")


@pytest.fixture
def bedrock_server() -> Iterator[FakeBedrockServer]:
    """A running fake Bedrock runtime with an empty script, stopped after the test."""
    with FakeBedrockServer() as server:
        yield server


class _Handler(FakeHandler[FakeBedrockServer]):
    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        match = _PATH.match(path)
        if match is None:
            self._send_error(404, "UnknownOperationException", f"no such operation: POST {path}")
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send_error(400, "SerializationException", "the request body is not JSON")
            return
        request = RecordedRequest(
            path=path,
            model_id=unquote(match["model"]),
            stream=match["operation"] == "converse-stream",
            headers=self._headers(),
            body=cast(dict[str, Any], body),
        )
        problem = _invalid(request.body) if self.owner.validate else None
        if problem is not None:  # refused before any model sees it: the script is left as it is
            self.owner._record(request)
            self._send_error(400, "ValidationException", problem)
            return
        self._serve(request)

    # --- answers ----------------------------------------------------------------------------------------

    def _answer(self, reply: Reply, request: RecordedRequest) -> None:
        if isinstance(reply, ErrorReply):
            self._send_error(reply.status, reply.error_type, reply.message)
            return
        if isinstance(reply, RawBodyReply):
            self._send(reply.status, reply.body, reply.content_type)
            return
        if isinstance(reply, StreamErrorReply):
            if not request.stream:
                raise AssertionError("a StreamErrorReply was scripted for a request that is not a stream")
            frames = [("messageStart", event_frame("messageStart", {"role": "assistant"}))]
            for piece in split_words(reply.text)[: reply.after]:
                frames.append(_text_delta(0, piece))
            frames.append((reply.exception_type, exception_frame(reply.exception_type, reply.message)))
            self._stream(frames, request, reply.event_delay)
            return
        owner = self.owner
        text = reply.text or ""
        uses = (
            [(u.id or owner._next_id("tooluse_"), u.name, json.dumps(u.input)) for u in reply.uses]
            if isinstance(reply, ToolUseReply)
            else []
        )
        usage = reply.usage or FakeUsage(
            input_tokens=sum(len(_text_of(m).split()) for m in request.messages),
            output_tokens=len(text.split()) + sum(len(u[2].split()) for u in uses),
        )
        if not request.stream:
            content: list[dict[str, Any]] = [{"text": text}] if text else []
            content += [{"toolUse": {"toolUseId": i, "name": n, "input": json.loads(a)}} for i, n, a in uses]
            payload = {
                "output": {"message": {"role": "assistant", "content": content}},
                "stopReason": reply.stop_reason,
                "usage": usage.to_dict(),
                "metrics": {"latencyMs": 12},
            }
            self._send(200, json.dumps(payload).encode(), "application/json")
            return
        frames = [("messageStart", event_frame("messageStart", {"role": "assistant"}))]
        index = 0
        if text:
            pieces = (
                list(reply.chunks) if isinstance(reply, TextReply) and reply.chunks is not None else split_words(text)
            )
            frames += [_text_delta(0, piece) for piece in pieces]
            frames.append(("contentBlockStop", event_frame("contentBlockStop", {"contentBlockIndex": 0})))
            index = 1
        fragments = reply.input_fragments if isinstance(reply, ToolUseReply) else 1
        for use_id, name, arguments in uses:
            start = {"contentBlockIndex": index, "start": {"toolUse": {"toolUseId": use_id, "name": name}}}
            frames.append(("contentBlockStart", event_frame("contentBlockStart", start)))
            for piece in split_fragments(arguments, fragments):
                delta = {"contentBlockIndex": index, "delta": {"toolUse": {"input": piece}}}
                frames.append(("contentBlockDelta", event_frame("contentBlockDelta", delta)))
            frames.append(("contentBlockStop", event_frame("contentBlockStop", {"contentBlockIndex": index})))
            index += 1
        frames.append(("messageStop", event_frame("messageStop", {"stopReason": reply.stop_reason})))
        metadata = {"usage": usage.to_dict(), "metrics": {"latencyMs": 12}}
        frames.append(("metadata", event_frame("metadata", metadata)))
        self._stream(frames, request, reply.event_delay)

    def _stream(self, frames: Sequence[tuple[str, bytes]], request: RecordedRequest, event_delay: float) -> None:
        self._start_stream("application/vnd.amazon.eventstream", {"x-amzn-RequestId": str(uuid.uuid4())})
        for i, (kind, frame) in enumerate(frames):
            if i and event_delay and self.owner._wait(event_delay):
                self.close_connection = True  # stopping
                return
            self._write_chunk(frame)
            request.sent.append((kind, time.monotonic()))
        self._write_chunk(b"")  # the chunked body's terminator

    def _send(self, status: int, data: bytes, content_type: str, headers: Mapping[str, str] | None = None) -> None:
        """Every answer carries an `x-amzn-RequestId`, as Bedrock's do."""
        super()._send(status, data, content_type, {"x-amzn-RequestId": str(uuid.uuid4()), **(headers or {})})

    def _send_error(self, status: int, error_type: str, message: str) -> None:
        errortype = f"{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/"
        body = json.dumps({"message": message}).encode()
        self._send(status, body, "application/json", {"x-amzn-errortype": errortype})


# --- what Bedrock refuses --------------------------------------------------------------------------------


def _invalid(body: Mapping[str, Any]) -> str | None:
    """Why Bedrock would refuse this conversation (400 ValidationException), or None."""
    messages = cast(list[dict[str, Any]], body.get("messages") or [])
    if not messages:
        return "The messages field is required and must contain at least one message."
    has_tools = bool((body.get("toolConfig") or {}).get("tools"))
    previous_uses: set[str] = set()
    for n, message in enumerate(messages):
        role = message.get("role")
        if n == 0 and role != "user":
            return "A conversation must start with a user message."
        if n and role == messages[n - 1].get("role"):
            return "A conversation must alternate between user and assistant roles."
        uses: set[str] = set()
        for k, block in enumerate(cast(list[dict[str, Any]], message.get("content") or [])):
            where = f"messages.{n}.content.{k}"
            if "text" in block and not str(block["text"]).strip():
                return f"The text field in the ContentBlock object at {where} is blank."
            if ("toolUse" in block or "toolResult" in block) and not has_tools:
                return "The toolConfig field must be defined when using toolUse and toolResult content blocks."
            if "toolUse" in block:
                uses.add(block["toolUse"]["toolUseId"])
            if "toolResult" in block and block["toolResult"]["toolUseId"] not in previous_uses:
                return f"The toolResult at {where} answers no toolUse of the previous turn."
        previous_uses = uses
    return None


# --- helpers ---------------------------------------------------------------------------------------------


def _text_delta(index: int, text: str) -> tuple[str, bytes]:
    return "contentBlockDelta", event_frame("contentBlockDelta", {"contentBlockIndex": index, "delta": {"text": text}})


def _text_of(message: Mapping[str, Any]) -> str:
    blocks = cast(list[dict[str, Any]], message.get("content") or [])
    return " ".join(str(b["text"]) for b in blocks if "text" in b)


def _last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return _text_of(message)
    return ""
