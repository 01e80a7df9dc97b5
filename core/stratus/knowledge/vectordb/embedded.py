"""`EmbeddedVectorDb`: the offline default. One SQLite file per collection holds the chunks, their metadata,
their vectors and an FTS5 index; the vectors are also held in memory as one numpy matrix.

Why this and not LanceDB or faiss: at the sizes one machine serves (up to a few hundred thousand chunks of
384 floats) an exact search is one matrix product (a few milliseconds at 100k chunks), so recall is 1.0 by
construction and there is no index to build, tune or rebuild after deletes; SQLite already gives durable
storage, transactions, FTS5 with BM25 for keyword search, and JSON filters, with no new dependency beyond
numpy. Another process' writes (the CLI adding files while the server runs) are noticed through SQLite's
`data_version` and the matrix reloaded.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from stratus._optional import requires_extra
from stratus.exceptions import ConfigError
from stratus.knowledge.documents import Chunk, SearchHit
from stratus.knowledge.vectordb import base
from stratus.storage._sqlite_file import open_file

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["DEFAULT_PATH", "EmbeddedVectorDb"]

T = TypeVar("T")

DEFAULT_PATH = ".stratus/knowledge"
"""The folder of the collections when none is named: under `.stratus/` in the working directory, beside the
SQLite store (`.stratus/stratus.db`), so `make clean` and `.gitignore` cover both."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    rowid      INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    content_id TEXT NOT NULL,
    text       TEXT NOT NULL,
    metadata   TEXT NOT NULL,
    embedding  BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_content ON chunks (content_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5 (text, content='chunks', content_rowid='rowid');
CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts (rowid, text) VALUES (new.rowid, new.text);
END;
CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
END;
CREATE TRIGGER IF NOT EXISTS chunks_au AFTER UPDATE ON chunks BEGIN
    INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
    INSERT INTO chunks_fts (rowid, text) VALUES (new.rowid, new.text);
END;
"""

_WORD = re.compile(r"\w+", re.UNICODE)

# Words too common to tell chunks apart: a query keeps them only when it has nothing else. Without them a
# keyword search touches the chunks that share a real word with the query, not nearly every chunk (which
# is what made BM25 over SQLite's FTS5 slow on large collections); their BM25 weight is about zero anyway.
_STOPWORD_TEXT = """
    a about above after again against all am an and any are as at be because been before being below between
    both but by can could did do does doing down during each few for from further had has have having he her
    here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not
    of off on once only or other our ours ourselves out over own same she should so some such than that the
    their theirs them themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
"""Common English words, left out of keyword queries (also by the learning machine's recall)."""


def _numpy() -> Any:
    with requires_extra("EmbeddedVectorDb", "local", what="numpy"):
        import numpy
    return numpy


class EmbeddedVectorDb(base.AddressedVectorDb):
    """Chunks in `<path>/<collection>.db`: exact vector search, BM25 keyword search, hybrid, metadata filters.

    Args:
        collection: The collection's name (one file per collection).
        dimensions: The vectors' length; a collection created with another length is refused.
        path: The folder of the files (default `.stratus/knowledge`).
    """

    def __init__(self, collection: str = "knowledge", *, dimensions: int, path: str | Path = DEFAULT_PATH) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,200}", collection):
            raise ConfigError(f"collection name {collection!r}: use 1-200 letters, digits, '_', '-' or '.'")
        self.collection = collection
        self.file = Path(path) / f"{collection}.db"
        super().__init__(f"embedded://{self.file.resolve()}", dimensions=dimensions)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._matrix: npt.NDArray[np.float32] | None = None  # one unit-length row per chunk
        self._rowids: npt.NDArray[np.int64] | None = None
        self._columns: dict[str, dict[Any, npt.NDArray[np.int64]]] = {}  # filter key -> value -> row positions
        self._seen_version: int | None = None

    def __repr__(self) -> str:
        return f"EmbeddedVectorDb(file={str(self.file)!r}, dimensions={self._dimensions})"

    # --- plumbing ---------------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = open_file(self.file)
            conn.executescript(_SCHEMA)
            stored = conn.execute("SELECT value FROM meta WHERE key = 'dimensions'").fetchone()
            if stored is None:
                conn.execute("INSERT INTO meta (key, value) VALUES ('dimensions', ?)", (str(self._dimensions),))
            elif int(stored[0]) != self._dimensions:
                conn.close()
                raise ConfigError(
                    f"{self.file} holds vectors of {stored[0]} floats, not {self._dimensions}: "
                    "use another collection, or the embedder it was built with"
                )
            self._conn = conn
        return self._conn

    async def _call(self, fn: Callable[[sqlite3.Connection], T], *, missing: T | None = None) -> T:
        """Run `fn` on the connection, in a thread. With `missing` given, a collection whose file does not
        exist answers `missing` and is not created (reads and deletes create nothing)."""

        def locked() -> T:
            with self._lock:
                if missing is not None and self._conn is None and not self.file.exists():
                    return missing
                try:
                    return fn(self._connect())
                except sqlite3.Error as exc:
                    raise base.VectorDbError(f"embedded vector store {self.file}: {exc}") from exc

        return await asyncio.to_thread(locked)

    def _fresh_matrix(self, conn: sqlite3.Connection) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """The in-memory vectors, reloaded if another connection wrote since they were loaded."""
        np = _numpy()
        version = int(conn.execute("PRAGMA data_version").fetchone()[0])
        if self._matrix is None or self._rowids is None or version != self._seen_version:
            rows = conn.execute("SELECT rowid, embedding FROM chunks ORDER BY rowid").fetchall()
            if rows:
                self._rowids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
                self._matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(
                    len(rows), self._dimensions
                )
            else:
                self._rowids = np.empty(0, dtype=np.int64)
                self._matrix = np.empty((0, self._dimensions), dtype=np.float32)
            self._columns.clear()
            self._seen_version = version
        return cast("npt.NDArray[np.float32]", self._matrix), cast("npt.NDArray[np.int64]", self._rowids)

    def _groups(self, conn: sqlite3.Connection, key: str, size: int) -> dict[Any, npt.NDArray[np.int64]]:
        """Where each value of one filter key sits in the matrix (value -> row positions): read once with a
        scan of the metadata, then kept with the matrix, so a per-user search filters in memory instead of
        parsing every row's JSON again. Values group as SQL compares them (1, 1.0 and true together)."""
        groups = self._columns.get(key)
        if groups is None:
            np = _numpy()
            if key == "content_id":
                rows = conn.execute("SELECT content_id FROM chunks ORDER BY rowid").fetchall()
            else:
                rows = conn.execute(
                    "SELECT json_extract(metadata, ?) FROM chunks ORDER BY rowid", (f'$."{key}"',)
                ).fetchall()
            if len(rows) != size:  # pragma: no cover - read under the lock, at the matrix's data_version
                raise base.VectorDbError("the embedded store changed while it was being read; search again")
            lists: dict[Any, list[int]] = {}
            for position, (value,) in enumerate(rows):
                if value is not None:
                    lists.setdefault(value, []).append(position)
            groups = {value: np.asarray(found, dtype=np.int64) for value, found in lists.items()}
            self._columns[key] = groups
        return groups

    def _forget_matrix(self) -> None:
        self._matrix = None
        self._rowids = None
        self._columns.clear()

    # --- contract ---------------------------------------------------------------------------------------

    async def create(self) -> None:
        await self._call(lambda conn: None)

    async def upsert(self, chunks: Sequence[Chunk]) -> None:
        self._check(chunks)
        if not chunks:
            return
        np = _numpy()
        rows: list[tuple[str, str, str, str, bytes]] = []
        for chunk in chunks:
            vector = np.asarray(chunk.embedding, dtype=np.float32)
            norm = float(np.linalg.norm(vector))
            unit = vector / norm if norm > 0 else vector
            rows.append(
                (chunk.id, chunk.content_id, chunk.text, json.dumps(chunk.metadata, default=str), unit.tobytes())
            )

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "INSERT INTO chunks (id, content_id, text, metadata, embedding) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET content_id = excluded.content_id, text = excluded.text, "
                    "metadata = excluded.metadata, embedding = excluded.embedding",
                    rows,
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            self._forget_matrix()  # our own commit does not move data_version: reload on the next search

        await self._call(write)

    async def _search(self, query: base.SearchQuery) -> list[SearchHit]:
        mode, limit = query.mode, query.limit
        pool = limit if mode is not base.SearchMode.HYBRID else max(limit * 5, 50)

        def run(conn: sqlite3.Connection) -> list[SearchHit]:
            by_vector = self._vector_search(conn, query.vector, query.filters, pool) if query.vector else []
            by_keyword = self._keyword_search(conn, query.text, query.filters, pool) if query.text else []
            if mode is base.SearchMode.VECTOR:
                return by_vector[:limit]
            if mode is base.SearchMode.KEYWORD:
                return by_keyword[:limit]
            return base.fuse(by_vector, by_keyword, limit)

        return await self._call(run, missing=[])

    def _vector_search(
        self, conn: sqlite3.Connection, vector: Sequence[float], filters: dict[str, list[Any]], pool: int
    ) -> list[SearchHit]:
        np = _numpy()
        matrix, rowids = self._fresh_matrix(conn)
        if filters:
            positions: npt.NDArray[np.int64] | None = None
            for key, values in filters.items():
                groups = self._groups(conn, key, len(rowids))
                found = [groups[v] for v in values if v in groups]
                here = np.unique(np.concatenate(found)) if found else np.empty(0, dtype=np.int64)
                positions = here if positions is None else np.intersect1d(positions, here, assume_unique=True)
            matrix, rowids = matrix[positions], rowids[positions]
        if len(rowids) == 0:
            return []
        query = np.asarray(vector, dtype=np.float32)
        norm = float(np.linalg.norm(query))
        scores = matrix @ (query / norm if norm > 0 else query)
        k = min(pool, len(scores))
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        picked = [(int(rowids[i]), float(scores[i])) for i in top]
        return self._hits(conn, picked)

    def _keyword_search(
        self, conn: sqlite3.Connection, text: str, filters: dict[str, list[Any]], pool: int
    ) -> list[SearchHit]:
        words = _WORD.findall(text.lower())
        if not words:
            return []
        words = [w for w in words if w not in STOPWORDS] or words
        # Each word quoted: the user's text is never parsed as FTS5 syntax.
        match = " OR ".join('"' + w.replace('"', '""') + '"' for w in dict.fromkeys(words))
        sql, args = _filtered(
            "SELECT c.rowid, -bm25(chunks_fts) FROM chunks_fts JOIN chunks c ON c.rowid = chunks_fts.rowid "
            "WHERE chunks_fts MATCH ?",
            filters,
            table="c",
        )
        rows = conn.execute(sql + " ORDER BY bm25(chunks_fts) LIMIT ?", [match, *args, pool]).fetchall()
        return self._hits(conn, [(int(r[0]), float(r[1])) for r in rows])

    @staticmethod
    def _hits(conn: sqlite3.Connection, picked: list[tuple[int, float]]) -> list[SearchHit]:
        if not picked:
            return []
        marks = ", ".join("?" for _ in picked)
        rows = conn.execute(
            f"SELECT rowid, id, content_id, text, metadata FROM chunks WHERE rowid IN ({marks})",
            [rowid for rowid, _ in picked],
        ).fetchall()
        found = {r[0]: r for r in rows}
        hits: list[SearchHit] = []
        for rowid, score in picked:
            row = found.get(rowid)
            if row is not None:
                chunk = Chunk(id=row[1], content_id=row[2], text=row[3], metadata=json.loads(row[4]))
                hits.append(SearchHit(chunk=chunk, score=score))
        return hits

    async def delete(self, ids: Sequence[str]) -> int:
        if not ids:
            return 0

        def remove(conn: sqlite3.Connection) -> int:
            marks = ", ".join("?" for _ in ids)
            deleted = conn.execute(f"DELETE FROM chunks WHERE id IN ({marks})", list(ids)).rowcount
            self._forget_matrix()
            return deleted

        return await self._call(remove, missing=0)

    async def delete_where(self, filters: base.Filters) -> int:
        wanted = self._required_filters(filters, "delete_where", "use drop() to delete everything")

        def remove(conn: sqlite3.Connection) -> int:
            sql, args = _filtered("DELETE FROM chunks", wanted)
            deleted = conn.execute(sql, args).rowcount
            self._forget_matrix()
            return deleted

        return await self._call(remove, missing=0)

    async def count(self, filters: base.Filters | None = None) -> int:
        wanted = base.check_filters(filters)
        return await self._call(
            lambda conn: int(conn.execute(*_filtered("SELECT COUNT(*) FROM chunks", wanted)).fetchone()[0]),
            missing=0,
        )

    async def chunks(self, filters: base.Filters) -> list[Chunk]:
        wanted = self._required_filters(filters, "chunks")

        def read(conn: sqlite3.Connection) -> list[Chunk]:
            sql, args = _filtered("SELECT id, content_id, text, metadata FROM chunks", wanted)
            rows = conn.execute(sql + " ORDER BY id", args).fetchall()
            return [Chunk(id=r[0], content_id=r[1], text=r[2], metadata=json.loads(r[3])) for r in rows]

        return await self._call(read, missing=[])

    async def drop(self) -> None:
        def remove(conn: sqlite3.Connection) -> bool:
            conn.execute("DELETE FROM chunks")
            conn.execute("INSERT INTO chunks_fts (chunks_fts) VALUES ('rebuild')")
            self._forget_matrix()
            return True

        await self._call(remove, missing=False)

    async def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._forget_matrix()


def _filtered(sql: str, filters: dict[str, list[Any]], table: str = "") -> tuple[str, list[Any]]:
    """Append `filters` as a WHERE (or AND) clause: `content_id` on its column, other keys on the JSON."""
    prefix = f"{table}." if table else ""
    clauses: list[str] = []
    args: list[Any] = []
    for key, values in filters.items():
        marks = ", ".join("?" for _ in values)
        if key == "content_id":
            clauses.append(f"{prefix}content_id IN ({marks})")
        else:
            clauses.append(f"json_extract({prefix}metadata, ?) IN ({marks})")
            args.append(f'$."{key}"')
        args.extend(values)
    if not clauses:
        return sql, args
    joiner = " AND " if " WHERE " in sql else " WHERE "
    return sql + joiner + " AND ".join(clauses), args
