"""Shared fixtures. No test may reach the network: the guard below fails any connection that leaves this
machine, and provider credentials are cleared so nothing can fall back to a real API."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from stratus.storage.dynamodb import DynamoStore
from stratus.storage.sqlite import SqliteStore
from tests.aws import REGION, MotoServer, moto_server
from tests.postgres import PostgresUnavailable, postgres_server, unavailable

# The offline model for every test (and every server a test starts): SmolLM2-135M, which `make test` installs,
# even on a machine that has the 1 GB demo model (`make run` installs it) and would otherwise serve that.
os.environ["STRATUS_LOCAL_MODEL"] = "smollm2-135m"

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


class NetworkAccessError(RuntimeError):
    """A test tried to reach a host other than this machine."""


def _is_local_host(host: Any) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode()
    host = str(host)
    if host in ("localhost", "") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _check(sock: socket.socket, address: Any) -> None:
    if sock.family == socket.AF_UNIX:
        return
    host = address[0] if isinstance(address, tuple) else address
    if not _is_local_host(host):
        raise NetworkAccessError(f"test tried to connect to {address!r}; tests must not use the network")


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _check(self, address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _check(self, address)
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if not _is_local_host(host):
        raise NetworkAccessError(f"test tried to resolve {host!r}; tests must not use the network")
    return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", _guarded_getaddrinfo)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "OPENAI_MODEL",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "ANTHROPIC_BASE_URL",
        "STRATUS_MODEL",
        "STRATUS_DB",
        "STRATUS_APP",
        "STRATUS_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """A fresh SQLite store in a temporary folder."""
    s = SqliteStore(tmp_path / "stratus.db")
    yield s
    await s.close()


@pytest.fixture(scope="session", autouse=True)
def _stop_local_models() -> Iterator[None]:
    """Stop the llama.cpp server processes the session started (atexit would too; this is tidier)."""
    yield
    if "stratus.models.llama_cpp" in sys.modules:
        sys.modules["stratus.models.llama_cpp"].stop_local_servers()


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    """moto's server for the whole test session (tables and buckets get unique names per test)."""
    with moto_server() as server:
        yield server


@pytest.fixture
def dynamo_store(moto: MotoServer) -> DynamoStore:
    """A `DynamoStore` on a fresh table (and offload bucket) in moto's server."""
    store = DynamoStore(f"stratus-{uuid.uuid4().hex[:12]}", region=REGION, bucket=moto.new_bucket())
    store.create_table()
    return store


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server's SQLAlchemy URL (psycopg 3), as a superuser: `STRATUS_TEST_POSTGRES_URL` if set,
    else a throwaway server started for the session. Without PostgreSQL the cases skip, except in CI (`CI`
    set), where they fail with the reason: a skip must not hide there."""
    given = os.environ.get("STRATUS_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(postgres_server()).url
        except PostgresUnavailable as exc:
            reason = f"PostgreSQL could not be started: {exc}; or set STRATUS_TEST_POSTGRES_URL to a server"
        else:
            yield url
            return
    unavailable(reason)


@pytest.fixture
def utc_today() -> str:
    """The UTC day a test's runs fall in (ISO date), taken when the test starts, not when its module was
    collected; a test starting in the last 30 s of a day first waits for midnight, so its runs and its
    expectations are of one day."""
    now = datetime.now(UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    if (left := (midnight - now).total_seconds()) < 30:
        time.sleep(left + 0.1)
    return datetime.now(UTC).date().isoformat()
