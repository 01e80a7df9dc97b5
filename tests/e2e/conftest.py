"""Start the real server (`stratus dev`, uvicorn) in a subprocess, as a user would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[str]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_server(
    tmp_path: Path, app: str = "examples.demo:app", env: dict[str, str] | None = None, args: list[str] | None = None
) -> Server:
    port = free_port()
    log = tmp_path / f"server-{port}.log"
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "STRATUS_", "AWS_"))}
    environment.update(
        {
            "STRATUS_LOCAL_MODEL": os.environ.get("STRATUS_LOCAL_MODEL", "smollm2-135m"),  # tests/conftest.py's pin
            "STRATUS_DB": f"sqlite:///{tmp_path}/e2e.db",
            "STRATUS_VECTOR_DB": f"embedded:///{tmp_path}/vectors",
            "PYTHONUNBUFFERED": "1",
        }
    )
    environment.update(env or {})
    with log.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "stratus.cli", "dev", "--app", app, "--port", str(port), *(args or [])],
            cwd=ROOT,
            env=environment,
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
        )
    server = Server(url=f"http://127.0.0.1:{port}", process=process, log=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{server.output()}")
        try:
            if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    stop_server(server)
    raise RuntimeError(f"server did not come up in 60 s:\n{server.output()}")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[Server]:
    """The demo app on embedded defaults: SQLite, and the offline llama.cpp model."""
    server = start_server(tmp_path)
    yield server
    stop_server(server)
