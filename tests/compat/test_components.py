"""Agents, teams and workflows through agno's `AgentOSClient`: listed and described, run buffered, streamed
and in the background, cancelled while they run, and continued."""

from __future__ import annotations

from typing import Any

import pytest

from tests.compat.conftest import Agno

pytestmark = pytest.mark.e2e


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["event"] for e in events]


def test_config_lists_what_the_app_serves(agno: Agno) -> None:
    got = agno("config")
    config = got["sync"]
    assert got["async"] == config
    assert config["os_id"] == "stratus"
    assert [a["id"] for a in config["agents"]] == ["assistant", "learner"]
    assert [t["id"] for t in config["teams"]] == ["desk"]
    assert [w["id"] for w in config["workflows"]] == ["pipeline"]
    db_id = config["databases"][0]
    knowledge = config["knowledge"]
    assert knowledge["knowledge_instances"] == [
        {"id": "docs", "name": "docs", "description": "uploaded documents", "db_id": db_id, "table": "contents"}
    ]
    assert [(d["db_id"], d["tables"]) for d in knowledge["dbs"]] == [(db_id, ["contents"])]


def test_agents_are_listed_and_described(agno: Agno) -> None:
    got = agno("agents")
    assert [a["id"] for a in got["list"]] == ["assistant", "learner"]
    assert got["get"] == got["aget"]
    assert (got["get"]["id"], got["get"]["name"]) == ("assistant", "Assistant")
    assert got["get"]["model"] == {"name": "FunctionModel", "model": "scripted", "provider": "Test"}


def test_an_agent_run_answers_and_calls_its_tool(agno: Agno) -> None:
    got = agno("agent_run")
    answer, tool = got["answer"], got["tool"]
    assert (answer["agent_id"], answer["user_id"], answer["status"]) == ("assistant", "ann", "COMPLETED")
    assert answer["content"] == "echo: hello"
    assert tool["session_id"] == answer["session_id"]
    assert tool["run_id"] != answer["run_id"]
    assert tool["content"] == "The weather: sunny in Oslo"
    assert [(t["tool_name"], t["tool_args"], t["result"]) for t in tool["tools"]] == [
        ("get_weather", {"city": "Oslo"}, "sunny in Oslo")
    ]


def test_a_runs_dependencies_reach_the_agents_tool(agno: Agno) -> None:
    got = agno("agent_dependencies")
    assert got["answer"]["content"] == "The weather: sunny in Oslo, in celsius"
    completed = [e for e in got["events"] if e["event"] == "ToolCallCompleted"]
    assert [e["tool"]["result"] for e in completed] == ["sunny in Rome, in celsius"]


def test_an_agent_stream_gives_agnos_events(agno: Agno) -> None:
    events = agno("agent_stream")
    seen = kinds(events)
    assert seen[0] == "RunStarted"
    assert seen[-1] == "RunCompleted"
    assert seen.index("ToolCallStarted") < seen.index("ToolCallCompleted") < seen.index("RunContent")
    content = "".join(e["content"] for e in events if e["event"] == "RunContent")
    assert content == events[-1]["content"] == "The weather: sunny in Rome"
    assert {e["run_id"] for e in events} == {events[0]["run_id"]}
    assert {e["session_id"] for e in events} == {events[0]["session_id"]}
    completed = next(e for e in events if e["event"] == "ToolCallCompleted")
    assert (completed["tool"]["tool_name"], completed["tool"]["result"]) == ("get_weather", "sunny in Rome")


BACKGROUND = pytest.mark.parametrize(
    ("scenario", "content"),
    [
        ("agent_background", "echo: later"),
        ("team_background", "echo: team later"),
        ("workflow_background", "ECHO: FLOW LATER"),
    ],
)


@BACKGROUND
def test_a_background_run_is_pending_then_stored(agno: Agno, scenario: str, content: str) -> None:
    got = agno(scenario)
    accepted, stored = got["accepted"], got["stored"]
    assert accepted["status"] == "PENDING"
    assert stored["run_id"] == accepted["run_id"]
    assert accepted["session_id"] is not None
    assert (stored["status"], stored["content"]) == ("COMPLETED", content)


@pytest.mark.parametrize(
    ("scenario", "started", "cancelled"),
    [
        ("agent_cancel", "RunStarted", "RunCancelled"),
        ("team_cancel", "TeamRunStarted", "TeamRunCancelled"),
        ("workflow_cancel", "WorkflowStarted", "WorkflowCancelled"),
    ],
)
def test_a_run_is_cancelled_while_it_runs(agno: Agno, scenario: str, started: str, cancelled: str) -> None:
    events = agno(scenario)
    seen = kinds(events)
    assert seen[0] == started
    assert seen[-1] == cancelled
    assert events[-1]["run_id"] == events[0]["run_id"]
    assert not any(kind.endswith(("RunCompleted", "WorkflowCompleted")) for kind in seen)


def test_teams_are_listed_and_described(agno: Agno) -> None:
    got = agno("teams")
    assert [t["id"] for t in got["list"]] == ["desk"]
    assert got["get"] == got["aget"]
    assert (got["get"]["id"], got["get"]["name"], got["get"]["mode"]) == ("desk", "Desk", "route")
    assert [m["id"] for m in got["get"]["members"]] == ["assistant"]


def test_a_team_run_answers_through_its_member(agno: Agno) -> None:
    run = agno("team_run")
    assert (run["team_id"], run["status"], run["content"]) == ("desk", "COMPLETED", "echo: hello team")
    assert [(m["agent_id"], m["content"], m["parent_run_id"]) for m in run["member_responses"]] == [
        ("assistant", "echo: hello team", run["run_id"])
    ]


def test_workflows_are_listed_and_described(agno: Agno) -> None:
    got = agno("workflows")
    assert [w["id"] for w in got["list"]] == ["pipeline"]
    assert got["get"] == got["aget"]
    assert (got["get"]["id"], got["get"]["name"]) == ("pipeline", "Pipeline")
    assert [s["name"] for s in got["get"]["steps"]] == ["Assistant", "shout"]


@pytest.mark.parametrize("kind", ["agent", "team", "workflow"])
def test_a_background_run_is_stored_before_the_answer_and_cancelled(agno: Agno, kind: str) -> None:
    """agno stores a background run as PENDING before answering 202, so the client can read it at once; this
    one never finishes (its model never answers "hang") until it is cancelled."""
    got = agno(f"{kind}_background_cancel")
    assert got["accepted"]["status"] == "PENDING"
    assert got["first_read"].get("status") in ("PENDING", "RUNNING"), got["first_read"]
    assert (got["stored"]["run_id"], got["stored"]["status"]) == (got["accepted"]["run_id"], "CANCELLED")
