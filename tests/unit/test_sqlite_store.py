"""What only the SQLite store needs to show (the shared behaviour is in tests/contracts/)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from stratus import ConfigError, SchemaVersionError
from stratus._utils import time_ordered_id
from stratus.messages import Message
from stratus.run import RunInput, RunOutput, RunStatus
from stratus.storage import SessionRecord, store_from_url
from stratus.storage.dynamodb import DynamoStore
from stratus.storage.sqlite import SqliteStore


def make_run(n: int) -> RunOutput:
    return RunOutput(
        run_id=time_ordered_id(),
        session_id="s1",
        user_id="u1",
        agent_id="assistant",
        status=RunStatus.COMPLETED,
        input=RunInput(input_content=f"question {n}"),
        messages=[Message(role="user", content=f"question {n}")],
    )


def session() -> SessionRecord:
    return SessionRecord(session_id="s1", user_id="u1", component_id="assistant")


async def test_history_is_one_query_however_long_the_session(store: SqliteStore) -> None:
    for n in range(1, 51):
        await store.save_run(session(), make_run(n))

    statements: list[str] = []
    conn = store._connect()  # pyright: ignore[reportPrivateUsage]
    conn.set_trace_callback(statements.append)
    runs = await store.get_runs("s1", last=3, statuses=[RunStatus.COMPLETED])
    conn.set_trace_callback(None)

    assert [r.input.input_content for r in runs if r.input] == ["question 48", "question 49", "question 50"]
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1
    plan = " ".join(str(tuple(row)) for row in conn.execute("EXPLAIN QUERY PLAN " + statements[-1].split(";")[0]))
    assert "runs_history" in plan  # an index walk, not a scan of the session's runs


async def test_an_unknown_schema_version_is_refused(store: SqliteStore) -> None:
    run = make_run(1)
    await store.save_run(session(), run)
    conn = sqlite3.connect(store.path)
    data = json.loads(conn.execute("SELECT data FROM runs").fetchone()[0])
    data["schema_version"] = 99
    conn.execute("UPDATE runs SET data = ?", (json.dumps(data),))
    conn.commit()
    conn.close()

    with pytest.raises(SchemaVersionError, match="schema_version 99"):
        await store.get_run(run.run_id)


async def test_the_store_survives_a_restart(tmp_path: Path) -> None:
    first = SqliteStore(tmp_path / "db.sqlite")
    await first.save_run(session(), make_run(1))
    await first.close()
    second = SqliteStore(tmp_path / "db.sqlite")
    assert len(await second.get_runs("s1")) == 1
    assert second.id == first.id
    await second.close()


def test_store_urls(tmp_path: Path) -> None:
    relative = store_from_url("sqlite:///data/x.db")
    assert isinstance(relative, SqliteStore)
    assert relative.path == Path("data/x.db")
    absolute = store_from_url(f"sqlite:///{tmp_path}/y.db?ttl=60")
    assert isinstance(absolute, SqliteStore)
    assert (absolute.path, absolute.ttl_seconds) == (tmp_path / "y.db", 60)

    dynamo = store_from_url("dynamodb://stratus-sessions?region=eu-west-1&bucket=big-runs&ttl=86400")
    assert isinstance(dynamo, DynamoStore)
    assert (dynamo.table, dynamo.region, dynamo.bucket, dynamo.ttl_seconds) == (
        "stratus-sessions",
        "eu-west-1",
        "big-runs",
        86400,
    )

    for bad, message in (
        ("mysql://nope", "unsupported store URL"),
        ("dynamodb://?region=x", "needs a table name"),
        ("sqlite:///x.db?ttl=soon", "whole number"),
        ("sqlite://", "needs a file path"),
    ):
        with pytest.raises(ConfigError, match=message):
            store_from_url(bad)


async def test_a_run_written_while_another_process_holds_the_write_lock_waits_for_it(store: SqliteStore) -> None:
    """One session's reads and writes run on the caller's thread and never wait there: when another process
    holds the write lock, the write goes to a worker thread, which waits for it, and nothing is lost."""
    import asyncio
    import itertools
    import threading

    await store.save_run(session(), make_run(1))  # the file and its schema exist
    other = sqlite3.connect(store.path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    released = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    released.start()
    ticks: list[float] = []

    async def ticker() -> None:  # the event loop stays free while the write waits
        for _ in range(25):
            ticks.append(asyncio.get_running_loop().time())
            await asyncio.sleep(0.02)

    async def write() -> SessionRecord:
        await asyncio.sleep(0.05)  # the ticker is going
        return await store.save_run(session(), make_run(2))

    _, saved = await asyncio.gather(ticker(), write())
    released.join()
    other.close()
    assert max(b - a for a, b in itertools.pairwise(ticks)) < 0.2  # never blocked for the lock's 0.3 s
    assert saved.session_id == "s1"
    assert [r.input.input_content for r in await store.get_runs("s1") if r.input] == ["question 1", "question 2"]
    assert (await store.get_session("s1")) is not None  # reads while nobody writes: on the caller's thread


async def test_runs_written_on_the_callers_thread_reach_the_file_through_a_checkpoint_in_a_worker_thread(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In WAL mode a write goes to the WAL; a checkpoint copies it into the file. Writes on the caller's thread
    never checkpoint there (it synced the file: a stop of the event loop), one in a worker thread does."""
    import asyncio
    import threading

    from stratus.storage import sqlite as sqlite_module

    await store.save_run(session(), make_run(0))
    checkpointed_on: list[int] = []
    checkpoint = store._checkpoint  # pyright: ignore[reportPrivateUsage]

    def spied() -> None:
        checkpointed_on.append(threading.get_ident())
        checkpoint()

    monkeypatch.setattr(store, "_checkpoint", spied)
    before = store.path.stat().st_size
    for n in range(1, 2 * sqlite_module._CHECKPOINT_EVERY + 1):  # pyright: ignore[reportPrivateUsage]
        await store.save_run(session(), make_run(n))
    for _ in range(500):
        if len(checkpointed_on) == 2 and store.path.stat().st_size > before:
            break
        await asyncio.sleep(0.01)
    assert len(checkpointed_on) == 2
    assert threading.get_ident() not in checkpointed_on
    assert store.path.stat().st_size > before  # the pages were written back into the file itself
    # the file alone (its WAL ignored) holds the runs written before the last checkpoint
    with store._checkpointing:  # pyright: ignore[reportPrivateUsage]  (no checkpoint writes the file meanwhile)
        alone = sqlite3.connect(f"file:{store.path}?immutable=1", uri=True)
        try:
            copied = alone.execute("SELECT count(*) FROM runs").fetchone()[0]
        finally:
            alone.close()
    assert copied >= sqlite_module._CHECKPOINT_EVERY  # pyright: ignore[reportPrivateUsage]
    assert len(await store.get_runs("s1")) == 2 * sqlite_module._CHECKPOINT_EVERY + 1  # pyright: ignore[reportPrivateUsage]
