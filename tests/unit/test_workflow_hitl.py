"""Human in the loop inside workflows, on both stores, through the API with authentication on: a step whose
agent or team pauses pauses the workflow's run (stored PAUSED with AgentOS' `step_requirements`, nothing held
in memory), and `/continue` with the decisions resumes the step's run and then the steps after it; once, and
only for the run's owner."""

# ruff: noqa: F811  (the tests take test_hitl's fixtures, imported, by their names)
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from stratus.run import RunStatus
from stratus.storage.base import Store
from tests.unit.test_hitl import ALICE, BOB, client, store  # noqa: F401 (its fixtures, on both stores)


def _events(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


def _decided(requirement: dict[str, Any], **decision: Any) -> list[dict[str, Any]]:
    """The step requirement sent back with a decision on each of its executor's requirements."""
    executor = [{**r, **decision} for r in requirement["executor_requirements"]]
    return [{**requirement, "executor_requirements": executor}]


def _continue(client: TestClient, workflow: str, run_id: str, sent: Any, headers: dict[str, str] = ALICE):
    return client.post(
        f"/workflows/{workflow}/runs/{run_id}/continue",
        data={"step_requirements": json.dumps(sent), "stream": "false"},
        headers=headers,
    )


def test_an_agent_steps_pause_pauses_the_workflow_and_continue_runs_it_to_the_end(
    client: TestClient, store: Store, tmp_path: Path
) -> None:
    response = client.post("/workflows/payout/runs", data={"message": "pay bob", "session_id": "w1"}, headers=ALICE)
    assert response.status_code == 200, response.text
    events = _events(response.text)
    own = [e["event"] for e in events if "workflow_id" in e]
    assert own[0] == "WorkflowStarted"
    assert own[-2:] == ["StepExecutorPaused", "WorkflowPaused"], own
    assert "RunPaused" in [e["event"] for e in events]  # the step's agent's own
    assert "StepError" not in own
    assert "WorkflowError" not in own
    paused = events[-1]
    assert (paused["status"], paused["paused_step_name"], paused["paused_step_index"]) == ("PAUSED", "pay", 0)
    assert paused["pause_kind"] == "executor"
    (requirement,) = paused["step_requirements"]
    assert requirement["requires_executor_input"] is True
    assert (requirement["executor_type"], requirement["executor_id"]) == ("agent", "payer")
    (waiting,) = requirement["executor_requirements"]
    assert waiting["tool_execution"]["tool_name"] == "transfer"
    assert waiting["tool_execution"]["requires_confirmation"] is True
    assert paused["step_results"] == []
    assert not (tmp_path / "ledger.txt").exists()

    run_id = paused["run_id"]
    stored = asyncio.run(store.get_run(run_id))
    step_run = asyncio.run(store.get_run(requirement["executor_run_id"]))
    assert stored is not None
    assert step_run is not None
    assert (stored.status, step_run.status) == (RunStatus.PAUSED, RunStatus.PAUSED)
    assert step_run.parent_run_id == run_id
    assert stored.requirements == [requirement]  # stored with it: nothing held in memory
    read = client.get(f"/workflows/payout/runs/{run_id}", params={"session_id": "w1"}, headers=ALICE).json()
    assert (read["status"], read["step_requirements"]) == ("PAUSED", [requirement])

    assert _continue(client, "payout", run_id, _decided(requirement, confirmation=True), BOB).status_code == 404
    done = _continue(client, "payout", run_id, _decided(requirement, confirmation=True))
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["status"], body["content"]) == ("COMPLETED", "reported: done: sent 10 to bob")
    assert [r["step_name"] for r in body["step_results"]] == ["pay", "report"]
    assert "step_requirements" not in body
    assert (tmp_path / "ledger.txt").read_text() == "transfer 10 bob\n"
    after = asyncio.run(store.get_run(run_id))
    step_after = asyncio.run(store.get_run(step_run.run_id))
    assert after is not None
    assert step_after is not None
    assert (after.status, after.requirements, step_after.status) == (RunStatus.COMPLETED, None, RunStatus.COMPLETED)
    assert step_after.content == "done: sent 10 to bob"
    again = _continue(client, "payout", run_id, _decided(requirement, confirmation=True))
    assert again.status_code == 409
    assert (tmp_path / "ledger.txt").read_text() == "transfer 10 bob\n"


def test_a_refused_call_goes_on_refused_and_bad_decisions_are_a_422(
    client: TestClient, store: Store, tmp_path: Path
) -> None:
    body = client.post(
        "/workflows/payout/runs", data={"message": "pay", "session_id": "w2", "stream": "false"}, headers=ALICE
    ).json()
    assert body["status"] == "PAUSED"
    (requirement,) = body["step_requirements"]
    run_id = body["run_id"]
    for sent, detail in [
        ([], "send the decisions"),
        ([{**requirement, "step_id": "other"}], "none is sent for the paused step 'pay'"),
        (_decided(requirement), "needs confirmed: true or false"),
    ]:
        response = _continue(client, "payout", run_id, sent)
        assert response.status_code == 422, response.text
        assert detail in response.json()["detail"]
    stored = asyncio.run(store.get_run(run_id))
    assert stored is not None
    assert stored.status is RunStatus.PAUSED
    refused = _continue(client, "payout", run_id, _decided(requirement, confirmation=False)).json()
    assert refused["status"] == "COMPLETED"
    assert refused["content"].startswith("reported: done: ")
    assert not (tmp_path / "ledger.txt").exists()


def test_a_team_steps_member_pause_pauses_the_workflow_and_continue_resumes_the_team(
    client: TestClient, tmp_path: Path
) -> None:
    body = client.post(
        "/workflows/bank-flow/runs", data={"message": "pay", "session_id": "w3", "stream": "false"}, headers=ALICE
    ).json()
    assert body["status"] == "PAUSED", body
    (requirement,) = body["step_requirements"]
    assert (requirement["executor_type"], requirement["executor_id"]) == ("team", "bank")
    (waiting,) = requirement["executor_requirements"]
    assert (waiting["member_agent_id"], waiting["tool_execution"]["tool_name"]) == ("banker", "transfer")
    done = _continue(client, "bank-flow", body["run_id"], _decided(requirement, confirmation=True)).json()
    assert (done["status"], done["content"]) == ("COMPLETED", "reported: team: done: sent 10 to bob")
    assert (tmp_path / "ledger.txt").read_text() == "transfer 10 bob\n"


def test_a_streamed_workflow_run_keeps_the_events_of_both_its_parts(client: TestClient, store: Store) -> None:
    first = _events(
        client.post("/workflows/payout/runs", data={"message": "pay", "session_id": "w4"}, headers=ALICE).text
    )
    paused = first[-1]
    assert paused["event"] == "WorkflowPaused"
    sent = json.dumps(_decided(paused["step_requirements"][0], confirmation=True))
    resumed = client.post(
        f"/workflows/payout/runs/{paused['run_id']}/continue", data={"step_requirements": sent}, headers=ALICE
    )
    assert _events(resumed.text)[-1]["event"] == "WorkflowCompleted"
    run = asyncio.run(store.get_run(paused["run_id"]))
    assert run is not None
    assert run.events is not None
    kinds = [e["event"] for e in run.events if "workflow_id" in e]
    assert kinds[0] == "WorkflowStarted"
    assert kinds[-1] == "WorkflowCompleted"
    assert (kinds.count("WorkflowStarted"), kinds.count("WorkflowPaused")) == (2, 1)
    assert kinds.index("WorkflowPaused") < len(kinds) - 1 - kinds[::-1].index("WorkflowStarted")
