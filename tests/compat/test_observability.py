"""Metrics, evals and traces through agno's `AgentOSClient`: daily metrics aggregated from the stored runs and
refreshed; reliability and performance evals run, listed, renamed and deleted; each run's trace, its spans,
its session's stats, and a search."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from tests.compat.conftest import Agno

pytestmark = pytest.mark.e2e


def test_metrics_are_aggregated_per_day_and_refreshed(agno: Agno) -> None:
    got = agno("metrics")
    today = date.today().isoformat()
    assert [day["date"][:10] for day in got["refreshed"]] == [today]
    assert [day["date"][:10] for day in got["today"]["metrics"]] == [today]
    day = got["today"]["metrics"][0]
    assert day["agent_runs_count"] >= 1
    assert day["agent_sessions_count"] >= 1
    assert day["users_count"] >= 1
    assert day["token_metrics"]["input_tokens"] > 0
    assert {"model_id": "scripted", "model_provider": "Test"}.items() <= day["model_metrics"][0].items()
    assert today in [d["date"][:10] for d in got["metrics"]["metrics"]]
    assert got["status"]["status"] == "completed"
    assert got["status"]["finished_at"] is not None
    assert got["background"]["status"] in ("started", "already_running")


@pytest.fixture(scope="module")
def evals(agno: Agno) -> dict[str, Any]:
    return agno("evals")


def test_evals_check_the_tools_an_agent_calls_and_time_it(evals: dict[str, Any]) -> None:
    reliable, unreliable, timed = evals["created"]
    assert (reliable["eval_type"], reliable["agent_id"]) == ("reliability", "assistant")
    assert reliable["eval_data"]["eval_status"] == "PASSED"
    assert reliable["eval_data"]["passed_tool_calls"] == ["get_weather"]
    assert unreliable["eval_data"]["eval_status"] == "FAILED"
    assert any("get_weather" in missing for missing in unreliable["eval_data"]["missing_tool_calls"])
    assert timed["eval_type"] == "performance"
    assert len(timed["eval_data"]["runs"]) == 2
    assert timed["eval_data"]["result"]["avg_run_time"] > 0


def test_eval_runs_are_listed_renamed_and_deleted(evals: dict[str, Any]) -> None:
    reliable, unreliable, timed = evals["created"]
    assert {e["id"] for e in evals["listed"]["data"]} == {reliable["id"], unreliable["id"], timed["id"]}
    assert {e["id"] for e in evals["reliability_only"]["data"]} == {reliable["id"], unreliable["id"]}
    assert evals["got"]["id"] == reliable["id"]
    assert evals["got"]["eval_data"] == reliable["eval_data"]
    assert evals["renamed"]["name"] == "weather check"
    assert [e["id"] for e in evals["after_delete"]["data"]] == [reliable["id"]]


def spans(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [span for node in nodes for span in [node, *spans(node.get("spans") or [])]]


def test_a_runs_trace_has_its_spans(agno: Agno) -> None:
    got = agno("traces")
    run = got["run"]
    summary = got["listed"]["data"][0]
    assert (summary["run_id"], summary["agent_id"], summary["user_id"], summary["status"]) == (
        run["run_id"],
        "assistant",
        "fay",
        "OK",
    )
    detail = got["detail"]
    assert (detail["trace_id"], detail["run_id"], detail["session_id"]) == (
        summary["trace_id"],
        run["run_id"],
        run["session_id"],
    )
    assert detail["output"] == "The weather: sunny in Lima"
    tree = spans(detail["tree"])
    assert detail["total_spans"] == len(tree)
    assert detail["tree"][0]["type"] == "AGENT"
    assert [s["type"] for s in tree].count("LLM") == 2
    assert [s["type"] for s in tree].count("TOOL") == 1
    assert got["span"]["id"] == detail["tree"][0]["id"]
    assert [(s["session_id"], s["user_id"]) for s in got["session_stats"]["data"]] == [(run["session_id"], "fay")]
    assert [t["run_id"] for t in got["search"]["data"]] == [run["run_id"]]
    assert [s["session_id"] for s in got["search_sessions"]["data"]] == [run["session_id"]]
