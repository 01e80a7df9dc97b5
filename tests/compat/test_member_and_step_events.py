"""What agno's client reads from team and workflow runs: a team's member events told apart by their parent
run (at agno's nesting depth 0) and its members' answers on TeamRunCompleted; a workflow's per-step metrics
(without `metrics.steps` agno's client raises KeyError and drops the run), its step events and outputs, and
only the workflow run listed in its session."""

from __future__ import annotations

from typing import Any

import pytest

from tests.compat.conftest import Agno

pytestmark = pytest.mark.e2e


def test_a_team_streams_its_members_events_as_agno_does(agno: Agno) -> None:
    events = agno("team_stream")
    team_run_id = events[0]["run_id"]
    member = [e for e in events if not e["event"].startswith("Team")]
    assert member[0]["event"] == "RunStarted"
    assert {(e["agent_id"], e["parent_run_id"], e["nested_depth"]) for e in member} == {("assistant", team_run_id, 0)}
    completed = events[-1]
    assert (completed["event"], completed["content"]) == ("TeamRunCompleted", "echo: hello stream")
    assert [(m["agent_id"], m["content"]) for m in completed["member_responses"]] == [
        ("assistant", "echo: hello stream")
    ]


def test_a_workflow_run_has_its_steps_results_and_metrics(agno: Agno) -> None:
    got = agno("workflow_run")
    run = got["run"]
    assert (run["workflow_id"], run["status"], run["content"]) == ("pipeline", "COMPLETED", "ECHO: HELLO FLOW")
    assert [(s["step_name"], s["content"]) for s in run["step_results"]] == [
        ("Assistant", "echo: hello flow"),
        ("shout", "ECHO: HELLO FLOW"),
    ]
    # agno keeps metrics for the steps an agent or team ran, not for function steps
    assert {name: m["executor_type"] for name, m in run["metrics"]["steps"].items()} == {"Assistant": "agent"}
    # the session lists the workflow run only, not its step's agent run
    assert [(r["run_id"], r["workflow_id"], r["content"]) for r in got["session_runs"]] == [
        (run["run_id"], "pipeline", "ECHO: HELLO FLOW")
    ]


def test_a_workflow_streams_step_events_as_agno_does(agno: Agno) -> None:
    events: list[dict[str, Any]] = agno("workflow_stream")
    kinds = [e["event"] for e in events]
    assert (kinds[0], kinds[-1]) == ("WorkflowStarted", "WorkflowCompleted")
    workflow_run_id = events[0]["run_id"]
    steps = [(e["event"], e["step_name"]) for e in events if e["event"] in ("StepStarted", "StepCompleted")]
    assert steps == [
        ("StepStarted", "Assistant"),
        ("StepCompleted", "Assistant"),
        ("StepStarted", "shout"),
        ("StepCompleted", "shout"),
    ]
    agent = [e for e in events if e["event"] in ("RunStarted", "RunContent", "RunCompleted")]
    assert agent
    assert {(e["workflow_id"], e["workflow_run_id"], e["step_name"]) for e in agent} == {
        ("pipeline", workflow_run_id, "Assistant")
    }
    outputs = [(e["step_name"], e["step_output"]["content"]) for e in events if e["event"] == "StepOutput"]
    assert ("shout", "ECHO: HELLO STREAM") in outputs
    completed = events[-1]
    assert completed["content"] == "ECHO: HELLO STREAM"
    assert [(r["agent_id"], r["content"]) for r in completed["step_executor_runs"]] == [
        ("assistant", "echo: hello stream")
    ]
