"""The `metrics` and `evals` Lambda functions, invoked with API Gateway events against moto's server: the
daily metrics of runs another function stored in DynamoDB, and evals of the deployed agent and team kept
there, for the caller the API key names."""

from __future__ import annotations

import json
from copy import deepcopy
from typing import Any

import pytest

from tests.integration.test_lambda_handlers import USER, Deployment, body_of, call, event, sessions_of

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


def request(path: str, method: str = "GET", body: Any = None, query: dict[str, str] | None = None) -> dict[str, Any]:
    """The sessions_list event (its headers carry the deployment's API key) sent to another path."""
    changed = deepcopy(event("sessions_list"))
    changed["path"] = changed["requestContext"]["path"] = path
    changed["httpMethod"] = changed["requestContext"]["httpMethod"] = method
    first, _, rest = path.strip("/").partition("/")
    changed["resource"] = changed["requestContext"]["resourcePath"] = f"/{first}/{{proxy+}}" if rest else f"/{first}"
    changed["pathParameters"] = {"proxy": rest} if rest else None
    changed["queryStringParameters"] = query
    changed["multiValueQueryStringParameters"] = None if query is None else {k: [v] for k, v in query.items()}
    changed["body"] = None if body is None else json.dumps(body)
    if body is not None:
        changed["headers"]["Content-Type"] = "application/json"
        changed["multiValueHeaders"]["Content-Type"] = ["application/json"]
    changed["isBase64Encoded"] = False
    return changed


def test_the_metrics_function_aggregates_the_runs_in_dynamodb(utc_today: str, deployment: Deployment) -> None:
    assert call("agent_runs", event("agent_run"))["statusCode"] == 200
    assert call("team_runs", event("team_run"))["statusCode"] == 200

    status = body_of(call("metrics", request("/metrics/refresh/status")))
    assert status["status"] == "idle"
    refreshed = call("metrics", request("/metrics/refresh", "POST"))
    assert refreshed["statusCode"] == 200, refreshed["body"]
    (computed,) = body_of(refreshed)
    assert computed["id"] == f"{utc_today}_{USER}_daily"

    got = call("metrics", request("/metrics", query={"starting_date": utc_today}))
    assert got["statusCode"] == 200
    (day,) = body_of(got)["metrics"]
    assert (day["agent_runs_count"], day["team_runs_count"], day["users_count"]) == (1, 1, 1)
    assert day["token_metrics"]["total_tokens"] > 0
    assert body_of(call("metrics", request("/metrics/refresh/status")))["status"] == "completed"
    background = call("metrics", request("/metrics/refresh", "POST", query={"background": "true"}))
    assert background["statusCode"] == 202


def test_the_evals_function_runs_and_keeps_evals_in_dynamodb(deployment: Deployment) -> None:
    made = call(
        "evals",
        request(
            "/eval-runs",
            "POST",
            {"eval_type": "performance", "agent_id": "assistant", "input": "hi", "num_iterations": 2},
        ),
    )
    assert made["statusCode"] == 200, made["body"]
    performance = body_of(made)
    assert (performance["user_id"], performance["agent_id"], len(performance["eval_data"]["runs"])) == (
        USER,
        "assistant",
        2,
    )
    routed = body_of(
        call(
            "evals",
            request(
                "/eval-runs",
                "POST",
                {
                    "eval_type": "reliability",
                    "team_id": "desk",
                    "input": "hi",
                    "expected_tool_calls": [],
                    "allow_additional_tool_calls": True,
                },
            ),
        )
    )
    assert (routed["team_id"], routed["eval_data"]["eval_status"]) == ("desk", "PASSED")
    # the eval's runs are the caller's, in sessions of their own
    assert f"eval_{performance['id']}_1" in sessions_of(deployment.store, USER)

    listing = body_of(call("evals", request("/eval-runs", query={"type": "team"})))
    assert [e["id"] for e in listing["data"]] == [routed["id"]]
    renamed = call("evals", request(f"/eval-runs/{performance['id']}", "PATCH", {"name": "timed"}))
    assert body_of(renamed)["name"] == "timed"
    deleted = call("evals", request("/eval-runs", "DELETE", {"eval_run_ids": [routed["id"]]}))
    assert deleted["statusCode"] == 204
    remaining = body_of(call("evals", request("/eval-runs")))["data"]
    assert [(e["id"], e["name"]) for e in remaining] == [(performance["id"], "timed")]
    assert call("evals", request("/eval-runs/missing"))["statusCode"] == 404
