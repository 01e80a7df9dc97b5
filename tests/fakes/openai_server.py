"""A fake OpenAI-compatible server that speaks the Chat Completions wire format over real HTTP.

It lets the real `openai` SDK (and anything else that talks to OpenAI) run against a scripted model on
loopback, so tests see exactly what crosses the wire: JSON completions, SSE streams (text deltas, tool
calls whose arguments arrive in fragments, the final usage chunk), HTTP errors with OpenAI's error body,
`Retry-After`, slow answers and dropped connections. Standard library only.

    from tests.fakes.openai_server import FakeOpenAIServer, FakeToolCall, TextReply, ToolCallsReply

    with FakeOpenAIServer() as server:
        server.enqueue(ToolCallsReply([FakeToolCall("add", {"a": 2, "b": 3})]), TextReply("5"))
        client = openai.OpenAI(api_key="test-key", base_url=server.base_url)
        ...
        assert server.requests[1].messages[-1]["role"] == "tool"

Each request to `POST /v1/chat/completions` (or `/chat/completions`) takes the next scripted reply; when
none is left the server answers `"ECHO: <last user message>"`, so a whole app can run against it. Every
request is recorded (`server.requests`) with its parsed JSON body and its headers.

As a pytest fixture: `openai_server` below (import it into a test module, or list this module in
`pytest_plugins`). As a script, for end-to-end tests and local demos:

    python -m tests.fakes.openai_server --port 8765 --reply "Hello!" --tool-call 'add={"a": 2, "b": 3}'

prints its base URL on the first line of stdout, then serves until interrupted.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import signal
import struct
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, cast
from urllib.parse import urlsplit

import pytest

from stratus.knowledge.embedders.testing import hashed_embedding
from tests.fakes._http import FakeHandler, FakeServer, header_number, split_fragments, split_words

__all__ = [
    "CHAT_COMPLETIONS_PATHS",
    "DisconnectReply",
    "ErrorReply",
    "FakeOpenAIServer",
    "FakeToolCall",
    "FakeUsage",
    "RawBodyReply",
    "RawStreamReply",
    "RecordedRequest",
    "Reply",
    "TextReply",
    "ToolCallsReply",
    "main",
    "openai_server",
]

CHAT_COMPLETIONS_PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})
"""The paths the server answers; the second serves clients whose base URL lacks the `/v1` prefix."""

EMBEDDINGS_PATHS = frozenset({"/v1/embeddings", "/embeddings"})

DEFAULT_EMBEDDING_DIMENSIONS = 64
"""The length of the fake's vectors when a request names neither `dimensions` nor a model in the table below."""
MODEL_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072}


# --- the script ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FakeUsage:
    """Token counts reported for one reply (OpenAI's `usage` object)."""

    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": self.reasoning_tokens, "audio_tokens": 0},
        }


@dataclass(frozen=True, slots=True)
class FakeToolCall:
    """One tool call in a reply. `arguments` is the JSON text the model "wrote" (a mapping is dumped);
    `id` defaults to `call_<n>`, numbered across the server's life."""

    name: str
    arguments: str | Mapping[str, Any] = "{}"
    id: str | None = None

    @property
    def arguments_json(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


@dataclass(frozen=True, slots=True)
class TextReply:
    """A text answer.

    Streamed, the text arrives in `chunks` (default: word by word, spaces kept). `usage` defaults to a
    word count of the request and the reply. `delay` holds the answer back that many seconds (to trip a
    client's timeout); `drop_after` cuts a stream off, unfinished, after the opening chunk and that many
    more; `chunk_delay` waits that long before each piece of a stream (a slow drip).
    """

    content: str
    chunks: Sequence[str] | None = None
    usage: FakeUsage | None = None
    finish_reason: str = "stop"
    delay: float = 0.0
    drop_after: int | None = None
    chunk_delay: float = 0.0


@dataclass(frozen=True, slots=True)
class ToolCallsReply:
    """An answer that calls one or several tools (optionally after some text).

    Streamed, each call's first chunk carries its index, id, type, name and empty arguments; the
    arguments then follow in `argument_fragments` pieces, as OpenAI sends them. `delay` and `drop_after`
    work as in `TextReply`.
    """

    calls: Sequence[FakeToolCall]
    content: str | None = None
    usage: FakeUsage | None = None
    finish_reason: str = "tool_calls"
    argument_fragments: int = 3
    delay: float = 0.0
    drop_after: int | None = None


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """An HTTP error with OpenAI's error body `{"error": {"message", "type", "param", "code"}}`.
    `retry_after` is sent as the `Retry-After` header when given (seconds, or any header text)."""

    status: int
    message: str = "The server had an error while processing your request."
    type: str = "server_error"
    code: str | None = None
    retry_after: float | str | None = None
    delay: float = 0.0
    headers: Mapping[str, str] = field(default_factory=lambda: dict[str, str]())
    """More response headers (`retry-after-ms`, `x-should-retry`, ...)."""


@dataclass(frozen=True, slots=True)
class DisconnectReply:
    """Read the request, then close the connection without answering (a dropped connection)."""

    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class RawStreamReply:
    """A stream of exactly these `chat.completion.chunk` payloads, then `[DONE]`: for the quirks of
    OpenAI-compatible servers that OpenAI itself never sends (a missing `index`, a repeated name...)."""

    chunks: Sequence[Mapping[str, Any]]
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class RawBodyReply:
    """Exactly this status and body (an empty 200, a body that is not JSON...), streamed or not."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    delay: float = 0.0


Reply = TextReply | ToolCallsReply | ErrorReply | DisconnectReply | RawStreamReply | RawBodyReply
"""Anything the server can be scripted to answer with."""


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request as the server received it. Header names are lower-cased."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: dict[str, Any]
    received_at: float = field(default_factory=time.monotonic)
    """`time.monotonic()` when the request had been read, to measure waits between retries."""

    @property
    def messages(self) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], self.body.get("messages") or [])

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")


# --- the server ------------------------------------------------------------------------------------------


class FakeOpenAIServer(FakeServer[Reply, RecordedRequest]):
    """A scripted OpenAI Chat Completions server on 127.0.0.1, served from a background thread.

    Use it as a context manager, or call `start()` and `stop()`. `base_url` (`http://127.0.0.1:PORT/v1`)
    is what to give the SDK. The reply queue and the request log are safe to use from the test's thread
    while the server answers from its own.
    """

    def __init__(self, *replies: Reply, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(replies, host=host, port=port, name="OpenAI", handler=_Handler)

    @property
    def base_url(self) -> str:
        """What OpenAI clients take as `base_url`: `http://127.0.0.1:PORT/v1`."""
        return f"{self.url}/v1"

    @property
    def bodies(self) -> list[dict[str, Any]]:
        """The JSON body of every request received so far."""
        return [r.body for r in self.requests]

    def _fallback(self, request: RecordedRequest) -> Reply:
        return TextReply(f"ECHO: {_last_user_text(request.messages)}")


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAIServer]:
    """A running fake OpenAI server with an empty script, stopped after the test."""
    with FakeOpenAIServer() as server:
        yield server


class _Handler(FakeHandler[FakeOpenAIServer]):
    error_content_type = "application/json"
    error_message_format = '{"error": {"message": "%(message)s", "type": "invalid_request_error", "code": null}}'

    # --- routing ----------------------------------------------------------------------------------------

    def do_GET(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        if path in ("/v1/models", "/models"):
            self._send_json(200, {"object": "list", "data": [{"id": "fake", "object": "model", "owned_by": "fake"}]})
        else:
            self._send_error_body(404, f"Unknown request URL: GET {path}", "invalid_request_error", "unknown_url")

    def do_POST(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if path in EMBEDDINGS_PATHS:
            self._embeddings(path, raw)
            return
        if path not in CHAT_COMPLETIONS_PATHS:
            self._send_error_body(404, f"Unknown request URL: POST {path}", "invalid_request_error", "unknown_url")
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send_error_body(400, "We could not parse the JSON body of your request.", "invalid_request_error")
            return
        if not isinstance(body, dict):
            self._send_error_body(400, "The request body must be a JSON object.", "invalid_request_error")
            return
        self._serve(RecordedRequest(method="POST", path=path, headers=self._headers(), body=cast(dict[str, Any], body)))

    def _embeddings(self, path: str, raw: bytes) -> None:
        """`POST /v1/embeddings`: hashed bag-of-words vectors; a scripted ErrorReply or DisconnectReply at the
        head of the queue is used instead (to test retries)."""
        try:
            body = cast(dict[str, Any], json.loads(raw or b"{}"))
        except ValueError:
            self._send_error_body(400, "We could not parse the JSON body of your request.", "invalid_request_error")
            return
        owner = self.owner
        request = RecordedRequest(method="POST", path=path, headers=self._headers(), body=body)
        with owner._lock:
            owner._requests.append(request)
            head = owner._replies[0] if owner._replies else None
            if isinstance(head, ErrorReply | DisconnectReply):
                owner._replies.popleft()
            else:
                head = None
        if head is not None:
            self._answer(head, request)
            return
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else [str(t) for t in cast(list[Any], inputs or [])]
        dimensions = int(
            body.get("dimensions") or MODEL_DIMENSIONS.get(str(body.get("model")), DEFAULT_EMBEDDING_DIMENSIONS)
        )
        data: list[dict[str, Any]] = []
        for index, text in enumerate(texts):
            vector = hashed_embedding(text, dimensions)
            encoded: Any = vector
            if body.get("encoding_format") == "base64":
                encoded = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = sum(len(t.split()) for t in texts)
        self._send_json(
            200,
            {
                "object": "list",
                "data": data,
                "model": str(body.get("model") or "fake-embedding"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )

    # --- answers ----------------------------------------------------------------------------------------

    def _answer(self, reply: Reply, request: RecordedRequest) -> None:
        if isinstance(reply, DisconnectReply):
            self.close_connection = True
            return
        if isinstance(reply, ErrorReply):
            headers = {} if reply.retry_after is None else {"Retry-After": header_number(reply.retry_after)}
            headers.update(reply.headers)
            self._send_error_body(reply.status, reply.message, reply.type, reply.code, headers)
            return
        if isinstance(reply, RawStreamReply):
            self._stream_raw(reply.chunks)
            return
        if isinstance(reply, RawBodyReply):
            self._send(reply.status, reply.body, reply.content_type)
            return
        owner = self.owner
        completion_id = owner._next_id("chatcmpl-fake")
        calls = (
            [(c.id or owner._next_id("call_"), c.name, c.arguments_json) for c in reply.calls]
            if isinstance(reply, ToolCallsReply)
            else []
        )
        usage = reply.usage or _estimate_usage(request.messages, reply.content, [c[2] for c in calls])
        model = str(request.body.get("model") or "fake-model")
        if request.stream:
            self._stream(reply, request, completion_id, model, calls, usage)
        else:
            self._send_json(200, _completion(completion_id, model, reply.content, calls, reply.finish_reason, usage))

    def _stream(
        self,
        reply: TextReply | ToolCallsReply,
        request: RecordedRequest,
        completion_id: str,
        model: str,
        calls: list[tuple[str, str, str]],
        usage: FakeUsage,
    ) -> None:
        options = request.body.get("stream_options")
        include_usage = isinstance(options, dict) and bool(cast(dict[str, Any], options).get("include_usage"))
        created = int(time.time())

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            out: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
            }
            if include_usage:
                out["usage"] = None
            return out

        events: list[dict[str, Any]] = []
        content = reply.content or ""
        pieces = (
            list(reply.chunks) if isinstance(reply, TextReply) and reply.chunks is not None else split_words(content)
        )
        events.append(chunk({"role": "assistant", "content": "" if pieces else None, "refusal": None}))
        events.extend(chunk({"content": piece}) for piece in pieces)
        fragments = reply.argument_fragments if isinstance(reply, ToolCallsReply) else 1
        for index, (call_id, name, arguments) in enumerate(calls):
            opening = {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
            events.append(chunk({"tool_calls": [opening]}))
            events.extend(
                chunk({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})
                for fragment in split_fragments(arguments, fragments)
            )
        events.append(chunk({}, reply.finish_reason))
        if include_usage:
            last = chunk({})
            last["choices"] = []
            last["usage"] = usage.to_dict()
            events.append(last)

        self._start_stream(
            "text/event-stream; charset=utf-8", {"Cache-Control": "no-cache", "x-request-id": completion_id}
        )
        if reply.drop_after is not None:
            for event in events[: 1 + reply.drop_after]:
                self._write_event(event)
            self._drop()
            return
        drip = reply.chunk_delay if isinstance(reply, TextReply) else 0.0
        for event in events:
            if drip and self.owner._wait(drip):
                self._drop()  # stopping
                return
            self._write_event(event)
        self._write_chunk(b"data: [DONE]\n\n")
        self._write_chunk(b"")  # the chunked body's terminator

    def _stream_raw(self, chunks: Sequence[Mapping[str, Any]]) -> None:
        self._start_stream("text/event-stream; charset=utf-8")
        for event in chunks:
            self._write_event(event)
        self._write_chunk(b"data: [DONE]\n\n")
        self._write_chunk(b"")

    # --- wire helpers -----------------------------------------------------------------------------------

    def _write_event(self, data: Mapping[str, Any]) -> None:
        self._write_chunk(f"data: {json.dumps(data)}\n\n".encode())

    def _send_error_body(
        self,
        status: int,
        message: str,
        type: str,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        error = {"message": message, "type": type, "param": None, "code": code}
        self._send_json(status, {"error": error}, headers)


# --- payloads --------------------------------------------------------------------------------------------


def _completion(
    completion_id: str,
    model: str,
    content: str | None,
    calls: Sequence[tuple[str, str, str]],
    finish_reason: str,
    usage: FakeUsage,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if calls:
        message["tool_calls"] = [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            for call_id, name, arguments in calls
        ]
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
        "usage": usage.to_dict(),
    }


def _text_of(content: Any) -> str:
    """A message's text, whether its content is a string or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = cast(list[Any], content)
        return " ".join(str(cast(dict[str, Any], p).get("text", "")) for p in parts if isinstance(p, dict))
    return ""


def _last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return _text_of(message.get("content"))
    return ""


def _estimate_usage(messages: Sequence[Mapping[str, Any]], content: str | None, arguments: Sequence[str]) -> FakeUsage:
    """Words stand in for tokens, so usage is non-zero and predictable."""
    prompt = sum(len(_text_of(m.get("content")).split()) for m in messages)
    completion = len((content or "").split()) + sum(len(a.split()) for a in arguments)
    return FakeUsage(prompt_tokens=prompt, completion_tokens=completion)


# --- as a script -----------------------------------------------------------------------------------------


def _parse_tool_call(spec: str) -> ToolCallsReply:
    name, _, arguments = spec.partition("=")
    if not name:
        raise argparse.ArgumentTypeError(f"expected NAME=JSON, got {spec!r}")
    arguments = arguments or "{}"
    try:
        json.loads(arguments)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"arguments of {name!r} are not JSON: {exc}") from None
    return ToolCallsReply([FakeToolCall(name, arguments)])


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a fake OpenAI API until interrupted (Ctrl-C or SIGTERM).

    `--reply TEXT` and `--tool-call NAME=JSON` queue replies in the order given; once they are used up,
    every request is answered `ECHO: <last user message>`. The base URL is printed on the first line.
    """
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.openai_server", description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: a free one)")
    parser.add_argument("--reply", action="append", default=[], dest="replies", type=TextReply, metavar="TEXT")
    parser.add_argument(
        "--tool-call", action="append", dest="replies", type=_parse_tool_call, metavar="NAME=JSON", help="a tool call"
    )
    args = parser.parse_args(argv)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    with FakeOpenAIServer(*cast(list[Reply], args.replies), host=args.host, port=args.port) as server:
        print(server.base_url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
