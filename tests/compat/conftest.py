"""agno's own `AgentOSClient` against a live stratus server. agno lives in a venv of its own, built from
requirements/compat.txt (kept under build/compat-venv and rebuilt when the lock changes), so stratus never
imports it; tests/compat/driver.py runs there, one scenario per call, and prints what the client got."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ROOT, Server, start_server, stop_server

LOCK = ROOT / "requirements" / "compat.txt"
VENV = ROOT / "build" / "compat-venv"
DRIVER = Path(__file__).with_name("driver.py")

Agno = Callable[[str], Any]
"""Runs one driver scenario against the server and returns what agno's client got."""


def _venv_python() -> Path:
    """The compat venv's python, the venv (re)built first unless it was built from this very lock."""
    stamp = VENV / ".lock-sha256"
    digest = hashlib.sha256(LOCK.read_bytes()).hexdigest()
    python = VENV / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    if python.exists() and stamp.exists() and stamp.read_text() == digest:
        return python
    shutil.rmtree(VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    install = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--quiet"]
    subprocess.run(
        [*install, "--require-hashes", "--no-deps", "--only-binary=:all:", "-r", str(LOCK)], check=True, timeout=600
    )
    stamp.write_text(digest)
    return python


def run_driver(python: Path, *argv: str) -> Any:
    done = subprocess.run([str(python), str(DRIVER), *argv], capture_output=True, text=True, timeout=120, cwd=ROOT)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        pytest.fail(f"the driver failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(lines[-1].removeprefix("RESULT "))


@pytest.fixture(scope="session")
def compat_python() -> Path:
    return _venv_python()


@pytest.fixture(scope="session")
def compat_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the whole suite: tests/fakes/compat_app.py on SQLite and the embedded vector store."""
    server = start_server(tmp_path_factory.mktemp("compat"), app="tests.fakes.compat_app:compat_app")
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def agno(compat_python: Path, compat_server: Server) -> Agno:
    def run(scenario: str) -> Any:
        answer = run_driver(compat_python, compat_server.url, scenario)
        if not answer["ok"]:
            pytest.fail(f"agno's client, scenario {scenario!r}: {answer['error']}\n{answer['traceback']}")
        return answer["result"]

    return run
