"""`/teams` and `/workflows` over HTTP (FastAPI's TestClient): AgentOS' routes, fields and event names; runs
buffered, streamed and in the background; their runs listed, read and cancelled; their sessions in
`/sessions`; bad input refused with nothing stored."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from stratus import Agent, App, Parallel, RunOptions, Step, StepInput, Team, Workflow
from stratus.api._runs import RunRegistry
from stratus.component_events import WorkflowCancelled
from stratus.messages import Message
from stratus.models.base import ModelRequest
from stratus.models.testing import FunctionModel, Reply, call
from stratus.run import RunEvent, RunOutput, RunStatus
from stratus.storage.sqlite import SqliteStore

REFERENCE = json.loads((Path(__file__).resolve().parents[1] / "reference" / "agentos-openapi.json").read_text())
SCHEMAS = REFERENCE["components"]["schemas"]

# The event names agno's AgentOS streams (agno 2.x: RunEvent, TeamRunEvent, WorkflowRunEvent), which its
# clients dispatch on. Every event a team or a workflow streams must be one of them.
AGNO_EVENTS = {
    *("RunStarted", "RunContent", "RunContentCompleted", "RunIntermediateContent", "RunCompleted", "RunError"),
    *("RunCancelled", "RunPaused", "RunContinued", "ToolCallStarted", "ToolCallCompleted", "ToolCallError"),
    *("ReasoningStarted", "ReasoningStep", "ReasoningCompleted", "ModelRequestStarted", "ModelRequestCompleted"),
    *("TeamRunStarted", "TeamRunContent", "TeamRunIntermediateContent", "TeamRunContentCompleted"),
    *("TeamRunCompleted", "TeamRunError", "TeamRunCancelled", "TeamToolCallStarted", "TeamToolCallCompleted"),
    *("TeamToolCallError", "TeamModelRequestStarted", "TeamModelRequestCompleted", "TeamRunPaused"),
    *("WorkflowStarted", "WorkflowCompleted", "WorkflowPaused", "WorkflowCancelled", "WorkflowError"),
    *("StepStarted", "StepCompleted", "StepError", "StepOutput", "LoopExecutionStarted", "LoopIterationStarted"),
    *("LoopIterationCompleted", "LoopExecutionCompleted", "ParallelExecutionStarted", "ParallelExecutionCompleted"),
    *("ConditionExecutionStarted", "ConditionExecutionCompleted", "RouterExecutionStarted"),
    *("RouterExecutionCompleted", "StepsExecutionStarted", "StepsExecutionCompleted"),
}


def echo(agent_id: str) -> Agent:
    def answer(messages: list[Message], params: ModelRequest) -> str:
        return f"{agent_id}: {messages[-1].content}"

    return Agent(id=agent_id, name=agent_id.title(), description=f"the {agent_id} desk", model=FunctionModel(answer))


def route_by_keyword(messages: list[Message], params: ModelRequest) -> Reply:
    text = messages[-1].content or ""
    return call("route_to_member", member_id="billing" if "invoice" in text else "tech")


def coordinate(messages: list[Message], params: ModelRequest) -> Reply:
    """Delegates to the desk team and to the writer in one turn, then joins their results."""
    if messages[-1].role == "user":
        return [
            call("delegate_task_to_member", member_id="desk", task=f"invoice question: {messages[-1].content}"),
            call("delegate_task_to_member", member_id="writer", task="a friendly closing line"),
        ]
    results = [m.content for m in messages if m.role == "tool"]
    return " | ".join(r or "" for r in results)


HELD = threading.Event()
"""Set once a member or step that holds still (until it is cancelled) has started."""


async def held(messages: list[Message], params: ModelRequest) -> str:
    HELD.set()
    await asyncio.sleep(3600)
    return "released"


async def held_step(step_input: StepInput) -> str:
    return await held([], ModelRequest())


def shout(step_input: StepInput) -> str:
    return str(step_input.previous_step_content).upper()


def count(step_input: StepInput) -> int:
    return len(str(step_input.previous_step_content))


def build_app(store: SqliteStore) -> App:
    desk = Team(
        id="desk",
        name="Desk",
        description="answers billing and technical questions",
        mode="route",
        model=FunctionModel(route_by_keyword),
        members=[echo("billing"), echo("tech")],
    )
    studio = Team(id="studio", name="Studio", model=FunctionModel(coordinate), members=[desk, echo("writer")])
    waiting = Team(
        id="waiting",
        name="Waiting",
        mode="broadcast",
        model=FunctionModel(lambda m, p: "never"),
        members=[Agent(id="slow", model=FunctionModel(held))],
    )
    pipeline = Workflow(
        id="pipeline",
        name="Pipeline",
        description="write, measure, shout",
        steps=[echo("writer"), Parallel(Step("shout", executor=shout), Step("count", executor=count)), shout],
    )
    stuck = Workflow(id="stuck", name="Stuck", steps=[Step("first", executor=shout), Step("hold", executor=held_step)])
    return App(agents=[echo("billing")], teams=[desk, studio, waiting], workflows=[pipeline, stuck], store=store)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    HELD.clear()
    with TestClient(build_app(SqliteStore(tmp_path / "api.db")).asgi()) as c:
        yield c


@pytest.fixture
def store(client: TestClient) -> SqliteStore:
    return client.app.state.stratus.store  # type: ignore[attr-defined]


def parse_sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    for block in text.strip().split("\n\n"):
        name, data = block.split("\n")
        assert name.startswith("event: ")
        assert data.startswith("data: ")
        events.append((name[len("event: ") :], json.loads(data[len("data: ") :])))
    return events


def fields_of(schema: str) -> set[str]:
    return set(SCHEMAS[schema]["properties"])


# --- discovery -----------------------------------------------------------------------------------------------


def test_teams_and_workflows_are_described_with_the_reference_fields(client: TestClient) -> None:
    teams = client.get("/teams").json()
    assert [t["id"] for t in teams] == ["desk", "studio", "waiting"]
    studio = client.get("/teams/studio").json()
    assert set(studio) <= fields_of("TeamResponse")
    assert (studio["mode"], studio["model"]["provider"]) == ("coordinate", "Test")
    assert [t["name"] for t in studio["tools"]["tools"]] == ["delegate_task_to_member"]
    assert studio["tools"]["tools"][0]["parameters"]["required"] == ["member_id", "task"]
    desk, writer = studio["members"]
    assert set(desk) <= fields_of("TeamResponse")
    assert set(writer) <= fields_of("AgentResponse")
    assert (desk["id"], desk["mode"], [m["id"] for m in desk["members"]]) == ("desk", "route", ["billing", "tech"])
    assert client.get("/teams/desk").json()["tools"]["tools"][0]["name"] == "route_to_member"

    workflows = client.get("/workflows").json()
    assert [w["id"] for w in workflows] == ["pipeline", "stuck"]
    assert all(set(w) <= fields_of("WorkflowSummaryResponse") for w in workflows)
    pipeline = client.get("/workflows/pipeline").json()
    assert set(pipeline) <= fields_of("WorkflowResponse")
    assert [(s["type"], s["name"]) for s in pipeline["steps"]] == [
        ("Step", "Writer"),
        ("Parallel", "parallel"),
        ("Step", "shout"),
    ]
    assert pipeline["steps"][0]["agent"]["id"] == "writer"
    assert [s["name"] for s in pipeline["steps"][1]["steps"]] == ["shout", "count"]

    config = client.get("/config").json()
    assert [t["id"] for t in config["teams"]] == ["desk", "studio", "waiting"]
    assert [w["id"] for w in config["workflows"]] == ["pipeline", "stuck"]
    for path in ("/teams/nope", "/workflows/nope", "/teams/nope/runs/r1", "/workflows/nope/runs?session_id=s"):
        response = client.get(path)
        assert response.status_code == 404
        assert "nope" in response.json()["detail"]


# --- team runs -----------------------------------------------------------------------------------------------


def test_a_buffered_team_run_from_a_multipart_form(client: TestClient) -> None:
    response = client.post(
        "/teams/desk/runs",
        files={"message": (None, "my invoice is wrong"), "stream": (None, "false"), "session_id": (None, "s1")},
        data={"user_id": "ann"},
    )

    assert response.status_code == 200, response.text
    run = response.json()
    assert (run["team_id"], run["team_name"], run["session_id"], run["user_id"]) == ("desk", "Desk", "s1", "ann")
    assert (run["status"], run["content"]) == ("COMPLETED", "billing: my invoice is wrong")
    assert "agent_id" not in run
    (member,) = run["member_responses"]
    assert (member["agent_id"], member["parent_run_id"], member["content"]) == (
        "billing",
        run["run_id"],
        "billing: my invoice is wrong",
    )


def test_run_hooks_hear_of_the_team_run_and_of_each_members_run(client: TestClient) -> None:
    ended: list[RunOutput] = []
    client.app.state.stratus.run_hooks.append(ended.append)  # type: ignore[attr-defined]

    client.post("/teams/studio/runs", json={"message": "refund?", "stream": False})

    # metrics count every run that asked a model, members included
    assert [(r.team_id or r.agent_id, r.status) for r in ended] == [
        ("studio", RunStatus.COMPLETED),
        ("desk", RunStatus.COMPLETED),
        ("billing", RunStatus.COMPLETED),
        ("writer", RunStatus.COMPLETED),
    ]


def test_a_streamed_team_run_carries_its_members_events_named_by_their_parent(client: TestClient) -> None:
    response = client.post("/teams/studio/runs", json={"message": "refund?", "session_id": "s1"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    names = [name for name, _ in events]
    assert set(names) <= AGNO_EVENTS
    assert all(data["event"] == name for name, data in events)
    assert (names[0], names[-1]) == ("TeamRunStarted", "TeamRunCompleted")
    # members finished (RunCompleted, TeamRunCompleted) before the team did, and the stream went on
    assert names.count("TeamRunCompleted") == 2
    outer = events[-1][1]
    assert (outer["team_id"], outer["nested_depth"]) == ("studio", 0)
    assert outer["content"] == "billing: invoice question: refund? | writer: a friendly closing line"
    # every event at nested_depth 0, as AgentOS sends them: parent_run_id tells the members apart
    assert {data["nested_depth"] for _, data in events} == {0}
    who = {(data.get("team_id") or data.get("agent_id"), data.get("parent_run_id")) for _, data in events}
    inner_run = next(d["run_id"] for n, d in events if n == "TeamRunStarted" and d["team_id"] == "desk")
    assert who == {
        ("studio", None),
        ("desk", outer["run_id"]),
        ("writer", outer["run_id"]),
        ("billing", inner_run),
    }
    # the members' runs come with the team's end, as AgentOS' member_responses (the inner team's its own)
    members = {m.get("team_id") or m.get("agent_id"): m for m in outer["member_responses"]}
    assert set(members) == {"desk", "writer"}
    assert [m["agent_id"] for m in members["desk"]["member_responses"]] == ["billing"]
    # the keys AgentOS sends with every team event
    started = events[0][1]
    assert {"created_at", "event", "team_id", "team_name", "run_id", "session_id", "nested_depth"} <= set(started)
    assert {"model", "model_provider"} <= set(started)


def test_team_runs_are_listed_and_read_with_their_members_runs(client: TestClient) -> None:
    first = client.post("/teams/desk/runs", json={"message": "invoice", "stream": False, "session_id": "s1"}).json()
    client.post("/teams/desk/runs", json={"message": "crash", "stream": False, "session_id": "s1"})

    listed = client.get("/teams/desk/runs", params={"session_id": "s1"}).json()
    assert [(r["team_id"], r["content"]) for r in listed] == [("desk", "billing: invoice"), ("desk", "tech: crash")]
    assert client.get("/teams/desk/runs", params={"session_id": "s1", "status": "error"}).json() == []
    assert client.get("/teams/desk/runs", params={"session_id": "s1", "status": "nope"}).status_code == 422

    run = client.get(f"/teams/desk/runs/{first['run_id']}", params={"session_id": "s1"}).json()
    assert (run["status"], [m["agent_id"] for m in run["member_responses"]]) == ("COMPLETED", ["billing"])
    # a member's run is not the team's, and another team's route does not serve it
    member_run = run["member_responses"][0]["run_id"]
    assert client.get(f"/teams/desk/runs/{member_run}").status_code == 404
    assert client.get(f"/teams/studio/runs/{first['run_id']}").status_code == 404


def test_team_sessions_have_the_reference_shapes(client: TestClient, store: SqliteStore) -> None:
    client.post(
        "/teams/studio/runs", json={"message": "refund?", "stream": False, "session_id": "s1", "user_id": "ann"}
    )

    listed = client.get("/sessions", params={"type": "team", "user_id": "ann"}).json()["data"]
    assert [(s["session_id"], s["session_type"], s["team_id"]) for s in listed] == [("s1", "team", "studio")]
    assert all(set(s) <= fields_of("SessionSchema") for s in listed)
    assert client.get("/sessions", params={"type": "agent", "user_id": "ann"}).json()["data"] == []

    detail = client.get("/sessions/s1", params={"type": "team", "user_id": "ann"}).json()
    assert set(detail) <= fields_of("TeamSessionDetailSchema")
    assert (detail["team_id"], detail["team_data"]["mode"]) == ("studio", "coordinate")
    # the conversation is the team's: the user's message and the leader's turns, not the members' runs
    first = detail["chat_history"][0]
    assert (first["role"], first["content"]) == ("user", "refund?")
    assert "invoice question: refund?" not in [m["content"] for m in detail["chat_history"] if m["role"] == "user"]
    assert detail["total_tokens"] == sum(r.metrics.usage.total_tokens for r in asyncio.run(store.get_runs("s1")))

    runs = client.get("/sessions/s1/runs", params={"user_id": "ann"}).json()
    kinds = [(r.get("team_id") or r.get("agent_id"), bool(r["parent_run_id"])) for r in runs]
    assert kinds == [("studio", False), ("desk", True), ("writer", True), ("billing", True)]
    for r in runs:
        assert set(r) <= fields_of("TeamRunSchema" if r.get("team_id") else "RunSchema") | {"error"}
    previews = client.get("/sessions/s1/run-previews", params={"user_id": "ann"}).json()
    assert [p.get("team_id") for p in previews] == ["studio", "desk", None, None]  # AgentOS leaves out nulls


def test_a_session_made_for_a_team_is_continued_by_its_runs(client: TestClient) -> None:
    created = client.post("/sessions", params={"type": "team"}, json={"session_id": "t1", "team_id": "desk"})
    assert created.status_code == 201
    assert set(created.json()) <= fields_of("TeamSessionDetailSchema")
    assert client.post("/sessions", params={"type": "team"}, json={"team_id": "nope"}).status_code == 404
    assert client.post("/sessions", params={"type": "workflow"}, json={"workflow_id": "nope"}).status_code == 404

    ran = client.post("/teams/desk/runs", json={"message": "invoice", "stream": False, "session_id": "t1"})
    assert ran.status_code == 200
    # a team's session is not another team's, nor a workflow's
    for path in ("/teams/studio/runs", "/workflows/pipeline/runs"):
        refused = client.post(path, json={"message": "x", "stream": False, "session_id": "t1"})
        assert (refused.status_code, refused.json()["detail"]) == (404, "session 't1' not found")


# --- workflow runs -------------------------------------------------------------------------------------------


def test_a_streamed_workflow_run_from_an_urlencoded_form(client: TestClient) -> None:
    response = client.post("/workflows/pipeline/runs", data={"message": "hello", "session_id": "w1"})

    assert response.status_code == 200
    events = parse_sse(response.text)
    names = [name for name, _ in events]
    assert set(names) <= AGNO_EVENTS
    workflow_run = events[0][1]["run_id"]
    top = [(name, data.get("step_name")) for name, data in events if data["run_id"] == workflow_run]
    assert top[:4] == [
        ("WorkflowStarted", None),
        ("StepStarted", "Writer"),
        ("StepCompleted", "Writer"),
        ("ParallelExecutionStarted", "parallel"),
    ]
    assert top[4:6] == [("StepStarted", "shout"), ("StepStarted", "count")]  # both start before either ends
    assert sorted(top[6:8]) == [("StepCompleted", "count"), ("StepCompleted", "shout")]
    assert top[8:] == [
        ("ParallelExecutionCompleted", "parallel"),
        ("StepStarted", "shout"),
        ("StepOutput", "shout"),  # a top-level function step's (inside the Parallel, none: AgentOS' way)
        ("StepCompleted", "shout"),
        ("WorkflowCompleted", None),
    ]
    end = events[-1][1]
    assert end["content"] == "=== SHOUT ===\nWRITER: HELLO\n\n=== COUNT ===\n13"
    assert {"created_at", "event", "workflow_id", "workflow_name", "run_id", "session_id"} <= set(end)
    assert [r["step_name"] for r in end["step_results"]] == ["Writer", "parallel", "shout"]
    step = next(data for name, data in events if name == "StepCompleted")
    assert (step["step_index"], step["content"], step["step_response"]["executor_type"]) == (
        0,
        "writer: hello",
        "agent",
    )
    # the step's agent's events name the workflow's run and the step (AgentOS' workflow_run_id, step_*)
    nested = [data for _, data in events if data["run_id"] != workflow_run]
    assert {(d["agent_id"], d["workflow_run_id"], d["step_name"], d["step_index"]) for d in nested} == {
        ("writer", end["run_id"], "Writer", 0)
    }
    assert {d["nested_depth"] for d in nested} == {0}
    assert set(end["metrics"]) == {"steps", "duration"}
    assert list(end["metrics"]["steps"]) == ["Writer"]
    assert [r["agent_id"] for r in end["step_executor_runs"]] == ["writer"]


def test_workflow_runs_are_listed_and_read_with_their_steps_runs(client: TestClient) -> None:
    run = client.post("/workflows/pipeline/runs", json={"message": "hi", "stream": False, "session_id": "w1"}).json()

    assert (run["workflow_id"], run["status"], run["content"]) == (
        "pipeline",
        "COMPLETED",
        "=== SHOUT ===\nWRITER: HI\n\n=== COUNT ===\n10",
    )
    assert [s["step_name"] for s in run["step_results"]] == ["Writer", "parallel", "shout"]
    assert [r["agent_id"] for r in run["step_executor_runs"]] == ["writer"]
    listed = client.get("/workflows/pipeline/runs", params={"session_id": "w1"}).json()
    assert [r["run_id"] for r in listed] == [run["run_id"]]
    read = client.get(f"/workflows/pipeline/runs/{run['run_id']}", params={"session_id": "w1"}).json()
    assert read["step_results"] == run["step_results"]
    assert [r["run_id"] for r in read["step_executor_runs"]] == [run["step_executor_runs"][0]["run_id"]]

    detail = client.get("/sessions/w1", params={"type": "workflow"}).json()
    assert set(detail) <= fields_of("WorkflowSessionDetailSchema")
    assert (detail["workflow_id"], detail["workflow_name"]) == ("pipeline", "Pipeline")
    # as AgentOS lists them: the workflow's run only, its step's agent run inside it, not beside it
    runs = client.get("/sessions/w1/runs").json()
    assert [r["run_id"] for r in runs] == [run["run_id"]]
    assert set(runs[0]) <= fields_of("WorkflowRunSchema")
    assert (runs[0]["workflow_id"], runs[0]["step_results"]) == ("pipeline", run["step_results"])
    assert [r["run_id"] for r in runs[0]["step_executor_runs"]] == [run["step_executor_runs"][0]["run_id"]]
    assert runs[0]["step_executor_runs"][0]["agent_id"] == "writer"
    previews = client.get("/sessions/w1/run-previews").json()
    assert [(p["run_id"], p["workflow_id"]) for p in previews] == [(run["run_id"], "pipeline")]
    one = client.get(f"/sessions/w1/runs/{run['run_id']}").json()
    assert one["step_executor_runs"] == runs[0]["step_executor_runs"]
    assert [s["session_type"] for s in client.get("/sessions", params={"type": "workflow"}).json()["data"]] == [
        "workflow"
    ]


def test_a_workflow_that_fails_answers_with_the_failing_step(tmp_path: Path) -> None:
    def broken(step_input: StepInput) -> str:
        raise ValueError("bad data")

    app = App(
        workflows=[Workflow(id="broken", steps=[Step("parse", executor=broken)])], store=SqliteStore(tmp_path / "b.db")
    )
    with TestClient(app.asgi()) as other:
        response = other.post("/workflows/broken/runs", json={"message": "x", "stream": False, "session_id": "w1"})
        assert response.status_code == 500
        body = response.json()
        assert (body["detail"], body["error_type"], body["status"]) == (
            "step 'parse' failed: ValueError: bad data",
            "StepFailedError",
            "ERROR",
        )
        streamed = parse_sse(other.post("/workflows/broken/runs", json={"message": "x"}).text)
        assert [name for name, _ in streamed] == [
            *("WorkflowStarted", "StepStarted", "StepOutput", "StepError", "WorkflowError")
        ]
        assert streamed[2][1]["step_output"]["success"] is False
        assert streamed[-1][1]["error"] == "step 'parse' failed: ValueError: bad data"


# --- background runs and cancel ------------------------------------------------------------------------------


def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_background_team_run_is_polled_to_its_end(client: TestClient) -> None:
    accepted = client.post("/teams/desk/runs", json={"message": "invoice", "background": True, "session_id": "s1"})

    assert accepted.status_code == 202
    job = accepted.json()
    assert (job["team_id"], job["status"]) == ("desk", "PENDING")
    path = f"/teams/desk/runs/{job['run_id']}"
    wait_for(lambda: client.get(path).json()["status"] == "COMPLETED")
    assert client.get(path).json()["content"] == "billing: invoice"


def test_a_team_run_cancelled_over_http_stops_its_members_too(client: TestClient, store: SqliteStore) -> None:
    job = client.post("/teams/waiting/runs", json={"message": "go", "background": True, "session_id": "s1"}).json()
    assert HELD.wait(5)

    cancelled = client.post(f"/teams/waiting/runs/{job['run_id']}/cancel", params={"session_id": "s1"})

    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "CANCELLED"
    assert client.get(f"/teams/waiting/runs/{job['run_id']}").json()["status"] == "CANCELLED"
    runs = {(r.team_id or r.agent_id): r.status for r in asyncio.run(store.get_runs("s1"))}
    assert runs == {"waiting": RunStatus.CANCELLED, "slow": RunStatus.CANCELLED}
    again = client.post(f"/teams/waiting/runs/{job['run_id']}/cancel")
    assert (again.status_code, again.json()["detail"]) == (
        409,
        f"run {job['run_id']!r} already ended with status CANCELLED",
    )


def test_a_workflow_run_cancelled_over_http_keeps_the_steps_it_finished(client: TestClient, store: SqliteStore) -> None:
    job = client.post("/workflows/stuck/runs", json={"message": "go", "background": True, "session_id": "w1"}).json()
    assert HELD.wait(5)

    cancelled = client.post(f"/workflows/stuck/runs/{job['run_id']}/cancel")

    assert cancelled.json()["status"] == "CANCELLED"
    run = client.get(f"/workflows/stuck/runs/{job['run_id']}", params={"session_id": "w1"}).json()
    assert (run["status"], [s["step_name"] for s in run["step_results"]]) == ("CANCELLED", ["first"])


async def test_a_cancelled_workflow_stream_ends_with_workflow_cancelled(tmp_path: Path) -> None:
    started = asyncio.Event()

    async def wait_forever(step_input: StepInput) -> str:
        started.set()
        await asyncio.sleep(3600)
        return "never"

    workflow = Workflow(id="w", steps=[Step("wait", executor=wait_forever)], store=SqliteStore(tmp_path / "c.db"))
    registry = RunRegistry()
    active = registry.start(workflow.execution("go", RunOptions(session_id="w1")), stream=True)
    seen: list[RunEvent] = []

    async def read() -> None:
        async for event in registry.events(active):
            seen.append(event)

    reader = asyncio.ensure_future(read())
    await asyncio.wait_for(started.wait(), timeout=5)
    assert registry.cancel(active.output.run_id)
    await asyncio.wait_for(reader, timeout=5)

    assert [e.kind for e in seen] == ["WorkflowStarted", "StepStarted", "WorkflowCancelled"]
    assert isinstance(seen[-1], WorkflowCancelled)
    assert seen[-1].to_dict()["workflow_id"] == "w"
    assert active.output.status is RunStatus.CANCELLED
    assert workflow.store is not None
    stored = await workflow.store.get_run(active.output.run_id)
    assert stored is not None
    assert stored.status is RunStatus.CANCELLED


# --- bad input -----------------------------------------------------------------------------------------------


def test_bad_input_is_refused_and_nothing_is_stored(client: TestClient, store: SqliteStore) -> None:
    missing = client.post("/teams/desk/runs", json={"stream": False})
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "message"]
    assert (
        client.post(
            "/workflows/pipeline/runs", content=b"not json", headers={"content-type": "application/json"}
        ).status_code
        == 422
    )
    assert client.post("/teams/nope/runs", json={"message": "x"}).status_code == 404
    assert client.post("/workflows/nope/runs", json={"message": "x"}).status_code == 404
    client.post("/teams/desk/runs", json={"message": "invoice", "stream": False, "session_id": "s1", "user_id": "ann"})

    stolen = client.post(
        "/teams/desk/runs", json={"message": "x", "stream": False, "session_id": "s1", "user_id": "bob"}
    )

    assert (stolen.status_code, stolen.json()["detail"]) == (404, "session 's1' not found")
    assert client.get("/teams/desk/runs", params={"session_id": "s1", "user_id": "bob"}).json() == []
    assert len(asyncio.run(store.get_runs("s1"))) == 2  # ann's team run and its member's, nothing of bob's
