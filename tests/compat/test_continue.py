"""`/continue` through agno's client: a completed agent or team run takes a follow-up (`input`), buffered and
streamed, in the same session; a workflow run continues only when paused, so a completed one is a 409."""

from __future__ import annotations

import pytest

from tests.compat.conftest import Agno

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("scenario", "completed"), [("agent_continue", "RunCompleted"), ("team_continue", "TeamRunCompleted")]
)
def test_a_completed_run_takes_a_follow_up(agno: Agno, scenario: str, completed: str) -> None:
    got = agno(scenario)
    first, continued, streamed = got["first"], got["continued"], got["streamed"]
    assert first["content"] == "echo: first"
    assert (continued["status"], continued["content"]) == ("COMPLETED", "echo: second")
    assert continued["session_id"] == first["session_id"]
    assert (streamed[-1]["event"], streamed[-1]["content"]) == (completed, "echo: third")
    assert {e["session_id"] for e in streamed} == {first["session_id"]}


def test_a_completed_workflow_run_is_not_continued(agno: Agno) -> None:
    got = agno("workflow_continue")
    assert got["first"]["content"] == "ECHO: FIRST"
    assert got["continued"]["status"] == got["streamed"]["status"] == 409
