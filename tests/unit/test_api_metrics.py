"""`/metrics` over HTTP: the runs served agents and teams made, aggregated per day in AgentOS' shape,
scoped to the verified user, refreshed on demand or in the background."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from stratus import Agent, App, Team
from stratus.api import create_app
from stratus.api.auth import ApiKeyAuth, hash_key
from stratus.messages import Message, Usage
from stratus.models.base import ModelRequest, ModelResponse
from stratus.models.testing import FunctionModel
from stratus.storage.sqlite import SqliteStore

REFERENCE = json.loads((Path(__file__).resolve().parents[1] / "reference" / "agentos-openapi.json").read_text())
SCHEMAS = REFERENCE["components"]["schemas"]
ALICE = {"authorization": "Bearer key-alice"}
BOB = {"authorization": "Bearer key-bob"}


def answer(messages: Sequence[Message], params: ModelRequest) -> ModelResponse:
    return ModelResponse(content="done", usage=Usage(input_tokens=7, output_tokens=3, total_tokens=10))


def make_app(tmp_path: Path) -> App:
    agent = Agent(id="helper", model=FunctionModel(answer, id="fn-model"))
    team = Team(id="crew", members=[Agent(id="member", model=FunctionModel(answer))], model=FunctionModel(answer))
    return App(agents=[agent], teams=[team], store=SqliteStore(tmp_path / "api.db"))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[TestClient]:
    auth = ApiKeyAuth({hash_key("key-alice"): "alice", hash_key("key-bob"): "bob"})
    with TestClient(create_app(make_app(tmp_path), auth=auth)) as client:
        yield client


@pytest.fixture
def open_client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_app(tmp_path))) as client:
        yield client


def run(client: TestClient, path: str, headers: dict[str, str] | None = None, **body: str) -> None:
    response = client.post(path, json={"message": "go", "stream": False, **body}, headers=headers or {})
    assert response.status_code == 200, response.text


def test_metrics_count_the_callers_runs_in_agentos_shape(utc_today: str, served: TestClient) -> None:
    run(served, "/agents/helper/runs", ALICE)
    run(served, "/agents/helper/runs", ALICE, session_id="a-2")
    run(served, "/teams/crew/runs", BOB)

    response = served.get("/metrics", headers=ALICE)

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == set(SCHEMAS["MetricsResponse"]["properties"])
    (day,) = body["metrics"]
    assert set(day) == set(SCHEMAS["DayAggregatedMetrics"]["required"])
    assert day["id"] == f"{utc_today}_alice_daily"
    assert day["date"] == f"{utc_today}T00:00:00Z"
    assert (day["agent_runs_count"], day["agent_sessions_count"], day["team_runs_count"]) == (2, 2, 0)
    assert day["users_count"] == 1
    assert day["token_metrics"]["input_tokens"] == 14
    assert day["token_metrics"]["total_tokens"] == 20
    assert day["model_metrics"] == [{"model_id": "fn-model", "model_provider": "Test", "count": 2}]
    assert body["updated_at"] is not None

    (bobs,) = served.get("/metrics", params={"user_id": "alice"}, headers=BOB).json()["metrics"]
    assert bobs["id"] == f"{utc_today}_bob_daily"  # the verified user wins over the one named
    assert (bobs["team_runs_count"], bobs["team_sessions_count"], bobs["agent_runs_count"]) == (1, 1, 0)
    assert bobs["token_metrics"]["total_tokens"] == 10


def test_without_auth_metrics_are_everyones_or_the_named_users(utc_today: str, open_client: TestClient) -> None:
    run(open_client, "/agents/helper/runs", user_id="alice")
    run(open_client, "/agents/helper/runs", user_id="bob")
    run(open_client, "/agents/helper/runs")

    (everyone,) = open_client.get("/metrics").json()["metrics"]
    assert everyone["id"] == f"{utc_today}_daily"
    assert (everyone["agent_runs_count"], everyone["users_count"]) == (3, 2)

    (bob,) = open_client.get("/metrics", params={"user_id": "bob"}).json()["metrics"]
    assert (bob["agent_runs_count"], bob["users_count"]) == (1, 1)


def test_a_date_range_selects_days(utc_today: str, open_client: TestClient) -> None:
    run(open_client, "/agents/helper/runs", user_id="alice")

    one_day = {"starting_date": utc_today, "ending_date": utc_today}
    assert len(open_client.get("/metrics", params=one_day).json()["metrics"]) == 1
    assert open_client.get("/metrics", params={"ending_date": "2000-01-01"}).json() == {
        "metrics": [],
        "updated_at": None,
    }
    bad = open_client.get("/metrics", params={"starting_date": utc_today, "ending_date": "2000-01-01"})
    assert bad.status_code == 422
    assert bad.json()["detail"] == "starting_date is after ending_date"
    assert open_client.get("/metrics", params={"starting_date": "yesterday"}).status_code == 422


def test_a_refresh_answers_what_it_computed_and_its_status(utc_today: str, served: TestClient) -> None:
    status = served.get("/metrics/refresh/status", headers=ALICE)
    assert status.json() == {"status": "idle", "started_at": None, "finished_at": None, "error": None}
    run(served, "/agents/helper/runs", ALICE)
    run(served, "/agents/helper/runs", BOB)

    refreshed = served.post("/metrics/refresh", headers=ALICE)

    assert refreshed.status_code == 200, refreshed.text
    (day,) = refreshed.json()
    assert (day["id"], day["agent_runs_count"]) == (f"{utc_today}_alice_daily", 1)
    after = served.get("/metrics/refresh/status", headers=ALICE).json()
    assert after["status"] == "completed"
    assert after["started_at"] <= after["finished_at"]
    assert after["error"] is None


def test_a_background_refresh_answers_202_then_completes(open_client: TestClient) -> None:
    run(open_client, "/agents/helper/runs", user_id="alice")

    started = open_client.post("/metrics/refresh", params={"background": "true"})

    assert started.status_code == 202
    assert started.json() == {"status": "started", "message": "Metrics refresh started in background"}
    deadline = time.monotonic() + 10
    while open_client.get("/metrics/refresh/status").json()["status"] != "completed":
        assert time.monotonic() < deadline, "the background refresh did not complete"
        time.sleep(0.05)
    assert open_client.get("/metrics").json()["metrics"][0]["agent_runs_count"] == 1


def test_metrics_need_authentication_when_it_is_on(served: TestClient) -> None:
    assert served.get("/metrics").status_code == 401
    assert served.post("/metrics/refresh").status_code == 401
