"""Human in the loop on both stores, through the API with authentication on: what a paused run's tool calls tell
the model and the caller, the decisions `/continue` refuses (422, the run still paused and nothing run), the
continue claim (a resumption under way elsewhere is a 409), and the owner-only rule."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from stratus.api import create_app
from stratus.api.auth import ApiKeyAuth, hash_key
from stratus.exceptions import ToolDefinitionError
from stratus.run import RunStatus
from stratus.storage.base import Store
from stratus.storage.sqlite import SqliteStore
from stratus.tools import tool
from tests.fakes.hitl_app import hitl_app, ship, transfer

ALICE = {"authorization": "Bearer key-alice"}
BOB = {"authorization": "Bearer key-bob"}


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "sqlite":
        return SqliteStore(tmp_path / "hitl.db")
    return request.getfixturevalue("dynamo_store")


@pytest.fixture
def client(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("HITL_LEDGER", str(tmp_path / "ledger.txt"))
    auth = ApiKeyAuth({hash_key("key-alice"): "alice", hash_key("key-bob"): "bob"})
    with TestClient(create_app(hitl_app(store), auth=auth)) as c:
        yield c


def paused(client: TestClient, agent: str, session: str) -> dict[str, Any]:
    response = client.post(
        f"/agents/{agent}/runs", data={"message": "go", "session_id": session, "stream": "false"}, headers=ALICE
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "PAUSED"
    return body


def resume(client: TestClient, agent: str, run: dict[str, Any], tools: Any, headers: dict[str, str] = ALICE):
    return client.post(
        f"/agents/{agent}/runs/{run['run_id']}/continue",
        data={"tools": json.dumps(tools), "session_id": run["session_id"], "stream": "false"},
        headers=headers,
    )


def test_the_model_is_not_told_of_the_users_fields_and_the_flags_are_checked() -> None:
    assert set(ship.parameters["properties"]) == {"item"}
    assert ship.parameters["required"] == ["item"]
    assert set(transfer.parameters["properties"]) == {"amount", "to"}
    assert (transfer.pauses, ship.pauses) == (True, True)
    with pytest.raises(ToolDefinitionError, match="requires_user_input"):
        tool(user_input_fields=["x"])(lambda x: x)  # pyright: ignore[reportUnknownLambdaType]


def test_a_buffered_run_answers_paused_with_what_it_waits_for(client: TestClient, tmp_path: Path) -> None:
    run = paused(client, "banker", "u1")
    (waiting,) = run["tools"]
    assert (waiting["requires_confirmation"], waiting["result"], run["content"]) == (True, None, None)
    (requirement,) = run["requirements"]
    assert requirement["tool_execution"]["tool_call_id"] == waiting["tool_call_id"]
    assert [m["role"] for m in run["messages"]] == ["user", "assistant"]  # no tool result yet
    assert not (tmp_path / "ledger.txt").exists()


@pytest.mark.parametrize(
    ("decision", "detail"),
    [
        ([], "send the decisions"),
        ([{"tool_call_id": "nope", "confirmed": True}], "no waiting tool call has the id 'nope'"),
        ("same-id", "needs confirmed: true or false"),
    ],
)
def test_decisions_that_do_not_resolve_the_run_are_a_422_and_change_nothing(
    client: TestClient, store: Store, tmp_path: Path, decision: Any, detail: str
) -> None:
    run = paused(client, "banker", "u2")
    tools = [{"tool_call_id": run["tools"][0]["tool_call_id"]}] if decision == "same-id" else decision
    response = resume(client, "banker", run, tools)
    assert response.status_code == 422, response.text
    assert detail in response.json()["detail"]
    stored = asyncio.run(store.get_run(run["run_id"]))
    assert stored is not None
    assert stored.status is RunStatus.PAUSED
    assert stored.tools[0].confirmed is None
    assert not (tmp_path / "ledger.txt").exists()
    # The claim was given back: a good decision still resumes it.
    good = resume(client, "banker", run, [{**run["tools"][0], "confirmed": True}])
    assert good.status_code == 200, good.text
    assert good.json()["content"] == "done: sent 10 to bob"


def test_a_resumption_under_way_elsewhere_is_a_409(client: TestClient, store: Store, tmp_path: Path) -> None:
    run = paused(client, "banker", "u3")
    claim = asyncio.run(store.claim(f"continue:{run['run_id']}", lease_seconds=60))
    assert claim.acquired
    response = resume(client, "banker", run, [{**run["tools"][0], "confirmed": True}])
    assert response.status_code == 409
    assert response.json()["detail"] == "run is already being continued"
    assert not (tmp_path / "ledger.txt").exists()
    asyncio.run(store.release_claim(claim))
    assert resume(client, "banker", run, [{**run["tools"][0], "confirmed": True}]).status_code == 200


def test_only_the_owner_continues_and_sees_it(client: TestClient, store: Store) -> None:
    run = paused(client, "banker", "u4")
    refused = resume(client, "banker", run, [{**run["tools"][0], "confirmed": True}], headers=BOB)
    assert refused.status_code == 404
    assert client.get("/approvals", headers=BOB).json()["data"] == []
    assert [r["run_id"] for r in client.get("/approvals", headers=ALICE).json()["data"]] == [run["run_id"]]
    stored = asyncio.run(store.get_run(run["run_id"]))
    assert stored is not None
    assert stored.status is RunStatus.PAUSED


def test_a_background_run_that_paused_is_not_run_again_by_a_redelivered_job(client: TestClient, store: Store) -> None:
    from stratus.background import BackgroundRun, execute_run

    accepted = client.post(
        "/agents/banker/runs", data={"message": "go", "session_id": "u5", "background": "true"}, headers=ALICE
    )
    assert accepted.status_code == 202, accepted.text
    run_id = accepted.json()["run_id"]
    deadline = time.monotonic() + 10
    while (run := asyncio.run(store.get_run(run_id))) is None or run.status is not RunStatus.PAUSED:
        assert time.monotonic() < deadline, run
        time.sleep(0.05)
    job = BackgroundRun(
        run_id=run_id, session_id="u5", user_id="alice", message="go", input_content="go", agent_id="banker"
    )
    worker = hitl_app(store)  # a worker elsewhere, the job delivered again
    worker.attach_store()
    assert asyncio.run(execute_run(worker, job)) is None
    again = asyncio.run(store.get_run(run_id))
    assert again is not None
    assert (again.status, len(again.tools)) == (RunStatus.PAUSED, 1)


def test_a_members_paused_call_pauses_the_team_and_the_teams_continue_resumes_both(
    client: TestClient, store: Store, tmp_path: Path
) -> None:
    response = client.post("/teams/bank/runs", data={"message": "pay bob", "session_id": "t1"}, headers=ALICE)
    events = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]
    own = [e for e in events if "parent_run_id" not in e]
    assert (own[0]["event"], own[-1]["event"]) == ("TeamRunStarted", "TeamRunPaused"), [e["event"] for e in own]
    assert "RunPaused" in [e["event"] for e in events if "parent_run_id" in e]  # the member's own
    paused = own[-1]
    (requirement,) = paused["requirements"]
    assert (requirement["member_agent_id"], requirement["member_agent_name"]) == ("banker", "Teller")
    assert requirement["tool_execution"]["tool_name"] == "transfer"
    team_run = asyncio.run(store.get_run(paused["run_id"]))
    member_run = asyncio.run(store.get_run(requirement["member_run_id"]))
    assert team_run is not None
    assert member_run is not None
    assert (team_run.status, member_run.status) == (RunStatus.PAUSED, RunStatus.PAUSED)
    assert member_run.parent_run_id == team_run.run_id
    assert team_run.tools[0].child_run_id == member_run.run_id
    assert not (tmp_path / "ledger.txt").exists()
    (row,) = client.get("/approvals", params={"team_id": "bank"}, headers=ALICE).json()["data"]
    assert (row["id"], row["run_id"], row["source_type"], row["agent_id"], row["tool_name"]) == (
        requirement["id"],
        team_run.run_id,
        "team",
        None,
        "transfer",
    )

    decided = [{**requirement, "confirmation": True}]
    resumed = client.post(
        f"/teams/bank/runs/{team_run.run_id}/continue",
        data={"requirements": json.dumps(decided), "session_id": "t1"},
        headers=ALICE,
    )
    events = [json.loads(line[6:]) for line in resumed.text.splitlines() if line.startswith("data: ")]
    own = [e for e in events if "parent_run_id" not in e]
    assert (own[0]["event"], own[-1]["event"]) == ("TeamRunContinued", "TeamRunCompleted"), resumed.text[:800]
    assert own[-1]["content"] == "team: done: sent 10 to bob"
    assert (tmp_path / "ledger.txt").read_text() == "transfer 10 bob\n"
    team_after = asyncio.run(store.get_run(team_run.run_id))
    member_after = asyncio.run(store.get_run(member_run.run_id))
    assert team_after is not None
    assert member_after is not None
    assert (team_after.status, member_after.status) == (RunStatus.COMPLETED, RunStatus.COMPLETED)
    assert member_after.content == "done: sent 10 to bob"
    again = client.post(
        f"/teams/bank/runs/{team_run.run_id}/continue",
        data={"requirements": json.dumps(decided), "session_id": "t1", "stream": "false"},
        headers=ALICE,
    )
    assert again.status_code == 409
    assert (tmp_path / "ledger.txt").read_text() == "transfer 10 bob\n"
    assert client.get("/approvals", headers=ALICE).json()["data"] == []


def test_a_streamed_team_run_keeps_the_events_of_both_its_parts(client: TestClient, store: Store) -> None:
    first = client.post("/teams/bank/runs", data={"message": "pay bob", "session_id": "t2"}, headers=ALICE)
    paused = [json.loads(line[6:]) for line in first.text.splitlines() if line.startswith("data: ")][-1]
    assert paused["event"] == "TeamRunPaused"
    resumed = client.post(
        f"/teams/bank/runs/{paused['run_id']}/continue",
        data={"requirements": json.dumps([{**paused["requirements"][0], "confirmation": True}]), "session_id": "t2"},
        headers=ALICE,
    )
    assert resumed.status_code == 200
    run = asyncio.run(store.get_run(paused["run_id"]))
    assert run is not None
    assert run.events is not None
    kinds = [e["event"] for e in run.events if "parent_run_id" not in e]
    assert kinds[0] == "TeamRunStarted"
    assert kinds[-1] == "TeamRunCompleted"
    assert kinds.count("TeamRunPaused") == 1
    assert kinds.count("TeamRunContinued") == 1
    assert kinds.index("TeamRunPaused") < kinds.index("TeamRunContinued")


def test_a_routed_members_external_call_resumes_through_the_team_with_its_result(client: TestClient) -> None:
    response = client.post("/teams/desk/runs", data={"message": "weather?", "session_id": "t3"}, headers=ALICE)
    paused = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")][-1]
    assert paused["event"] == "TeamRunPaused"
    (requirement,) = paused["requirements"]
    assert requirement["tool_execution"]["external_execution_required"] is True
    assert requirement["member_agent_id"] == "seer"
    decided = [{"id": requirement["id"], "external_execution_result": "sunny"}]
    body = client.post(
        f"/teams/desk/runs/{paused['run_id']}/continue",
        data={"requirements": json.dumps(decided), "session_id": "t3", "stream": "false"},
        headers=ALICE,
    ).json()
    assert (body["status"], body["content"]) == ("COMPLETED", "done: sunny")  # the member's answer is the team's
    (member,) = body["member_responses"]
    assert (member["status"], member["tools"][0]["result"]) == ("COMPLETED", "sunny")
