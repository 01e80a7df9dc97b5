"""The statement layer of `SQLTools`' read-only guard: sqlglot parses a query and admits exactly one read
(no DML or DDL anywhere, no SELECT INTO or FOR UPDATE, no function known to write or reach outside the
database), re-rendered without comments so nothing can be smuggled after it."""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Generator
from typing import TYPE_CHECKING

from stratus._optional import requires_extra
from stratus.exceptions import ToolError

if TYPE_CHECKING:
    from sqlglot import exp
    from sqlglot.expressions.core import Expr

__all__ = [
    "DENIED_FUNCTIONS",
    "DENIED_PREFIXES",
    "SQLGLOT_DIALECTS",
    "check_any_query",
    "check_read_only_query",
    "import_sqlglot",
    "quiet_sqlglot",
]

logger = logging.getLogger("stratus.tools.sql")

SQLGLOT_DIALECTS = {
    "sqlite": "sqlite",
    "postgresql": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "mssql": "tsql",
    "oracle": "oracle",
    "duckdb": "duckdb",
    "snowflake": "snowflake",
    "bigquery": "bigquery",
    "redshift": "redshift",
    "trino": "trino",
    "clickhouse": "clickhouse",
}

# Functions that write, read files, reach other servers or change settings, by backend. A read-only
# transaction stops some of them; the parser stops all of them, whatever the backend.
DENIED_FUNCTIONS = frozenset(
    {
        # SQLite
        "load_extension",
        "readfile",
        "writefile",
        "edit",
        "fts3_tokenizer",
        "sqlite_dbpage",
        # PostgreSQL
        "pg_read_file",
        "pg_read_binary_file",
        "pg_ls_dir",
        "pg_stat_file",
        "pg_file_write",
        "pg_file_rename",
        "pg_file_unlink",
        "pg_logdir_ls",
        "lo_import",
        "lo_export",
        "lo_unlink",
        "lo_create",
        "lo_creat",
        "lo_put",
        "lo_from_bytea",
        "lowrite",
        "lo_open",
        "dblink",
        "dblink_exec",
        "dblink_connect",
        "dblink_connect_u",
        "dblink_send_query",
        "query_to_xml",
        "query_to_xmlschema",
        "query_to_xml_and_xmlschema",
        "cursor_to_xml",
        "cursor_to_xmlschema",
        "set_config",
        "nextval",
        "setval",
        "pg_terminate_backend",
        "pg_cancel_backend",
        "pg_reload_conf",
        "pg_rotate_logfile",
        "pg_switch_wal",
        "pg_promote",
        "pg_create_restore_point",
        "pg_notify",
        "txid_current",
        "pg_current_xact_id",
        # MySQL
        "load_file",
        "sys_exec",
        "sys_eval",
        "get_lock",
        "release_lock",
        # SQL Server
        "xp_cmdshell",
        "openrowset",
        "opendatasource",
        "openquery",
    }
)
DENIED_PREFIXES = (
    "dblink_",
    "lo_",
    "pg_advisory",
    "pg_try_advisory",
    "pg_ls_",
    "pg_read_",
    "pg_file_",
    "pg_replication_",
    "pg_create_",
    "pg_drop_",
    "pg_logical_",
    "pg_backup_",
    "pg_start_",
    "pg_stop_",
    "xp_",
    "sp_",
)
_EXPLAIN = re.compile(
    r"^EXPLAIN(?P<opts>(?:\s+(?:QUERY\s+PLAN|ANALYZE|ANALYSE|VERBOSE))*)\s+(?P<rest>.+)$", re.I | re.S
)
_SHOW = re.compile(r"^SHOW\s+(?:ALL|[A-Za-z_][A-Za-z0-9_.]*)\s*$", re.I)


def import_sqlglot() -> None:
    with requires_extra("SQLTools", "sql", what="sqlglot", error=ImportError):
        import sqlglot  # noqa: F401  # pyright: ignore[reportUnusedImport]


class _QuietFallback(logging.Filter):
    """sqlglot logs a warning for every statement it parses as an opaque command; here such a statement is
    simply refused, so the warning is noise. Only records logged while we parse are dropped."""

    local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(self.local, "active", False)


_quiet = _QuietFallback()
_quiet_installed = False


@contextlib.contextmanager
def quiet_sqlglot() -> Generator[None]:
    global _quiet_installed
    if not _quiet_installed:
        logging.getLogger("sqlglot").addFilter(_quiet)
        _quiet_installed = True
    _quiet.local.active = True
    try:
        yield
    finally:
        _quiet.local.active = False


def check_read_only_query(query: str, dialect: str | None = None) -> str:
    """Return the SQL to run for `query` if it is exactly one read, else raise `ToolError` saying why.

    `dialect` is a sqlglot dialect name (`"sqlite"`, `"postgres"`, ...). The returned SQL is the parsed
    statement rendered again, without comments.
    """
    import_sqlglot()
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    text = query.strip()
    if not text:
        raise ToolError("the query is empty; send one SELECT statement")
    if "\x00" in text:
        raise ToolError("the query contains a NUL character")
    if dialect == "mysql" and "/*!" in text:
        raise ToolError("MySQL executable comments (/*! ... */) are not allowed")
    try:
        with quiet_sqlglot():
            parsed: list[Expr] = [s for s in sqlglot.parse(text, read=dialect) if s is not None]
    except SqlglotError as exc:
        problem = str(exc).splitlines()[0][:300]
        raise ToolError(f"the query could not be parsed ({problem}); send one read-only SELECT statement") from None
    if len(parsed) != 1:
        raise ToolError(f"send exactly one statement per query (found {len(parsed)}); stacked statements are refused")
    statement = parsed[0]
    if isinstance(statement, exp.Command):
        return _check_command(statement, dialect)
    _check_tree(statement)
    return statement.sql(dialect=dialect, comments=False)


def _check_command(statement: exp.Command, dialect: str | None) -> str:
    """Commands sqlglot does not model: admit EXPLAIN of a read and a bare SHOW, nothing else."""
    keyword = str(statement.this or "").upper()
    rest = statement.expression
    rest_text = str(rest.this if hasattr(rest, "this") else rest or "").strip()
    whole = f"{keyword} {rest_text}".strip()
    if keyword == "EXPLAIN":
        match = _EXPLAIN.match(whole)
        if match is None:
            raise ToolError("EXPLAIN must be followed by a SELECT statement")
        inner = check_read_only_query(match.group("rest"), dialect)
        options = " ".join(match.group("opts").split()).upper()
        return f"EXPLAIN {options} {inner}" if options else f"EXPLAIN {inner}"
    if keyword == "SHOW" and _SHOW.match(whole):
        return whole
    raise ToolError(f"{keyword or 'this'} statements are not allowed: the database is read-only; send a SELECT")


def _check_tree(statement: Expr) -> None:
    from sqlglot import exp

    allowed_roots = (exp.Select, exp.SetOperation, exp.Values, exp.Subquery, exp.Describe, exp.Show)
    if not isinstance(statement, allowed_roots):
        kind = statement.key.upper()
        raise ToolError(f"{kind} statements are not allowed: the database is read-only; send a SELECT")
    writes = (
        exp.Insert,
        exp.Update,
        exp.Delete,
        exp.Merge,
        exp.Create,
        exp.Drop,
        exp.Alter,
        exp.TruncateTable,
        exp.Command,
        exp.Pragma,
        exp.Set,
        exp.Transaction,
        exp.Commit,
        exp.Rollback,
        exp.Copy,
        exp.Grant,
        exp.Use,
        exp.LoadData,
        exp.Into,
        exp.Lock,
        exp.Attach,
        exp.Detach,
    )
    for node in statement.walk():
        if isinstance(node, writes):
            what = "SELECT INTO" if isinstance(node, exp.Into) else node.key.upper()
            if isinstance(node, exp.Lock):
                what = "FOR UPDATE/SHARE locking"
            raise ToolError(f"{what} is not allowed, even inside another statement: the database is read-only")
        if isinstance(node, exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if name in DENIED_FUNCTIONS or name.startswith(DENIED_PREFIXES):
                raise ToolError(f"the function {name}() is not allowed: it can write or reach outside the database")


def check_any_query(query: str, dialect: str | None) -> str:
    """Read-write mode: one statement of any kind, still without functions that reach outside."""
    import_sqlglot()
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    text = query.strip()
    if not text:
        raise ToolError("the query is empty")
    try:
        with quiet_sqlglot():
            parsed: list[Expr] = [s for s in sqlglot.parse(text, read=dialect) if s is not None]
    except SqlglotError as exc:
        raise ToolError(f"the query could not be parsed ({str(exc).splitlines()[0][:300]})") from None
    if len(parsed) != 1:
        raise ToolError(f"send exactly one statement per query (found {len(parsed)})")
    statement = parsed[0]
    if isinstance(statement, exp.Command | exp.Attach | exp.Detach | exp.Copy | exp.Pragma):
        raise ToolError(f"{statement.key.upper()} statements are not allowed")
    for node in statement.walk():
        if isinstance(node, exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if name in DENIED_FUNCTIONS or name.startswith(DENIED_PREFIXES):
                raise ToolError(f"the function {name}() is not allowed")
    return statement.sql(dialect=dialect, comments=False)
