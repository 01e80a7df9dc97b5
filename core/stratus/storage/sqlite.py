"""`SqliteStore`: the embedded default. One SQLite file (WAL mode): a row per session, per run, per memory,
per learning and per content record."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

from stratus.exceptions import StoreError
from stratus.run import RunOutput
from stratus.storage import records
from stratus.storage._codec import (
    SESSION_ATTRIBUTES,
    content_from_json,
    daily_metrics_from_json,
    decoded,
    eval_from_json,
    learning_from_json,
    memory_from_json,
    metrics_state_from_json,
    record_json,
    run_from_json,
    run_json,
    session_from_dict,
    session_to_dict,
)
from stratus.storage._cursor import start_of
from stratus.storage._metrics import day_start
from stratus.storage._sqlite_file import open_file
from stratus.storage._sqlite_query import (
    Listing,
    add_listing_columns,
    content_listing,
    eval_listing,
    learning_listing,
    memory_listing,
    memory_topics,
    run_listing,
    session_listing,
    user_memory_stats,
)
from stratus.storage.base import Claim, ClaimStatus, Store, VersionConflictError, visible

__all__ = ["SqliteStore"]

T = TypeVar("T")
R = TypeVar("R")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    session_id     TEXT PRIMARY KEY,
    session_type   TEXT NOT NULL,
    component_id   TEXT,
    user_id        TEXT,
    session_name   TEXT,
    session_state  TEXT NOT NULL,
    metadata       TEXT,
    summary        TEXT,
    component_data TEXT,
    input_tokens   INTEGER NOT NULL DEFAULT 0,
    output_tokens  INTEGER NOT NULL DEFAULT 0,
    total_tokens   INTEGER NOT NULL DEFAULT 0,
    created_at     REAL NOT NULL,
    updated_at     REAL NOT NULL,
    version        INTEGER NOT NULL DEFAULT 1,
    expires_at     INTEGER,
    schema_version INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_id, updated_at);
CREATE TABLE IF NOT EXISTS runs (
    run_id         TEXT PRIMARY KEY,
    session_id     TEXT NOT NULL,
    user_id        TEXT,
    component_id   TEXT,
    status         TEXT NOT NULL,
    input_tokens   INTEGER NOT NULL DEFAULT 0,
    output_tokens  INTEGER NOT NULL DEFAULT 0,
    total_tokens   INTEGER NOT NULL DEFAULT 0,
    created_at     REAL NOT NULL,
    expires_at     INTEGER,
    data           TEXT NOT NULL,
    schema_version INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_history ON runs (session_id, status, run_id);
CREATE TABLE IF NOT EXISTS memories (
    memory_id      TEXT PRIMARY KEY,
    user_id        TEXT,
    expires_at     INTEGER,
    data           TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS memories_user ON memories (user_id);
CREATE TABLE IF NOT EXISTS learnings (
    learning_id    TEXT PRIMARY KEY,
    user_id        TEXT,
    agent_id       TEXT,
    expires_at     INTEGER,
    data           TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS learnings_user ON learnings (user_id);
CREATE INDEX IF NOT EXISTS learnings_agent ON learnings (agent_id);
CREATE TABLE IF NOT EXISTS contents (
    content_id     TEXT PRIMARY KEY,
    knowledge_id   TEXT NOT NULL,
    expires_at     INTEGER,
    data           TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS contents_knowledge ON contents (knowledge_id);
CREATE INDEX IF NOT EXISTS runs_created ON runs (created_at);
CREATE TABLE IF NOT EXISTS evals (
    eval_id        TEXT PRIMARY KEY,
    user_id        TEXT,
    agent_id       TEXT,
    team_id        TEXT,
    workflow_id    TEXT,
    model_id       TEXT,
    eval_type      TEXT NOT NULL,
    created_at     REAL NOT NULL,
    updated_at     REAL NOT NULL,
    expires_at     INTEGER,
    data           TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS evals_created ON evals (created_at, eval_id);
CREATE INDEX IF NOT EXISTS evals_user_created ON evals (user_id, created_at, eval_id);
CREATE TABLE IF NOT EXISTS daily_metrics (
    day            TEXT NOT NULL,
    everyone       INTEGER NOT NULL,
    owner          TEXT NOT NULL,
    data           TEXT NOT NULL,
    PRIMARY KEY (everyone, owner, day)
);
CREATE INDEX IF NOT EXISTS daily_metrics_day ON daily_metrics (day);
CREATE TABLE IF NOT EXISTS metrics_state (
    name           TEXT PRIMARY KEY,
    data           TEXT NOT NULL
);
"""

S = TypeVar("S", records.UserMemory, records.LearningRecord, records.ContentRecord, records.EvalRecord)


@dataclass(frozen=True, slots=True)
class _Table(Generic[S]):
    """A table of JSON records: its name, the columns copied out of the record (its id first) and how a
    record is read back."""

    name: str
    columns: tuple[str, ...]
    decode: Callable[[str], S]

    def decode_row(self, row: sqlite3.Row) -> S:
        return self.decode(row["data"])


_MEMORIES = _Table("memories", ("memory_id", "user_id"), memory_from_json)
_LEARNINGS = _Table("learnings", ("learning_id", "user_id", "agent_id"), learning_from_json)
_CONTENTS = _Table("contents", ("content_id", "knowledge_id"), content_from_json)
_EVALS = _Table(
    "evals",
    ("eval_id", "user_id", "agent_id", "team_id", "workflow_id", "model_id", "eval_type", "created_at", "updated_at"),
    eval_from_json,
)

_SELECT_SESSION = f"SELECT {', '.join(SESSION_ATTRIBUTES)} FROM sessions"
_LIVE = "(expires_at IS NULL OR expires_at > ?)"
_RUNS_BATCH = 500  # runs the daily metrics read at a time
logger = logging.getLogger("stratus.storage")

_WAIT_MS = 30_000  # how long a call in a worker thread waits for another process's lock
_CHECKPOINT_EVERY = 64  # writes on the caller's thread between two checkpoints in a worker thread (see `_wrote`)
_AUTO_CHECKPOINT = 1000  # SQLite's default: a commit that leaves the WAL longer (in pages) checkpoints it


def _busy(exc: sqlite3.OperationalError) -> bool:
    """Whether SQLite refused because another connection holds a lock (a call that did not wait for it)."""
    code: int | None = getattr(exc, "sqlite_errorcode", None)  # extended: its low byte is the primary code
    return code is not None and (code & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _insert_session(conn: sqlite3.Connection, values: dict[str, Any]) -> None:
    """Insert a session's row (its attributes from `session_to_dict`)."""
    conn.execute(
        f"INSERT INTO sessions ({', '.join(SESSION_ATTRIBUTES)}) VALUES ({', '.join('?' for _ in SESSION_ATTRIBUTES)})",
        [values[c] for c in SESSION_ATTRIBUTES],
    )


class SqliteStore(Store):
    """Everything in one SQLite file.

    Calls run in a worker thread over one connection guarded by a lock, but for the reads and writes of one
    session, run or record, on the caller's thread when the connection is free (see `_quick`). WAL mode lets
    other processes read while one writes; every multi-row change is one transaction. The file and its folder
    are created on first use. `ttl_seconds` stamps writes with an expiry; expired rows read as absent.
    """

    def __init__(self, path: str | Path = ".stratus/stratus.db", *, ttl_seconds: int | None = None) -> None:
        self.path = Path(path)
        self.ttl_seconds = ttl_seconds
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._writes = 0  # on the caller's thread, since the last checkpoint began
        self._checkpointer: sqlite3.Connection | None = None
        self._checkpointing = threading.Lock()
        self._location = f"sqlite://{self.path.resolve()}"

    def __repr__(self) -> str:
        return f"SqliteStore(path={str(self.path)!r})"

    # --- plumbing ---------------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = open_file(self.path)
            conn.row_factory = sqlite3.Row
            # One connection at a time creates (or upgrades) the schema: two processes opening one new file
            # at once would otherwise race to add the same column. The index script commits the transaction.
            conn.executescript("BEGIN IMMEDIATE;" + _SCHEMA)
            add_listing_columns(conn)
            conn.execute("PRAGMA busy_timeout=0")  # the caller's thread never waits (see `_quick`)
            conn.execute("PRAGMA wal_autocheckpoint=0")  # nor checkpoints (see `_wrote`)
            self._conn = conn
        return self._conn

    def _locked(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            conn = self._connect()
            # In a worker thread: wait for other processes, and checkpoint the WAL as SQLite does by default.
            conn.execute(f"PRAGMA busy_timeout={_WAIT_MS}")
            conn.execute(f"PRAGMA wal_autocheckpoint={_AUTO_CHECKPOINT}")
            try:
                return fn(conn)
            except sqlite3.Error as exc:
                raise StoreError(f"SQLite store {self.path}: {exc}") from exc
            finally:
                conn.execute("PRAGMA busy_timeout=0")
                conn.execute("PRAGMA wal_autocheckpoint=0")

    async def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.to_thread(self._locked, fn)

    async def _quick(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """A short call (one session's or one record's read or write) on the caller's thread when the
        connection is free: the hop to a worker thread cost more than the call (a run over HTTP made four).
        It never waits: while a worker thread's call holds the connection, or SQLite answers busy (another
        process writes), it goes to a worker thread from the start, which waits as any call does (a read, a
        rolled-back transaction or a delete of what is expired, done again, is the same)."""
        if self._conn is not None and self._lock.acquire(blocking=False):
            try:
                return fn(self._conn)
            except sqlite3.OperationalError as exc:
                if not _busy(exc):
                    raise StoreError(f"SQLite store {self.path}: {exc}") from exc
            except sqlite3.Error as exc:
                raise StoreError(f"SQLite store {self.path}: {exc}") from exc
            finally:
                self._lock.release()
        return await self._call(fn)

    async def _transaction(self, fn: Callable[[sqlite3.Connection], T], *, quick: bool = False) -> T:
        """`fn` in one transaction; `quick` (one session's or record's write) on the caller's thread when it
        can be (see `_quick`)."""

        def run(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

        if not quick:
            return await self._call(run)
        result = await self._quick(run)
        self._wrote()
        return result

    def _wrote(self) -> None:
        """Count a write made on the caller's thread; every `_CHECKPOINT_EVERY`th starts a checkpoint of the
        WAL in a worker thread, over a connection of its own (PASSIVE: it waits for no reader or writer). The
        caller's thread never checkpoints: SQLite's automatic checkpoint, run inside the commit that fills the
        WAL, copied it into the file and synced it there, a 20-25 ms stop of the event loop about every 50th
        run, two thirds of the time a run's writes took (bench/RESULTS.md, HTTP path)."""
        self._writes += 1
        if self._writes >= _CHECKPOINT_EVERY:
            self._writes = 0
            asyncio.get_running_loop().run_in_executor(None, self._checkpoint)

    def _checkpoint(self) -> None:
        if not self._checkpointing.acquire(blocking=False):
            return  # one is under way: it takes these pages too
        try:
            if self._conn is None:
                return  # closed since: the close wrote the pages back
            if self._checkpointer is None:
                self._checkpointer = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:  # the next one, or the last connection's close, writes the pages back
            logger.warning("SQLite store %s: checkpoint failed: %s", self.path, exc)
        finally:
            self._checkpointing.release()

    async def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        # After the connection: a checkpoint starting from now on sees it closed and opens no connection of its own.
        with self._checkpointing:
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer = None

    # --- sessions ---------------------------------------------------------------------------------------

    @staticmethod
    def _session_row(conn: sqlite3.Connection, session_id: str) -> sqlite3.Row | None:
        row = conn.execute(f"{_SELECT_SESSION} WHERE session_id = ?", (session_id,)).fetchone()
        if row is not None and row["expires_at"] is not None and row["expires_at"] <= time.time():
            # Expired: it is gone. Drop what is left so a new session may take the id.
            conn.execute("DELETE FROM runs WHERE session_id = ?", (session_id,))
            conn.execute("DELETE FROM sessions WHERE session_id = ?", (session_id,))
            return None
        return cast(sqlite3.Row | None, row)

    @classmethod
    def _written_session(cls, conn: sqlite3.Connection, session_id: str) -> records.SessionRecord:
        """The session as stored, read back right after a write of it (in the same transaction)."""
        stored = cls._session_row(conn, session_id)
        assert stored is not None
        return session_from_dict(dict(stored))

    async def _read_session(self, session_id: str) -> records.SessionRecord | None:
        def read(conn: sqlite3.Connection) -> records.SessionRecord | None:
            row = self._session_row(conn, session_id)
            return None if row is None else session_from_dict(dict(row))

        return await self._quick(read)

    async def _write_session(self, session: records.SessionRecord, *, expected_version: int) -> records.SessionRecord:
        values = session_to_dict(session)

        def write(conn: sqlite3.Connection) -> records.SessionRecord:
            row = self._session_row(conn, session.session_id)
            if expected_version == 0:
                if row is not None:
                    raise VersionConflictError(f"session {session.session_id!r} exists")
                values["version"] = 1
                _insert_session(conn, values)
            else:
                if row is None or row["version"] != expected_version:
                    raise VersionConflictError(f"session {session.session_id!r} changed")
                conn.execute(
                    "UPDATE sessions SET session_name = ?, session_state = ?, metadata = ?, summary = ?, "
                    "updated_at = ?, expires_at = ?, version = version + 1 WHERE session_id = ?",
                    (
                        values["session_name"],
                        values["session_state"],
                        values["metadata"],
                        values["summary"],
                        values["updated_at"],
                        values["expires_at"],
                        session.session_id,
                    ),
                )
            return self._written_session(conn, session.session_id)

        return await self._transaction(write, quick=True)

    async def list_sessions(self, query: records.SessionQuery) -> records.Page[records.SessionRecord]:
        """One page in SQL (see `_sqlite_query`): filters in WHERE, ORDER BY the sort and the id, a keyset
        cursor, and the total from COUNT(*). Every sort is served."""
        listing = session_listing(query, ", ".join(SESSION_ATTRIBUTES))
        return await self._page(listing, query, lambda row: session_from_dict(dict(row)), "session")

    async def delete_session(self, session_id: str, *, user_id: str | None = None) -> bool:
        def delete(conn: sqlite3.Connection) -> bool:
            row = self._session_row(conn, session_id)
            if row is None or not visible(row["user_id"], user_id):
                return False
            conn.execute("DELETE FROM runs WHERE session_id = ?", (session_id,))
            conn.execute("DELETE FROM sessions WHERE session_id = ?", (session_id,))
            return True

        return await self._transaction(delete)

    # --- runs -------------------------------------------------------------------------------------------

    async def _write_run(
        self, session: records.SessionRecord, run: RunOutput, *, expected_version: int | None
    ) -> records.SessionRecord:
        record = run.to_record()
        data = run_json(record)
        usage = run.metrics.usage
        values = session_to_dict(session)
        stamp = time.time()

        def write(conn: sqlite3.Connection) -> records.SessionRecord:
            row = self._session_row(conn, session.session_id)
            if row is not None and row["user_id"] != session.user_id:
                raise StoreError(f"session {session.session_id!r} belongs to another user")
            if expected_version is not None and (row["version"] if row is not None else 0) != expected_version:
                raise VersionConflictError(f"session {session.session_id!r} changed")
            old = conn.execute(
                "SELECT session_id, input_tokens, output_tokens, total_tokens FROM runs WHERE run_id = ?",
                (run.run_id,),
            ).fetchone()
            if old is not None and old["session_id"] != session.session_id:
                raise StoreError(f"run {run.run_id!r} already belongs to another session")
            d_in = usage.input_tokens - (old["input_tokens"] if old else 0)
            d_out = usage.output_tokens - (old["output_tokens"] if old else 0)
            d_total = usage.total_tokens - (old["total_tokens"] if old else 0)
            if row is None:
                values.update(
                    version=1,
                    input_tokens=usage.input_tokens,
                    output_tokens=usage.output_tokens,
                    total_tokens=usage.total_tokens,
                    created_at=session.created_at or stamp,
                    updated_at=stamp,
                )
                _insert_session(conn, values)
            else:
                state_sql = ", session_state = ?, version = version + 1" if expected_version is not None else ""
                state_args = [values["session_state"]] if expected_version is not None else []
                conn.execute(
                    "UPDATE sessions SET component_data = ?, updated_at = ?, expires_at = ?, "
                    f"input_tokens = input_tokens + ?, output_tokens = output_tokens + ?, "
                    f"total_tokens = total_tokens + ?{state_sql} WHERE session_id = ?",
                    [
                        values["component_data"],
                        stamp,
                        values["expires_at"],
                        d_in,
                        d_out,
                        d_total,
                        *state_args,
                        session.session_id,
                    ],
                )
            conn.execute(
                "INSERT INTO runs (run_id, session_id, user_id, component_id, status, input_tokens, "
                "output_tokens, total_tokens, created_at, expires_at, data, schema_version) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (run_id) DO UPDATE SET status = excluded.status, "
                "input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens, "
                "total_tokens = excluded.total_tokens, expires_at = excluded.expires_at, data = excluded.data, "
                "schema_version = excluded.schema_version",
                (
                    run.run_id,
                    session.session_id,
                    run.user_id,
                    run.agent_id,
                    run.status.value,
                    usage.input_tokens,
                    usage.output_tokens,
                    usage.total_tokens,
                    float(run.created_at),
                    session.expires_at,
                    data,
                    record["schema_version"],
                ),
            )
            return self._written_session(conn, session.session_id)

        return await self._transaction(write, quick=True)

    async def _read_runs(
        self, session_id: str, *, last: int | None, statuses: tuple[str, ...] | None, user_id: str | None
    ) -> list[RunOutput]:
        where = ["r.session_id = ?", "(r.expires_at IS NULL OR r.expires_at > ?)"]
        args: list[Any] = [session_id, time.time()]
        if statuses is not None:
            where.append(f"r.status IN ({', '.join('?' for _ in statuses)})")
            args.extend(statuses)
        if user_id is not None:
            where.append("EXISTS (SELECT 1 FROM sessions s WHERE s.session_id = r.session_id AND s.user_id = ?)")
            args.append(user_id)
        sql = f"SELECT r.data FROM runs r WHERE {' AND '.join(where)} ORDER BY r.run_id DESC"
        if last is not None:
            sql += " LIMIT ?"
            args.append(last)

        def get(conn: sqlite3.Connection) -> list[str]:
            return [cast(str, r["data"]) for r in conn.execute(sql, args).fetchall()]

        rows = await self._quick(get)
        return list(decoded(reversed(rows), run_from_json, "run"))

    async def get_run(
        self, run_id: str, *, session_id: str | None = None, user_id: str | None = None
    ) -> RunOutput | None:
        def get(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT r.data, r.session_id, r.expires_at, s.user_id FROM runs r "
                "JOIN sessions s ON s.session_id = r.session_id WHERE r.run_id = ?",
                (run_id,),
            ).fetchone()
            if row is None or (row["expires_at"] is not None and row["expires_at"] <= time.time()):
                return None
            if session_id is not None and row["session_id"] != session_id:
                return None
            if not visible(row["user_id"], user_id):
                return None
            return cast(str, row["data"])

        data = await self._quick(get)
        return run_from_json(data) if data is not None else None

    # --- memories, learnings, content -------------------------------------------------------------------

    async def put_memory(self, memory: records.UserMemory) -> records.UserMemory:
        return await self._put(_MEMORIES, memory)

    async def _read_memory(self, memory_id: str, *, user_id: str | None) -> records.UserMemory | None:
        return await self._get(_MEMORIES, memory_id)

    async def list_memories(self, query: records.MemoryQuery) -> records.Page[records.UserMemory]:
        """One page in SQL, like `list_sessions`; topics are matched with `json_each` over the stored record."""
        return await self._page(memory_listing(query), query, _MEMORIES.decode_row, "memory")

    async def memory_topics(self, *, user_id: str | None = None) -> list[str]:
        """The distinct topics, in SQL (`json_each` over the user's rows; no record is decoded)."""
        return await self._call(lambda conn: memory_topics(conn, user_id))

    async def user_memory_stats(
        self, *, user_id: str | None = None, page: int = 1, limit: int = 20, cursor: str | None = None
    ) -> records.Page[records.UserMemoryStats]:
        """Counted in SQL (GROUP BY over the user and update-time index), a keyset cursor on (latest, user)."""
        return await self._call(lambda conn: user_memory_stats(conn, user_id, page=page, limit=limit, cursor=cursor))

    async def delete_memory(self, memory_id: str, *, user_id: str | None = None) -> bool:
        memory = await self.get_memory(memory_id, user_id=user_id)
        return memory is not None and await self._delete(_MEMORIES, memory_id)

    async def put_learning(self, learning: records.LearningRecord) -> records.LearningRecord:
        return await self._put(_LEARNINGS, learning)

    async def _read_learning(self, learning_id: str) -> records.LearningRecord | None:
        return await self._get(_LEARNINGS, learning_id)

    async def list_learnings(self, query: records.LearningQuery) -> records.Page[records.LearningRecord]:
        """One page in SQL, like `list_sessions`."""
        return await self._page(learning_listing(query), query, _LEARNINGS.decode_row, "learning")

    async def _remove_learning(self, learning: records.LearningRecord) -> bool:
        return await self._delete(_LEARNINGS, learning.learning_id)

    async def put_content(self, content: records.ContentRecord) -> records.ContentRecord:
        return await self._put(_CONTENTS, content, own_expiry=False)

    async def _read_content(self, content_id: str, *, knowledge_id: str | None) -> records.ContentRecord | None:
        return await self._get(_CONTENTS, content_id)

    async def list_contents(self, query: records.ContentQuery) -> records.Page[records.ContentRecord]:
        """One page in SQL, like `list_sessions`."""
        return await self._page(content_listing(query), query, _CONTENTS.decode_row, "content")

    async def _remove_content(self, content: records.ContentRecord) -> bool:
        return await self._delete(_CONTENTS, content.content_id)

    async def _page(
        self, listing: Listing, query: records.ListingQuery, decode: Callable[[sqlite3.Row], R], kind: str
    ) -> records.Page[R]:
        query_id, cursor = start_of("sqlite", query)

        def run(conn: sqlite3.Connection) -> records.Page[R]:
            rows, next_cursor, total, offset = run_listing(
                conn, listing, query_id=query_id, cursor=cursor, page=query.page, limit=query.limit
            )
            return records.Page(
                items=list(decoded(rows, decode, kind)), next_cursor=next_cursor, total=total, offset=offset
            )

        return await self._call(run)

    # --- eval runs --------------------------------------------------------------------------------------

    async def put_eval(self, record: records.EvalRecord) -> records.EvalRecord:
        return await self._put(_EVALS, record)

    async def _read_eval(self, eval_id: str, *, user_id: str | None) -> records.EvalRecord | None:
        return await self._get(_EVALS, eval_id)

    async def list_evals(self, query: records.EvalQuery) -> records.Page[records.EvalRecord]:
        return await self._page(eval_listing(query), query, _EVALS.decode_row, "eval run")

    async def _remove_eval(self, record: records.EvalRecord) -> bool:
        return await self._delete(_EVALS, record.eval_id)

    # --- daily metrics ----------------------------------------------------------------------------------

    async def _earliest_activity(self) -> float | None:
        def read(conn: sqlite3.Connection) -> float | None:
            row = conn.execute(f"SELECT MIN(created_at) FROM runs WHERE {_LIVE}", (time.time(),)).fetchone()
            return None if row[0] is None else float(row[0])

        return await self._call(read)

    async def _runs_on(self, days: list[str]) -> AsyncIterator[list[RunOutput]]:
        start, end = day_start(days[0]), day_start(days[-1]) + 24 * 3600
        after: tuple[float, str] = (start, "")
        while True:  # keyset pages of `_RUNS_BATCH` runs, in creation order

            def read(conn: sqlite3.Connection, last: tuple[float, str] = after) -> list[sqlite3.Row]:
                return conn.execute(
                    f"SELECT run_id, created_at, data FROM runs WHERE (created_at, run_id) > (?, ?) "
                    f"AND created_at < ? AND {_LIVE} ORDER BY created_at, run_id LIMIT ?",
                    (*last, end, time.time(), _RUNS_BATCH),
                ).fetchall()

            rows = await self._call(read)
            if not rows:
                return
            yield list(decoded((cast(str, r["data"]) for r in rows), run_from_json, "run"))
            after = (float(rows[-1]["created_at"]), str(rows[-1]["run_id"]))

    async def _replace_metrics(self, days: list[str], metrics: list[records.DailyMetrics]) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.executemany("DELETE FROM daily_metrics WHERE day = ?", [(day,) for day in days])
            conn.executemany(
                "INSERT INTO daily_metrics (day, everyone, owner, data) VALUES (?, ?, ?, ?)",
                [(r.day, r.user_id is None, r.user_id or "", record_json(r)) for r in metrics],
            )

        await self._transaction(write)

    async def _read_metrics(
        self, starting_date: str | None, ending_date: str | None, user_id: str | None
    ) -> list[records.DailyMetrics]:
        def read(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "SELECT data FROM daily_metrics WHERE everyone = ? AND owner = ? AND day >= ? AND day <= ? "
                "ORDER BY day",
                (user_id is None, user_id or "", starting_date or "", ending_date or "9999-12-31"),
            ).fetchall()
            return [cast(str, r["data"]) for r in rows]

        return list(decoded(await self._call(read), daily_metrics_from_json, "daily metrics"))

    async def _read_metrics_state(self) -> records.MetricsRefresh | None:
        def read(conn: sqlite3.Connection) -> str | None:
            row = conn.execute("SELECT data FROM metrics_state WHERE name = 'refresh'").fetchone()
            return None if row is None else cast(str, row["data"])

        data = await self._call(read)
        return None if data is None else metrics_state_from_json(data)

    async def _write_metrics_state(self, state: records.MetricsRefresh) -> None:
        data = record_json(state)

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT OR REPLACE INTO metrics_state (name, data) VALUES ('refresh', ?)", (data,))

        await self._call(write)

    # --- record helpers: a memory, learning, content or eval record is a JSON row of its table ------------------

    async def _put(self, table: _Table[S], record: S, *, own_expiry: bool = True) -> S:
        """Create or replace the record's row, stamped (see `Store._stamp`) in the same transaction that
        reads the stored one."""
        key = getattr(record, table.columns[0])

        def put(conn: sqlite3.Connection) -> S:
            stored = self._get_json(conn, table.name, table.columns[0], key)
            self._stamp(record, table.decode(stored).created_at if stored else None, own_expiry=own_expiry)
            names = (*table.columns, "expires_at", "data")
            conn.execute(
                f"INSERT OR REPLACE INTO {table.name} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
                (*(getattr(record, c) for c in table.columns), record.expires_at, record_json(record)),
            )
            return record

        return await self._transaction(put, quick=True)

    async def _get(self, table: _Table[S], key: str) -> S | None:
        data = await self._quick(lambda conn: self._get_json(conn, table.name, table.columns[0], key))
        return table.decode(data) if data else None

    async def _delete(self, table: _Table[S], key: str) -> bool:
        sql = f"DELETE FROM {table.name} WHERE {table.columns[0]} = ?"
        return await self._call(lambda conn: conn.execute(sql, (key,)).rowcount > 0)

    @staticmethod
    def _get_json(conn: sqlite3.Connection, table: str, key: str, value: str) -> str | None:
        row = conn.execute(f"SELECT data FROM {table} WHERE {key} = ? AND {_LIVE}", (value, time.time())).fetchone()
        return None if row is None else cast(str, row["data"])

    # --- claims (exactly-once queue work, see `Store.claim`) --------------------------------------------

    _CLAIMS_SCHEMA = """
    CREATE TABLE IF NOT EXISTS claims (
        claim_key   TEXT PRIMARY KEY,
        status      TEXT NOT NULL,
        token       TEXT NOT NULL,
        lease_until REAL NOT NULL,
        expires_at  INTEGER NOT NULL
    )"""
    _claims_ready: sqlite3.Connection | None = None  # the connection the claims table is known to exist on

    def _claims_table(self, conn: sqlite3.Connection) -> None:
        if self._claims_ready is not conn:
            conn.execute(self._CLAIMS_SCHEMA)
            self._claims_ready = conn

    async def _claim(self, key: str, *, token: str, now: float, lease_until: float, expires_at: int) -> Claim:
        def claim(conn: sqlite3.Connection) -> Claim:
            self._claims_table(conn)
            # One statement: insert, or take over a claim that expired or whose holder's lease is over.
            taken = conn.execute(
                "INSERT INTO claims (claim_key, status, token, lease_until, expires_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (claim_key) DO UPDATE SET status = excluded.status, token = excluded.token, "
                "lease_until = excluded.lease_until, expires_at = excluded.expires_at "
                "WHERE claims.expires_at <= ? OR (claims.status = ? AND claims.lease_until < ?) RETURNING token",
                (key, ClaimStatus.IN_PROGRESS, token, lease_until, expires_at, now, ClaimStatus.IN_PROGRESS, now),
            ).fetchall()
            if taken:
                return Claim(key, ClaimStatus.IN_PROGRESS, token, lease_until, acquired=True)
            row = conn.execute("SELECT status, token, lease_until FROM claims WHERE claim_key = ?", (key,)).fetchone()
            return Claim(key, ClaimStatus(row["status"]), row["token"], row["lease_until"], acquired=False)

        return await self._transaction(claim)

    async def _end_claim(self, key: str, *, token: str, expires_at: int | None) -> bool:
        def end(conn: sqlite3.Connection) -> bool:
            self._claims_table(conn)
            if expires_at is None:
                released = conn.execute(
                    "DELETE FROM claims WHERE claim_key = ? AND token = ? AND status = ?",
                    (key, token, ClaimStatus.IN_PROGRESS),
                )
                return released.rowcount > 0
            completed = conn.execute(
                "UPDATE claims SET status = ?, expires_at = ? WHERE claim_key = ? AND token = ?",
                (ClaimStatus.COMPLETED, expires_at, key, token),
            )
            return completed.rowcount > 0

        return await self._call(end)
