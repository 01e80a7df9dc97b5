"""Storage for sessions, runs, memories, learnings, knowledge content, eval runs and daily metrics: the
`Store` contract and its two implementations, `SqliteStore` (the embedded default) and `DynamoStore` (one
DynamoDB table, on AWS).

`store_from_url` builds a store from a URL such as `STRATUS_DB`'s:

- `sqlite:///.stratus/stratus.db` (a relative path after the three slashes), `sqlite:////abs/path.db`, or a
  bare file path;
- `dynamodb://table-name?region=eu-west-1&bucket=offload-bucket&ttl=2592000` (`bucket` receives runs too
  large for one item; `ttl` expires records that many seconds after their last write). boto3 resolves
  credentials as usual, and `AWS_ENDPOINT_URL` points it at another endpoint (moto, DynamoDB Local).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from stratus.exceptions import ConfigError, InvalidCursorError, InvalidQueryError, UnsupportedQueryError
from stratus.storage._cursor import every
from stratus.storage.base import UNSET, ConflictError, Store, VersionConflictError, merge_state
from stratus.storage.records import (
    ContentQuery,
    ContentRecord,
    ContentStatus,
    DailyMetrics,
    EvalQuery,
    EvalRecord,
    EvalType,
    LearningQuery,
    LearningRecord,
    MemoryQuery,
    MetricsRefresh,
    Page,
    SessionQuery,
    SessionRecord,
    SessionType,
    UserMemory,
    UserMemoryStats,
)

if TYPE_CHECKING:
    from stratus.storage.dynamodb import DynamoStore
    from stratus.storage.sqlite import SqliteStore

__all__ = [
    "DEFAULT_DB_URL",
    "UNSET",
    "ConflictError",
    "ContentQuery",
    "ContentRecord",
    "ContentStatus",
    "DailyMetrics",
    "DynamoStore",
    "EvalQuery",
    "EvalRecord",
    "EvalType",
    "InvalidCursorError",
    "InvalidQueryError",
    "LearningQuery",
    "LearningRecord",
    "MemoryQuery",
    "MetricsRefresh",
    "Page",
    "SessionQuery",
    "SessionRecord",
    "SessionType",
    "SqliteStore",
    "Store",
    "UnsupportedQueryError",
    "UserMemory",
    "UserMemoryStats",
    "VersionConflictError",
    "default_store",
    "every",
    "merge_state",
    "store_from_url",
]

DEFAULT_DB_URL = "sqlite:///.stratus/stratus.db"
"""Where data lives when nothing else is configured: one SQLite file under `.stratus/`."""


def store_from_url(url: str) -> Store:
    """Build the store a URL names."""
    scheme, sep, _ = url.partition("://")
    if not sep:
        from stratus.storage.sqlite import SqliteStore

        return SqliteStore(Path(url))
    parts = urlsplit(url)
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    ttl = _int_option(url, options.pop("ttl", None))
    if scheme == "sqlite":
        from stratus.storage.sqlite import SqliteStore

        rest = url[len("sqlite://") :].split("?", 1)[0]
        path = rest[1:] if rest.startswith("/") else rest
        if not path:
            raise ConfigError(f"{url!r}: a sqlite URL needs a file path, e.g. sqlite:///.stratus/stratus.db")
        return SqliteStore(Path(path), ttl_seconds=ttl)
    if scheme == "dynamodb":
        from stratus.storage.dynamodb import DynamoStore

        table = parts.netloc or parts.path.strip("/")
        if not table:
            raise ConfigError(f"{url!r}: a dynamodb URL needs a table name, e.g. dynamodb://stratus?region=us-east-1")
        return DynamoStore(table, region=options.get("region"), bucket=options.get("bucket"), ttl_seconds=ttl)
    raise ConfigError(f"unsupported store URL {url!r}; use sqlite:///path/to/file.db or dynamodb://table?region=...")


def _int_option(url: str, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{url!r}: ttl must be a whole number of seconds") from None
    if number <= 0:
        raise ConfigError(f"{url!r}: ttl must be positive")
    return number


def default_store() -> Store:
    """The store `STRATUS_DB` names, or the embedded SQLite file."""
    from stratus.settings import STRATUS_DB

    return store_from_url(os.environ.get(STRATUS_DB) or DEFAULT_DB_URL)


def __getattr__(name: str) -> Any:
    if name == "SqliteStore":
        from stratus.storage.sqlite import SqliteStore

        return SqliteStore
    if name == "DynamoStore":
        from stratus.storage.dynamodb import DynamoStore

        return DynamoStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
