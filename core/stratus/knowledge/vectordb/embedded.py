"""`EmbeddedVectorDb`: the offline default. One SQLite file per collection holds the chunks, their metadata,
their vectors and an FTS5 index; the vectors are also held in memory (`_rows.Rows`: unit-length float32 rows in
fixed blocks), each write applied to its own rows.

Why this and not LanceDB, faiss or usearch: up to a few hundred thousand chunks of 384 floats an exact search
is one matrix product (a few milliseconds at 100k chunks), so recall is 1.0 by construction. From
`approximate_from` chunks on, a search first narrows the rows to those whose sign bits are nearest the
query's, then ranks them exactly: recall@10 1.000 at 1M chunks in bench/knowledge.py, per-user p50 about
5 ms, with no index to build, save, keep current or rebuild after deletes, and no new dependency
(bench/RESULTS.md measures the alternatives). SQLite gives durable storage, transactions, FTS5 with BM25 for
keyword search, and JSON filters. Another process' writes (the CLI adding files while the server runs) are
noticed through SQLite's `data_version` and the vectors read again.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from stratus._optional import requires_extra
from stratus.exceptions import ConfigError
from stratus.knowledge.documents import Chunk, SearchHit
from stratus.knowledge.vectordb import base
from stratus.storage._sqlite_file import open_file

if TYPE_CHECKING:
    from stratus.knowledge.vectordb._rows import Rows

__all__ = ["APPROXIMATE_FROM", "CANDIDATES", "DEFAULT_PATH", "EmbeddedVectorDb"]

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


APPROXIMATE_FROM = 200_000
"""`EmbeddedVectorDb`'s default `approximate_from`: an exact scan of 200k rows of 384 floats takes about
25 ms on one core of the benchmark machine, the approximate search of 1M rows 9-16 ms (bench/RESULTS.md)."""

CANDIDATES = 2048
"""`EmbeddedVectorDb`'s default `candidates`: recall@10 1.000 at 1M chunks in the benchmark, 0.95 with 1,024."""

_BATCH = 8192  # rows read from SQLite at a time
_MARKS = 500  # values per `IN (...)`, within every SQLite's limit of variables


def _new_rows(dimensions: int) -> Rows:
    with requires_extra("EmbeddedVectorDb", "local", what="numpy"):
        from stratus.knowledge.vectordb._rows import Rows
    return Rows(dimensions)


def _numpy() -> Any:
    with requires_extra("EmbeddedVectorDb", "local", what="numpy"):
        import numpy
    return numpy


class EmbeddedVectorDb(base.AddressedVectorDb):
    """Chunks in `<path>/<collection>.db`: vector search (exact, or from `approximate_from` chunks on
    approximate with an exact re-rank), BM25 keyword search, hybrid, metadata filters.

    Args:
        collection: The collection's name (one file per collection).
        dimensions: The vectors' length; a collection created with another length is refused.
        path: The folder of the files (default `.stratus/knowledge`).
        approximate_from: From how many chunks in the collection its vector searches are approximate:
            the rows to score (all, or a filter's matches) are narrowed by their sign bits to `candidates`,
            which are then ranked exactly. Below it, and for filters that match fewer rows than
            `candidates`, every row is scored (recall 1.0).
        candidates: How many rows an approximate search ranks exactly (at least as many as it returns).
    """

    def __init__(
        self,
        collection: str = "knowledge",
        *,
        dimensions: int,
        path: str | Path = DEFAULT_PATH,
        approximate_from: int = APPROXIMATE_FROM,
        candidates: int = CANDIDATES,
    ) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,200}", collection):
            raise ConfigError(f"collection name {collection!r}: use 1-200 letters, digits, '_', '-' or '.'")
        if approximate_from < 1 or candidates < 1:
            raise ConfigError("approximate_from and candidates must be at least 1")
        self.collection = collection
        self.file = Path(path) / f"{collection}.db"
        self.approximate_from = approximate_from
        self.candidates = candidates
        super().__init__(f"embedded://{self.file.resolve()}", dimensions=dimensions)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._rows: Rows | None = None
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

    def _fresh_rows(self, conn: sqlite3.Connection) -> Rows:
        """The in-memory vectors, reloaded (a batch of rows at a time) if another connection wrote since."""
        np = _numpy()
        version = int(conn.execute("PRAGMA data_version").fetchone()[0])
        if self._rows is None or version != self._seen_version:
            self._rows = None
            rows = _new_rows(self._dimensions)
            cursor = conn.execute("SELECT rowid, embedding FROM chunks ORDER BY rowid")
            while batch := cursor.fetchmany(_BATCH):
                rowids = np.fromiter((r[0] for r in batch), dtype=np.int64, count=len(batch))
                unit = np.frombuffer(b"".join(r[1] for r in batch), dtype=np.float32).reshape(len(batch), -1)
                rows.write(rowids, unit)
            self._rows, self._seen_version = rows, version
        return self._rows

    def _load_columns(self, conn: sqlite3.Connection, rows: Rows, keys: Sequence[str]) -> None:
        """Read each filter key's values once (a scan of the metadata), then keep them with the vectors, so
        a per-user search filters in memory instead of parsing every row's JSON again."""
        for key in keys:
            if key not in rows.columns:
                self._read_column(conn, rows, key, None)

    def _read_column(self, conn: sqlite3.Connection, rows: Rows, key: str, rowids: list[int] | None) -> None:
        """`key`'s values as SQL reads them (JSON true is 1), of `rowids` or of every row."""
        np = _numpy()
        value = "content_id" if key == "content_id" else "json_extract(metadata, ?)"
        args: list[Any] = [] if key == "content_id" else [f'$."{key}"']
        batches = [None] if rowids is None else [rowids[i : i + _MARKS] for i in range(0, len(rowids), _MARKS)]
        for batch in batches:
            where = "" if batch is None else f" WHERE rowid IN ({', '.join('?' for _ in batch)})"
            found = conn.execute(f"SELECT rowid, {value} FROM chunks{where}", [*args, *(batch or [])]).fetchall()
            ids = np.fromiter((r[0] for r in found), dtype=np.int64, count=len(found))
            rows.set_column(key, ids, [r[1] for r in found])

    def _forget_rows(self) -> None:
        self._rows = None

    # --- contract ---------------------------------------------------------------------------------------

    async def create(self) -> None:
        await self._call(lambda conn: None)

    async def upsert(self, chunks: Sequence[Chunk]) -> None:
        self._check(chunks)
        if not chunks:
            return
        np = _numpy()
        latest = {chunk.id: chunk for chunk in chunks}  # as SQLite's upsert leaves them: the last one wins
        vectors = np.asarray([chunk.embedding for chunk in latest.values()], dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        unit = np.divide(vectors, norms, out=vectors.copy(), where=norms > 0)
        rows = [
            (c.id, c.content_id, c.text, json.dumps(c.metadata, default=str), unit[i].tobytes())
            for i, c in enumerate(latest.values())
        ]
        ids = list(latest)

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "INSERT INTO chunks (id, content_id, text, metadata, embedding) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET content_id = excluded.content_id, text = excluded.text, "
                    "metadata = excluded.metadata, embedding = excluded.embedding",
                    rows,
                )
                held = self._rows
                if held is not None:  # where the rows went, and the loaded filter keys' new values
                    rowid_of: dict[str, int] = {}
                    for i in range(0, len(ids), _MARKS):
                        batch = ids[i : i + _MARKS]
                        marks = ", ".join("?" for _ in batch)
                        found = conn.execute(f"SELECT id, rowid FROM chunks WHERE id IN ({marks})", batch)
                        rowid_of.update(found.fetchall())
                    rowids = np.asarray([rowid_of[i] for i in ids], dtype=np.int64)
                    if held.write(rowids, unit):
                        for key in list(held.columns):
                            self._read_column(conn, held, key, rowids.tolist())
                    else:
                        self._forget_rows()
                conn.execute("COMMIT")
            except BaseException:
                self._forget_rows()
                conn.execute("ROLLBACK")
                raise

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
        rows = self._fresh_rows(conn)
        positions = None
        if filters:
            self._load_columns(conn, rows, list(filters))
            positions = rows.matching(filters)
        query = np.asarray(vector, dtype=np.float32)
        norm = float(np.linalg.norm(query))
        approximate = rows.count >= self.approximate_from
        picked = rows.search(
            query / norm if norm > 0 else query,
            positions,
            pool,
            candidates=self.candidates if approximate else None,
        )
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
        return await self._call(
            lambda conn: self._delete(conn, f"DELETE FROM chunks WHERE id IN ({', '.join('?' for _ in ids)})", ids),
            missing=0,
        )

    async def delete_where(self, filters: base.Filters) -> int:
        wanted = self._required_filters(filters, "delete_where", "use drop() to delete everything")
        return await self._call(lambda conn: self._delete(conn, *_filtered("DELETE FROM chunks", wanted)), missing=0)

    def _delete(self, conn: sqlite3.Connection, sql: str, args: Sequence[Any]) -> int:
        """Run one DELETE and take its rows out of the vectors held (reloaded instead, once a quarter of
        what is held is deleted rows)."""
        np = _numpy()
        gone = [r[0] for r in conn.execute(sql + " RETURNING rowid", list(args)).fetchall()]
        held = self._rows
        if held is not None and gone:
            held.remove(np.asarray(gone, dtype=np.int64))
            if held.dead > max(1024, held.size // 4):
                self._forget_rows()
        return len(gone)

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
            self._forget_rows()
            return True

        await self._call(remove, missing=False)

    async def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._forget_rows()


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
