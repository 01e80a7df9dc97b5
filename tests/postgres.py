"""A throwaway PostgreSQL server for the tests: `initdb` into a temporary folder, `pg_ctl start` on a free
loopback port with its unix socket in that folder, trust authentication from 127.0.0.1 only, fsync off (the
data is thrown away), then stopped and removed.

`initdb` refuses to run as root, so as root the server runs as the `postgres` user that Debian's
`postgresql` package creates. The binaries are found on PATH or in /usr/lib/postgresql/<version>/bin.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

INSTALL_HINT = "install Debian's `postgresql` package (`apt-get install postgresql`, or run .ci/install-postgres.sh)"
_SUPERUSER = "postgres"
_START_TIMEOUT = 60  # seconds pg_ctl waits for the server to accept connections (a loaded CI machine is slow)


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server could be started here; the message says why."""


def unavailable(reason: str) -> NoReturn:
    """Skip a PostgreSQL case for `reason`, or fail it when `CI` is set: in CI a skip would hide it."""
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"{reason} (CI is set, so the PostgreSQL cases fail rather than skip)", pytrace=False)
    pytest.skip(reason)


@dataclass(frozen=True)
class PostgresServer:
    url: str
    """The SQLAlchemy URL of the server's `postgres` database as its superuser (psycopg 3 driver)."""
    port: int
    directory: Path
    started_in: float
    """Seconds from `initdb` to the first accepted connection."""


def find_binaries() -> Path | None:
    """The folder holding `initdb`, `pg_ctl` and `postgres`: PATH first, then the newest Debian version."""
    found = shutil.which("initdb")
    candidates = [Path(found).resolve().parent] if found else []
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version, reverse=True)
    for folder in [*candidates, *versions]:
        if all(os.access(folder / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def _version(folder: Path) -> tuple[int, ...]:
    with contextlib.suppress(ValueError):
        return tuple(int(part) for part in folder.parent.name.split("."))
    return (0,)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run_as() -> dict[str, Any]:
    """Popen arguments that drop root to the `postgres` user (initdb and postgres refuse to run as root)."""
    if os.geteuid() != 0:
        return {}
    try:
        user = pwd.getpwnam(_SUPERUSER)
    except KeyError:
        raise PostgresUnavailable(
            f"running as root, which initdb refuses, and there is no {_SUPERUSER!r} user to run it as; {INSTALL_HINT}"
        ) from None
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _run(args: list[str], run_as: dict[str, Any], what: str) -> None:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"}
    done = subprocess.run(args, capture_output=True, text=True, env=env, cwd="/", check=False, **run_as)
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip()
        raise PostgresUnavailable(f"{what} failed (exit {done.returncode}): {output[-800:]}")


def _configure(data: Path, directory: Path, port: int) -> None:
    settings = {
        "listen_addresses": "'127.0.0.1'",
        "port": str(port),
        "unix_socket_directories": f"'{directory}'",
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "50",
        "shared_buffers": "32MB",
        "log_min_messages": "warning",
    }
    with (data / "postgresql.conf").open("a") as conf:
        conf.write("\n# stratus tests: a throwaway server\n")
        conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
    (data / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")


def _wait_until_it_answers(url: str, log: Path) -> None:
    import psycopg

    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    deadline = time.monotonic() + _START_TIMEOUT
    while True:
        try:
            with psycopg.connect(conninfo, connect_timeout=5) as conn:
                conn.execute("SELECT 1")
                return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise PostgresUnavailable(f"the server does not accept connections: {exc}; {_tail(log)}") from None
            time.sleep(0.1)


def _tail(log: Path) -> str:
    with contextlib.suppress(OSError):
        return "its log ends: " + " | ".join(log.read_text(errors="replace").strip().splitlines()[-5:])
    return "it left no log"


def _stop(bin_dir: Path, data: Path, run_as: dict[str, Any]) -> None:
    """Stop the server at once (its data is about to be removed); kill it by its pid if pg_ctl cannot."""
    pid_file = data / "postmaster.pid"
    if not pid_file.exists():
        return
    try:
        _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "-t", "30", "stop"], run_as, "stop")
    except PostgresUnavailable:
        with contextlib.suppress(OSError, ValueError, IndexError):
            os.kill(int(pid_file.read_text().splitlines()[0]), signal.SIGKILL)


def _start(bin_dir: Path, data: Path, directory: Path, run_as: dict[str, Any]) -> int:
    """Start the server on a free port and return the port."""
    log = directory / "server.log"
    for attempt in range(3):  # a free port can be taken by someone else before the server binds it
        port = _free_port()
        _configure(data, directory, port)
        start = [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", str(_START_TIMEOUT), "start"]
        try:
            _run(start, run_as, "pg_ctl start")
        except PostgresUnavailable as exc:
            _stop(bin_dir, data, run_as)
            if attempt == 2:
                raise PostgresUnavailable(f"{exc}; {_tail(log)}") from None
        else:
            return port
    raise AssertionError("unreachable")


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Start a throwaway PostgreSQL server; raise `PostgresUnavailable` saying why if it cannot start."""
    try:
        import psycopg  # noqa: F401  # pyright: ignore[reportUnusedImport]
    except ImportError:
        raise PostgresUnavailable("psycopg is not installed (the dev extra installs it)") from None
    bin_dir = find_binaries()
    if bin_dir is None:
        raise PostgresUnavailable(f"initdb and pg_ctl are not on PATH nor in /usr/lib/postgresql/*/bin; {INSTALL_HINT}")
    run_as = _run_as()
    directory = Path(tempfile.mkdtemp(prefix="stratus-pg-"))
    data = directory / "data"
    try:
        if run_as:
            os.chown(directory, run_as["user"], run_as["group"])
        began = time.perf_counter()
        initdb = [str(bin_dir / "initdb"), "-D", str(data), f"--username={_SUPERUSER}", "--auth=trust"]
        initdb += ["--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"]
        _run(initdb, run_as, "initdb")
        port = _start(bin_dir, data, directory, run_as)
        url = f"postgresql+psycopg://{_SUPERUSER}@127.0.0.1:{port}/postgres"
        _wait_until_it_answers(url, directory / "server.log")
        yield PostgresServer(url=url, port=port, directory=directory, started_in=time.perf_counter() - began)
    finally:
        _stop(bin_dir, data, run_as)
        shutil.rmtree(directory, ignore_errors=True)
