"""Agents on both stores: concurrent runs of one session all land, state changes made by concurrent runs all
survive, and history reads back the same from SQLite and DynamoDB."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from stratus import Agent, RunContext, RunStatus, tool
from stratus.messages import Message
from stratus.models.base import ModelRequest
from stratus.models.testing import FunctionModel, Reply, call
from stratus.storage import Store
from stratus.storage.sqlite import SqliteStore


@pytest.fixture(params=["sqlite", "dynamodb"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    backend: Store = (
        SqliteStore(tmp_path / "agents.db") if request.param == "sqlite" else request.getfixturevalue("dynamo_store")
    )
    yield backend
    await backend.close()


def echo(messages: list[Message], params: ModelRequest) -> str:
    return f"echo: {messages[-1].content}"


async def test_fifty_concurrent_runs_of_one_session_are_all_stored(store: Store) -> None:
    agent = Agent(model=FunctionModel(echo), store=store, session_state={"plan": "free"})

    outputs = await asyncio.gather(*(agent.arun(f"message {i}", session_id="s1", user_id="u1") for i in range(50)))

    assert all(o.status is RunStatus.COMPLETED for o in outputs), [o.error for o in outputs if o.error]
    runs = await store.get_runs("s1")
    assert len(runs) == 50
    assert {r.run_id for r in runs} == {o.run_id for o in outputs}
    session = await store.get_session("s1")
    assert session is not None
    assert session.session_state == {"plan": "free"}
    assert session.usage.total_tokens == sum(o.metrics.usage.total_tokens for o in outputs)


async def test_state_changes_of_concurrent_runs_all_survive(store: Store) -> None:
    @tool
    def remember(key: str, ctx: RunContext) -> str:
        """Remember a key."""
        ctx.session_state[key] = True
        return "ok"

    def model(messages: list[Message], params: ModelRequest) -> Reply:
        last = messages[-1]
        if last.role == "user":
            return call("remember", key=str(last.content))
        return "remembered"

    agent = Agent(model=FunctionModel(model), store=store, tools=[remember])
    await agent.arun("k0", session_id="s1", user_id="u1")

    outputs = await asyncio.gather(*(agent.arun(f"k{i}", session_id="s1", user_id="u1") for i in range(1, 21)))

    assert all(o.status is RunStatus.COMPLETED for o in outputs)
    session = await store.get_session("s1")
    assert session is not None
    assert session.session_state == {f"k{i}": True for i in range(21)}


async def test_history_reads_back_the_same_from_either_store(store: Store) -> None:
    model = FunctionModel(echo)
    agent = Agent(model=model, store=store, add_history_to_context=True, num_history_runs=2)
    for i in range(4):
        await agent.arun(f"q{i}", session_id="s1", user_id="u1")

    await agent.arun("last", session_id="s1", user_id="u1")

    history = [m.content for m in model.requests[-1] if m.from_history]
    assert history == ["q2", "echo: q2", "q3", "echo: q3"]
