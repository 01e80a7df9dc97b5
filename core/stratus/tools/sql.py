"""`SQLTools`: let an agent read a database through SQLAlchemy (any engine URL, or an `Engine`).

    from stratus.tools.sql import SQLTools

    agent = Agent(model=..., tools=[SQLTools("sqlite:///shop.db")])

Three tools: `list_tables`, `describe_table` and `run_query`. Read-only by default, and enforced twice, so
either layer alone stops a write:

1. the connection: SQLite databases named by URL open with `mode=ro`, and every SQLite query runs under an
   authorizer that admits only reads (no ATTACH, no `VACUUM INTO`, no PRAGMA writes, no writing or
   escaping functions); PostgreSQL queries run in a `READ ONLY` transaction, sent as a single prepared
   statement (psycopg 3) so nothing can be stacked after a `COMMIT`; MySQL uses a read-only transaction;
   everything is rolled back afterwards;
2. the statement: sqlglot parses the query and admits exactly one read (SELECT, WITH ... SELECT, VALUES,
   set operations, EXPLAIN of a read, SHOW, DESCRIBE): no DML or DDL anywhere (a data-modifying CTE
   included), no SELECT INTO or FOR UPDATE, no functions known to write or reach outside the database.
   The statement sent is the one sqlglot parsed, re-rendered without comments, so comment and quoting
   tricks cannot smuggle a second one.

Results stop at `max_rows` (with a note of how many were left out) and queries at `timeout` seconds
(SQLite: a progress handler; PostgreSQL: `statement_timeout`). The schema description is cached and
refreshed when the schema changes (SQLite: `PRAGMA schema_version`; PostgreSQL: a fingerprint of its
catalog; others: after `schema_cache_ttl` seconds). For the strongest setup also connect with a database
role that may only read.

Needs the `sql` extra: `pip install 'stratus[sql]'`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, Unpack, cast
from urllib.parse import quote

from stratus._checks import positive
from stratus._optional import requires_extra
from stratus.exceptions import ConfigError, ToolError
from stratus.tools import _sql_statements as statements
from stratus.tools._sql_statements import check_read_only_query
from stratus.tools._tool import tool
from stratus.tools._toolkit import Toolkit, ToolkitOptions

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["SQLTools", "check_read_only_query"]

logger = logging.getLogger("stratus.tools.sql")

_T = TypeVar("_T")


@dataclass(slots=True)
class _SchemaCache:
    fingerprint: str | None
    taken_at: float
    tables: list[tuple[str, str]]  # (name, "table" | "view")
    described: dict[str, str]


class SQLTools(Toolkit):
    """List, describe and query the tables of a database through SQLAlchemy; read-only by default.

    Args:
        db: An SQLAlchemy URL (`"sqlite:///shop.db"`, `"postgresql+psycopg://user@host/db"`) or an `Engine`.
        read_only: Refuse every write (the default). With False, one statement of any kind runs per call
            and is committed; functions that reach outside the database stay refused.
        max_rows: Rows returned per query at most; the rest are counted, not shown.
        timeout: Seconds a query may run before it is stopped (SQLite and PostgreSQL; other backends rely on
            their own server-side limits).
        max_cell_chars: Longer values are cut to this many characters.
        schema: The database schema to list and describe (the default schema if None).
        schema_cache_ttl: Seconds a schema description is trusted on backends without a cheap change marker.
        name: The toolkit's name.
        instructions: Text added to the agent's instructions; a short default names the SQL dialect.
        include: Only these tools (`list_tables`, `describe_table`, `run_query`).
        exclude: Not these tools.
    """

    def __init__(
        self,
        db: str | Engine,
        *,
        read_only: bool = True,
        max_rows: int = 100,
        timeout: float = 10.0,
        max_cell_chars: int = 500,
        schema: str | None = None,
        schema_cache_ttl: float = 60.0,
        **options: Unpack[ToolkitOptions],
    ) -> None:
        with requires_extra("SQLTools", "sql", what="SQLAlchemy", error=ImportError):
            import sqlalchemy
        statements.import_sqlglot()
        if max_rows < 1:
            raise ConfigError("max_rows must be at least 1")
        positive(timeout=timeout)
        self.read_only = read_only
        self.max_rows = max_rows
        self.timeout = timeout
        self.max_cell_chars = max_cell_chars
        self.schema = schema
        self.schema_cache_ttl = schema_cache_ttl
        if isinstance(db, str):
            self.engine: Engine = _create_engine(db, read_only=read_only)
            self._owns_engine = True
        elif isinstance(db, sqlalchemy.Engine):  # pyright: ignore[reportUnnecessaryIsInstance]
            self.engine = db
            self._owns_engine = False
        else:
            raise ConfigError(f"SQLTools(db=...) takes a URL or an SQLAlchemy Engine, got {type(db).__name__}")
        self.backend = self.engine.dialect.name
        self.dialect: str | None = statements.SQLGLOT_DIALECTS.get(self.backend)
        mode = "read-only" if read_only else "read-write"
        default_instructions = (
            f"The SQL tools query a {self.backend} database ({mode}). Call list_tables and describe_table before "
            f"writing a query; run_query returns at most {max_rows} rows, so aggregate or filter in SQL."
        )
        options["name"] = options.get("name") or f"sql:{self.backend}"
        if options.get("instructions") is None:
            options["instructions"] = default_instructions
        super().__init__(**options)
        self._cache: _SchemaCache | None = None
        self._cache_lock = threading.Lock()

    # --- tools ------------------------------------------------------------------------------------------

    @tool
    def list_tables(self) -> str:
        """List the tables and views of the database, one per line.

        Call this first to see what data exists, then describe_table for the columns of a table.
        """
        tables = self._schema().tables
        if not tables:
            return "The database has no tables."
        return "\n".join(f"{table} (view)" if kind == "view" else table for table, kind in tables)

    @tool
    def describe_table(self, table: str) -> str:
        """Describe a table or view: its columns with types, nullability, defaults and primary key, its foreign
        keys and indexes.

        Args:
            table: The table or view name, as list_tables shows it.
        """
        cache = self._schema()
        names = {t for t, _ in cache.tables}
        key = table.strip().strip('"`[]')
        if key not in names:
            folded = {t.lower(): t for t in names}
            if key.lower() not in folded:
                known = ", ".join(sorted(names)[:50]) or "none"
                raise ToolError(f"there is no table or view named {table!r}; tables: {known}")
            key = folded[key.lower()]
        with self._cache_lock:
            text = cache.described.get(key)
        if text is None:
            text = self._with_errors(lambda: self._describe(key))
            with self._cache_lock:
                cache.described[key] = text
        return text

    @tool
    def run_query(self, query: str) -> str:
        """Run one SQL query and return its rows as a table (columns separated by " | ").

        Only reads are allowed unless the toolkit was made read-write: one SELECT (WITH ... SELECT, UNION,
        VALUES, EXPLAIN, SHOW and DESCRIBE work too). Large results are cut short with a note saying how many
        rows were left out, and slow queries are stopped, so aggregate, filter and LIMIT in SQL.

        Args:
            query: One SQL statement in the database's dialect, without a trailing second statement.
        """
        sql = self.check_query(query)
        return self._with_errors(lambda: self._run(sql))

    # --- checks -----------------------------------------------------------------------------------------

    def check_query(self, query: str) -> str:
        """The SQL to send for `query`, or a `ToolError` saying why it is refused (the parser layer)."""
        if self.read_only:
            return check_read_only_query(query, self.dialect)
        return statements.check_any_query(query, self.dialect)

    # --- execution --------------------------------------------------------------------------------------

    def _run(self, sql: str) -> str:
        deadline = time.monotonic() + self.timeout
        raw = self.engine.raw_connection()
        try:
            if self.backend != "sqlite":
                raw.rollback()  # start clean: the read-only setting must open the transaction
            with self._guard(raw, deadline) as timed_out:
                try:
                    columns, rows, left_out, capped = self._fetch(raw, sql, deadline)
                except Exception as exc:
                    if timed_out() or _is_timeout(exc):
                        raise ToolError(
                            f"the query ran longer than {self.timeout:g}s and was stopped; make it cheaper "
                            "(filter, aggregate, LIMIT, use indexed columns)"
                        ) from None
                    raise
            if self.read_only:
                raw.rollback()
            else:
                raw.commit()
        finally:
            with contextlib.suppress(Exception):
                raw.rollback()
            raw.close()
        if columns is None:
            return "The statement ran and returned no rows."
        return self._format(columns, rows, left_out, capped)

    def _fetch(self, raw: Any, sql: str, deadline: float) -> tuple[list[str] | None, list[Sequence[Any]], int, bool]:
        cursor = raw.cursor()
        try:
            driver = raw.driver_connection
            if self.backend == "postgresql" and type(driver).__module__.startswith("psycopg"):
                # psycopg 3 sends the query as one prepared statement, so nothing can be stacked after it; a read
                # is streamed, so a huge result is never loaded whole.
                if self.read_only:
                    return self._fetch_stream(cursor, sql, deadline)
                cursor.execute(sql, prepare=True)
            else:
                cursor.execute(sql)
            if cursor.description is None:
                return None, [], 0, False
            columns = [str(d[0]) for d in cursor.description]
            rows = list(cursor.fetchmany(self.max_rows + 1))
            left_out, capped = 0, False
            if len(rows) > self.max_rows:
                left_out = len(rows) - self.max_rows
                rows = rows[: self.max_rows]
                while time.monotonic() < deadline:
                    chunk = cursor.fetchmany(1000)
                    if not chunk:
                        break
                    left_out += len(chunk)
                    if left_out >= _COUNT_CAP:
                        capped = True
                        break
                else:
                    capped = True
            return columns, rows, left_out, capped
        finally:
            with contextlib.suppress(Exception):
                cursor.close()

    def _fetch_stream(
        self, cursor: Any, sql: str, deadline: float
    ) -> tuple[list[str] | None, list[Sequence[Any]], int, bool]:
        rows: list[Sequence[Any]] = []
        columns: list[str] | None = None
        left_out, capped = 0, False
        stream = cursor.stream(sql)
        try:
            for row in stream:
                if columns is None and cursor.description is not None:
                    columns = [str(d[0]) for d in cursor.description]
                if len(rows) < self.max_rows:
                    rows.append(row)
                    continue
                left_out += 1
                if left_out >= _COUNT_CAP or time.monotonic() >= deadline:
                    capped = True
                    break
        finally:
            stream.close()
        if columns is None:
            # psycopg's stream() drops the column names of an empty result: ask again, still one prepared
            # statement (an empty result is cheap to fetch whole)
            cursor.execute(sql, prepare=True)
            if cursor.description is not None:
                columns = [str(d[0]) for d in cursor.description]
        return columns, rows, left_out, capped

    @contextlib.contextmanager
    def _guard(self, raw: Any, deadline: float) -> Generator[Callable[[], bool]]:
        """The connection layer: read-only mode and the time limit, undone afterwards (pooled connections
        are shared)."""
        expired = False

        def timed_out() -> bool:
            return expired

        if self.backend == "sqlite":
            import sqlite3

            conn = cast(sqlite3.Connection, raw.driver_connection)

            def progress() -> int:
                nonlocal expired
                if time.monotonic() > deadline:
                    expired = True
                    return 1
                return 0

            attached = conn.getlimit(sqlite3.SQLITE_LIMIT_ATTACHED)
            conn.set_progress_handler(progress, 1000)
            if self.read_only:
                conn.set_authorizer(_sqlite_read_only_authorizer)
                conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)  # no ATTACH, no VACUUM INTO
            try:
                yield timed_out
            finally:
                conn.set_progress_handler(None, 0)
                if self.read_only:
                    conn.set_authorizer(None)
                    conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, attached)
            return
        cursor = raw.cursor()
        try:
            if self.backend == "postgresql":
                if self.read_only:
                    cursor.execute("SET TRANSACTION READ ONLY")
                cursor.execute(f"SET LOCAL statement_timeout = {max(1, int(self.timeout * 1000))}")
            elif self.backend in ("mysql", "mariadb") and self.read_only:
                cursor.execute("START TRANSACTION READ ONLY")
        finally:
            cursor.close()
        yield timed_out

    def _with_errors(self, fn: Callable[[], _T]) -> _T:
        """Database errors become a `ToolError` whose message the model can act on."""
        from sqlalchemy.exc import DBAPIError, SQLAlchemyError

        dbapi = self.engine.dialect.loaded_dbapi
        driver_errors = tuple(
            e for e in (getattr(dbapi, "Error", None), getattr(dbapi, "Warning", None)) if isinstance(e, type)
        )
        try:
            return fn()
        except ToolError:
            raise
        except DBAPIError as exc:
            raise ToolError(f"the database refused it: {_first_line(exc.orig)}") from None
        except SQLAlchemyError as exc:
            raise ToolError(f"the database refused it: {_first_line(exc)}") from None
        except Exception as exc:
            if driver_errors and isinstance(exc, driver_errors):
                raise ToolError(f"the database refused it: {_first_line(exc)}") from None
            raise

    def _format(self, columns: list[str], rows: list[Sequence[Any]], left_out: int, capped: bool) -> str:
        lines = [" | ".join(columns)]
        lines.extend(" | ".join(self._cell(value) for value in row) for row in rows)
        if not rows:
            lines.append("(no rows)")
        if left_out:
            count = f"at least {left_out}" if capped else str(left_out)
            lines.append(
                f"({count} more rows left out: only the first {self.max_rows} are shown; "
                "aggregate, filter or add a LIMIT)"
            )
        return "\n".join(lines)

    def _cell(self, value: Any) -> str:
        if value is None:
            return "NULL"
        if isinstance(value, bytes | bytearray | memoryview):
            return f"<{len(cast(bytes, value))} bytes>"
        text = str(value).replace("\r", "\\r").replace("\n", "\\n").replace("|", "\\|")
        if len(text) > self.max_cell_chars:
            text = text[: self.max_cell_chars] + f"...[{len(text) - self.max_cell_chars} more chars]"
        return text

    # --- schema -----------------------------------------------------------------------------------------

    def _schema(self) -> _SchemaCache:
        """The cached schema, refreshed when the database says it changed (or the TTL ran out)."""
        return self._with_errors(self._load_schema)

    def _load_schema(self) -> _SchemaCache:
        from sqlalchemy import inspect

        with self.engine.connect() as conn:
            fingerprint = self._fingerprint(conn)
            now = time.monotonic()
            with self._cache_lock:
                cache = self._cache
                if cache is not None:
                    if fingerprint is not None and fingerprint == cache.fingerprint:
                        return cache
                    if fingerprint is None and now - cache.taken_at < self.schema_cache_ttl:
                        return cache
            inspector = inspect(conn)
            tables = [(t, "table") for t in sorted(inspector.get_table_names(schema=self.schema))]
            tables += [(v, "view") for v in sorted(inspector.get_view_names(schema=self.schema))]
            conn.rollback()
        fresh = _SchemaCache(fingerprint=fingerprint, taken_at=now, tables=tables, described={})
        with self._cache_lock:
            self._cache = fresh
        return fresh

    def _fingerprint(self, conn: Any) -> str | None:
        from sqlalchemy import text

        if self.backend == "sqlite":
            return str(conn.execute(text("PRAGMA schema_version")).scalar())
        if self.backend == "postgresql":
            # pg_class rows change (xmin) on CREATE/ALTER/DROP of a relation or its columns.
            row = conn.execute(
                text(
                    "SELECT count(*)::text || ':' || coalesce(md5(string_agg(c.oid::text || '.' || c.xmin::text, "
                    "',' ORDER BY c.oid)), '') FROM pg_catalog.pg_class c "
                    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'"
                )
            ).scalar()
            return str(row)
        return None

    def _describe(self, table: str) -> str:
        from sqlalchemy import inspect

        with self.engine.connect() as conn:
            inspector = inspect(conn)
            columns = inspector.get_columns(table, schema=self.schema)
            pk = set(inspector.get_pk_constraint(table, schema=self.schema).get("constrained_columns") or [])
            try:
                fks = inspector.get_foreign_keys(table, schema=self.schema)
                indexes = inspector.get_indexes(table, schema=self.schema)
            except NotImplementedError:  # pragma: no cover - views on some backends
                fks, indexes = [], []
            conn.rollback()
        lines = [f"Table {table}:"]
        for col in columns:
            parts = [f"  {col['name']} {col['type']}"]
            if col["name"] in pk:
                parts.append("PRIMARY KEY")
            parts.append("NULL" if col.get("nullable", True) else "NOT NULL")
            default = col.get("default")
            if default is not None:
                parts.append(f"DEFAULT {default}")
            comment = col.get("comment")
            if comment:
                parts.append(f"-- {comment}")
            lines.append(" ".join(parts))
        for fk in fks:
            if fk.get("referred_table"):
                src = ", ".join(fk.get("constrained_columns") or [])
                dst = ", ".join(fk.get("referred_columns") or [])
                lines.append(f"  FOREIGN KEY ({src}) REFERENCES {fk['referred_table']} ({dst})")
        for index in indexes:
            cols = ", ".join(str(c) for c in (index.get("column_names") or []) if c is not None)
            unique = "UNIQUE " if index.get("unique") else ""
            lines.append(f"  {unique}INDEX {index.get('name')} ({cols})")
        return "\n".join(lines)

    # --- lifecycle --------------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the engine's connections when the toolkit created the engine (a given engine is left alone)."""
        if self._owns_engine:
            self.engine.dispose()

    async def aclose(self) -> None:
        """Close the engine's connections (called when the app shuts down)."""
        self.close()


_COUNT_CAP = 100_000


def _create_engine(url: str, *, read_only: bool) -> Engine:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"not a valid SQLAlchemy URL: {url!r} ({exc})") from None
    if parsed.get_backend_name() == "sqlite" and read_only:
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            # Opened read-only by SQLite itself: nothing on this connection can write the file.
            path = Path(database).expanduser().resolve()
            parsed = parsed.set(
                database=f"file:{quote(str(path))}", query={**parsed.query, "mode": "ro", "uri": "true"}
            )
    try:
        return create_engine(parsed, pool_pre_ping=parsed.get_backend_name() != "sqlite")
    except (NoSuchModuleError, ImportError) as exc:
        raise ConfigError(f"cannot open {parsed.render_as_string(hide_password=True)}: {exc}") from None


# SQLite's authorizer: every statement is checked action by action when it is prepared, so nothing but
# reads can even compile on the connection, whatever the SQL text says.
_SQLITE_READ_PRAGMAS = frozenset(
    {
        "table_info",
        "table_xinfo",
        "table_list",
        "index_list",
        "index_info",
        "index_xinfo",
        "foreign_key_list",
        "collation_list",
        "function_list",
        "pragma_list",
        "compile_options",
        "database_list",
        "encoding",
        "page_size",
        "page_count",
        "freelist_count",
        "user_version",
        "schema_version",
        "application_id",
        "data_version",
        "query_only",
    }
)
_SQLITE_PRAGMAS_WITH_NAME = frozenset(
    {"table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "foreign_key_list", "table_list"}
)
_SQLITE_SCHEMA_TABLES = frozenset({"sqlite_master", "sqlite_temp_master", "sqlite_schema", "sqlite_temp_schema"})


def _sqlite_read_only_authorizer(
    action: int, arg1: str | None, arg2: str | None, db: str | None, src: str | None
) -> int:
    import sqlite3

    if action in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE):
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_FUNCTION:
        name = (arg2 or "").lower()
        if name in statements.DENIED_FUNCTIONS or name.startswith(statements.DENIED_PREFIXES):
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA:
        name = (arg1 or "").lower()
        if name in _SQLITE_READ_PRAGMAS and (arg2 is None or name in _SQLITE_PRAGMAS_WITH_NAME):
            return sqlite3.SQLITE_OK
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_UPDATE and (arg1 or "").lower() in _SQLITE_SCHEMA_TABLES and src is None:
        # SQLite reports reading the schema for a table-valued pragma this way; writing it needs
        # `PRAGMA writable_schema`, which is denied above.
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def _is_timeout(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", None) or exc
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code == "57014":  # query_canceled: statement_timeout
        return True
    message = str(orig).lower()
    return "statement timeout" in message or message.strip() == "interrupted"


def _first_line(exc: BaseException | None) -> str:
    text = str(exc or "").strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:500]
