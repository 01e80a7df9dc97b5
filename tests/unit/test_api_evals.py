"""`/eval-runs` over HTTP: accuracy and agent-as-judge (judged by a model), performance (timed runs) and
reliability (the tools called) evals of a served agent, kept and listed in AgentOS' shapes, each user seeing
only their own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from stratus import App
from stratus.api import create_app
from stratus.api.auth import ApiKeyAuth, hash_key
from stratus.models.testing import FunctionModel
from stratus.storage.sqlite import SqliteStore
from tests.fakes.eval_app import calculator, calculator_agent
from tests.fakes.openai_server import FakeOpenAIServer, FakeToolCall, TextReply, ToolCallsReply, openai_server

__all__ = ["openai_server"]  # the fixture

ALICE = {"authorization": "Bearer key-alice"}
BOB = {"authorization": "Bearer key-bob"}
EVAL_SCHEMA_FIELDS = {  # agno 3.1.10's EvalSchema
    "id",
    "agent_id",
    "model_id",
    "model_provider",
    "team_id",
    "workflow_id",
    "name",
    "evaluated_component_name",
    "user_id",
    "eval_type",
    "eval_data",
    "eval_input",
    "created_at",
    "updated_at",
}


@pytest.fixture
def model() -> FunctionModel:
    return FunctionModel(calculator, id="calc-model")  # the test reads what it was sent


@pytest.fixture
def served(tmp_path: Path, model: FunctionModel) -> Iterator[TestClient]:
    app = App(agents=[calculator_agent(model)], store=SqliteStore(tmp_path / "api.db"))
    auth = ApiKeyAuth({hash_key("key-alice"): "alice", hash_key("key-bob"): "bob"})
    with TestClient(create_app(app, auth=auth)) as client:
        yield client


def run_eval(client: TestClient, headers: dict[str, str] = ALICE, **body: Any) -> dict[str, Any]:
    response = client.post("/eval-runs", json={"agent_id": "calc", "input": "1 + 2?", **body}, headers=headers)
    assert response.status_code == 200, response.text
    out: dict[str, Any] = response.json()
    return out


def test_a_reliability_eval_checks_the_tools_called_and_their_arguments(served: TestClient) -> None:
    passed = run_eval(
        served,
        eval_type="reliability",
        expected_tool_calls=["add"],
        expected_tool_call_arguments={"add": {"a": 1, "b": 2}},
        name="adds",
    )

    assert set(passed) == EVAL_SCHEMA_FIELDS
    assert (passed["eval_type"], passed["agent_id"], passed["user_id"], passed["name"]) == (
        "reliability",
        "calc",
        "alice",
        "adds",
    )
    assert (passed["model_id"], passed["model_provider"]) == ("calc-model", "Test")
    data = passed["eval_data"]
    assert data["eval_status"] == "PASSED"
    assert (data["passed_tool_calls"], data["failed_tool_calls"], data["missing_tool_calls"]) == (["add"], [], [])
    assert data["passed_argument_checks"] == ["add"]
    assert passed["eval_input"] == {
        "expected_tool_calls": ["add"],
        "allow_additional_tool_calls": False,
        "expected_tool_call_arguments": {"add": {"a": 1, "b": 2}},
    }

    failed = run_eval(served, eval_type="reliability", expected_tool_calls=["multiply"])["eval_data"]
    assert failed["eval_status"] == "FAILED"
    assert (failed["failed_tool_calls"], failed["missing_tool_calls"]) == (["add"], ["multiply"])
    lenient = run_eval(served, eval_type="reliability", expected_tool_calls=[], allow_additional_tool_calls=True)[
        "eval_data"
    ]
    assert (lenient["eval_status"], lenient["additional_tool_calls"]) == ("PASSED", ["add"])
    wrong_args = run_eval(
        served,
        eval_type="reliability",
        expected_tool_calls=["add"],
        expected_tool_call_arguments={"add": [{"a": 1}, {"a": 5}]},
    )["eval_data"]
    assert (wrong_args["eval_status"], wrong_args["failed_argument_checks"]) == ("FAILED", ["add"])


def test_an_accuracy_eval_is_judged_by_the_agents_model(served: TestClient, model: FunctionModel) -> None:
    result = run_eval(served, eval_type="accuracy", expected_output="3", num_iterations=2)

    data = result["eval_data"]
    assert [r["score"] for r in data["results"]] == [8, 8]
    first = data["results"][0]
    assert (first["input"], first["output"], first["expected_output"]) == ("1 + 2?", "The answer is 3", "3")
    assert first["reason"] == "It says 3, as expected."
    assert (data["avg_score"], data["min_score"], data["max_score"], data["std_dev_score"]) == (8, 8, 8, 0)
    assert data["run_id"] == result["id"]
    assert result["evaluated_component_name"] == "Calculator"
    assert result["eval_input"]["expected_output"] == "3"
    assert result["eval_input"]["num_iterations"] == 2
    judged = [r for r in model.requests if "You judge how well" in (r[0].content or "")]
    assert len(judged) == 2
    assert "<agent_output>\nThe answer is 3\n</agent_output>" in (judged[0][-1].content or "")
    # each iteration ran in a session of the caller's own
    sessions = served.get("/sessions", headers=ALICE).json()["data"]
    assert {s["session_id"] for s in sessions} == {f"eval_{result['id']}_1", f"eval_{result['id']}_2"}


def test_an_agent_as_judge_eval_checks_the_answer_against_criteria(served: TestClient, model: FunctionModel) -> None:
    binary = run_eval(served, eval_type="agent_as_judge", criteria="Gives the sum")

    data = binary["eval_data"]
    (only,) = data["results"]
    assert (only["output"], only["criteria"], only["passed"], only["score"]) == (
        "The answer is 3",
        "Gives the sum",
        True,
        None,
    )
    assert (data["pass_rate"], data["avg_score"]) == (100.0, None)
    assert (binary["eval_type"], binary["agent_id"], binary["model_id"]) == ("agent_as_judge", "calc", "calc-model")
    assert binary["eval_input"] == {
        "criteria": "Gives the sum",
        "scoring_strategy": "binary",
        "threshold": None,
        "additional_guidelines": None,
    }
    judged = [r for r in model.requests if "You are an expert evaluator" in (r[0].content or "")]
    assert "The answer is 3\n</output-" in (judged[0][-1].content or "")  # fenced as data

    numeric = run_eval(served, eval_type="agent_as_judge", criteria="Explains", scoring_strategy="numeric")
    data = numeric["eval_data"]
    assert (data["results"][0]["score"], data["results"][0]["passed"]) == (6, False)  # under the threshold, 7
    assert (data["avg_score"], data["pass_rate"]) == (6, 0.0)
    assert numeric["eval_input"]["threshold"] == 7


def test_a_named_model_runs_the_target_and_its_own_model_judges(
    served: TestClient,
    model: FunctionModel,
    openai_server: FakeOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    openai_server.enqueue(ToolCallsReply([FakeToolCall("add", {"a": 1, "b": 2})]), TextReply("It is 3"))

    result = run_eval(served, eval_type="accuracy", expected_output="3", model_id="gpt-fake", model_provider="OpenAI")

    assert (result["model_id"], result["model_provider"]) == ("gpt-fake", "OpenAI")
    assert [r["output"] for r in result["eval_data"]["results"]] == ["It is 3"]
    assert [body["model"] for body in openai_server.bodies] == ["gpt-fake", "gpt-fake"]
    assert [r for r in model.requests if "You judge how well" in (r[0].content or "")]  # the served model judged
    # the served agent keeps its own model
    assert served.get("/agents/calc", headers=ALICE).json()["model"]["model"] == "calc-model"


def test_a_performance_eval_times_its_runs(served: TestClient, model: FunctionModel) -> None:
    result = run_eval(served, eval_type="performance", num_iterations=2, warmup_runs=1)

    data = result["eval_data"]
    assert len(data["runs"]) == 2
    assert all(r["runtime"] > 0 and r["memory"] >= 0 for r in data["runs"])
    stats = data["result"]
    assert stats["min_run_time"] <= stats["avg_run_time"] <= stats["max_run_time"]
    assert {"median_run_time", "p95_run_time", "std_dev_run_time", "avg_memory_usage", "p95_memory_usage"} <= set(stats)
    assert result["eval_input"] == {"num_iterations": 2, "warmup_runs": 1}
    assert len(model.requests) == 2 * (1 + 2 + 2)  # warm-up, timed and traced runs: two requests each


def test_eval_runs_list_read_rename_and_delete_for_their_owner_only(served: TestClient) -> None:
    first = run_eval(served, eval_type="reliability", expected_tool_calls=["add"])
    second = run_eval(served, eval_type="accuracy", expected_output="3")
    bobs = run_eval(served, BOB, eval_type="reliability", expected_tool_calls=["add"])

    listing = served.get("/eval-runs", headers=ALICE).json()
    assert [e["id"] for e in listing["data"]] == [second["id"], first["id"]]
    assert listing["meta"]["total_count"] == 2
    assert set(listing["data"][0]) == EVAL_SCHEMA_FIELDS
    only_accuracy = served.get("/eval-runs", params={"eval_types": "accuracy"}, headers=ALICE).json()
    assert [e["id"] for e in only_accuracy["data"]] == [second["id"]]
    page = served.get("/eval-runs", params={"limit": 1, "page": 2}, headers=ALICE).json()
    assert [e["id"] for e in page["data"]] == [first["id"]]
    assert (page["meta"]["page"], page["meta"]["total_pages"]) == (2, 2)
    assert served.get("/eval-runs", params={"type": "team"}, headers=ALICE).json()["data"] == []
    assert served.get("/eval-runs", params={"agent_id": "calc"}, headers=BOB).json()["data"][0]["id"] == bobs["id"]

    got = served.get(f"/eval-runs/{first['id']}", headers=ALICE)
    assert got.status_code == 200
    assert got.json()["eval_data"] == first["eval_data"]
    assert served.get(f"/eval-runs/{first['id']}", headers=BOB).status_code == 404

    renamed = served.patch(f"/eval-runs/{first['id']}", json={"name": "Adds"}, headers=ALICE)
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Adds"
    assert served.patch(f"/eval-runs/{first['id']}", json={"name": "Mine"}, headers=BOB).status_code == 404
    assert served.get(f"/eval-runs/{first['id']}", headers=ALICE).json()["name"] == "Adds"

    deleted = served.request("DELETE", "/eval-runs", json={"eval_run_ids": [first["id"], bobs["id"]]}, headers=ALICE)
    assert deleted.status_code == 204
    assert [e["id"] for e in served.get("/eval-runs", headers=ALICE).json()["data"]] == [second["id"]]
    assert served.get(f"/eval-runs/{bobs['id']}", headers=BOB).status_code == 200  # not Alice's to delete


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"eval_type": "reliability", "input": "x"}, 422, "One of agent_id or team_id must be provided"),
        (
            {"eval_type": "reliability", "input": "x", "agent_id": "calc", "team_id": "crew"},
            422,
            "Only one of agent_id or team_id must be provided",
        ),
        ({"eval_type": "reliability", "input": "x", "agent_id": "nobody"}, 404, "Agent with id 'nobody' not found"),
        ({"eval_type": "reliability", "input": "x", "team_id": "crew"}, 404, "Team with id 'crew' not found"),
        (
            {"eval_type": "accuracy", "input": "x", "agent_id": "calc"},
            422,
            "expected_output is required for accuracy evaluation",
        ),
        (
            {"eval_type": "reliability", "input": "x", "agent_id": "calc"},
            422,
            "expected_tool_calls is required for reliability evaluations",
        ),
        (
            {"eval_type": "reliability", "input": "x", "agent_id": "calc", "expected_tool_calls": ["add"]}
            | {"model_id": "m", "model_provider": "nowhere"},
            422,
            None,
        ),
        (  # a local model's id is a file on the server: no request may choose one
            {"eval_type": "reliability", "input": "x", "agent_id": "calc", "expected_tool_calls": ["add"]}
            | {"model_id": "/etc/passwd", "model_provider": "llama_cpp"},
            422,
            "model provider 'llama_cpp': a request may name openai, anthropic, bedrock, aws",
        ),
        (
            {"eval_type": "agent_as_judge", "input": "x", "agent_id": "calc"},
            422,
            "criteria is required for agent-as-judge evaluation",
        ),
        ({"eval_type": "guess", "input": "x", "agent_id": "calc"}, 422, None),
        ({"eval_type": "performance", "input": "", "agent_id": "calc"}, 422, None),
        ({"eval_type": "performance", "input": "x", "agent_id": "calc", "num_iterations": 0}, 422, None),
    ],
)
def test_bad_eval_requests_are_4xx_and_store_nothing(
    served: TestClient, body: dict[str, Any], status: int, detail: str | None
) -> None:
    response = served.post("/eval-runs", json=body, headers=ALICE)

    assert response.status_code == status, response.text
    assert "detail" in response.json()
    if detail is not None:
        assert response.json()["detail"] == detail
    assert served.get("/eval-runs", headers=ALICE).json()["data"] == []


def test_bad_listing_and_change_requests_are_422(served: TestClient) -> None:
    assert served.get("/eval-runs", params={"eval_types": "accuracy,guess"}, headers=ALICE).status_code == 422
    assert served.get("/eval-runs", params={"type": "robot"}, headers=ALICE).status_code == 422
    assert served.request("DELETE", "/eval-runs", json={"eval_run_ids": []}, headers=ALICE).status_code == 422
    assert served.patch("/eval-runs/x", json={"name": "n" * 256}, headers=ALICE).status_code == 422
    assert served.patch("/eval-runs/missing", json={"name": "n"}, headers=ALICE).status_code == 404
    assert served.get("/eval-runs").status_code == 401
