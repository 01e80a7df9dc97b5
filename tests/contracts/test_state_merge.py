"""Concurrent runs of one session change its state without losing each other's changes, on every store:
the merge `Store.save_run` applies on a version conflict (`stratus.storage.base.merge_state`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from stratus import Agent, tool
from stratus.messages import Message
from stratus.models.base import ModelRequest
from stratus.models.testing import FunctionModel, Reply, call
from stratus.run import RunContext, RunStatus
from stratus.storage import Store
from stratus.storage.sqlite import SqliteStore

RUNS = 50


@pytest.fixture(params=["sqlite", "dynamodb"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    backend: Store = (
        SqliteStore(tmp_path / "merge.db") if request.param == "sqlite" else request.getfixturevalue("dynamo_store")
    )
    yield backend
    await backend.close()


def note_taker(store: Store, *, runs: int) -> Agent:
    """An agent whose every run appends its message to the session's `notes` (files it under `by_word`, and
    sets `last`), then waits until `runs` runs have done so before it answers: so all of them start from the
    same state and every save but one conflicts."""
    all_in, arrived = asyncio.Event(), list[int]()

    @tool
    async def add_note(text: str, ctx: RunContext) -> str:
        """Keep a note.

        Args:
            text: The note.
        """
        state = ctx.session_state
        state.setdefault("notes", []).append(text)
        state.setdefault("by_word", {})[text] = len(text)
        state["last"] = text
        arrived.append(1)
        if len(arrived) == runs:
            all_in.set()
        await asyncio.wait_for(all_in.wait(), timeout=60)
        return "noted"

    def reply(messages: list[Message], _: ModelRequest) -> Reply:
        last = messages[-1]
        return call("add_note", text=str(last.content)) if last.role == "user" else "Noted."

    return Agent(name="notes", model=FunctionModel(reply), tools=[add_note], store=store)


async def test_fifty_concurrent_runs_appending_to_one_list_keep_every_item(store: Store) -> None:
    opener = note_taker(store, runs=1)
    first = await opener.arun("opening", session_id="shared", user_id="alice")  # the session exists, with a note
    assert first.status is RunStatus.COMPLETED
    agent = note_taker(store, runs=RUNS)

    outs = await asyncio.gather(*(agent.arun(f"note {i}", session_id="shared", user_id="alice") for i in range(RUNS)))

    assert [o.status for o in outs] == [RunStatus.COMPLETED] * RUNS
    assert not any(t.tool_call_error for o in outs for t in o.tools)  # every run got past the barrier
    session = await store.get_session("shared")
    assert session is not None
    notes = session.session_state["notes"]
    assert notes[0] == "opening"
    assert sorted(notes[1:]) == sorted(f"note {i}" for i in range(RUNS))  # 51 notes, none twice, none lost
    assert set(session.session_state["by_word"]) == {"opening", *(f"note {i}" for i in range(RUNS))}
    assert session.session_state["last"] in {f"note {i}" for i in range(RUNS)}  # a scalar: one writer's value
    assert len(await store.get_runs("shared")) == RUNS + 1


async def test_concurrent_appenders_to_a_list_the_session_did_not_have_keep_every_item(store: Store) -> None:
    agent = note_taker(store, runs=RUNS)

    outs = await asyncio.gather(*(agent.arun(f"note {i}", session_id="fresh", user_id="alice") for i in range(RUNS)))

    assert [o.status for o in outs] == [RunStatus.COMPLETED] * RUNS
    session = await store.get_session("fresh")
    assert session is not None
    assert sorted(session.session_state["notes"]) == sorted(f"note {i}" for i in range(RUNS))
