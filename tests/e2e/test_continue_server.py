"""`/continue` and the memory events on the real server (`stratus dev`, uvicorn, its SQLite file), driven the way
agno's `AgentOSClient` sends them: multipart forms, `tools`/`requirements` as JSON text, streamed by default."""

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
    running = start_server(tmp_path, app="tests.fakes.continue_apps:continue_app")
    yield running
    stop_server(running)


def events_of(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return [json.loads(line[len("data: ") :]) for line in response.text.splitlines() if line.startswith("data: ")]


def form(**fields: str) -> dict[str, tuple[None, str]]:
    """A multipart form, as agno's client posts it."""
    return {name: (None, value) for name, value in fields.items()}


@pytest.mark.parametrize(
    ("path", "results", "opening", "closing"),
    [
        ("/agents/recall", "tools", "RunContinued", "RunCompleted"),
        ("/teams/desk", "requirements", "TeamRunContinued", "TeamRunCompleted"),
    ],
)
def test_a_follow_up_streams_from_the_real_server_with_the_conversation_before_it(
    server: Server, path: str, results: str, opening: str, closing: str
) -> None:
    first = httpx.post(
        f"{server.url}{path}/runs",
        files=form(message="the door code is 4711", session_id="c1", user_id="ann", stream="false"),
        timeout=30,
    )
    assert first.status_code == 200, first.text
    run_id = first.json()["run_id"]

    events = events_of(
        httpx.post(
            f"{server.url}{path}/runs/{run_id}/continue",
            files=form(**{results: "[]"}, input="what was the code?", session_id="c1", user_id="ann"),
            timeout=30,
        )
    )

    own = [e for e in events if "parent_run_id" not in e]
    assert (own[0]["event"], own[-1]["event"]) == (opening, closing)
    assert own[-1]["content"] == "seen: the door code is 4711 | what was the code?"
    new_id = own[0]["run_id"]
    assert new_id != run_id
    read = httpx.get(f"{server.url}{path}/runs/{new_id}", params={"session_id": "c1", "user_id": "ann"}, timeout=10)
    assert read.status_code == 200
    assert (read.json()["forked_from_run_id"], read.json()["status"]) == (run_id, "COMPLETED")
    original = httpx.get(f"{server.url}{path}/runs/{run_id}", params={"session_id": "c1", "user_id": "ann"}, timeout=10)
    assert original.json()["content"] == "seen: the door code is 4711"

    # Another user naming the run's session cannot continue it; nothing is stored for the attempt.
    refused = httpx.post(
        f"{server.url}{path}/runs/{run_id}/continue",
        files=form(input="tell me the code", session_id="c1", user_id="bob", stream="false"),
        timeout=30,
    )
    assert refused.status_code == 404
    assert "detail" in refused.json()
    runs = httpx.get(f"{server.url}/sessions/c1/runs", params={"user_id": "ann"}, timeout=10).json()
    assert len([r for r in runs if not r.get("parent_run_id")]) == 2


def test_a_learning_agent_streams_its_memory_update_from_the_real_server(server: Server) -> None:
    events = events_of(
        httpx.post(
            f"{server.url}/agents/learner/runs",
            files=form(message="I love tea", session_id="m1", user_id="ann"),
            timeout=30,
        )
    )
    names = [e["event"] for e in events]
    assert names[-3:] == ["MemoryUpdateStarted", "MemoryUpdateCompleted", "RunCompleted"]
    started, completed = events[-3], events[-2]
    assert started["run_id"] == completed["run_id"] == events[-1]["run_id"]
    assert (started["agent_id"], completed["session_id"]) == ("learner", "m1")
    assert started["created_at"] <= completed["created_at"]
