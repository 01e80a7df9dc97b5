"""Every agent an App runs gets its store, so its learning machine learns: a team's member (in a nested team)
and a workflow's step (inside Parallel, Condition, Loop, Router and Steps), none of them served on their own."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from stratus import Agent, App, RunStatus
from stratus.learning import LearningMachine
from stratus.models.testing import ScriptedModel
from stratus.storage import MemoryQuery
from stratus.storage.sqlite import SqliteStore
from stratus.team import Team
from stratus.workflow import Condition, Loop, Parallel, Router, Step, Steps, Workflow
from tests.unit.test_learning import Chat, machine, memories


def learner(tmp_path: Path, name: str) -> LearningMachine:
    return machine(tmp_path / name)


async def drain(agent: Agent) -> None:
    learning = agent.learning_machine
    assert learning is not None
    await asyncio.wait_for(learning.queue.drain(), 10)


async def test_a_member_of_a_nested_team_learns_a_fact_with_the_apps_store(tmp_path: Path, store: SqliteStore) -> None:
    chat = Chat()
    member = Agent(id="helper", model=chat.model, learning=learner(tmp_path, "helper"))
    inner = Team(id="inner", mode="broadcast", model=ScriptedModel("inner done", "inner again"), members=[member])
    outer = Team(id="outer", mode="broadcast", model=ScriptedModel("outer done", "outer again"), members=[inner])
    app = App(teams=[outer], store=store)

    app.attach_store()
    assert member.store is store
    assert inner.store is store

    out = await outer.arun("Hi, my name is Ada and I love tea", user_id="ada", session_id="s1")
    assert out.status is RunStatus.COMPLETED, out.error
    await drain(member)
    assert await memories(store, "ada") == ["The user likes tea."]
    # and the member recalls it in the user's next session
    out = await outer.arun("What should I drink?", user_id="ada", session_id="s2")
    assert out.status is RunStatus.COMPLETED, out.error
    assert "The user likes tea." in chat.systems[-1]
    assert "The user likes tea." not in chat.systems[0]


async def test_a_workflow_step_deep_in_its_containers_learns_a_fact(tmp_path: Path, store: SqliteStore) -> None:
    chat = Chat()
    deep = Agent(id="deep", model=chat.model, learning=learner(tmp_path, "deep"))
    routed = Agent(id="routed", model=Chat().model, learning=learner(tmp_path, "routed"))
    looped = Agent(id="looped", model=Chat().model, learning=learner(tmp_path, "looped"))

    def always(_: Any) -> bool:
        return True

    def pick(_: Any) -> str:
        return "routed"

    flow = Workflow(
        id="flow",
        steps=[
            Parallel(Condition(always, [Steps(Step("deep", agent=deep))])),
            Router(pick, [Step("routed", agent=routed)]),
            Loop([Step("looped", agent=looped)], max_iterations=1),
        ],
    )
    app = App(workflows=[flow], store=store)

    app.attach_store()
    assert [deep.store, routed.store, looped.store] == [store, store, store]

    out = await flow.arun("I love tea", user_id="ada", session_id="w1")
    assert out.status is RunStatus.COMPLETED, out.error
    for agent in (deep, routed, looped):
        await drain(agent)
    # each step's agent learned the fact (the same fact merges into one memory of the user)
    assert await memories(store, "ada") == ["The user likes tea."]
    learned = await store.list_memories(MemoryQuery(user_id="ada"))
    assert {m.agent_id for m in learned.items} <= {"deep", "routed", "looped"}
    out = await flow.arun("What now?", user_id="ada", session_id="w2")
    assert out.status is RunStatus.COMPLETED, out.error
    assert "The user likes tea." in chat.systems[-1]


async def test_an_agent_with_a_store_of_its_own_keeps_it(tmp_path: Path, store: SqliteStore) -> None:
    own = SqliteStore(tmp_path / "own.db")
    try:
        member = Agent(id="helper", model=Chat().model, store=own)
        team = Team(id="desk", mode="broadcast", model=ScriptedModel("done"), members=[member])
        app = App(teams=[team], store=store)
        app.attach_store()
        assert member.store is own
        assert team.store is store
    finally:
        await own.close()
