"""`SqliteStore`: the embedded default. One SQLite file (WAL mode), a row per session and a row per run."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, TypeVar, cast

from stratus.exceptions import StoreError
from stratus.messages import Usage
from stratus.run import RunOutput, RunStatus
from stratus.storage.base import SessionQuery, SessionRecord, SessionType, Store

__all__ = ["SqliteStore"]

T = TypeVar("T")

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
    schema_version INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_id, updated_at);
CREATE TABLE IF NOT EXISTS runs (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id         TEXT NOT NULL UNIQUE,
    session_id     TEXT NOT NULL REFERENCES sessions (session_id) ON DELETE CASCADE,
    user_id        TEXT,
    component_id   TEXT,
    status         TEXT NOT NULL,
    input_tokens   INTEGER NOT NULL DEFAULT 0,
    output_tokens  INTEGER NOT NULL DEFAULT 0,
    total_tokens   INTEGER NOT NULL DEFAULT 0,
    created_at     REAL NOT NULL,
    data           TEXT NOT NULL,
    schema_version INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_history ON runs (session_id, status, seq);
"""

_SESSION_COLUMNS = (
    "session_id, session_type, component_id, user_id, session_name, session_state, metadata, summary, "
    "component_data, input_tokens, output_tokens, total_tokens, created_at, updated_at, version, schema_version"
)
_SORT_COLUMNS = {"created_at": "created_at", "updated_at": "updated_at", "session_name": "session_name"}


class SqliteStore(Store):
    """Sessions and runs in one SQLite file.

    Calls run in a worker thread over one connection guarded by a lock; WAL mode lets other processes
    read while one writes. The file and its folder are created on first use.
    """

    def __init__(self, path: str | Path = ".stratus/stratus.db") -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"sqlite://{self.path.resolve()}"))

    @property
    def id(self) -> str:
        return self._id

    def __repr__(self) -> str:
        return f"SqliteStore(path={str(self.path)!r})"

    # --- plumbing ---------------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.executescript(_SCHEMA)
            self._conn = conn
        return self._conn

    def _locked(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            try:
                return fn(self._connect())
            except sqlite3.Error as exc:
                raise StoreError(f"SQLite store {self.path}: {exc}") from exc

    async def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.to_thread(self._locked, fn)

    async def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # --- sessions ---------------------------------------------------------------------------------------

    async def get_session(self, session_id: str, *, user_id: str | None = None) -> SessionRecord | None:
        def get(conn: sqlite3.Connection) -> SessionRecord | None:
            row = conn.execute(
                f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE session_id = ?", (session_id,)
            ).fetchone()
            if row is None or (user_id is not None and row["user_id"] != user_id):
                return None
            return _session_from_row(row)

        return await self._call(get)

    async def list_sessions(self, query: SessionQuery) -> tuple[list[SessionRecord], int]:
        where: list[str] = []
        args: list[Any] = []
        if query.session_type is not None:
            where.append("session_type = ?")
            args.append(str(query.session_type))
        if query.component_id is not None:
            where.append("component_id = ?")
            args.append(query.component_id)
        if query.user_id is not None:
            where.append("user_id = ?")
            args.append(query.user_id)
        if query.session_name:
            where.append("session_name LIKE ? ESCAPE '\\'")
            escaped = query.session_name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            args.append(f"%{escaped}%")
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        column = _SORT_COLUMNS.get(query.sort_by, "created_at")
        order = "ASC" if query.sort_order == "asc" else "DESC"
        limit = max(1, query.limit)
        offset = (max(1, query.page) - 1) * limit

        def run(conn: sqlite3.Connection) -> tuple[list[SessionRecord], int]:
            total = int(conn.execute(f"SELECT COUNT(*) FROM sessions {clause}", args).fetchone()[0])
            rows = conn.execute(
                f"SELECT {_SESSION_COLUMNS} FROM sessions {clause} "
                f"ORDER BY {column} {order}, session_id {order} LIMIT ? OFFSET ?",
                [*args, limit, offset],
            ).fetchall()
            return [_session_from_row(r) for r in rows], total

        return await self._call(run)

    async def delete_session(self, session_id: str, *, user_id: str | None = None) -> bool:
        def delete(conn: sqlite3.Connection) -> bool:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute("SELECT user_id FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
                if row is None or (user_id is not None and row["user_id"] != user_id):
                    conn.execute("ROLLBACK")
                    return False
                conn.execute("DELETE FROM runs WHERE session_id = ?", (session_id,))
                conn.execute("DELETE FROM sessions WHERE session_id = ?", (session_id,))
                conn.execute("COMMIT")
                return True
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        return await self._call(delete)

    # --- runs -------------------------------------------------------------------------------------------

    async def save_run(self, session: SessionRecord, run: RunOutput) -> SessionRecord:
        record = run.to_record()
        data = json.dumps(record, ensure_ascii=False, default=str)
        usage = run.metrics.usage
        stamp = time.time()

        def save(conn: sqlite3.Connection) -> SessionRecord:
            conn.execute("BEGIN IMMEDIATE")
            try:
                old = conn.execute(
                    "SELECT session_id, input_tokens, output_tokens, total_tokens FROM runs WHERE run_id = ?",
                    (run.run_id,),
                ).fetchone()
                if old is not None and old["session_id"] != session.session_id:
                    raise StoreError(f"run {run.run_id!r} already belongs to another session")
                d_in = usage.input_tokens - (old["input_tokens"] if old else 0)
                d_out = usage.output_tokens - (old["output_tokens"] if old else 0)
                d_total = usage.total_tokens - (old["total_tokens"] if old else 0)
                conn.execute(
                    "INSERT INTO sessions (session_id, session_type, component_id, user_id, session_name, "
                    "session_state, metadata, summary, component_data, input_tokens, output_tokens, "
                    "total_tokens, created_at, updated_at, version, schema_version) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?) "
                    "ON CONFLICT (session_id) DO UPDATE SET "
                    "session_name = COALESCE(sessions.session_name, excluded.session_name), "
                    "session_state = excluded.session_state, metadata = excluded.metadata, "
                    "summary = excluded.summary, component_data = excluded.component_data, "
                    "input_tokens = sessions.input_tokens + ?, output_tokens = sessions.output_tokens + ?, "
                    "total_tokens = sessions.total_tokens + ?, updated_at = excluded.updated_at, "
                    "version = sessions.version + 1",
                    (
                        session.session_id,
                        str(session.session_type),
                        session.component_id,
                        session.user_id,
                        session.session_name,
                        json.dumps(session.session_state, default=str),
                        _json_or_none(session.metadata),
                        _json_or_none(session.summary),
                        _json_or_none(session.component_data),
                        usage.input_tokens,
                        usage.output_tokens,
                        usage.total_tokens,
                        session.created_at or stamp,
                        stamp,
                        session.schema_version,
                        d_in,
                        d_out,
                        d_total,
                    ),
                )
                conn.execute(
                    "INSERT INTO runs (run_id, session_id, user_id, component_id, status, input_tokens, "
                    "output_tokens, total_tokens, created_at, data, schema_version) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (run_id) DO UPDATE SET status = excluded.status, "
                    "input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens, "
                    "total_tokens = excluded.total_tokens, data = excluded.data, "
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
                        data,
                        record["schema_version"],
                    ),
                )
                row = conn.execute(
                    f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE session_id = ?", (session.session_id,)
                ).fetchone()
                if row["user_id"] != session.user_id:
                    raise StoreError(f"session {session.session_id!r} belongs to another user")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return _session_from_row(row)

        return await self._call(save)

    async def get_runs(
        self,
        session_id: str,
        *,
        last: int | None = None,
        statuses: Collection[RunStatus] | None = None,
        user_id: str | None = None,
    ) -> list[RunOutput]:
        where = ["session_id = ?"]
        args: list[Any] = [session_id]
        if statuses is not None:
            status_list = [RunStatus(s).value for s in statuses]
            where.append(f"status IN ({', '.join('?' for _ in status_list)})")
            args.extend(status_list)
        if user_id is not None:
            where.append("session_id IN (SELECT session_id FROM sessions WHERE session_id = ? AND user_id = ?)")
            args.extend([session_id, user_id])
        sql = f"SELECT data FROM runs WHERE {' AND '.join(where)} ORDER BY seq DESC"
        if last is not None:
            if last <= 0:
                return []
            sql += " LIMIT ?"
            args.append(last)

        def get(conn: sqlite3.Connection) -> list[str]:
            return [cast(str, r["data"]) for r in conn.execute(sql, args).fetchall()]

        rows = await self._call(get)
        return [RunOutput.from_record(json.loads(d)) for d in reversed(rows)]

    async def get_run(
        self, run_id: str, *, session_id: str | None = None, user_id: str | None = None
    ) -> RunOutput | None:
        def get(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT r.data, r.session_id, s.user_id FROM runs r "
                "LEFT JOIN sessions s ON s.session_id = r.session_id WHERE r.run_id = ?",
                (run_id,),
            ).fetchone()
            if row is None:
                return None
            if session_id is not None and row["session_id"] != session_id:
                return None
            if user_id is not None and row["user_id"] != user_id:
                return None
            return cast(str, row["data"])

        data = await self._call(get)
        return RunOutput.from_record(json.loads(data)) if data is not None else None


def _json_or_none(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str)


def _load(value: str | None) -> Any:
    return None if value is None else json.loads(value)


def _session_from_row(row: sqlite3.Row) -> SessionRecord:
    return SessionRecord(
        session_id=row["session_id"],
        session_type=SessionType(row["session_type"]),
        component_id=row["component_id"],
        user_id=row["user_id"],
        session_name=row["session_name"],
        session_state=cast(dict[str, Any], _load(row["session_state"]) or {}),
        metadata=_load(row["metadata"]),
        summary=_load(row["summary"]),
        component_data=_load(row["component_data"]),
        usage=Usage(
            input_tokens=row["input_tokens"],
            output_tokens=row["output_tokens"],
            total_tokens=row["total_tokens"],
        ),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        version=row["version"],
        schema_version=row["schema_version"],
    ).check_version()
