"""Storage for sessions and runs: the `Store` contract and its implementations.

`store_from_url` builds a store from a URL such as `STRATUS_DB`'s: `sqlite:///path/to/file.db`
(a relative path after the three slashes), `sqlite:////absolute/path.db`, or a bare file path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stratus.exceptions import ConfigError
from stratus.storage.base import SessionQuery, SessionRecord, SessionType, Store

if TYPE_CHECKING:
    from stratus.storage.sqlite import SqliteStore

__all__ = [
    "DEFAULT_DB_URL",
    "SessionQuery",
    "SessionRecord",
    "SessionType",
    "SqliteStore",
    "Store",
    "default_store",
    "store_from_url",
]

DEFAULT_DB_URL = "sqlite:///.stratus/stratus.db"
"""Where sessions live when nothing else is configured: one SQLite file under `.stratus/`."""


def store_from_url(url: str) -> Store:
    """Build the store a URL names."""
    from stratus.storage.sqlite import SqliteStore

    scheme, sep, rest = url.partition("://")
    if not sep:
        return SqliteStore(Path(url))
    if scheme == "sqlite":
        path = rest[1:] if rest.startswith("/") else rest
        if not path:
            raise ConfigError(f"{url!r}: a sqlite URL needs a file path, e.g. sqlite:///.stratus/stratus.db")
        return SqliteStore(Path(path))
    raise ConfigError(f"unsupported store URL {url!r}; supported: sqlite:///path/to/file.db")


def default_store() -> Store:
    """The store `STRATUS_DB` names, or the embedded SQLite file."""
    from stratus.settings import STRATUS_DB

    return store_from_url(os.environ.get(STRATUS_DB) or DEFAULT_DB_URL)


def __getattr__(name: str) -> Any:
    if name == "SqliteStore":
        from stratus.storage.sqlite import SqliteStore

        return SqliteStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
