"""Teams and workflows served by the real server (`stratus dev`, uvicorn): their runs stream over HTTP with
the members' and steps' events in between, and land in sessions of their type."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Server, start_server, stop_server

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """The Lambda tests' app (an echoing assistant, the route team `desk`, the workflow `pipeline`)."""
    running = start_server(tmp_path, app="tests.fakes.apps:lambda_test_app")
    yield running
    stop_server(running)


def stream(url: str, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    with httpx.stream("POST", url, json=body, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        name = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[len("data: ") :])))
    return events


def test_team_and_workflow_runs_stream_from_the_real_server(server: Server) -> None:
    team = stream(f"{server.url}/teams/desk/runs", {"message": "hello", "session_id": "t1", "user_id": "ann"})

    names = [name for name, _ in team]
    assert (names[0], names[-1]) == ("TeamRunStarted", "TeamRunCompleted")
    assert team[-1][1]["content"] == "echo: hello"
    member = [data for _, data in team if data["run_id"] != team[0][1]["run_id"]]
    assert {(d["agent_id"], d["parent_run_id"], d["nested_depth"]) for d in member} == {
        ("assistant", team[-1][1]["run_id"], 0)
    }
    assert [m["agent_id"] for m in team[-1][1]["member_responses"]] == ["assistant"]

    workflow = stream(
        f"{server.url}/workflows/pipeline/runs", {"message": "hello", "session_id": "w1", "user_id": "ann"}
    )

    top = [(name, data.get("step_name")) for name, data in workflow if data["run_id"] == workflow[0][1]["run_id"]]
    assert top == [
        ("WorkflowStarted", None),
        ("StepStarted", "Assistant"),
        ("StepCompleted", "Assistant"),
        ("StepStarted", "shout"),
        ("StepOutput", "shout"),
        ("StepCompleted", "shout"),
        ("WorkflowCompleted", None),
    ]
    assert list(workflow[-1][1]["metrics"]["steps"]) == ["Assistant"]
    assert workflow[-1][1]["content"] == "ECHO: HELLO"

    sessions = httpx.get(f"{server.url}/sessions", params={"user_id": "ann"}, timeout=10).json()["data"]
    assert sorted((s["session_id"], s["session_type"]) for s in sessions) == [("t1", "team"), ("w1", "workflow")]
