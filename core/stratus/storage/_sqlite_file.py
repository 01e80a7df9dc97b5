"""Opening one of stratus' SQLite files: `SqliteStore`'s and the embedded vector store's open them alike."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

__all__ = ["open_file"]


def open_file(path: Path) -> sqlite3.Connection:
    """A connection to the SQLite file at `path` (its folder made first): in autocommit mode
    (`isolation_level=None`: callers begin their own transactions), usable from any thread (callers
    serialise its use), waiting up to 30 s for another process's lock, in WAL mode (other processes read
    while one writes), synced as WAL needs (`synchronous=NORMAL`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, check_same_thread=False, timeout=30.0, isolation_level=None)
    conn.execute("PRAGMA busy_timeout=30000")
    _use_wal(conn)
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL. SQLite answers "database is locked" at once, without waiting out the busy
    timeout, when another connection is switching the same new file; so wait and try again, for a while."""
    for attempt in range(100):
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 99:
                raise
            time.sleep(0.01 + 0.002 * attempt)
