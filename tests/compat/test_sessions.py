"""Sessions through agno's `AgentOSClient`: created, listed, read with their runs and previews, renamed,
updated and deleted, one or several at once."""

from __future__ import annotations

from typing import Any

import pytest

from tests.compat.conftest import Agno

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def flow(agno: Agno) -> dict[str, Any]:
    return agno("sessions")


def test_a_created_session_is_listed_and_read(flow: dict[str, Any]) -> None:
    created = flow["created"]
    sid = created["session_id"]
    assert (created["session_name"], created["session_state"], created["agent_id"]) == ("compat", {"n": 1}, "assistant")
    assert flow["run"]["session_id"] == sid
    assert [(s["session_id"], s["session_name"]) for s in flow["listed"]["data"]] == [(sid, "compat")]
    assert flow["listed"]["meta"]["total_count"] == 1
    got = flow["got"]
    assert (got["session_id"], got["session_name"], got["session_state"]) == (sid, "compat", {"n": 1})


def test_a_sessions_runs_previews_and_one_run(flow: dict[str, Any]) -> None:
    run_id = flow["run"]["run_id"]
    assert [(r["run_id"], r["content"], r["status"]) for r in flow["runs"]] == [
        (run_id, "echo: in a session", "COMPLETED")
    ]
    assert flow["previews"] == flow["apreviews"]
    assert [(p["run_id"], p["run_input"], p["content_preview"], p["agent_id"]) for p in flow["previews"]] == [
        (run_id, "in a session", "echo: in a session", "assistant")
    ]
    one = flow["one_run"]
    assert (one["run_id"], one["agent_id"], one["content"]) == (run_id, "assistant", "echo: in a session")


def test_a_session_is_renamed_and_updated(flow: dict[str, Any]) -> None:
    assert flow["renamed"]["session_name"] == "renamed"
    updated = flow["updated"]
    assert (updated["session_name"], updated["session_state"], updated["metadata"]) == (
        "renamed",
        {"n": 2},
        {"tag": "compat"},
    )


def test_sessions_are_deleted_one_or_several_at_once(flow: dict[str, Any]) -> None:
    others = {s["session_id"] for s in flow["others"]}
    assert flow["created"]["session_id"] not in others
    assert {s["session_id"] for s in flow["before_delete_many"]["data"]} == others  # the first one is gone
    assert flow["after"]["data"] == []
    assert flow["after"]["meta"]["total_count"] == 0
