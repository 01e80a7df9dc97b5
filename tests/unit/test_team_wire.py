"""A team's events and run as agno 3.1.10's AgentOS sends them (agno/run/team.py; checked against a live
AgentOS): members' events at nested_depth 0 told apart by parent_run_id, the member's run named on the
delegation call (child_run_id), TeamRunCompleted with member_responses, TeamRunContent without workflow_agent."""

from __future__ import annotations

from typing import Any

from stratus import Team
from stratus.models.testing import ScriptedModel, call
from stratus.run import RunOutput
from stratus.storage.sqlite import SqliteStore
from tests.unit.test_team import echo_agent as echo


def desk(store: SqliteStore | None = None) -> Team:
    leader = ScriptedModel(call("delegate_task_to_member", member_id="a1", task="say hi"), "team answer")
    return Team(id="desk", name="Desk", model=leader, members=[echo("a1"), echo("a2")], store=store)


async def wire(team: Team) -> list[dict[str, Any]]:
    return [event.to_dict() async for event in team.arun("greet", stream=True, session_id="t1")]


async def test_members_events_are_at_depth_0_and_name_the_teams_run() -> None:
    events = await wire(desk())

    team_run = events[0]["run_id"]
    assert {e["nested_depth"] for e in events} == {0}
    member = [e for e in events if e["run_id"] != team_run]
    assert member[0]["event"] == "RunStarted"
    assert {(e["agent_id"], e["parent_run_id"]) for e in member} == {("a1", team_run)}
    # the team's own events have no parent and no agent keys
    own = [e for e in events if e["run_id"] == team_run]
    assert all("parent_run_id" not in e and "agent_id" not in e and e["team_id"] == "desk" for e in own)
    # agno's team RunContentEvent has no workflow_agent (the agent's twin has)
    assert all("workflow_agent" not in e for e in own if e["event"] == "TeamRunContent")
    assert all(e["workflow_agent"] is False for e in member if e["event"] == "RunContent")


async def test_the_delegation_call_names_the_members_run(store: SqliteStore) -> None:
    events = await wire(desk(store))

    member_run = next(e["run_id"] for e in events if e["event"] == "RunStarted")
    started = next(e for e in events if e["event"] == "TeamToolCallStarted")
    done = next(e for e in events if e["event"] == "TeamToolCallCompleted")
    assert started["tool"]["child_run_id"] is None  # (not yet started)
    assert (done["tool"]["tool_name"], done["tool"]["child_run_id"]) == ("delegate_task_to_member", member_run)
    stored = await store.get_run(events[0]["run_id"])
    assert stored is not None
    assert [t.child_run_id for t in stored.tools] == [member_run]


async def test_team_run_completed_carries_the_members_runs_before_its_metrics() -> None:
    events = await wire(desk())

    completed = events[-1]
    assert completed["event"] == "TeamRunCompleted"
    keys = list(completed)
    assert keys[keys.index("content") :] == [
        *("content", "content_type", "model_provider_data", "session_state", "member_responses", "metrics"),
    ]
    [member] = completed["member_responses"]
    assert (member["agent_id"], member["parent_run_id"], member["content"], member["status"]) == (
        "a1",
        completed["run_id"],
        "a1: say hi",
        "COMPLETED",
    )
    assert member["run_id"] == next(e["run_id"] for e in events if e["event"] == "RunStarted")


async def test_a_team_that_delegates_nothing_sends_no_member_responses() -> None:
    team = Team(id="solo", model=ScriptedModel("just me"), members=[echo("a1")])

    events = [e.to_dict() async for e in team.arun("hi", stream=True)]

    assert events[-1]["event"] == "TeamRunCompleted"
    assert "member_responses" not in events[-1]  # agno leaves an empty list out


async def test_the_team_run_has_its_members_runs() -> None:
    out = await desk().arun("greet")

    assert isinstance(out, RunOutput)
    run = out.to_dict()
    assert [(m["agent_id"], m["parent_run_id"]) for m in run["member_responses"]] == [("a1", out.run_id)]
    assert run["tools"][0]["child_run_id"] == run["member_responses"][0]["run_id"]


async def test_a_streamed_team_run_stores_its_events_but_the_pieces_of_content(store: SqliteStore) -> None:
    events = await wire(desk(store))

    stored = await store.get_run(events[0]["run_id"])
    assert stored is not None
    assert stored.events is not None
    kept = [e for e in events if e["event"] not in ("RunContent", "TeamRunContent")]
    assert [e["event"] for e in stored.events] == [e["event"] for e in kept]
    assert stored.events[-1]["event"] == "TeamRunCompleted"
    assert len(kept) < len(events)  # (the member's and the leader's pieces of content were left out)
    # the member's own run keeps none (AgentOS stores a top-level run's)
    member = await store.get_run(next(e["run_id"] for e in events if e["event"] == "RunStarted"))
    assert member is not None
    assert member.events is None
