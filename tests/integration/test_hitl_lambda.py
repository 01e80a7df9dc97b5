"""Human in the loop through the deployed `agent_runs` function against moto's DynamoDB: a call that needs a
confirmation pauses the run, stored PAUSED in DynamoDB with what it waits for; a fresh execution environment
(nothing of the first in memory) resumes it with `/continue`, once."""

from __future__ import annotations

from pathlib import Path

import pytest

from stratus.run import RunStatus
from tests.integration.test_continue_lambda import continue_event
from tests.integration.test_lambda_handlers import (
    USER,
    Deployment,
    _forget_functions,  # pyright: ignore[reportPrivateUsage]
    asyncio_run,
    body_of,
    call,
    event,
    event_names,
    with_path,
)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


@pytest.fixture
def hitl(deployment: Deployment, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Deployment:
    monkeypatch.setenv("STRATUS_APP", "tests.fakes.hitl_app:hitl_app")
    monkeypatch.setenv("HITL_LEDGER", str(tmp_path / "ledger.txt"))
    _forget_functions()
    return deployment


def test_a_paused_run_waits_in_dynamodb_and_resumes_once_in_a_fresh_environment(
    hitl: Deployment, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.txt"
    started = call("agent_runs", continue_event("agent_run", "/agents/banker/runs", {"message": "pay bob"}))
    assert started["statusCode"] == 200, started["body"]
    names = event_names(started["body"])
    assert (names[0], names[-1]) == ("RunStarted", "RunPaused")
    paused = [e for e in started["body"].split("\n\n") if e.startswith("event: RunPaused")]
    assert len(paused) == 1

    run_id = _run_id(started["body"])
    stored = asyncio_run(hitl.store.get_run(run_id))
    assert stored is not None
    assert (stored.status, stored.user_id) == (RunStatus.PAUSED, USER)
    (waiting,) = stored.tools
    assert (waiting.tool_name, waiting.requires_confirmation, waiting.result) == ("transfer", True, None)
    assert stored.requirements is not None
    assert stored.requirements[0]["tool_execution"]["tool_call_id"] == waiting.tool_call_id
    assert not ledger.exists()

    # The sessions function lists it for the verified user only (a user_id the caller names is ignored).
    listing = with_path(event("health"), "/approvals")
    listing["queryStringParameters"] = {"user_id": "someone-else"}
    listing["multiValueQueryStringParameters"] = {"user_id": ["someone-else"]}
    listed = call("sessions", listing)
    assert listed["statusCode"] == 200, listed["body"]
    (row,) = body_of(listed)["data"]
    assert (row["run_id"], row["user_id"], row["tool_name"], row["pause_type"]) == (
        run_id,
        USER,
        "transfer",
        "confirmation",
    )

    _forget_functions()  # another execution environment: only DynamoDB knows of the pause
    path = f"/agents/banker/runs/{run_id}/continue"
    decision = {"tools": [{**waiting.to_dict(), "confirmed": True}], "session_id": stored.session_id, "stream": False}
    resumed = call("agent_runs", continue_event("agent_run", path, decision))
    assert resumed["statusCode"] == 200, resumed["body"]
    body = body_of(resumed)
    assert (body["run_id"], body["status"], body["content"]) == (run_id, "COMPLETED", "done: sent 10 to bob")
    assert ledger.read_text() == "transfer 10 bob\n"
    final = asyncio_run(hitl.store.get_run(run_id))
    assert final is not None
    assert final.status is RunStatus.COMPLETED
    assert final.requirements is None

    again = call("agent_runs", continue_event("agent_run", path, decision))
    assert again["statusCode"] == 409, again["body"]
    assert ledger.read_text() == "transfer 10 bob\n"
    assert body_of(call("sessions", with_path(event("health"), "/approvals")))["data"] == []


def _run_id(stream: str) -> str:
    import json

    for line in stream.splitlines():
        if line.startswith("data: "):
            return str(json.loads(line[len("data: ") :])["run_id"])
    raise AssertionError("no event in the stream")
