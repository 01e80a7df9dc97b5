"""Several processes (here: connections in threads) opening one new SQLite file at the same moment all get a
working store: the switch to WAL and the schema set-up do not race each other into "database is locked"."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from stratus.storage import SessionQuery
from stratus.storage.sqlite import SqliteStore

OPENERS = 8


def open_at_once(path: Path) -> list[BaseException]:
    """Open `path` from OPENERS connections released together; the errors they met."""
    start = threading.Barrier(OPENERS)
    errors: list[BaseException] = []

    def open_and_list() -> None:
        store = SqliteStore(path)
        start.wait()
        try:
            asyncio.run(store.list_sessions(SessionQuery()))
        except BaseException as exc:
            errors.append(exc)
        finally:
            asyncio.run(store.close())

    threads = [threading.Thread(target=open_and_list) for _ in range(OPENERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def test_many_first_opens_of_one_new_file_at_once_all_succeed(tmp_path: Path) -> None:
    failures = [open_at_once(tmp_path / f"fresh-{n}.db") for n in range(15)]

    assert failures == [[]] * 15
