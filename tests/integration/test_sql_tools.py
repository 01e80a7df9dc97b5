"""`SQLTools` against real databases: a SQLite file, and PostgreSQL: the server `STRATUS_TEST_POSTGRES_URL`
names (e.g. `postgresql+psycopg://user:pass@127.0.0.1:5432/db`), else a throwaway one the `postgres_url`
fixture starts (tests/postgres.py). The role is a superuser: the point is that the toolkit holds even then.
Each case gets its own schema, dropped afterwards.

The write corpus runs through the full toolkit (every attempt is refused with a clear error and nothing
changes), and again with the parser bypassed, to show the read-only connection holds on its own.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import StaticPool

from stratus import Agent, ToolError
from stratus.models.testing import ScriptedModel, call
from stratus.tools.sql import SQLTools, check_read_only_query
from tests.postgres import unavailable

SCHEMA = """
CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, country TEXT DEFAULT 'NO');
CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    name TEXT NOT NULL,
    price INTEGER NOT NULL
);
CREATE INDEX items_by_customer ON items (customer_id);
CREATE VIEW expensive AS SELECT * FROM items WHERE price > 100;
"""


@dataclass
class Database:
    """A database with the test schema: its URL, an engine to look at it directly, and its backend."""

    backend: str
    url: str
    engine: sa.Engine
    tmp: Path

    def state(self) -> dict[str, Any]:
        """What a write would change: the tables, views, rows, and backend-specific settings."""
        with self.engine.connect() as conn:
            inspector = sa.inspect(conn)
            state: dict[str, Any] = {
                "tables": sorted(inspector.get_table_names()),
                "views": sorted(inspector.get_view_names()),
                "columns": [c["name"] for c in inspector.get_columns("items")],
                "items": conn.execute(sa.text("SELECT id, customer_id, name, price FROM items ORDER BY id")).all(),
                "customers": conn.execute(sa.text("SELECT id, name FROM customers ORDER BY id")).all(),
                "indexes": sorted(i["name"] or "" for i in inspector.get_indexes("items")),
                "files": sorted(p.name for p in self.tmp.iterdir()),
            }
            if self.backend == "sqlite":
                for pragma in ("user_version", "journal_mode", "schema_version", "application_id"):
                    state[pragma] = conn.execute(sa.text(f"PRAGMA {pragma}")).scalar()
            else:
                state["large_objects"] = conn.execute(sa.text("SELECT count(*) FROM pg_largeobject_metadata")).scalar()
                state["sequence"] = conn.execute(sa.text("SELECT last_value, is_called FROM items_id_seq")).one()
            conn.rollback()
        return state


def _fill(conn: sa.Connection) -> None:
    conn.execute(sa.text("INSERT INTO customers (id, name) VALUES (1, 'Ada'), (2, 'Bo')"))
    rows = [{"id": i, "c": 1 + i % 2, "n": f"item-{i}", "p": i * 10} for i in range(1, 251)]
    conn.execute(sa.text("INSERT INTO items (id, customer_id, name, price) VALUES (:id, :c, :n, :p)"), rows)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A fresh database per test, on each backend."""
    files = tmp_path / "files"
    files.mkdir()
    if request.param == "sqlite":
        path = tmp_path / "shop.db"
        with sqlite3.connect(path) as conn:
            conn.executescript(SCHEMA)
        engine = sa.create_engine(f"sqlite:///{path}")
        with engine.begin() as conn:
            _fill(conn)
        yield Database("sqlite", f"sqlite:///{path}", engine, files)
        engine.dispose()
        return
    server_url: str = request.getfixturevalue("postgres_url")  # only the PostgreSQL cases start a server
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    except OperationalError as exc:
        reason = f"PostgreSQL at STRATUS_TEST_POSTGRES_URL is not reachable: {str(exc.orig).strip()[:120]}"
    else:
        reason = None
    if reason is not None:
        admin.dispose()
        unavailable(reason)
    url = sa.make_url(server_url).update_query_dict({"options": f"-csearch_path={schema}"})
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        pg_schema = SCHEMA.replace(
            "id INTEGER PRIMARY KEY,\n    customer_id", "id SERIAL PRIMARY KEY,\n    customer_id"
        )
        for statement in pg_schema.split(";"):
            if statement.strip():
                conn.execute(sa.text(statement))
        _fill(conn)
    yield Database("postgresql", url.render_as_string(hide_password=False), engine, files)
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture
def make_tools() -> Iterator[Callable[..., SQLTools]]:
    """Build toolkits for a test and close their connections after it."""
    made: list[SQLTools] = []

    def make(*args: Any, **kwargs: Any) -> SQLTools:
        made.append(SQLTools(*args, **kwargs))
        return made[-1]

    yield make
    for tools in made:
        tools.close()


def write_corpus(db: Database) -> list[str]:
    """Statements that would write, or reach outside the database, if they ran."""
    out = db.tmp
    common = [
        "INSERT INTO items (id, customer_id, name, price) VALUES (999, 1, 'x', 1)",
        "UPDATE items SET price = 0",
        "DELETE FROM items",
        "DROP TABLE items",
        "DROP VIEW expensive",
        "CREATE TABLE pwned (a INTEGER)",
        "CREATE TEMP TABLE pwned AS SELECT * FROM items",
        "CREATE VIEW pwned AS SELECT 1 AS a",
        "CREATE INDEX pwned ON items (name)",
        "ALTER TABLE items ADD COLUMN pwned INTEGER",
        "ALTER TABLE items RENAME TO pwned",
        "INSERT INTO items SELECT id + 1000, customer_id, name, price FROM items",
        "WITH d AS (DELETE FROM items RETURNING *) SELECT * FROM d",
        "WITH u AS (UPDATE items SET price = 0 RETURNING id) SELECT count(*) FROM u",
        "WITH i AS (INSERT INTO customers (id, name) VALUES (9, 'x') RETURNING id) SELECT * FROM i",
        "SELECT 1; DELETE FROM items",
        "SELECT 1; DROP TABLE items;",
        "SELECT * FROM items LIMIT 1;\nUPDATE items SET price = 0",
        "SELECT 1 -- a comment\n; DELETE FROM items",
        "SELECT 1 /* ; */ ; DELETE FROM items",
        "/* a harmless comment */ DELETE FROM items",
        "-- select\nDELETE FROM items",
        "DELETE/**/FROM/**/items",
        "SELECT 'a\\'; DELETE FROM items; --'",
        "SELECT * INTO pwned FROM items",
        "BEGIN; DELETE FROM items; COMMIT",
        "COMMIT; DELETE FROM items",
        "REPLACE INTO items (id, customer_id, name, price) VALUES (1, 1, 'x', 0)",
        "INSERT INTO items (id, customer_id, name, price) VALUES (1, 1, 'x', 0) "
        "ON CONFLICT (id) DO UPDATE SET price = 0",
        "SELECT * FROM items FOR UPDATE",
        "EXPLAIN ANALYZE DELETE FROM items",
        "GRANT ALL ON items TO PUBLIC",
    ]
    if db.backend == "sqlite":
        return [
            *common,
            f"ATTACH DATABASE '{out / 'attached.db'}' AS pwn",
            f"VACUUM INTO '{out / 'copy.db'}'",
            "VACUUM",
            "REINDEX",
            "ANALYZE",
            "PRAGMA user_version = 42",
            "PRAGMA application_id = 7",
            "PRAGMA journal_mode = WAL",
            "PRAGMA query_only = 0",
            "PRAGMA writable_schema = 1",
            "SELECT load_extension('/tmp/evil.so')",
            "SELECT writefile('/tmp/pwned', 'x')",
            "SELECT * FROM pragma_table_info('items'); PRAGMA user_version = 1",
            "DETACH DATABASE main",
            "SAVEPOINT s; DELETE FROM items; RELEASE s",
        ]
    return [
        *common,
        f"COPY items TO '{out / 'dump.csv'}'",
        f"COPY items FROM PROGRAM 'touch {out / 'program-ran'}'",
        "SELECT pg_read_file('/etc/hostname')",
        "SELECT pg_catalog.pg_read_file('/etc/hostname')",
        "SELECT lo_import('/etc/hostname')",
        "SELECT nextval('items_id_seq')",
        "SELECT setval('items_id_seq', 1000)",
        "SELECT set_config('default_transaction_read_only', 'off', false)",
        "SET default_transaction_read_only = off",
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
        "DO $$ BEGIN DELETE FROM items; END $$",
        "SELECT * FROM dblink('dbname=postgres', 'DELETE FROM items') AS t(a int)",
        "SELECT query_to_xml('DELETE FROM items RETURNING 1', true, true, '')",
        "PREPARE p AS DELETE FROM items",
        "LOCK TABLE items",
        "TRUNCATE items",
        "MERGE INTO items t USING customers c ON t.customer_id = c.id WHEN MATCHED THEN DELETE",
        "SELECT $q$ a $q$; DELETE FROM items",
        "SELECT pg_terminate_backend(pg_backend_pid())",
        "REFRESH MATERIALIZED VIEW expensive",
        "CALL nothing()",
    ]


# Statements that write; the connection alone must stop these (reads that escape, such as
# pg_read_file, are the parser's job).
def bypass_corpus(db: Database) -> list[str]:
    out = db.tmp
    common = [
        "INSERT INTO items (id, customer_id, name, price) VALUES (999, 1, 'x', 1)",
        "UPDATE items SET price = 0",
        "DELETE FROM items",
        "DROP TABLE items",
        "DROP VIEW expensive",
        "CREATE TABLE pwned (a INTEGER)",
        "CREATE TEMP TABLE pwned (a INTEGER)",
        "CREATE INDEX pwned ON items (name)",
        "ALTER TABLE items ADD COLUMN pwned INTEGER",
        "WITH d AS (DELETE FROM items RETURNING *) SELECT * FROM d",
        "SELECT 1; DELETE FROM items",
        "COMMIT; DELETE FROM items",
        "BEGIN; DELETE FROM items; COMMIT",
    ]
    if db.backend == "sqlite":
        return [
            *common,
            f"ATTACH DATABASE '{out / 'attached.db'}' AS pwn",
            f"VACUUM INTO '{out / 'copy.db'}'",
            "VACUUM",
            "PRAGMA user_version = 42",
            "PRAGMA journal_mode = WAL",
            "PRAGMA query_only = 0",
            "REPLACE INTO items (id, customer_id, name, price) VALUES (1, 1, 'x', 0)",
            "SELECT load_extension('/tmp/evil.so')",
        ]
    return [
        *common,
        "TRUNCATE items",
        "SELECT nextval('items_id_seq')",
        "SELECT lo_import('/etc/hostname')",
        f"COPY items FROM PROGRAM 'touch {out / 'program-ran'}'",
        "SET default_transaction_read_only = off; DELETE FROM items",
        "DO $$ BEGIN DELETE FROM items; END $$",
        "SELECT * INTO pwned FROM items",
    ]


# --- read-only ------------------------------------------------------------------------------------------


def test_the_write_corpus_gets_zero_writes_each_with_a_clear_error(
    db: Database, make_tools: Callable[..., SQLTools]
) -> None:
    # given a read-only toolkit and a model that tries every write and escape it knows
    tools = make_tools(db.url)
    corpus = write_corpus(db)
    assert len(corpus) >= 30
    before = db.state()
    answered: list[str] = []
    refusals: list[str] = []

    # when each one is sent
    for query in corpus:
        try:
            answered.append(f"{query!r} -> {tools.run_query(query)!r}")
        except ToolError as exc:
            refusals.append(str(exc))

    # then every one was refused with a message for the model, and the database is exactly as it was
    assert answered == []
    assert len(refusals) == len(corpus)
    assert all(message and "Traceback" not in message for message in refusals)
    assert db.state() == before
    assert tools.run_query("SELECT count(*) AS n FROM items") == "n\n250"


def test_the_read_only_connection_alone_stops_writes(
    db: Database, monkeypatch: pytest.MonkeyPatch, make_tools: Callable[..., SQLTools]
) -> None:
    # given a toolkit whose statement check is switched off, leaving only the connection layer
    tools = make_tools(db.url)
    monkeypatch.setattr(SQLTools, "check_query", lambda self, query: query)
    before = db.state()
    written: list[str] = []

    # when the writes are sent as they are
    for query in bypass_corpus(db):
        with contextlib.suppress(ToolError):
            written.append(f"{query!r} -> {tools.run_query(query)!r}")

    # then the database refused every one of them; PostgreSQL lets lo_import() run even in a READ ONLY
    # transaction, and the rollback that ends every query undoes it (the state below counts large objects)
    expected = ["SELECT lo_import('/etc/hostname')"] if db.backend == "postgresql" else []
    assert [w.split(" -> ")[0].strip('"') for w in written] == expected
    assert db.state() == before


def test_an_engine_shared_with_the_app_is_read_only_for_the_model_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # given an in-memory database the application writes through its own engine (no mode=ro possible)
    engine = sa.create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
        conn.execute(sa.text("INSERT INTO notes (body) VALUES ('one')"))
    tools = SQLTools(engine)

    # when the model tries to write with the parser bypassed
    with monkeypatch.context() as patch:
        patch.setattr(SQLTools, "check_query", lambda self, query: query)
        with pytest.raises(ToolError, match="not authorized"):
            tools.run_query("DELETE FROM notes")
        with pytest.raises(ToolError, match="not authorized"):
            tools.run_query("PRAGMA query_only = 0")

    # then its rows are intact, and the application can still write on the same connection
    assert tools.run_query("SELECT body FROM notes") == "body\none"
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO notes (body) VALUES ('two')"))
    assert tools.run_query("SELECT count(*) AS n FROM notes") == "n\n2"
    engine.dispose()


@pytest.mark.parametrize(
    "query",
    [
        "SELECT c.name, count(*) AS n, sum(i.price) AS total FROM customers c JOIN items i ON i.customer_id = c.id "
        "GROUP BY c.name ORDER BY c.name",
        "WITH top AS (SELECT * FROM items ORDER BY price DESC LIMIT 3) SELECT name, price FROM top ORDER BY price",
        "SELECT name, price, rank() OVER (PARTITION BY customer_id ORDER BY price DESC) AS r FROM items "
        "WHERE id <= 6 ORDER BY id",
        "SELECT CASE WHEN price > 100 THEN 'high' ELSE 'low' END AS band, count(*) AS n FROM items GROUP BY 1 "
        "ORDER BY 1",
        "SELECT name FROM items WHERE name LIKE 'item-1_' AND id IN (SELECT id FROM items WHERE price < 150) "
        "ORDER BY id",
        "SELECT id FROM items WHERE id < 3 UNION ALL SELECT id FROM customers ORDER BY 1",
        "SELECT count(*) AS n FROM expensive",
        "select /* the comment goes */ lower(name) as lowered from customers order by 1 -- and this one",
    ],
)
def test_ordinary_reads_give_the_same_rows_as_the_database(
    db: Database, query: str, make_tools: Callable[..., SQLTools]
) -> None:
    tools = make_tools(db.url, max_rows=1000)
    with db.engine.connect() as conn:
        result = conn.execute(sa.text(query))
        expected = [" | ".join(result.keys()), *(" | ".join(str(v) for v in row) for row in result)]

    assert tools.run_query(query).splitlines() == expected


def test_rows_beyond_the_limit_are_counted_not_shown(db: Database, make_tools: Callable[..., SQLTools]) -> None:
    tools = make_tools(db.url, max_rows=3)

    text = tools.run_query("SELECT id, name FROM items ORDER BY id")

    assert text.splitlines() == [
        "id | name",
        "1 | item-1",
        "2 | item-2",
        "3 | item-3",
        "(247 more rows left out: only the first 3 are shown; aggregate, filter or add a LIMIT)",
    ]


def test_an_empty_result_still_names_its_columns(db: Database, make_tools: Callable[..., SQLTools]) -> None:
    tools = make_tools(db.url)

    assert tools.run_query("SELECT id, name FROM items WHERE id < 0") == "id | name\n(no rows)"


def test_a_query_over_the_time_limit_is_stopped_with_a_clear_error(
    db: Database, make_tools: Callable[..., SQLTools]
) -> None:
    tools = make_tools(db.url, timeout=0.5)
    endless = (
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n"
        if db.backend == "sqlite"
        else "SELECT pg_sleep(60)"
    )

    started = time.perf_counter()
    with pytest.raises(ToolError, match=r"ran longer than 0.5s and was stopped"):
        tools.run_query(endless)

    assert time.perf_counter() - started < 10  # many times the limit (a loaded machine), far below the query's own
    assert tools.run_query("SELECT 1 AS one") == "one\n1"  # the connection is fine afterwards


def test_errors_tell_the_model_what_to_fix(db: Database, make_tools: Callable[..., SQLTools]) -> None:
    tools = make_tools(db.url)

    with pytest.raises(ToolError, match="could not be parsed"):
        tools.run_query("SELEC * FROM")
    with pytest.raises(ToolError, match=r"the database refused it: .*(no such column|does not exist)"):
        tools.run_query("SELECT nope FROM items")
    with pytest.raises(ToolError, match="exactly one statement"):
        tools.run_query("SELECT 1; SELECT 2")
    with pytest.raises(ToolError, match="empty"):
        tools.run_query("   ")


# --- schema ---------------------------------------------------------------------------------------------


def test_list_and_describe_tables(db: Database, make_tools: Callable[..., SQLTools]) -> None:
    tools = make_tools(db.url)

    assert tools.list_tables().splitlines() == ["customers", "items", "expensive (view)"]
    described = tools.describe_table("items")
    assert described.splitlines()[0] == "Table items:"
    assert "  id INTEGER PRIMARY KEY" in described
    assert "  name " in described
    assert "NOT NULL" in described
    assert "FOREIGN KEY (customer_id) REFERENCES customers (id)" in described
    assert "INDEX items_by_customer (customer_id)" in described
    assert "DEFAULT 'NO'" in tools.describe_table("CUSTOMERS")  # names are matched case-insensitively
    with pytest.raises(ToolError, match="no table or view named 'orders'; tables: customers, expensive, items"):
        tools.describe_table("orders")


def test_the_schema_description_follows_schema_changes(db: Database, make_tools: Callable[..., SQLTools]) -> None:
    # given a toolkit that has described the schema once
    tools = make_tools(db.url, schema_cache_ttl=3600)
    assert "orders" not in tools.list_tables()
    assert "note" not in tools.describe_table("customers")

    # when the application changes the schema behind its back
    with db.engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE orders (id INTEGER PRIMARY KEY)"))
        conn.execute(sa.text("ALTER TABLE customers ADD COLUMN note TEXT"))

    # then the next description shows the change, without waiting for the cache to expire
    assert "orders" in tools.list_tables().splitlines()
    assert "  note TEXT" in tools.describe_table("customers")


# --- wiring ---------------------------------------------------------------------------------------------


async def test_an_agent_queries_the_database(db: Database, make_tools: Callable[..., SQLTools]) -> None:
    # given a model that looks at the schema, then asks a question in SQL, then tries to write
    model = ScriptedModel(
        call("list_tables"),
        call("run_query", query="SELECT count(*) AS n FROM items WHERE price > 2000"),
        call("run_query", query="DELETE FROM items"),
        "There are 50 expensive items.",
    )
    agent = Agent(model=model, tools=[make_tools(db.url)])

    # when the agent runs
    out = await agent.arun("How many items cost more than 2000?")

    # then the answers reached the model, the write came back as an error, and nothing changed
    assert out.content == "There are 50 expensive items."
    assert [(t.tool_name, t.tool_call_error) for t in out.tools] == [
        ("list_tables", False),
        ("run_query", False),
        ("run_query", True),
    ]
    assert out.tools[1].result == "n\n50"
    assert "not allowed" in str(out.tools[2].result)
    assert "sqlite" in str(model.requests[0][0].content) or "postgresql" in str(model.requests[0][0].content)
    with db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM items")).scalar() == 250


def test_read_write_mode_commits_one_statement(db: Database, make_tools: Callable[..., SQLTools]) -> None:
    tools = make_tools(db.url, read_only=False)

    assert tools.run_query("UPDATE items SET price = 1 WHERE id = 1") == "The statement ran and returned no rows."
    with pytest.raises(ToolError, match="exactly one statement"):
        tools.run_query("UPDATE items SET price = 2 WHERE id = 2; DELETE FROM items")

    with db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT price FROM items WHERE id IN (1, 2) ORDER BY id")).scalars().all() == [
            1,
            20,
        ]


def test_the_parser_admits_reads_and_names_what_it_refuses() -> None:
    assert check_read_only_query("select 1 -- hi", "sqlite") == "SELECT 1"
    assert check_read_only_query("EXPLAIN QUERY PLAN SELECT * FROM t", "sqlite") == "EXPLAIN QUERY PLAN SELECT * FROM t"
    assert check_read_only_query("SHOW search_path", "postgres") == "SHOW search_path"
    assert check_read_only_query("VALUES (1), (2)", "postgres") == "VALUES (1), (2)"
    with pytest.raises(ToolError, match="DELETE is not allowed, even inside another statement"):
        check_read_only_query("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", "postgres")
    with pytest.raises(ToolError, match=r"the function pg_read_file\(\) is not allowed"):
        check_read_only_query("SELECT pg_catalog.pg_read_file('/etc/passwd')", "postgres")
    with pytest.raises(ToolError, match="SELECT INTO is not allowed"):
        check_read_only_query("SELECT * INTO t2 FROM t", "postgres")
    with pytest.raises(ToolError, match="DELETE statements are not allowed"):
        check_read_only_query("EXPLAIN ANALYZE DELETE FROM t", "postgres")
    with pytest.raises(ToolError, match="executable comments"):
        check_read_only_query("SELECT 1 /*!50000 , (DELETE FROM t) */", "mysql")


def test_a_bad_url_is_a_configuration_error() -> None:
    from stratus import ConfigError

    with pytest.raises(ConfigError, match="not a valid SQLAlchemy URL"):
        SQLTools("not a url")


@pytest.mark.parametrize("missing", ["sqlalchemy", "sqlglot"])
def test_without_the_libraries_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    import sys

    monkeypatch.setitem(sys.modules, missing, None)  # makes `import <missing>` raise ImportError

    with pytest.raises(ImportError, match=r"pip install 'stratus\[sql\]'"):
        SQLTools("sqlite://")
