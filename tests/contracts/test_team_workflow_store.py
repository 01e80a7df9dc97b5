"""Teams and workflows on every `Store`: the embedded `SqliteStore` and `DynamoStore` on moto's DynamoDB
server keep a team's run and its members' runs, and a workflow's run with its step results and its steps'
runs, alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from stratus import Agent, RunStatus, Step, StepInput, Team, Workflow
from stratus.messages import Message
from stratus.models.base import ModelRequest
from stratus.models.testing import FunctionModel, ScriptedModel, call
from stratus.storage import SessionQuery, SessionType, Store
from stratus.storage.sqlite import SqliteStore


@pytest.fixture(params=["sqlite", "dynamodb"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """Each backend in turn."""
    if request.param == "sqlite":
        backend: Store = SqliteStore(tmp_path / "contract.db")
    else:
        backend = request.getfixturevalue("dynamo_store")
    yield backend
    await backend.close()


def echo(agent_id: str) -> Agent:
    def answer(messages: list[Message], params: ModelRequest) -> str:
        return f"{agent_id}: {messages[-1].content}"

    return Agent(id=agent_id, model=FunctionModel(answer))


async def test_a_teams_run_and_its_members_runs(store: Store) -> None:
    leader = ScriptedModel(
        [
            call("delegate_task_to_member", member_id="a", task="one"),
            call("delegate_task_to_member", member_id="b", task="two"),
        ],
        "both done",
        "the second answer",
    )
    team = Team(name="Crew", model=leader, members=[echo("a"), echo("b")], store=store, add_history_to_context=True)

    first = await team.arun("first", session_id="s1", user_id="ann", session_state={"round": 1})
    second = await team.arun("second", session_id="s1", user_id="ann")

    runs = await store.get_runs("s1", user_id="ann")
    assert [(r.team_id or r.agent_id, r.parent_run_id) for r in runs] == [
        ("crew", None),
        ("a", first.run_id),
        ("b", first.run_id),
        ("crew", None),
    ]
    assert all(r.status is RunStatus.COMPLETED for r in runs)
    assert (runs[0].team_name, runs[0].content) == ("Crew", "both done")
    read = await store.get_run(second.run_id, session_id="s1", user_id="ann")
    assert read is not None
    assert (read.team_id, read.content) == ("crew", "the second answer")
    # the second run's history is the first team run, not its members' runs
    history = [m.content for m in leader.requests[2] if m.from_history and m.role == "user"]
    assert history == ["first"]
    listed = await store.list_sessions(SessionQuery(session_type=SessionType.TEAM, user_id="ann"))
    sessions, total = listed.items, listed.total
    assert (total, sessions[0].component_id, sessions[0].session_state) == (1, "crew", {"round": 1})
    assert sessions[0].usage.total_tokens == sum(r.metrics.usage.total_tokens for r in runs)


async def test_a_workflows_run_its_step_results_and_its_steps_runs(store: Store) -> None:
    seen: list[RunStatus] = []

    async def check(step_input: StepInput) -> str:
        stored = await store.get_run(step_input.run_id or "")
        assert stored is not None
        seen.append(stored.status)
        return str(step_input.previous_step_content).upper()

    workflow = Workflow(name="Pipe", steps=[echo("writer"), Step("check", executor=check)], store=store)

    output = await workflow.arun("go", session_id="w1", user_id="ann")

    assert seen == [RunStatus.RUNNING]  # stored after its first step
    read = await store.get_run(output.run_id, session_id="w1", user_id="ann")
    assert read is not None
    assert (read.workflow_id, read.workflow_name, read.status, read.content) == (
        "pipe",
        "Pipe",
        RunStatus.COMPLETED,
        "WRITER: GO",
    )
    assert read.step_results is not None
    assert read.step_results == output.step_results
    (child,) = [r for r in await store.get_runs("w1") if r.parent_run_id]
    step_run = read.step_results[0]["step_run_id"]
    assert (child.agent_id, child.parent_run_id, child.run_id) == ("writer", output.run_id, step_run)
    session = await store.get_session("w1", user_id="ann")
    assert session is not None
    assert (session.session_type, session.component_id) == (SessionType.WORKFLOW, "pipe")
