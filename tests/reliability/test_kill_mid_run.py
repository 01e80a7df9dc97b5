"""SIGKILL mid-run, on both stores: the server is killed while agent, team and workflow runs stream, and
started again on the same data. Every run stored before the kill reads back intact; a run in flight is
either absent or stored whole (a workflow's checkpoint: RUNNING with the steps it finished), never half; every
listing and session reads; the same sessions take new runs; SQLite's file passes its integrity check."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.aws import moto_server
from tests.e2e.conftest import Server, start_server, stop_server

pytestmark = pytest.mark.e2e

APP = "tests.fakes.apps:lambda_test_app"  # `assistant` echoes, and never answers "hang"
FINISHED = {"COMPLETED", "ERROR", "CANCELLED"}
STATUSES = {"PENDING", "RUNNING", *FINISHED}
IN_FLIGHT = [
    ("/agents/assistant/runs", "k-agent-1"),
    ("/agents/assistant/runs", "k-agent-2"),
    ("/teams/desk/runs", "k-team"),
    ("/workflows/pipeline/runs", "k-workflow"),
]


@pytest.fixture(params=["sqlite", "dynamodb"])
def store_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    if request.param == "sqlite":
        yield {"STRATUS_DB": f"sqlite:///{tmp_path}/kill.db"}
        return
    from stratus.storage.dynamodb import DynamoStore

    with moto_server() as moto:
        table = f"kill-{uuid.uuid4().hex[:8]}"
        DynamoStore(table, region="us-east-1").create_table()
        yield {
            "STRATUS_DB": f"dynamodb://{table}?region=us-east-1",
            "AWS_ENDPOINT_URL": moto.endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }


def _run(server: Server, path: str, session: str, message: str) -> dict[str, Any]:
    response = httpx.post(
        f"{server.url}{path}", data={"message": message, "stream": "false", "session_id": session}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()


def _stream_until_killed(server: Server, path: str, session: str, started: threading.Event) -> None:
    """Start a streamed run that never ends by itself; signal once its first event has arrived."""
    data = {"message": "hang", "stream": "true", "session_id": session}
    try:
        with httpx.stream("POST", f"{server.url}{path}", data=data, timeout=60) as response:
            for line in response.iter_lines():
                if line.startswith("data: "):
                    started.set()
    except httpx.HTTPError:
        pass  # the server died under it: expected
    finally:
        started.set()


def test_a_server_killed_mid_run_leaves_every_store_readable_and_whole(
    store_env: dict[str, str], tmp_path: Path
) -> None:
    server = start_server(tmp_path, app=APP, env=store_env)
    try:
        before = {session: _run(server, path, session, f"before {session}") for path, session in IN_FLIGHT}
        events = [threading.Event() for _ in IN_FLIGHT]
        threads = [
            threading.Thread(target=_stream_until_killed, args=(server, path, session, event), daemon=True)
            for (path, session), event in zip(IN_FLIGHT, events, strict=True)
        ]
        for thread in threads:
            thread.start()
        for event in events:
            assert event.wait(30), "a streamed run did not start"
        time.sleep(0.3)  # let the workflow pass its first checkpoint attempt, the team reach its member
        server.process.kill()  # SIGKILL: no shutdown hook, no flush, no CANCELLED
        server.process.wait()
        for thread in threads:
            thread.join(10)
    finally:
        stop_server(server)

    if store_env["STRATUS_DB"].startswith("sqlite"):
        path = store_env["STRATUS_DB"].removeprefix("sqlite:///")
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    again = start_server(tmp_path, app=APP, env=store_env)
    try:
        url = again.url
        for listing in ("/sessions", "/sessions?type=team", "/sessions?type=workflow", "/memories"):
            assert httpx.get(f"{url}{listing}", timeout=10).status_code == 200, listing
        for path, session in IN_FLIGHT:
            detail = httpx.get(f"{url}/sessions/{session}", params=_type_of(path), timeout=10)
            assert detail.status_code == 200, detail.text
            runs = httpx.get(f"{url}/sessions/{session}/runs", params=_type_of(path), timeout=10)
            assert runs.status_code == 200, runs.text
            stored = runs.json()
            by_id = {r["run_id"]: r for r in stored}
            # the run finished before the kill is there, whole
            old = by_id[before[session]["run_id"]]
            assert (old["status"], old["content"]) == ("COMPLETED", before[session]["content"])
            for run in stored:
                assert run["status"] in STATUSES, run
                one = httpx.get(f"{url}/sessions/{session}/runs/{run['run_id']}", params=_type_of(path), timeout=10)
                assert one.status_code == 200, one.text
                json.dumps(one.json())  # it decodes, whole
            # the session takes a new run after the crash
            assert _run(again, path, session, f"after {session}")["status"] == "COMPLETED"
    finally:
        stop_server(again)


def _type_of(path: str) -> dict[str, str]:
    if path.startswith("/teams"):
        return {"type": "team"}
    if path.startswith("/workflows"):
        return {"type": "workflow"}
    return {}
