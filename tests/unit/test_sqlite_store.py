"""`SqliteStore`: sessions and runs as separate rows; history is one bounded query."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from stratus import SchemaVersionError
from stratus.messages import Message, Usage
from stratus.run import RunInput, RunOutput, RunStatus
from stratus.storage import SessionQuery, SessionRecord, SessionType, store_from_url
from stratus.storage.sqlite import SqliteStore


def make_run(session_id: str, n: int, *, status: RunStatus = RunStatus.COMPLETED, user: str | None = "u1") -> RunOutput:
    run = RunOutput(
        run_id=f"{session_id}-run-{n}",
        session_id=session_id,
        agent_id="assistant",
        user_id=user,
        status=status,
        input=RunInput(input_content=f"question {n}"),
        content=f"answer {n}",
        messages=[Message(role="user", content=f"question {n}"), Message(role="assistant", content=f"answer {n}")],
    )
    run.metrics.usage = Usage(input_tokens=10, output_tokens=5, total_tokens=15)
    return run


def make_session(session_id: str, user: str | None = "u1", component: str = "assistant") -> SessionRecord:
    return SessionRecord(session_id=session_id, component_id=component, user_id=user, session_name=f"name {session_id}")


async def test_a_run_and_its_session_round_trip(store: SqliteStore) -> None:
    run = make_run("s1", 1)
    saved = await store.save_run(make_session("s1"), run)

    assert saved.version == 1
    assert saved.usage.total_tokens == 15
    assert saved.created_at > 0
    again = await store.get_run(run.run_id)
    assert again is not None
    assert again.to_dict() == run.to_dict()


async def test_history_reads_only_the_last_n_runs_in_one_query(store: SqliteStore, tmp_path: Path) -> None:
    session = make_session("s1")
    for n in range(1, 11):
        await store.save_run(session, make_run("s1", n))

    statements: list[str] = []
    conn = store._connect()  # pyright: ignore[reportPrivateUsage]
    conn.set_trace_callback(statements.append)
    runs = await store.get_runs("s1", last=3, statuses=[RunStatus.COMPLETED])
    conn.set_trace_callback(None)

    assert [r.input.input_content for r in runs if r.input] == ["question 8", "question 9", "question 10"]
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1


async def test_history_can_skip_failed_runs(store: SqliteStore) -> None:
    session = make_session("s1")
    await store.save_run(session, make_run("s1", 1))
    await store.save_run(session, make_run("s1", 2, status=RunStatus.ERROR))
    completed = await store.get_runs("s1", last=5, statuses=[RunStatus.COMPLETED])
    assert [r.run_id for r in completed] == ["s1-run-1"]
    assert len(await store.get_runs("s1")) == 2


async def test_saving_a_run_again_replaces_it_without_counting_tokens_twice(store: SqliteStore) -> None:
    session = make_session("s1")
    run = make_run("s1", 1)
    await store.save_run(session, run)
    run.content = "better answer"
    saved = await store.save_run(session, run)

    assert saved.usage.total_tokens == 15
    assert saved.version == 2
    runs = await store.get_runs("s1")
    assert [r.content for r in runs] == ["better answer"]


async def test_concurrent_runs_on_one_session_are_all_stored(store: SqliteStore) -> None:
    session = make_session("s1")
    await asyncio.gather(*(store.save_run(session, make_run("s1", n)) for n in range(30)))

    assert len(await store.get_runs("s1")) == 30
    stored = await store.get_session("s1")
    assert stored is not None
    assert stored.usage.total_tokens == 30 * 15


async def test_reads_are_scoped_to_the_user(store: SqliteStore) -> None:
    await store.save_run(make_session("s1", user="alice"), make_run("s1", 1, user="alice"))

    assert await store.get_session("s1", user_id="bob") is None
    assert await store.get_run("s1-run-1", user_id="bob") is None
    assert await store.get_runs("s1", user_id="bob") == []
    assert await store.delete_session("s1", user_id="bob") is False
    assert await store.get_session("s1", user_id="alice") is not None


async def test_a_run_cannot_be_written_into_another_users_session(store: SqliteStore) -> None:
    from stratus import StoreError

    await store.save_run(make_session("s1", user="alice"), make_run("s1", 1, user="alice"))
    with pytest.raises(StoreError, match="another user"):
        await store.save_run(make_session("s1", user="mallory"), make_run("s1", 2, user="mallory"))
    assert len(await store.get_runs("s1")) == 1


async def test_sessions_list_with_filters_sorting_and_paging(store: SqliteStore) -> None:
    for i in range(5):
        await store.save_run(make_session(f"a{i}", user="alice"), make_run(f"a{i}", 1, user="alice"))
    await store.save_run(make_session("b0", user="bob", component="other"), make_run("b0", 1, user="bob"))

    page, total = await store.list_sessions(SessionQuery(user_id="alice", limit=2, page=2, sort_order="asc"))
    assert total == 5
    assert [s.session_id for s in page] == ["a2", "a3"]
    _, total = await store.list_sessions(SessionQuery(component_id="other"))
    assert total == 1
    named, _ = await store.list_sessions(SessionQuery(session_name="name a3"))
    assert [s.session_id for s in named] == ["a3"]
    wildcard, _ = await store.list_sessions(SessionQuery(session_name="%"))
    assert wildcard == []  # LIKE wildcards in the filter are matched literally
    teams, _ = await store.list_sessions(SessionQuery(session_type=SessionType.TEAM))
    assert teams == []


async def test_deleting_a_session_deletes_its_runs(store: SqliteStore) -> None:
    await store.save_run(make_session("s1"), make_run("s1", 1))
    assert await store.delete_session("s1") is True
    assert await store.get_session("s1") is None
    assert await store.get_run("s1-run-1") is None
    assert await store.delete_session("s1") is False


async def test_an_unknown_schema_version_is_refused(store: SqliteStore) -> None:
    await store.save_run(make_session("s1"), make_run("s1", 1))
    conn = sqlite3.connect(store.path)
    data = json.loads(conn.execute("SELECT data FROM runs").fetchone()[0])
    data["schema_version"] = 99
    conn.execute("UPDATE runs SET data = ?", (json.dumps(data),))
    conn.commit()
    conn.close()

    with pytest.raises(SchemaVersionError, match="schema_version 99"):
        await store.get_run("s1-run-1")


async def test_the_store_survives_a_restart(tmp_path: Path) -> None:
    first = SqliteStore(tmp_path / "db.sqlite")
    await first.save_run(make_session("s1"), make_run("s1", 1))
    await first.close()
    second = SqliteStore(tmp_path / "db.sqlite")
    assert len(await second.get_runs("s1")) == 1
    assert second.id == first.id
    await second.close()


def test_store_urls(tmp_path: Path) -> None:
    from stratus import ConfigError

    relative = store_from_url("sqlite:///data/x.db")
    assert isinstance(relative, SqliteStore)
    assert relative.path == Path("data/x.db")
    absolute = store_from_url(f"sqlite:///{tmp_path}/y.db")
    assert isinstance(absolute, SqliteStore)
    assert absolute.path == tmp_path / "y.db"
    with pytest.raises(ConfigError, match="unsupported store URL"):
        store_from_url("mysql://nope")
