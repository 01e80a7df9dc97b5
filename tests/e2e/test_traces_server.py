"""Traces from the real server (`stratus dev`, uvicorn), configured as a user would with the standard OTEL_*
variables: a streamed team run's spans reach an OTLP receiver and `/traces` serves the same trace; a run
cancelled mid-answer leaves a trace that says so."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from stratus.tracing import trace_id_of
from tests.e2e.conftest import Server, start_server, stop_server
from tests.e2e.test_teams_workflows_server import stream
from tests.integration.test_otlp_export import Receiver, serve_receiver

pytestmark = pytest.mark.e2e


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serve_receiver() as running:
        yield running


@pytest.fixture
def server(tmp_path: Path, receiver: Receiver) -> Iterator[Server]:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_SERVICE_NAME": "stratus-e2e",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    running = start_server(tmp_path, app="tests.fakes.apps:lambda_test_app", env=env)
    yield running
    stop_server(running)


def nodes(tree: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [node for top in tree for node in [top, *nodes(top.get("spans") or [])]]


def test_a_streamed_team_run_is_exported_and_served_as_one_trace(server: Server, receiver: Receiver) -> None:
    events = stream(
        f"{server.url}/teams/desk/runs", {"message": "hello", "stream": True, "session_id": "t1", "user_id": "ann"}
    )
    assert events[-1][0] == "TeamRunCompleted"
    run_id = events[0][1]["run_id"]
    trace_id = trace_id_of(run_id)

    detail = httpx.get(f"{server.url}/traces/{trace_id}", params={"user_id": "ann"}, timeout=10).json()
    assert detail["team_id"] == "desk"
    assert detail["user_id"] == "ann"
    assert detail["output"] == "echo: hello"
    [team] = detail["tree"]
    assert team["type"] == "TEAM"
    [route] = [n for n in team["spans"] if n["type"] == "TOOL"]
    assert route["name"] == "route_to_member"
    [member] = route["spans"]
    assert (member["type"], member["name"]) == ("AGENT", "Assistant.run")
    assert [n["type"] for n in member["spans"]] == ["LLM"]

    received = receiver.wait_for(detail["total_spans"])
    assert {r.span.trace_id.hex() for r in received} == {trace_id}
    assert {r.span.span_id.hex() for r in received} == {n["id"] for n in nodes(detail["tree"])}
    assert {r.resource["service.name"] for r in received} == {"stratus-e2e"}

    # Another user does not see it.
    assert httpx.get(f"{server.url}/traces", params={"user_id": "bob"}, timeout=10).json()["data"] == []
    listed = httpx.get(f"{server.url}/traces", params={"user_id": "ann"}, timeout=10).json()
    assert [t["trace_id"] for t in listed["data"]] == [trace_id]


def test_a_cancelled_run_leaves_a_trace_that_says_so(server: Server, receiver: Receiver) -> None:
    started = threading.Event()
    seen: list[tuple[str, dict[str, Any]]] = []

    def run_hanging() -> None:
        body = {"message": "hang", "stream": True, "session_id": "h1", "user_id": "ann"}
        with httpx.stream("POST", f"{server.url}/agents/assistant/runs", json=body, timeout=30) as response:
            name = ""
            for line in response.iter_lines():
                if line.startswith("event: "):
                    name = line[len("event: ") :]
                elif line.startswith("data: "):
                    seen.append((name, json.loads(line[len("data: ") :])))
                    started.set()

    worker = threading.Thread(target=run_hanging, daemon=True)
    worker.start()
    assert started.wait(10)
    run_id = seen[0][1]["run_id"]
    deadline = time.monotonic() + 10
    while not any(name == "ModelRequestStarted" for name, _ in seen) and time.monotonic() < deadline:
        time.sleep(0.05)
    cancelled = httpx.post(f"{server.url}/agents/assistant/runs/{run_id}/cancel", timeout=10)
    assert cancelled.status_code == 200, cancelled.text
    worker.join(15)

    deadline = time.monotonic() + 10
    detail: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = httpx.get(f"{server.url}/traces/{trace_id_of(run_id)}", params={"user_id": "ann"}, timeout=10)
        if response.status_code == 200:
            detail = response.json()
            break
        time.sleep(0.1)
    assert detail["status"] == "ERROR"
    assert "cancelled" in detail["error"]
    [root] = detail["tree"]
    [model] = root["spans"]
    assert model["type"] == "LLM"
    assert model["status"] == "ERROR"  # the request that never answered ends with the run
    received = receiver.wait_for(2)
    assert {r.span.trace_id.hex() for r in received} == {trace_id_of(run_id)}


def test_info_describes_the_server(server: Server) -> None:
    info = httpx.get(f"{server.url}/info", timeout=10).json()
    assert (info["agent_count"], info["team_count"], info["workflow_count"]) == (2, 1, 1)
    assert info["agno_version"] == "3.1.10"
    assert info["auth_mode"] == "none"


def test_spans_still_queued_go_out_when_the_server_stops(tmp_path: Path, receiver: Receiver) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_BSP_SCHEDULE_DELAY": "600000"}  # no timer fires
    running = start_server(tmp_path, app="tests.fakes.apps:lambda_test_app", env=env)
    try:
        body = {"message": "hi", "stream": False, "session_id": "q1"}
        run = httpx.post(f"{running.url}/agents/assistant/runs", json=body, timeout=30).json()
        assert receiver.spans == []
    finally:
        stop_server(running)
    received = receiver.wait_for(2)
    assert {r.span.trace_id.hex() for r in received} == {trace_id_of(run["run_id"])}
