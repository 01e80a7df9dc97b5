"""How `SqliteStore` answers a listing in SQL: WHERE for the filters, ORDER BY the sort then the id, and a
keyset cursor (`(sort value, id) < (last value, last id)`) so a page deep in a listing costs what the first
one does; without a cursor, `page` becomes an OFFSET. The total is one COUNT(*) of the same WHERE.

The record tables keep each record as JSON in `data`; the fields listings filter and sort on are virtual
generated columns over it (`LISTING_COLUMNS`), indexed, and added to files made before they existed.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any, Final, cast

from stratus.storage._codec import text_key
from stratus.storage._cursor import Cursor, bad_position, fingerprint
from stratus.storage.records import (
    ContentQuery,
    EvalQuery,
    LearningQuery,
    MemoryQuery,
    Page,
    SessionQuery,
    UserMemoryStats,
)

__all__ = [
    "LISTING_COLUMNS",
    "LISTING_INDEXES",
    "Listing",
    "add_listing_columns",
    "content_listing",
    "eval_listing",
    "learning_listing",
    "memory_listing",
    "memory_topics",
    "run_listing",
    "session_listing",
    "user_memory_stats",
]

MAX_SQL_INT: Final = 2**62  # a LIMIT or OFFSET past SQLite's 64-bit integers is an error, not an empty page
_LIVE: Final = "(expires_at IS NULL OR expires_at > ?)"
_TEXT_ORDER: Final = "stratus_lower(coalesce({}, ''))"  # case-insensitive as Python compares (see `text_key`)
_MEMORY_TEXT: Final = _TEXT_ORDER.format("json_extract(data, '$.memory')")


def _number(path: str) -> str:
    return f"REAL GENERATED ALWAYS AS (coalesce(json_extract(data, '$.{path}'), 0)) VIRTUAL"


def _text(path: str) -> str:
    return f"TEXT GENERATED ALWAYS AS (json_extract(data, '$.{path}')) VIRTUAL"


LISTING_COLUMNS: Final[dict[str, dict[str, str]]] = {
    "memories": {
        "created_at": _number("created_at"),
        "updated_at": _number("updated_at"),
        "agent_id": _text("agent_id"),
        "team_id": _text("team_id"),
    },
    "learnings": {
        "created_at": _number("created_at"),
        "updated_at": _number("updated_at"),
        "learning_type": _text("learning_type"),
        "namespace": _text("namespace"),
        "session_id": _text("session_id"),
        "team_id": _text("team_id"),
        "entity_id": _text("entity_id"),
        "entity_type": _text("entity_type"),
    },
    "contents": {
        "created_at": _number("created_at"),
        "updated_at": _number("updated_at"),
        "user_id": _text("user_id"),
        "status": _text("status"),
        "content_hash": _text("content_hash"),
        "name": _text("name"),
    },
}
"""Per record table: the generated columns listings filter and sort on."""

LISTING_INDEXES: Final = """
CREATE INDEX IF NOT EXISTS sessions_created ON sessions (created_at, session_id);
CREATE INDEX IF NOT EXISTS sessions_user_created ON sessions (user_id, created_at, session_id);
CREATE INDEX IF NOT EXISTS memories_updated ON memories (updated_at, memory_id);
CREATE INDEX IF NOT EXISTS memories_user_updated ON memories (user_id, updated_at, memory_id);
CREATE INDEX IF NOT EXISTS learnings_updated ON learnings (updated_at, learning_id);
CREATE INDEX IF NOT EXISTS learnings_user_updated ON learnings (user_id, updated_at, learning_id);
CREATE INDEX IF NOT EXISTS learnings_agent_updated ON learnings (agent_id, updated_at, learning_id);
CREATE INDEX IF NOT EXISTS contents_knowledge_created ON contents (knowledge_id, created_at, content_id);
"""


def add_listing_columns(conn: sqlite3.Connection) -> None:
    """Add the generated columns a file made by an older stratus lacks, then the listing indexes."""
    conn.create_function("stratus_lower", 1, text_key, deterministic=True)
    for table, columns in LISTING_COLUMNS.items():
        present = {row[1] for row in conn.execute(f"PRAGMA table_xinfo({table})")}
        for name, definition in columns.items():
            if name not in present:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {definition}")
    conn.executescript(LISTING_INDEXES)


@dataclass(slots=True, kw_only=True)
class Listing:
    """One listing's SELECT: `where` (with `args`) filters, `order` is the sort expression (the id breaks
    ties), `text_order` says whether its values are text."""

    table: str
    id_column: str
    columns: str
    order: str
    descending: bool
    text_order: bool = False
    where: list[str] = field(default_factory=list[str])
    args: list[Any] = field(default_factory=list[Any])


def _position(cursor: Cursor, text_order: bool) -> tuple[Any, str]:
    position: Any = cursor.position
    if not isinstance(position, list) or len(cast(list[Any], position)) != 2:
        raise bad_position()
    value, last_id = cast(list[Any], position)
    if not isinstance(last_id, str) or isinstance(value, bool):
        raise bad_position()
    if not (isinstance(value, str) if text_order else isinstance(value, int | float)):
        raise bad_position()
    return value, last_id


def run_listing(
    conn: sqlite3.Connection, listing: Listing, *, query_id: str, cursor: Cursor | None, page: int, limit: int
) -> tuple[list[sqlite3.Row], str | None, int, int]:
    """One page of rows, the next page's cursor, the total count, and how many rows came before the page."""
    limit = min(max(1, limit), MAX_SQL_INT)
    clause = " AND ".join(listing.where) or "1"
    total = int(conn.execute(f"SELECT COUNT(*) FROM {listing.table} WHERE {clause}", listing.args).fetchone()[0])
    direction = "DESC" if listing.descending else "ASC"
    select = (
        f"SELECT {listing.columns}, {listing.order} AS _sort, {listing.id_column} AS _id FROM {listing.table} "
        f"WHERE {clause}"
    )
    args = list(listing.args)
    if cursor is not None:
        value, last_id = _position(cursor, listing.text_order)
        select += f" AND ({listing.order}, {listing.id_column}) {'<' if listing.descending else '>'} (?, ?)"
        args += [value, last_id]
        offset, skip = cursor.offset, 0
    else:
        offset = skip = min((max(1, page) - 1) * limit, MAX_SQL_INT)
    select += f" ORDER BY {listing.order} {direction}, {listing.id_column} {direction} LIMIT ? OFFSET ?"
    rows = conn.execute(select, [*args, min(limit + 1, MAX_SQL_INT), skip]).fetchall()
    page_rows = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = page_rows[-1]
        next_cursor = Cursor(query_id, offset + len(page_rows), [last["_sort"], last["_id"]]).encode()
    return page_rows, next_cursor, total, offset


def _listing(table: str, id_column: str, columns: str, *, order: str, text: bool, query: Any) -> Listing:
    return Listing(
        table=table,
        id_column=id_column,
        columns=columns,
        order=order,
        text_order=text,
        descending=query.sort_order != "asc",
        where=[_LIVE],
        args=[time.time()],
    )


def _time(sort_by: str) -> str:
    return "updated_at" if sort_by == "updated_at" else "created_at"


def _equal(listing: Listing, column: str, value: str | None) -> None:
    if value is not None:
        listing.where.append(f"{column} = ?")
        listing.args.append(value)


def session_listing(query: SessionQuery, columns: str) -> Listing:
    by_name = query.sort_by == "session_name"
    order = _TEXT_ORDER.format("session_name") if by_name else _time(query.sort_by)
    listing = _listing("sessions", "session_id", columns, order=order, text=by_name, query=query)
    _equal(listing, "session_type", None if query.session_type is None else query.session_type.value)
    _equal(listing, "component_id", query.component_id)
    _equal(listing, "user_id", query.user_id)
    if query.session_name:
        listing.where.append(f"instr({_TEXT_ORDER.format('session_name')}, ?) > 0")
        listing.args.append(text_key(query.session_name))
    return listing


def memory_listing(query: MemoryQuery) -> Listing:
    by_text = query.sort_by == "memory"
    order = _MEMORY_TEXT if by_text else _time(query.sort_by)
    listing = _listing("memories", "memory_id", "data", order=order, text=by_text, query=query)
    _equal(listing, "user_id", query.user_id)
    _equal(listing, "agent_id", query.agent_id)
    _equal(listing, "team_id", query.team_id)
    if query.topics:
        marks = ", ".join("?" for _ in query.topics)
        listing.where.append(f"EXISTS (SELECT 1 FROM json_each(data, '$.topics') WHERE value IN ({marks}))")
        listing.args.extend(query.topics)
    if query.search_content:
        listing.where.append(f"instr({_MEMORY_TEXT}, ?) > 0")
        listing.args.append(text_key(query.search_content))
    return listing


def learning_listing(query: LearningQuery) -> Listing:
    listing = _listing("learnings", "learning_id", "data", order=_time(query.sort_by), text=False, query=query)
    _equal(listing, "user_id", query.user_id)
    if query.shared:
        listing.where.append("user_id IS NULL")
    _equal(listing, "agent_id", query.agent_id)
    if query.learning_type is not None:
        _equal(listing, "learning_type", query.learning_type)
    else:
        listing.where.append("substr(learning_type, 1, 1) <> '_'")  # internal records only when named
    for name in ("namespace", "session_id", "team_id", "entity_id", "entity_type"):
        _equal(listing, name, getattr(query, name))
    return listing


def content_listing(query: ContentQuery) -> Listing:
    by_name = query.sort_by == "name"
    order = _TEXT_ORDER.format("name") if by_name else _time(query.sort_by)
    listing = _listing("contents", "content_id", "data", order=order, text=by_name, query=query)
    _equal(listing, "knowledge_id", query.knowledge_id)
    _equal(listing, "user_id", query.user_id)
    _equal(listing, "status", None if query.status is None else query.status.value)
    _equal(listing, "content_hash", query.content_hash)
    return listing


def eval_listing(query: EvalQuery) -> Listing:
    listing = _listing("evals", "eval_id", "data", order=_time(query.sort_by), text=False, query=query)
    for name in ("user_id", "agent_id", "team_id", "workflow_id", "model_id"):
        _equal(listing, name, getattr(query, name))
    if query.eval_types:
        listing.where.append(f"eval_type IN ({', '.join('?' for _ in query.eval_types)})")
        listing.args.extend(t.value for t in query.eval_types)
    if query.component_type is not None:
        listing.where.append(f"{query.component_type.value}_id IS NOT NULL")
    return listing


def memory_topics(conn: sqlite3.Connection, user_id: str | None) -> list[str]:
    where: list[str] = ["(m.expires_at IS NULL OR m.expires_at > ?)"]
    args: list[Any] = [time.time()]
    if user_id is not None:
        where.append("m.user_id = ?")
        args.append(user_id)
    sql = (
        "SELECT DISTINCT t.value AS topic FROM memories m, json_each(m.data, '$.topics') t "
        f"WHERE {' AND '.join(where)} AND t.type = 'text' ORDER BY 1"
    )
    return [cast(str, r["topic"]) for r in conn.execute(sql, args).fetchall()]


def user_memory_stats(
    conn: sqlite3.Connection, user_id: str | None, *, page: int, limit: int, cursor: str | None
) -> Page[UserMemoryStats]:
    query_id = fingerprint("sqlite", MemoryQuery(user_id=user_id))
    start = None if cursor is None else Cursor.decode(cursor, expect=query_id)
    where: list[str] = ["user_id IS NOT NULL", _LIVE]
    args: list[Any] = [time.time()]
    if user_id is not None:
        where.append("user_id = ?")
        args.append(user_id)
    grouped = f"FROM memories WHERE {' AND '.join(where)} GROUP BY user_id"
    limit = min(max(1, limit), MAX_SQL_INT)
    having, having_args = "", []
    if start is not None:
        latest, last_user = _position(start, text_order=False)
        having, having_args = " HAVING (MAX(updated_at), user_id) < (?, ?)", [latest, last_user]
        offset, skip = start.offset, 0
    else:
        offset = skip = min((max(1, page) - 1) * limit, MAX_SQL_INT)
    total = int(conn.execute(f"SELECT COUNT(*) FROM (SELECT user_id {grouped})", args).fetchone()[0])
    rows = conn.execute(
        f"SELECT user_id, COUNT(*) AS n, MAX(updated_at) AS latest {grouped}{having} "
        "ORDER BY latest DESC, user_id DESC LIMIT ? OFFSET ?",
        [*args, *having_args, min(limit + 1, MAX_SQL_INT), skip],
    ).fetchall()
    stats = [
        UserMemoryStats(user_id=r["user_id"], total_memories=int(r["n"]), last_memory_updated_at=r["latest"])
        for r in rows[:limit]
    ]
    next_cursor = None
    if len(rows) > limit:
        last = stats[-1]
        next_cursor = Cursor(query_id, offset + limit, [last.last_memory_updated_at, last.user_id]).encode()
    return Page(items=stats, next_cursor=next_cursor, total=total, offset=offset)
