"""Teams with scripted models: route, coordinate and broadcast; members that fail; shared session state;
member runs stored as children of the team's run; a team inside a team; a cancel in the middle of a run."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from stratus import Agent, ConfigError, RunContext, RunStatus, Team, tool
from stratus.component_events import (
    TeamRunCancelled,
    TeamRunCompleted,
    TeamRunContent,
    TeamRunError,
    TeamRunStarted,
    TeamToolCallCompleted,
)
from stratus.messages import Message
from stratus.models.base import ModelRequest
from stratus.models.testing import FunctionModel, ScriptedModel, call
from stratus.run import RunCompleted, RunError, RunEvent, RunOutput
from stratus.storage.sqlite import SqliteStore


def echo_agent(agent_id: str, prefix: str | None = None, **options: Any) -> Agent:
    """An agent whose model answers `<prefix>: <the message it got>`."""

    def answer(messages: list[Message], params: ModelRequest) -> str:
        return f"{prefix or agent_id}: {messages[-1].content}"

    return Agent(id=agent_id, name=agent_id.title(), model=FunctionModel(answer), **options)


def failing_agent(agent_id: str) -> Agent:
    def answer(messages: list[Message], params: ModelRequest) -> str:
        raise RuntimeError(f"{agent_id} is down")

    return Agent(id=agent_id, name=agent_id.title(), model=FunctionModel(answer))


async def collect(team: Team, message: str, **options: Any) -> list[RunEvent]:
    return [event async for event in team.arun(message, stream=True, **options)]


def kinds(events: list[RunEvent], whose: str | None = None) -> list[str]:
    """The kinds of the events of the team's own run (`whose="team"`, the first event's run), of the runs it
    started (`"members"`), or of all."""
    team_run = events[0].run_id
    return [e.kind for e in events if whose is None or (e.run_id == team_run) == (whose == "team")]


async def stored(store: SqliteStore, session_id: str) -> list[RunOutput]:
    return await store.get_runs(session_id)


# --- route ---------------------------------------------------------------------------------------------------


async def test_route_hands_the_message_to_one_member_whose_answer_is_the_teams(store: SqliteStore) -> None:
    leader = ScriptedModel(call("route_to_member", member_id="billing"))
    team = Team(
        name="Support",
        mode="route",
        model=leader,
        members=[echo_agent("billing"), echo_agent("tech")],
        store=store,
    )

    events = await collect(team, "my invoice is wrong", session_id="s1")

    # the leader was asked once: the member's answer ends the run
    assert len(leader.requests) == 1
    assert "route_to_member" in leader.tool_names[0]
    assert "`billing` (Billing)" in (leader.requests[0][0].content or "")
    assert kinds(events, "team") == [
        "TeamRunStarted",
        "TeamModelRequestStarted",
        "TeamModelRequestCompleted",
        "TeamToolCallStarted",
        "TeamToolCallCompleted",
        "TeamRunContent",
        "TeamRunContentCompleted",
        "TeamRunCompleted",
    ]
    # the member got the user's message unchanged, and its stream is in the team's, at nested_depth 0 as in
    # AgentOS (its parent_run_id tells it apart)
    assert kinds(events, "members")[0] == "RunStarted"
    assert kinds(events, "members")[-1] == "RunCompleted"
    member_events = [e for e in events if e.run_id != events[0].run_id]
    assert {e.nested_depth for e in events} == {0}
    assert {e.agent_id for e in member_events} == {"billing"}
    completed = events[-1]
    assert isinstance(completed, TeamRunCompleted)
    assert completed.output.content == "billing: my invoice is wrong"
    assert {e.parent_run_id for e in member_events} == {completed.run_id}
    content = [e for e in events if isinstance(e, TeamRunContent)]
    assert [e.content for e in content] == ["billing: my invoice is wrong"]
    assert completed.to_dict()["team_id"] == "support"
    assert "agent_id" not in completed.to_dict()

    team_run, member_run = await stored(store, "s1")
    assert (team_run.team_id, team_run.status, team_run.content) == (
        "support",
        RunStatus.COMPLETED,
        "billing: my invoice is wrong",
    )
    assert (member_run.agent_id, member_run.parent_run_id, member_run.status) == (
        "billing",
        team_run.run_id,
        RunStatus.COMPLETED,
    )
    session = await store.get_session("s1")
    assert session is not None
    assert (session.session_type.value, session.component_id) == ("team", "support")


async def test_route_to_a_failing_member_reports_it_and_the_leader_routes_elsewhere(store: SqliteStore) -> None:
    leader = ScriptedModel(
        call("route_to_member", member_id="tech"),
        call("route_to_member", member_id="billing"),
    )
    team = Team(name="Support", mode="route", model=leader, members=[echo_agent("billing"), failing_agent("tech")])
    team.store = store

    events = await collect(team, "help", session_id="s1")

    errors = [e for e in events if isinstance(e, RunError)]
    assert [(e.kind, e.agent_id, e.nested_depth, e.parent_run_id) for e in errors] == [
        ("RunError", "tech", 0, events[0].run_id)
    ]
    assert "tech is down" in errors[0].content
    failed_call = next(e for e in events if isinstance(e, TeamToolCallCompleted))
    assert failed_call.tool.tool_call_error is True
    assert "member 'tech' failed" in (failed_call.tool.result or "")
    # the leader read the error and routed again; the second member's answer is the team's
    assert "member 'tech' failed" in (leader.requests[1][-1].content or "")
    assert isinstance(events[-1], TeamRunCompleted)
    assert events[-1].output.content == "billing: help"
    statuses = {(r.agent_id or r.team_id): r.status for r in await stored(store, "s1")}
    assert statuses == {"support": RunStatus.COMPLETED, "tech": RunStatus.ERROR, "billing": RunStatus.COMPLETED}


async def test_route_keeps_a_members_structured_answer(store: SqliteStore) -> None:
    from pydantic import BaseModel

    class Ticket(BaseModel):
        topic: str
        urgent: bool

    triage = Agent(
        id="triage",
        model=ScriptedModel('{"topic": "billing", "urgent": true}'),
        output_schema=Ticket,
    )
    team = Team(
        name="Desk", mode="route", model=ScriptedModel(call("route_to_member", member_id="triage")), members=[triage]
    )

    output = await team.arun("urgent invoice problem")

    assert output.status is RunStatus.COMPLETED
    assert output.content == Ticket(topic="billing", urgent=True)
    assert output.content_type == "Ticket"


# --- coordinate ----------------------------------------------------------------------------------------------


async def test_coordinate_runs_a_turns_delegations_concurrently_then_synthesizes(store: SqliteStore) -> None:
    both_started = asyncio.Barrier(3)  # the two members and this test

    def member(agent_id: str) -> Agent:
        async def answer(messages: list[Message], params: ModelRequest) -> str:
            await asyncio.wait_for(both_started.wait(), timeout=5)  # only passes if both run at once
            return f"{agent_id} did: {messages[-1].content}"

        return Agent(id=agent_id, name=agent_id.title(), model=FunctionModel(answer))

    leader = ScriptedModel(
        [
            call("delegate_task_to_member", member_id="flights", task="book a flight to Oslo"),
            call("delegate_task_to_member", member_id="hotels", task="book a hotel in Oslo"),
        ],
        "Your flight and hotel are booked.",
    )
    team = Team(name="Travel", model=leader, members=[member("flights"), member("hotels")], store=store)

    task = asyncio.ensure_future(team.arun("plan my Oslo trip", session_id="s1"))
    await asyncio.wait_for(both_started.wait(), timeout=5)
    output = await task

    assert output.status is RunStatus.COMPLETED
    assert output.content == "Your flight and hotel are booked."
    # the leader saw both results before writing the answer
    results = [m.content for m in leader.requests[1] if m.role == "tool"]
    assert results == ["flights did: book a flight to Oslo", "hotels did: book a hotel in Oslo"]
    assert [t.tool_name for t in output.tools] == ["delegate_task_to_member"] * 2
    assert [c.agent_id for c in output.children] == ["flights", "hotels"]
    runs = await stored(store, "s1")
    assert [(r.team_id or r.agent_id, r.parent_run_id) for r in runs] == [
        ("travel", None),
        ("flights", output.run_id),
        ("hotels", output.run_id),
    ]
    # the session totals count the leader's tokens and the members' once each
    session = await store.get_session("s1")
    assert session is not None
    assert session.usage.total_tokens == sum(r.metrics.usage.total_tokens for r in runs)


async def test_coordinate_a_failing_member_leaves_the_others_and_the_team_unaffected(store: SqliteStore) -> None:
    leader = ScriptedModel(
        [
            call("delegate_task_to_member", member_id="broken", task="A"),
            call("delegate_task_to_member", member_id="writer", task="B"),
            call("delegate_task_to_member", member_id="nobody", task="C"),
        ],
        "Done with what worked.",
    )
    team = Team(name="Crew", model=leader, members=[failing_agent("broken"), echo_agent("writer")], store=store)

    events = await collect(team, "do three things", session_id="s1")

    tool_results = {m.tool_args["member_id"]: m for m in leader.requests[1] if m.role == "tool" and m.tool_args}
    assert tool_results["writer"].content == "writer: B"
    assert tool_results["writer"].tool_call_error is False
    assert "member 'broken' failed: RuntimeError: broken is down" in (tool_results["broken"].content or "")
    assert tool_results["broken"].tool_call_error is True
    assert "there is no member 'nobody' (members: broken, writer)" in (tool_results["nobody"].content or "")
    ends = sorted((e.agent_id, e.kind) for e in events if e.parent_run_id and isinstance(e, RunError | RunCompleted))
    assert ends == [("broken", "RunError"), ("writer", "RunCompleted")]
    assert isinstance(events[-1], TeamRunCompleted)
    statuses = {(r.agent_id or r.team_id): r.status for r in await stored(store, "s1")}
    assert statuses == {"crew": RunStatus.COMPLETED, "broken": RunStatus.ERROR, "writer": RunStatus.COMPLETED}


async def test_members_share_the_teams_session_state_and_it_is_saved(store: SqliteStore) -> None:
    @tool
    def add_item(item: str, ctx: RunContext) -> str:
        """Add an item to the list.

        Args:
            item: The item.
        """
        ctx.session_state.setdefault("items", []).append(item)
        return f"{len(ctx.session_state['items'])} items"

    shopper = Agent(id="shopper", model=ScriptedModel(call("add_item", item="milk"), "added milk"), tools=[add_item])

    @tool
    def count_items(ctx: RunContext) -> int:
        """Count the items on the list."""
        return len(ctx.session_state.get("items", []))

    leader = ScriptedModel(
        call("delegate_task_to_member", member_id="shopper", task="add milk"),
        call("count_items"),
        "There is 1 item.",
    )
    team = Team(
        name="House",
        model=leader,
        members=[shopper],
        tools=[count_items],
        session_state={"items": ["eggs"]},
        store=store,
    )

    output = await team.arun("add milk", session_id="s1", user_id="ann")

    assert output.session_state == {"items": ["eggs", "milk"]}
    assert leader.requests[2][-1].content == "2"  # the leader's own tool saw the member's change
    session = await store.get_session("s1", user_id="ann")
    assert session is not None
    assert session.session_state == {"items": ["eggs", "milk"]}
    # the next run of the session starts from the stored state
    again = Team(
        name="House",
        model=ScriptedModel(call("count_items"), "2 items"),
        members=[shopper],
        tools=[count_items],
        store=store,
    )
    second = await again.arun("how many?", session_id="s1", user_id="ann")
    assert second.tools[0].result == "2"


# --- broadcast -----------------------------------------------------------------------------------------------


async def test_broadcast_asks_every_member_at_once_then_the_leader_synthesizes(store: SqliteStore) -> None:
    all_started = asyncio.Barrier(2)

    def critic(agent_id: str) -> Agent:
        async def answer(messages: list[Message], params: ModelRequest) -> str:
            await asyncio.wait_for(all_started.wait(), timeout=5)
            return f"{agent_id} thinks it is fine"

        return Agent(id=agent_id, model=FunctionModel(answer))

    leader = ScriptedModel("Everyone agrees it is fine, except the one who is down.")
    team = Team(
        name="Panel",
        mode="broadcast",
        model=leader,
        members=[critic("style"), critic("facts"), failing_agent("offline")],
        store=store,
    )

    events = await collect(team, "review my essay", session_id="s1")

    assert isinstance(events[-1], TeamRunCompleted)
    assert events[-1].output.content == "Everyone agrees it is fine, except the one who is down."
    assert len(leader.requests) == 1
    assert leader.tool_names == [[]]  # nothing to delegate: everyone has answered
    system = leader.requests[0][0].content or ""
    assert '<member_response member_id="style">\nstyle thinks it is fine\n</member_response>' in system
    assert '<member_response member_id="facts">\nfacts thinks it is fine\n</member_response>' in system
    assert '<member_response member_id="offline" failed="true">' in system
    assert leader.requests[0][-1].content == "review my essay"
    # every member's stream comes before the leader's answer, one level down
    first_leader_request = kinds(events).index("TeamModelRequestStarted")
    assert kinds(events)[0] == "TeamRunStarted"
    assert {e.agent_id for e in events[1:first_leader_request]} == {"style", "facts", "offline"}
    runs = await stored(store, "s1")
    assert {(r.agent_id, r.status) for r in runs if r.parent_run_id} == {
        ("style", RunStatus.COMPLETED),
        ("facts", RunStatus.COMPLETED),
        ("offline", RunStatus.ERROR),
    }


# --- a team inside a team ------------------------------------------------------------------------------------


async def test_a_team_inside_a_team(store: SqliteStore) -> None:
    inner = Team(
        name="Research",
        description="finds facts",
        mode="route",
        model=ScriptedModel(call("route_to_member", member_id="librarian")),
        members=[echo_agent("librarian")],
    )
    outer_leader = ScriptedModel(
        [
            call("delegate_task_to_member", member_id="research", task="capital of Norway?"),
            call("delegate_task_to_member", member_id="writer", task="write a title"),
        ],
        "Oslo, in a nice title.",
    )
    outer = Team(name="Studio", model=outer_leader, members=[inner, echo_agent("writer")], store=store)

    events = await collect(outer, "a title about Norway's capital", session_id="s1")

    completed = events[-1]
    assert isinstance(completed, TeamRunCompleted)
    outer_id = completed.run_id
    inner_started = [e for e in events if isinstance(e, TeamRunStarted) and e.run_id != outer_id]
    assert [(e.team_id, e.parent_run_id) for e in inner_started] == [("research", outer_id)]
    inner_id = inner_started[0].run_id
    librarian = [e for e in events if e.agent_id == "librarian"]
    assert {(e.nested_depth, e.parent_run_id) for e in librarian} == {(0, inner_id)}
    writer = [e for e in events if e.agent_id == "writer"]
    assert {(e.nested_depth, e.parent_run_id) for e in writer} == {(0, outer_id)}
    assert outer_leader.requests[1][-2].content == "librarian: capital of Norway?"
    # three levels, one session: the inner team's run is the outer's child, the librarian's the inner's
    runs = {(r.team_id or r.agent_id): r for r in await stored(store, "s1")}
    assert set(runs) == {"studio", "research", "librarian", "writer"}
    assert runs["research"].parent_run_id == outer_id
    assert runs["librarian"].parent_run_id == inner_id
    assert runs["writer"].parent_run_id == outer_id
    assert runs["research"].content == "librarian: capital of Norway?"
    assert [c.team_id or c.agent_id for c in completed.output.children] == ["research", "writer"]


# --- cancel, errors, history ---------------------------------------------------------------------------------


async def test_a_cancel_in_the_middle_stops_the_members_in_flight_and_stores_every_run(store: SqliteStore) -> None:
    slow_started = asyncio.Event()

    async def never_answers(messages: list[Message], params: ModelRequest) -> str:
        slow_started.set()
        await asyncio.sleep(3600)
        return "too late"

    slow = Agent(id="slow", model=FunctionModel(never_answers))
    leader = ScriptedModel(
        [
            call("delegate_task_to_member", member_id="fast", task="quick"),
            call("delegate_task_to_member", member_id="slow", task="long"),
        ]
    )
    team = Team(name="Crew", model=leader, members=[echo_agent("fast"), slow], store=store)
    seen: list[RunEvent] = []

    async def consume() -> None:
        async for event in team.arun("go", stream=True, session_id="s1"):
            seen.append(event)

    task = asyncio.ensure_future(consume())
    await asyncio.wait_for(slow_started.wait(), timeout=5)
    for _ in range(1000):  # until the fast member has answered (10 s at most: a loaded machine is slow)
        if any(isinstance(e, RunCompleted) and e.agent_id == "fast" for e in seen):
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    runs = {(r.team_id or r.agent_id): r for r in await stored(store, "s1")}
    assert runs["crew"].status is RunStatus.CANCELLED
    assert runs["slow"].status is RunStatus.CANCELLED
    assert runs["slow"].parent_run_id == runs["crew"].run_id
    assert runs["fast"].status is RunStatus.COMPLETED


async def test_a_leader_that_fails_ends_the_run_in_error_and_it_is_stored(store: SqliteStore) -> None:
    team = Team(name="Crew", model=ScriptedModel(RuntimeError("leader down")), members=[echo_agent("a")], store=store)

    events = await collect(team, "hello", session_id="s1")

    assert kinds(events) == ["TeamRunStarted", "TeamModelRequestStarted", "TeamRunError"]
    error = events[-1]
    assert isinstance(error, TeamRunError)
    assert "leader down" in error.content
    assert error.to_dict()["team_id"] == "crew"
    (run,) = await stored(store, "s1")
    assert (run.status, run.error_type) == (RunStatus.ERROR, "RuntimeError")


async def test_another_users_session_reads_as_absent_and_nothing_is_written(store: SqliteStore) -> None:
    team = Team(name="Crew", model=ScriptedModel("hi"), members=[echo_agent("a")], store=store)
    await team.arun("mine", session_id="s1", user_id="ann")

    events = await collect(team, "yours?", session_id="s1", user_id="bob")

    assert kinds(events) == ["TeamRunStarted", "TeamRunError"]
    assert isinstance(events[-1], TeamRunError)
    assert events[-1].error_type == "NotFoundError"
    assert len(await stored(store, "s1")) == 1


async def test_the_leader_remembers_the_teams_earlier_runs_not_its_members(store: SqliteStore) -> None:
    leader = ScriptedModel(
        call("delegate_task_to_member", member_id="a", task="first task"),
        "first answer",
        "second answer",
    )
    team = Team(name="Crew", model=leader, members=[echo_agent("a")], store=store, add_history_to_context=True)

    await team.arun("first question", session_id="s1")
    await team.arun("second question", session_id="s1")

    seen = [(m.role, m.content) for m in leader.requests[2] if m.role != "system"]
    assert seen[0] == ("user", "first question")
    assert ("assistant", "first answer") in seen
    assert seen[-1] == ("user", "second question")
    assert ("tool", "a: first task") in seen  # the delegation's result is the team's own
    assert ("user", "first task") not in seen  # the member's run is not the team's history


def test_the_sync_run_and_stream() -> None:
    team = Team(
        name="Crew",
        mode="route",
        model=ScriptedModel(call("route_to_member", member_id="a")),
        members=[echo_agent("a")],
    )

    assert team.run("hi").content == "a: hi"
    names = [
        e.kind
        for e in Team(
            name="Crew",
            mode="route",
            model=ScriptedModel(call("route_to_member", member_id="a")),
            members=[echo_agent("a")],
        ).run("hi", stream=True)
    ]
    assert (names[0], names[-1]) == ("TeamRunStarted", "TeamRunCompleted")


def test_a_team_without_a_model_fails_its_run_clearly() -> None:
    output = Team(name="Crew", members=[echo_agent("a")]).run("hi")

    assert output.status is RunStatus.ERROR
    assert output.error == "team 'crew' has no model (its leader needs one, or set STRATUS_MODEL)"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"members": []}, "has no members"),
        ({"members": [echo_agent("a"), echo_agent("a")]}, "two members with the id 'a'"),
        ({"members": [echo_agent("a")], "mode": "vote"}, "mode must be one of route, coordinate, broadcast"),
        ({"members": ["not an agent"]}, "members are Agents or Teams"),
    ],
)
def test_bad_declarations_fail_at_once(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Team(name="Crew", **options)


def test_cancelled_event_names_the_team() -> None:
    from stratus.run import cancelled_event

    output = RunOutput(run_id="r", session_id="s", team_id="crew", team_name="Crew")
    event = cancelled_event(output, "cancelled by request")
    assert isinstance(event, TeamRunCancelled)
    assert event.to_dict()["team_id"] == "crew"
    assert event.to_dict()["event"] == "TeamRunCancelled"
