"""The run lifecycle every executor shares: its moves, its one end, its one save, and a paused run that
lives only in the store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from stratus._lifecycle import LifecycleError, RunLifecycle
from stratus._nesting import SessionWriter
from stratus.agent._loop import AGENT_EVENTS
from stratus.exceptions import NotFoundError, RunLimitExceeded
from stratus.run import RunCompleted, RunContinued, RunError, RunEvent, RunOutput, RunPaused, RunStarted, RunStatus
from stratus.storage import SessionRecord, SessionType
from stratus.storage.sqlite import SqliteStore


def lifecycle_in(store: SqliteStore, output: RunOutput | None = None) -> RunLifecycle:
    out = output or RunOutput(run_id="r1", session_id="s1", agent_id="a", user_id="u")
    place = SessionWriter(
        store, session_id="s1", user_id="u", session_type=SessionType.AGENT, component_id="a", session_name="t"
    )
    base = {"run_id": out.run_id, "session_id": out.session_id, "agent_id": "a", "agent_name": None}
    return RunLifecycle(output=out, place=place, kinds=AGENT_EVENTS, base=base, label="agent 'a'", defaults={"n": 0})


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    backend = SqliteStore(tmp_path / "life.db")
    yield backend
    await backend.close()


async def collect(events: AsyncIterator[RunEvent]) -> list[RunEvent]:
    return [event async for event in events]


async def test_a_run_starts_pending_and_cannot_skip_running_to_complete(store: SqliteStore) -> None:
    life = lifecycle_in(store)
    assert life.status is RunStatus.PENDING

    with pytest.raises(LifecycleError, match="PENDING to COMPLETED"):
        life.move(RunStatus.COMPLETED)
    life.move(RunStatus.RUNNING)
    life.move(RunStatus.COMPLETED)
    with pytest.raises(LifecycleError, match="COMPLETED to RUNNING"):
        life.move(RunStatus.RUNNING)  # an ended run makes no more moves


async def test_a_body_that_returns_completes_the_run_and_stores_it_once(store: SqliteStore) -> None:
    life = lifecycle_in(store)

    async def body() -> AsyncIterator[RunEvent]:
        state = await life.open()
        state["n"] += 1
        yield life.started()

    events = await collect(life.drive(body()))

    assert [type(e) for e in events] == [RunStarted, RunCompleted]
    stored = await store.get_run("r1")
    assert stored is not None
    assert stored.status is RunStatus.COMPLETED
    session = await store.get_session("s1")
    assert session is not None
    assert session.session_state == {"n": 1}
    assert len(await store.get_runs("s1")) == 1


async def test_a_body_that_fails_before_announcing_still_opens_with_the_start_event(store: SqliteStore) -> None:
    life = lifecycle_in(store)

    async def body() -> AsyncIterator[RunEvent]:
        await life.open()
        raise RunLimitExceeded("too many rounds", limit="max_tool_rounds")
        yield life.started()  # never reached

    events = await collect(life.drive(body()))

    assert [type(e) for e in events] == [RunStarted, RunError]
    error = events[1]
    assert isinstance(error, RunError)
    assert error.additional_data == {"limit": "max_tool_rounds"}
    stored = await store.get_run("r1")
    assert stored is not None
    assert stored.status is RunStatus.ERROR
    assert stored.error == "too many rounds"


async def test_a_cancelled_run_is_stored_cancelled_and_the_cancel_goes_on(store: SqliteStore) -> None:
    life = lifecycle_in(store)
    running = asyncio.Event()

    async def body() -> AsyncIterator[RunEvent]:
        await life.open()
        yield life.started()
        running.set()
        await asyncio.sleep(30)

    task = asyncio.ensure_future(collect(life.drive(body())))
    await running.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    stored = await store.get_run("r1")
    assert stored is not None
    assert stored.status is RunStatus.CANCELLED
    assert stored.error_type == "RunCancelledError"


async def test_a_paused_run_lives_in_the_store_and_a_new_lifecycle_resumes_it(store: SqliteStore) -> None:
    life = lifecycle_in(store)

    async def until_pause() -> AsyncIterator[RunEvent]:
        await life.open()
        yield life.started()
        yield await life.pause(RunPaused(**life.base))

    events = await collect(life.drive(until_pause()))
    assert [type(e) for e in events] == [RunStarted, RunPaused]  # no end event: it waits
    paused = await store.get_run("r1")
    assert paused is not None
    assert paused.status is RunStatus.PAUSED

    resumed = lifecycle_in(store, paused)  # nothing of the first lifecycle is needed: the stored run is enough
    assert resumed.status is RunStatus.PAUSED

    async def to_the_end() -> AsyncIterator[RunEvent]:
        await resumed.open()
        yield resumed.started()

    events = await collect(resumed.drive(to_the_end()))
    assert [type(e) for e in events] == [RunContinued, RunCompleted]  # AgentOS' opening of a resumed run
    done = await store.get_run("r1")
    assert done is not None
    assert done.status is RunStatus.COMPLETED
    assert len(await store.get_runs("s1")) == 1  # the same run, not a second one


async def test_a_suspended_run_stays_running_with_its_progress_stored_and_no_end_event(store: SqliteStore) -> None:
    life = lifecycle_in(store)

    async def body() -> AsyncIterator[RunEvent]:
        await life.open()
        yield life.started()
        await life.suspend()

    events = await collect(life.drive(body()))

    assert [type(e) for e in events] == [RunStarted]
    assert life.suspended
    stored = await store.get_run("r1")
    assert stored is not None
    assert stored.status is RunStatus.RUNNING


async def test_a_tool_appending_to_a_default_list_does_not_change_the_components_default(store: SqliteStore) -> None:
    defaults: dict[str, Any] = {"notes": []}
    for session in ("s1", "s2"):
        place = SessionWriter(
            store, session_id=session, user_id="u", session_type=SessionType.AGENT, component_id="a", session_name=None
        )
        state = await place.open(defaults, None)
        state["notes"].append(session)

    assert defaults == {"notes": []}


def writer_of(store: SqliteStore, session_id: str = "s1", user_id: str | None = "u") -> SessionWriter:
    return SessionWriter(
        store,
        session_id=session_id,
        user_id=user_id,
        session_type=SessionType.AGENT,
        component_id="a",
        session_name=None,
    )


async def stored_session(store: SqliteStore, session_id: str, user_id: str) -> SessionRecord:
    out = RunOutput(run_id=f"r-{session_id}", session_id=session_id, agent_id="a", user_id=user_id)
    writer = writer_of(store, session_id, user_id)
    await writer.open(None, {"n": 1})
    assert await writer.save(out, {"n": 1}, None)
    session = await store.get_session(session_id)
    assert session is not None
    return session


async def test_a_session_read_before_is_checked_as_the_writers_own_and_not_read_again(store: SqliteStore) -> None:
    own = await stored_session(store, "s1", "u")
    reads: list[str] = []
    get_session = store.get_session

    async def counted(session_id: str, **kw: Any) -> SessionRecord | None:
        reads.append(session_id)
        return await get_session(session_id, **kw)

    store.get_session = counted  # type: ignore[method-assign]
    writer = writer_of(store)
    writer.read_before(store, own)
    assert await writer.open(None, None) == {"n": 1}
    assert reads == []
    assert writer.record == own

    # Another user's session, handed over as read, is refused as the writer's own read of it would be.
    theirs = await stored_session(store, "s2", "mallory")
    writer = writer_of(store, "s2")
    writer.read_before(store, theirs)
    with pytest.raises(NotFoundError):
        await writer.open(None, None)

    # A read of another session, or from another store, is not taken: the writer reads its own.
    for other_store, session in ((store, theirs), (SqliteStore(":memory:"), own)):
        writer = writer_of(store)
        writer.read_before(other_store, session)
        reads.clear()
        assert await writer.open(None, None) == {"n": 1}
        assert reads == ["s1"]
