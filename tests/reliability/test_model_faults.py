"""Model faults against the live server: the model is a fake OpenAI server on loopback scripted to fail in
each way a real provider does (hang, slow drip, 429 with Retry-After, 500, a dropped connection, a broken
stream, the wrong types, an empty answer). Each run ends within its deadline, as a stored ERROR run, answering
502 (provider failed) or 504 (out of time) over JSON and `RunError` on a stream; never 500, never an empty
COMPLETED; and the server goes on serving."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Server, start_server, stop_server
from tests.fakes.openai_server import (
    DisconnectReply,
    ErrorReply,
    FakeOpenAIServer,
    RawBodyReply,
    RawStreamReply,
    Reply,
    TextReply,
)

pytestmark = pytest.mark.e2e

HANG = 3600.0


@dataclass(frozen=True)
class Fault:
    name: str
    replies: tuple[Reply, ...]
    agent: str  # `remote`: request timeout 2 s, deadline 4 s, 2 retries; `bounded`: run_timeout 3 s
    status: int  # over JSON
    error_type: str
    within: float  # seconds, generous: the configured bound plus slack for a loaded machine
    stream: bool | None = None  # None: both ways


def _chunk(delta: Any) -> dict[str, Any]:
    return {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "fake", "choices": [delta]}


FAULTS = [
    Fault("hang", (TextReply("late", delay=HANG),) * 3, "remote", 504, "ModelTimeoutError", 12),
    Fault("slow drip", (TextReply("a " * 200, chunk_delay=0.4),), "bounded", 504, "RunTimeoutError", 10, True),
    Fault("hang, whole run", (TextReply("late", delay=HANG),), "bounded", 504, "RunTimeoutError", 10),
    Fault(
        "429 always",
        (ErrorReply(429, "slow down", "rate_limit", retry_after=0.2),) * 3,
        "remote",
        502,
        "ModelError",
        12,
    ),
    Fault("500 always", (ErrorReply(500),) * 3, "remote", 502, "ModelError", 12),
    Fault("503 html", (RawBodyReply(503, b"<html>down</html>", "text/html"),) * 3, "remote", 502, "ModelError", 12),
    Fault("dropped connection", (DisconnectReply(),) * 3, "remote", 502, "ModelError", 12),
    Fault("broken stream", (TextReply("one two three four", drop_after=1),) * 3, "remote", 502, "ModelError", 12, True),
    Fault("empty 200", (RawBodyReply(200, b""),) * 3, "remote", 502, "ModelError", 12, False),
    Fault(
        "not json", (RawBodyReply(200, b"<html>ok</html>", "text/html"),) * 3, "remote", 502, "ModelError", 12, False
    ),
    Fault(
        "wrong types",
        (RawBodyReply(200, b'{"choices": "none", "usage": 7}'),) * 3,
        "remote",
        502,
        "ModelError",
        12,
        False,
    ),
    Fault(
        "no choices", (RawBodyReply(200, b'{"id": "x", "choices": []}'),) * 3, "remote", 502, "ModelError", 12, False
    ),
    Fault("empty stream", (RawStreamReply([]),) * 3, "remote", 502, "ModelError", 12, True),
    Fault(
        "stream of wrong types",
        (RawStreamReply([_chunk({"index": 0, "delta": {"content": 42}}), _chunk("x")]),) * 3,
        "remote",
        502,
        "ModelError",
        12,
        True,
    ),
]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture(scope="module")
def server(fake: FakeOpenAIServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("faults")
    live = start_server(folder, app="tests.fakes.apps:faulty_model_app", env={"STRATUS_TEST_MODEL_URL": fake.base_url})
    yield live
    stop_server(live)


def _events(text: str) -> list[tuple[str, dict[str, Any]]]:
    events, kind = [], ""
    for line in text.splitlines():
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            events.append((kind, json.loads(line[6:])))
    return events


def _cases() -> list[Any]:
    cases = []
    for fault in FAULTS:
        for stream in (False, True):
            if fault.stream is None or fault.stream == stream:
                cases.append(pytest.param(fault, stream, id=f"{fault.name}-{'stream' if stream else 'json'}"))
    return cases


@pytest.mark.parametrize(("fault", "stream"), _cases())
def test_a_model_fault_ends_the_run_as_a_stored_error_in_time(
    server: Server, fake: FakeOpenAIServer, fault: Fault, stream: bool
) -> None:
    fake.reset()
    fake.enqueue(*fault.replies)
    session = f"s-{fault.name.replace(' ', '-')}-{stream}"
    started = time.monotonic()
    response = httpx.post(
        f"{server.url}/agents/{fault.agent}/runs",
        data={"message": "hello", "stream": str(stream).lower(), "session_id": session},
        timeout=60,
    )
    elapsed = time.monotonic() - started
    assert elapsed < fault.within, f"{fault.name}: took {elapsed:.1f} s"

    if stream:
        assert response.status_code == 200
        events = _events(response.text)
        kind, last = events[-1]
        assert kind == "RunError", f"{fault.name}: stream ended with {kind}"
        assert last["error_type"] == fault.error_type, last
        run_id = last["run_id"]
    else:
        assert response.status_code == fault.status, response.text
        body = response.json()
        assert body["error_type"] == fault.error_type
        assert body["status"] == "ERROR"
        assert "Traceback" not in body["detail"]
        run_id = body["run_id"]

    stored = httpx.get(f"{server.url}/agents/{fault.agent}/runs/{run_id}", timeout=10).json()
    assert stored["status"] == "ERROR"
    assert stored["error"]["type"] == fault.error_type
    assert stored["content"] == stored["error"]["message"]  # the error, not an empty answer
    # the server serves on: the next request of this agent (a normal answer) completes
    fake.reset()
    fine = httpx.post(
        f"{server.url}/agents/{fault.agent}/runs", data={"message": "again", "stream": "false"}, timeout=30
    )
    assert (fine.status_code, fine.json()["content"]) == (200, "ECHO: again")


def test_a_429_with_retry_after_is_waited_out_and_the_run_completes(server: Server, fake: FakeOpenAIServer) -> None:
    fake.reset()
    fake.enqueue(ErrorReply(429, "slow down", "rate_limit", retry_after=1))
    response = httpx.post(
        f"{server.url}/agents/remote/runs", data={"message": "patience", "stream": "false"}, timeout=30
    )
    assert (response.status_code, response.json()["content"]) == (200, "ECHO: patience")
    first, second = fake.requests[:2]
    assert second.received_at - first.received_at >= 0.9  # the server asked for a second; it got one


def test_after_every_fault_the_listings_still_read(server: Server, tmp_path: Path) -> None:
    for path in ("/sessions", "/agents/remote/runs?session_id=s-hang-False", "/agents"):
        assert httpx.get(f"{server.url}{path}", timeout=10).status_code == 200, path
