"""A workflow's events and run as agno 3.1.10's AgentOS sends them (agno/run/workflow.py, agno/workflow/types.py;
checked against a live AgentOS), so agno's own client parses ours: the order of a function step's events,
the step ids, the context on a step's agent's and team's events, the per-step metrics, step_executor_runs."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from stratus import App, Loop, Parallel, Router, Step, Steps, Team, Workflow
from stratus.models.testing import ScriptedModel, call
from stratus.run import RunOutput
from stratus.storage.sqlite import SqliteStore
from tests.unit.test_api_teams_workflows import parse_sse
from tests.unit.test_workflow import echo_agent as echo
from tests.unit.test_workflow import upper as shout


async def wire(workflow: Workflow, message: str) -> list[dict[str, Any]]:
    return [event.to_dict() async for event in workflow.arun(message, stream=True, session_id="w1")]


AGNO_STEP_OUTPUT_KEYS = [
    *("content", "step_name", "step_id", "step_type", "executor_type", "executor_name", "step_run_id"),
    *("images", "videos", "audio", "files", "metrics", "success", "error", "stop", "is_paused"),
]
"""`agno.workflow.types.StepOutput.to_dict()`'s keys, in its order."""


async def test_a_function_steps_output_comes_between_its_started_and_completed_events() -> None:
    workflow = Workflow(id="wf", name="WF", steps=[Step("write", agent=echo("writer")), Step("shout", executor=shout)])

    events = await wire(workflow, "hello")

    workflow_run = events[0]["run_id"]
    own = [(e["event"], e.get("step_name")) for e in events if e["run_id"] == workflow_run]
    assert own == [
        ("WorkflowStarted", None),
        ("StepStarted", "write"),
        ("StepCompleted", "write"),  # an agent's step has no StepOutput: its events carry its answer
        ("StepStarted", "shout"),
        ("StepOutput", "shout"),
        ("StepCompleted", "shout"),
        ("WorkflowCompleted", None),
    ]
    started, output, completed = (e for e in events if e.get("step_name") == "shout" and e["run_id"] == workflow_run)
    # agno's envelope, in its order; a StepOutput event has no step_id of its own (its step_output has)
    assert list(started) == [
        *("created_at", "event", "workflow_id", "workflow_name", "session_id", "run_id", "step_id"),
        *("nested_depth", "step_name", "step_index"),
    ]
    assert list(output) == [
        *("created_at", "event", "workflow_id", "workflow_name", "session_id", "run_id", "nested_depth"),
        *("step_name", "step_index", "step_output"),
    ]
    assert list(output["step_output"]) == AGNO_STEP_OUTPUT_KEYS
    assert output["step_output"] == completed["step_response"]
    assert (output["step_output"]["content"], output["step_output"]["step_id"]) == ("WRITER(HELLO)", started["step_id"])
    assert completed["step_id"] == started["step_id"]
    assert list(completed)[-3:] == ["content", "content_type", "step_response"]


async def test_a_steps_agents_events_name_the_workflow_run_and_the_step() -> None:
    workflow = Workflow(id="wf", name="WF", steps=[Step("write", agent=echo("writer"))])

    events = await wire(workflow, "hello")

    workflow_run = events[0]["run_id"]
    step_started = next(e for e in events if e["event"] == "StepStarted")
    agent = [e for e in events if e.get("agent_id") == "writer"]
    assert agent[0]["event"] == "RunStarted"
    for event in agent:
        # agno's BaseAgentRunEvent: the workflow's ids between session_id and nested_depth; no parent_run_id
        # (the run stored in step_executor_runs names it); nested_depth 0
        keys = list(event)
        assert keys[: keys.index("nested_depth") + 1] == [
            *("created_at", "event", "agent_id", "agent_name", "run_id", "session_id"),
            *("workflow_id", "workflow_run_id", "step_id", "step_name", "step_index", "nested_depth"),
        ]
        assert (event["workflow_id"], event["workflow_run_id"], event["step_id"]) == (
            "wf",
            workflow_run,
            step_started["step_id"],
        )
        assert (event["step_name"], event["step_index"], event["nested_depth"]) == ("write", 0, 0)


async def test_a_team_steps_members_events_name_their_team_and_the_step(store: SqliteStore) -> None:
    leader = ScriptedModel(call("delegate_task_to_member", member_id="b1", task="do it"), "done")
    desk = Team(id="desk", name="Desk", model=leader, members=[echo("b1")])
    workflow = Workflow(id="wf", steps=[Step("teamstep", team=desk)], store=store)

    events = await wire(workflow, "go")

    team_run = next(e["run_id"] for e in events if e["event"] == "TeamRunStarted")
    member = [e for e in events if e.get("agent_id") == "b1"]
    team = [e for e in events if e.get("team_id") == "desk"]
    assert member
    assert team
    assert {(e["parent_run_id"], e["step_name"], e["workflow_run_id"]) for e in member} == {
        (team_run, "teamstep", events[0]["run_id"])
    }
    assert all("parent_run_id" not in e and e["step_name"] == "teamstep" for e in team)
    completed = events[-1]
    assert completed["event"] == "WorkflowCompleted"
    [team_output] = completed["step_executor_runs"]
    assert (team_output["team_id"], team_output["parent_run_id"]) == ("desk", events[0]["run_id"])
    assert team_output["workflow_step_id"] == next(e["step_id"] for e in events if e["event"] == "StepStarted")
    assert [m["agent_id"] for m in team_output["member_responses"]] == ["b1"]
    stored = await store.get_run(team_output["run_id"])  # the step's run is stored naming its step too
    assert stored is not None
    assert stored.workflow_step_id == team_output["workflow_step_id"]
    assert completed["metrics"]["steps"]["teamstep"]["executor_type"] == "team"


async def test_workflow_completed_has_the_per_step_metrics_and_the_steps_runs() -> None:
    workflow = Workflow(
        id="wf",
        steps=[Step("write", agent=echo("writer")), Parallel(Step("a", agent=echo("ann")), Step("b", executor=shout))],
    )

    events = await wire(workflow, "hello")

    completed = events[-1]
    assert list(completed)[-5:] == ["content", "content_type", "metrics", "step_results", "step_executor_runs"]
    # agno's WorkflowMetrics: {steps, duration}, a step only for an agent or a team (inside others too)
    metrics = completed["metrics"]
    assert set(metrics) == {"steps", "duration"}
    assert metrics["duration"] > 0
    assert list(metrics["steps"]) == ["write", "a"]
    assert {k: v for k, v in metrics["steps"]["a"].items() if k != "metrics"} == {
        "step_name": "a",
        "executor_type": "agent",
        "executor_name": "Ann",
    }
    assert metrics["steps"]["a"]["metrics"]["total_tokens"] > 0
    assert [(r["agent_id"], r["status"]) for r in completed["step_executor_runs"]] == [
        ("writer", "COMPLETED"),
        ("ann", "COMPLETED"),
    ]
    # inside the Parallel: the parent's step_id on its steps' events, tuple indexes, no StepOutput
    parallel_id = next(e["step_id"] for e in events if e["event"] == "ParallelExecutionStarted")
    inner = [e for e in events if e["event"] in ("StepStarted", "StepCompleted") and e["step_name"] in ("a", "b")]
    assert {(e["parent_step_id"], tuple(e["step_index"])) for e in inner} == {
        (parallel_id, (1, 0)),
        (parallel_id, (1, 1)),
    }
    assert "StepOutput" not in {e["event"] for e in events}
    [parallel] = [r for r in completed["step_results"] if r["step_type"] == "Parallel"]
    assert (parallel["executor_type"], parallel["executor_name"]) == ("parallel", "parallel")
    assert [s["step_name"] for s in parallel["steps"]] == ["a", "b"]


async def test_a_loop_step_keeps_its_id_in_every_round_and_none_values_are_left_out() -> None:
    workflow = Workflow(id="wf", steps=[Steps(Loop([Step("d", executor=shout)], max_iterations=2), name="grp")])

    events = await wire(workflow, "x")

    ids = {e["step_id"] for e in events if e["event"] == "StepStarted"}
    assert len(ids) == 1
    loop_events = [e for e in events if e["event"].startswith("Loop")]
    grp_id = next(e["step_id"] for e in events if e["event"] == "StepsExecutionStarted")
    assert {e["parent_step_id"] for e in loop_events} == {grp_id}
    assert all(value is not None for e in events for value in e.values())


async def test_a_workflows_run_is_agnos_workflow_run_output_and_is_stored_so(store: SqliteStore) -> None:
    workflow = Workflow(id="wf", name="WF", steps=[Step("write", agent=echo("writer")), shout], store=store)

    out = await workflow.arun("hello", session_id="w1", user_id="ann")

    assert isinstance(out, RunOutput)
    wire_run = out.to_dict()
    # agno's WorkflowRunOutput.to_dict(): the input as text, media lists, no messages or tools of its own
    assert list(wire_run) == [
        *("input", "content", "content_type", "workflow_id", "workflow_name", "run_id", "session_id", "user_id"),
        *("created_at", "status", "images", "videos", "audio", "files", "step_results", "step_executor_runs"),
        "metrics",
    ]
    assert (wire_run["input"], wire_run["content"], wire_run["images"]) == ("hello", "WRITER(HELLO)", [])
    assert list(wire_run["metrics"]["steps"]) == ["write"]
    stored = await store.get_run(out.run_id)
    assert stored is not None
    assert stored.input is not None
    assert stored.input.input_content == "hello"
    assert stored.metrics.to_dict() == wire_run["metrics"]
    assert stored.step_results == wire_run["step_results"]


def test_the_session_lists_the_workflow_run_with_its_steps_runs(tmp_path: Any) -> None:
    workflow = Workflow(id="wf", steps=[Step("write", agent=echo("writer")), shout])
    app = App(workflows=[workflow], store=SqliteStore(tmp_path / "s.db"))
    with TestClient(app.asgi()) as client:
        events = parse_sse(client.post("/workflows/wf/runs", data={"message": "hi", "session_id": "w1"}).text)
        end = events[-1][1]
        runs = client.get("/sessions/w1/runs", params={"type": "workflow"}).json()

    assert [r["run_id"] for r in runs] == [end["run_id"]]
    assert [r["agent_id"] for r in runs[0]["step_executor_runs"]] == ["writer"]
    assert set(runs[0]["metrics"]) == {"steps", "duration"}
    assert [e["event"] for e in runs[0]["events"]] == [name for name, _ in events if name != "StepOutput"]


async def test_a_streamed_workflow_run_stores_the_events_it_sent_and_a_buffered_one_none(store: SqliteStore) -> None:
    workflow = Workflow(id="wf", steps=[Step("write", agent=echo("writer")), shout], store=store)

    events = [e.to_dict() async for e in workflow.arun("hello", stream=True, session_id="w1")]
    buffered = await workflow.arun("again", session_id="w2")

    # AgentOS turns on store_events for its workflows: the run keeps what it streamed, its end event too, but
    # the StepOutput events (AgentOS sends those past the events it keeps)
    streamed = await store.get_run(events[0]["run_id"])
    assert streamed is not None
    kept = [e for e in events if e["event"] != "StepOutput"]
    assert len(kept) == len(events) - 1
    assert streamed.events == kept
    assert streamed.to_dict()["events"] == kept
    assert isinstance(buffered, RunOutput)
    stored = await store.get_run(buffered.run_id)
    assert stored is not None
    assert stored.events is None
    assert "events" not in stored.to_dict()


async def test_a_routers_steps_have_the_routers_index_and_no_step_output() -> None:
    chosen = Step("e", executor=shout)
    workflow = Workflow(id="wf", steps=[Step("read", executor=shout), Router(lambda si: [chosen], [chosen])])

    events = await wire(workflow, "x")

    router = next(e for e in events if e["event"] == "RouterExecutionStarted")
    inner = [e for e in events if e.get("step_name") == "e"]
    assert [e["event"] for e in inner] == ["StepStarted", "StepCompleted"]  # a StepOutput only at the top level
    assert {(e["step_index"], e["parent_step_id"]) for e in inner} == {(1, router["step_id"])}
    assert [e["step_name"] for e in events if e["event"] == "StepOutput"] == ["read"]
