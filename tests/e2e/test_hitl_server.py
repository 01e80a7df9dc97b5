"""Human in the loop on the real server (`stratus dev`, uvicorn, its SQLite file): a tool call that needs a person
pauses the run, stored, with nothing held in memory (the server is restarted in between), and `/continue`
resumes it with the decision, driven the way agno's `AgentOSClient` sends it (a multipart form, `tools` as
JSON text)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Server, start_server, stop_server

pytestmark = pytest.mark.e2e

APP = "tests.fakes.hitl_app:hitl_app"


def events_of(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    return [json.loads(line[len("data: ") :]) for line in response.text.splitlines() if line.startswith("data: ")]


def form(**fields: str) -> dict[str, tuple[None, str]]:
    return {name: (None, value) for name, value in fields.items()}


def start(tmp_path: Path) -> Server:
    return start_server(tmp_path, app=APP, env={"HITL_LEDGER": str(tmp_path / "ledger.txt")})


def pause(server: Server, agent: str, session: str) -> dict[str, Any]:
    """Run `agent` streamed until it pauses; the `RunPaused` event."""
    events = events_of(
        httpx.post(
            f"{server.url}/agents/{agent}/runs",
            files=form(message="go", session_id=session, user_id="ann"),
            timeout=30,
        )
    )
    assert events[0]["event"] == "RunStarted"
    assert events[-1]["event"] == "RunPaused", [e["event"] for e in events]
    assert not any(e["event"] in ("RunCompleted", "ToolCallStarted") for e in events)
    return events[-1]


def stored(server: Server, agent: str, run_id: str, session: str) -> dict[str, Any]:
    read = httpx.get(
        f"{server.url}/agents/{agent}/runs/{run_id}", params={"session_id": session, "user_id": "ann"}, timeout=10
    )
    assert read.status_code == 200, read.text
    return read.json()


def resume(server: Server, agent: str, run_id: str, session: str, tools: list[dict[str, Any]], **more: str):
    return httpx.post(
        f"{server.url}/agents/{agent}/runs/{run_id}/continue",
        files=form(tools=json.dumps(tools), session_id=session, user_id="ann", **more),
        timeout=30,
    )


def test_a_confirmed_call_pauses_survives_a_restart_and_completes_once(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.txt"
    server = start(tmp_path)
    try:
        paused = pause(server, "banker", "s1")
        run_id = paused["run_id"]
        (waiting,) = paused["tools"]
        assert (waiting["tool_name"], waiting["tool_args"]) == ("transfer", {"amount": 10, "to": "bob"})
        assert waiting["requires_confirmation"] is True
        assert waiting["confirmed"] is None
        (requirement,) = paused["requirements"]
        assert requirement["tool_execution"]["tool_call_id"] == waiting["tool_call_id"]
        run = stored(server, "banker", run_id, "s1")
        assert run["status"] == "PAUSED"
        assert run["tools"][0]["requires_confirmation"] is True
        assert run["requirements"][0]["id"] == requirement["id"]
        assert not ledger.exists()  # nothing ran
    finally:
        stop_server(server)

    server = start(tmp_path)  # the same SQLite file: the pause is only the stored run
    try:
        # Another user cannot continue it (nor learn it exists).
        other = httpx.post(
            f"{server.url}/agents/banker/runs/{run_id}/continue",
            files=form(tools=json.dumps([{**waiting, "confirmed": True}]), session_id="s1", user_id="bob"),
            timeout=30,
        )
        assert other.status_code == 404
        events = events_of(resume(server, "banker", run_id, "s1", [{**waiting, "confirmed": True}]))
        kinds = [e["event"] for e in events]
        assert (kinds[0], kinds[-1]) == ("RunContinued", "RunCompleted"), kinds
        assert events[0]["run_id"] == run_id
        completed = next(e for e in events if e["event"] == "ToolCallCompleted")
        assert completed["tool"]["result"] == "sent 10 to bob"
        assert events[-1]["content"] == "done: sent 10 to bob"  # the model got the tool's result
        assert ledger.read_text() == "transfer 10 bob\n"
        run = stored(server, "banker", run_id, "s1")
        assert run["status"] == "COMPLETED"
        assert run["content"] == "done: sent 10 to bob"
        assert run["tools"][0]["confirmed"] is True
        assert run["tools"][0]["requires_confirmation"] is False
        assert "requirements" not in run

        again = resume(server, "banker", run_id, "s1", [{**waiting, "confirmed": True}], stream="false")
        assert again.status_code == 409, again.text
        assert ledger.read_text() == "transfer 10 bob\n"  # nothing changed
        assert stored(server, "banker", run_id, "s1")["content"] == "done: sent 10 to bob"
    finally:
        stop_server(server)


def test_a_refusal_is_what_the_model_reads_and_the_tool_never_runs(tmp_path: Path) -> None:
    server = start(tmp_path)
    try:
        paused = pause(server, "banker", "s2")
        (waiting,) = paused["tools"]
        response = resume(
            server,
            "banker",
            paused["run_id"],
            "s2",
            [{**waiting, "confirmed": False, "confirmation_note": "not today"}],
            stream="false",
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["status"], body["content"]) == ("COMPLETED", "done: not today")
        assert body["tools"][0]["confirmed"] is False
        assert body["tools"][0]["tool_call_error"] is True
        tool_message = next(m for m in body["messages"] if m["role"] == "tool")
        assert tool_message["content"] == "not today"
        assert not (tmp_path / "ledger.txt").exists()

        # Without a note the model is told the call was refused, in AgentOS' words.
        paused = pause(server, "banker", "s3")
        body = resume(
            server, "banker", paused["run_id"], "s3", [{**paused["tools"][0], "confirmed": False}], stream="false"
        ).json()
        assert body["content"] == "done: Function call was rejected by the user"
    finally:
        stop_server(server)


def test_user_input_and_an_external_result_each_resume_the_run(tmp_path: Path) -> None:
    server = start(tmp_path)
    try:
        paused = pause(server, "shipper", "s4")
        (waiting,) = paused["tools"]
        assert waiting["requires_user_input"] is True
        schema = {f["name"]: f for f in waiting["user_input_schema"]}
        assert schema["item"]["value"] == "lamp"
        assert schema["address"]["value"] is None
        assert schema["address"]["field_type"] == "str"
        # Without the value the run still waits: a 422, and it stays paused.
        missing = resume(server, "shipper", paused["run_id"], "s4", [waiting], stream="false")
        assert missing.status_code == 422
        assert "address" in missing.json()["detail"]
        assert stored(server, "shipper", paused["run_id"], "s4")["status"] == "PAUSED"
        filled = [{**f, "value": "1 Main St"} if f["name"] == "address" else f for f in waiting["user_input_schema"]]
        body = resume(
            server, "shipper", paused["run_id"], "s4", [{**waiting, "user_input_schema": filled}], stream="false"
        ).json()
        assert body["content"] == "done: shipped lamp to 1 Main St"
        assert body["tools"][0]["tool_args"] == {"item": "lamp", "address": "1 Main St"}

        paused = pause(server, "oracle", "s5")
        (waiting,) = paused["tools"]
        assert waiting["external_execution_required"] is True
        events = events_of(resume(server, "oracle", paused["run_id"], "s5", [{**waiting, "result": "sunny, 21C"}]))
        assert events[0]["event"] == "RunContinued"
        assert events[-1]["event"] == "RunCompleted"
        assert events[-1]["content"] == "done: sunny, 21C"
    finally:
        stop_server(server)


def approvals(server: Server, user: str, **params: str) -> dict[str, Any]:
    listed = httpx.get(f"{server.url}/approvals", params={"user_id": user, **params}, timeout=10)
    assert listed.status_code == 200, listed.text
    return listed.json()


def test_approvals_list_what_the_users_paused_runs_wait_for_until_they_resume(tmp_path: Path) -> None:
    server = start(tmp_path)
    try:
        banker = pause(server, "banker", "s6")
        shipper = pause(server, "shipper", "s7")
        listed = approvals(server, "ann")
        assert listed["meta"]["total_count"] == 2
        rows = {r["run_id"]: r for r in listed["data"]}
        assert set(rows) == {banker["run_id"], shipper["run_id"]}
        row = rows[banker["run_id"]]
        assert (row["id"], row["status"], row["pause_type"], row["tool_name"]) == (
            banker["requirements"][0]["id"],
            "pending",
            "confirmation",
            "transfer",
        )
        assert (row["agent_id"], row["user_id"], row["session_id"], row["run_status"]) == (
            "banker",
            "ann",
            "s6",
            "PAUSED",
        )
        assert rows[shipper["run_id"]]["pause_type"] == "user_input"
        assert [r["run_id"] for r in approvals(server, "ann", pause_type="user_input")["data"]] == [shipper["run_id"]]
        assert approvals(server, "ann", status="approved")["data"] == []
        assert approvals(server, "bob")["data"] == []  # another user's paused runs are not theirs to see
        count = httpx.get(f"{server.url}/approvals/count", params={"user_id": "ann"}, timeout=10)
        assert count.json() == {"count": 2}

        done = resume(server, "banker", banker["run_id"], "s6", [{**banker["tools"][0], "confirmed": True}])
        assert done.status_code == 200
        assert [r["run_id"] for r in approvals(server, "ann")["data"]] == [shipper["run_id"]]
    finally:
        stop_server(server)


def test_two_continues_at_once_resume_the_run_once(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    server = start(tmp_path)
    try:
        paused = pause(server, "banker", "s8")
        decision = [{**paused["tools"][0], "confirmed": True}]
        with ThreadPoolExecutor(4) as pool:
            answers = list(
                pool.map(lambda _: resume(server, "banker", paused["run_id"], "s8", decision, stream="false"), range(4))
            )
        assert sorted(a.status_code for a in answers) == [200, 409, 409, 409], [a.text for a in answers]
        assert (tmp_path / "ledger.txt").read_text() == "transfer 10 bob\n"  # the tool ran once
    finally:
        stop_server(server)


def test_a_workflow_step_that_pauses_survives_a_restart_and_its_continue_runs_the_rest_once(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.txt"
    server = start(tmp_path)
    try:
        events = events_of(
            httpx.post(
                f"{server.url}/workflows/payout/runs",
                files=form(message="pay bob", session_id="w1", user_id="ann"),
                timeout=30,
            )
        )
        assert events[0]["event"] == "WorkflowStarted"
        assert [e["event"] for e in events[-2:]] == ["StepExecutorPaused", "WorkflowPaused"]
        paused = events[-1]
        (requirement,) = paused["step_requirements"]
        assert (requirement["step_name"], requirement["executor_type"]) == ("pay", "agent")
        assert requirement["executor_requirements"][0]["tool_execution"]["tool_name"] == "transfer"
        assert not ledger.exists()
    finally:
        stop_server(server)
    server = start(tmp_path)  # nothing held in memory: a new process resumes it
    try:
        run_id = paused["run_id"]
        read = httpx.get(
            f"{server.url}/workflows/payout/runs/{run_id}", params={"session_id": "w1", "user_id": "ann"}, timeout=10
        ).json()
        assert (read["status"], read["step_requirements"]) == ("PAUSED", [requirement])
        decided = [{**r, "confirmation": True} for r in requirement["executor_requirements"]]
        sent = json.dumps([{**requirement, "executor_requirements": decided}])
        done = httpx.post(
            f"{server.url}/workflows/payout/runs/{run_id}/continue",
            files=form(step_requirements=sent, session_id="w1", user_id="ann", stream="false"),
            timeout=30,
        )
        assert done.status_code == 200, done.text
        body = done.json()
        assert (body["status"], body["content"]) == ("COMPLETED", "reported: done: sent 10 to bob")
        assert ledger.read_text() == "transfer 10 bob\n"
        again = httpx.post(
            f"{server.url}/workflows/payout/runs/{run_id}/continue",
            files=form(step_requirements=sent, session_id="w1", user_id="ann", stream="false"),
            timeout=30,
        )
        assert again.status_code == 409, again.text
        assert ledger.read_text() == "transfer 10 bob\n"
    finally:
        stop_server(server)


def test_a_sessions_run_listing_and_the_approvals_carry_what_paused_team_and_workflow_runs_wait_on(
    tmp_path: Path,
) -> None:
    # Given a paused team run and a paused workflow run of one user
    server = start(tmp_path)
    try:
        team = httpx.post(
            f"{server.url}/teams/bank/runs",
            files=form(message="go", session_id="t1", user_id="ann", stream="false"),
            timeout=30,
        ).json()
        flow = httpx.post(
            f"{server.url}/workflows/payout/runs",
            files=form(message="pay bob", session_id="w2", user_id="ann", stream="false"),
            timeout=30,
        ).json()
        assert (team["status"], flow["status"]) == ("PAUSED", "PAUSED"), (team, flow)

        # When a client lists each session's runs, as the playground does on reopening them
        def listed(session: str, kind: str) -> dict[str, Any]:
            runs = httpx.get(
                f"{server.url}/sessions/{session}/runs", params={"type": kind, "user_id": "ann"}, timeout=10
            )
            assert runs.status_code == 200, runs.text
            (run,) = [r for r in runs.json() if not r.get("parent_run_id")]  # a team's members' runs are listed too
            return run

        # Then each paused run says what it waits on, as a read of that one run does
        team_run = listed("t1", "team")
        assert team_run["requirements"] == team["requirements"]
        assert team_run["requirements"][0]["tool_execution"]["tool_name"] == "transfer"
        flow_run = listed("w2", "workflow")
        assert flow_run["step_requirements"] == flow["step_requirements"]
        assert (flow_run["pause_kind"], flow_run["paused_step_name"]) == ("executor", "pay")

        # And the approvals list the workflow's call too, with the step requirement to send back
        rows = approvals(server, "ann", workflow_id="payout")["data"]
        assert [(r["source_type"], r["tool_name"], r["run_id"]) for r in rows] == [
            ("workflow", "transfer", flow["run_id"])
        ]
        assert {r["source_type"] for r in approvals(server, "ann")["data"]} == {"team", "workflow"}
        (step,) = rows[0]["requirements"]
        decided = [{**r, "confirmation": True} for r in step["executor_requirements"]]
        done = httpx.post(
            f"{server.url}/workflows/payout/runs/{flow['run_id']}/continue",
            files=form(
                step_requirements=json.dumps([{**step, "executor_requirements": decided}]),
                session_id="w2",
                user_id="ann",
                stream="false",
            ),
            timeout=30,
        )
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "COMPLETED"
        assert "step_requirements" not in listed("w2", "workflow")  # a completed run waits on nothing
        assert approvals(server, "ann", workflow_id="payout")["data"] == []
    finally:
        stop_server(server)
