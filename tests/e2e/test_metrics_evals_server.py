"""Evals and metrics from the real server (`stratus dev`, uvicorn) with an API key, as a client would call
them: an accuracy eval judged by the agent's own model, kept and listed for the key's user; the daily metrics
of the eval's runs, refreshed in the background and polled until done."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Server, start_server, stop_server

pytestmark = pytest.mark.e2e

KEY = {"authorization": "Bearer e2e-key"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    env = {"STRATUS_API_KEY": "e2e-key", "STRATUS_API_USER": "dana"}
    running = start_server(tmp_path, app="tests.fakes.eval_app:eval_app", env=env)
    yield running
    stop_server(running)


def test_an_accuracy_eval_and_the_metrics_of_its_runs(server: Server) -> None:
    with httpx.Client(base_url=server.url, headers=KEY, timeout=30) as client:
        made = client.post(
            "/eval-runs",
            json={"eval_type": "accuracy", "agent_id": "calc", "input": "1 + 2?", "expected_output": "3"},
        )
        assert made.status_code == 200, made.text
        result = made.json()
        assert (result["user_id"], result["model_id"], result["eval_data"]["avg_score"]) == ("dana", "calc-model", 8)
        assert result["eval_data"]["results"][0]["output"] == "The answer is 3"
        assert [e["id"] for e in client.get("/eval-runs").json()["data"]] == [result["id"]]

        started = client.post("/metrics/refresh", params={"background": "true"})
        assert started.status_code == 202
        deadline = time.monotonic() + 20
        while client.get("/metrics/refresh/status").json()["status"] != "completed":
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.1)
        (day,) = client.get("/metrics").json()["metrics"]

    today = datetime.now(UTC).date().isoformat()
    assert day["id"] == f"{today}_dana_daily"
    assert (day["agent_runs_count"], day["agent_sessions_count"], day["users_count"]) == (1, 1, 1)
    assert day["model_metrics"] == [{"model_id": "calc-model", "model_provider": "Test", "count": 1}]
    assert httpx.get(f"{server.url}/eval-runs", timeout=10).status_code == 401
