"""`POST /{agents|teams|workflows}/{id}/runs/{run_id}/continue` with AgentOS' fields, on both stores: a follow-up
to a completed agent or team run (a new run with the conversation as its context, the original untouched),
a paused workflow run resumed after its last finished step; the owner only, 404 for an unknown run, 409 for
one that cannot be continued, 422 with a JSON `detail` for bad input, and nothing stored for any of them.
And the `MemoryUpdateStarted` / `MemoryUpdateCompleted` events of an agent that learns."""

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
from stratus.run import RunOutput, RunStatus
from stratus.storage.base import Store
from stratus.storage.sqlite import SqliteStore
from tests.fakes.continue_apps import GATE, continue_app

ALICE = {"authorization": "Bearer key-alice"}
BOB = {"authorization": "Bearer key-bob"}


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "sqlite":
        return SqliteStore(tmp_path / "continue.db")
    return request.getfixturevalue("dynamo_store")


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    auth = ApiKeyAuth({hash_key("key-alice"): "alice", hash_key("key-bob"): "bob"})
    with TestClient(create_app(continue_app(store), auth=auth)) as c:
        yield c


def start(client: TestClient, path: str, message: str, session_id: str) -> dict[str, Any]:
    response = client.post(path, data={"message": message, "stream": "false", "session_id": session_id}, headers=ALICE)
    assert response.status_code == 200, response.text
    return response.json()


def stored_runs(client: TestClient, session_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/sessions/{session_id}/runs", headers=ALICE)
    assert response.status_code == 200, response.text
    return response.json()


def sse(text: str) -> list[dict[str, Any]]:
    names = [line[len("event: ") :] for line in text.splitlines() if line.startswith("event: ")]
    events = [json.loads(line[len("data: ") :]) for line in text.splitlines() if line.startswith("data: ")]
    assert names == [e["event"] for e in events], text[:500]
    return events


@pytest.mark.parametrize(("prefix", "component", "kind"), [("/agents", "recall", "agent"), ("/teams", "desk", "team")])
def test_a_completed_run_is_followed_up_in_a_new_run_with_its_conversation(
    client: TestClient, prefix: str, component: str, kind: str
) -> None:
    first = start(client, f"{prefix}/{component}/runs", "my cat is Tom", "s1")
    assert first["content"] == "seen: my cat is Tom"

    response = client.post(
        f"{prefix}/{component}/runs/{first['run_id']}/continue",
        data={"tools": "[]", "input": "what is my cat called?", "session_id": "s1", "stream": "false"},
        headers=ALICE,
    )
    assert response.status_code == 200, response.text
    follow_up = response.json()
    # The model saw the earlier exchange, then the follow-up; the answer is a run of its own.
    assert follow_up["content"] == "seen: my cat is Tom | what is my cat called?"
    assert follow_up["run_id"] != first["run_id"]
    assert follow_up["forked_from_run_id"] == first["run_id"]
    assert follow_up["session_id"] == "s1"
    assert follow_up["user_id"] == "alice"
    assert follow_up["status"] == "COMPLETED"
    assert follow_up[f"{kind}_id"] == component
    assert follow_up["input"]["input_content"] == "what is my cat called?"

    runs = [r for r in stored_runs(client, "s1") if not r.get("parent_run_id")]
    assert [r["run_id"] for r in runs] == [first["run_id"], follow_up["run_id"]]
    original = runs[0]
    assert original["content"] == "seen: my cat is Tom"  # untouched
    assert original.get("forked_from_run_id") is None

    # Continuing the follow-up carries the whole conversation on.
    again = client.post(
        f"{prefix}/{component}/runs/{follow_up['run_id']}/continue",
        json={"input": "and again?", "session_id": "s1", "stream": False},
        headers=ALICE,
    )
    assert again.status_code == 200, again.text
    assert again.json()["content"] == "seen: my cat is Tom | what is my cat called? | and again?"

    # The follow-up's copy of the conversation is flagged as history, so the session's chat lists each message once.
    copied = [m for m in follow_up["messages"] if m.get("from_history")]
    assert [m["content"] for m in copied if m["role"] == "user"] == ["my cat is Tom"]
    chat = client.get("/sessions/s1", headers=ALICE).json()["chat_history"]
    assert [m["content"] for m in chat if m["role"] == "user"] == [
        "my cat is Tom",
        "what is my cat called?",
        "and again?",
    ]


@pytest.mark.parametrize(
    ("prefix", "component", "opening", "closing"),
    [("/agents", "recall", "RunContinued", "RunCompleted"), ("/teams", "desk", "TeamRunContinued", "TeamRunCompleted")],
)
def test_a_streamed_follow_up_opens_with_run_continued(
    client: TestClient, prefix: str, component: str, opening: str, closing: str
) -> None:
    first = start(client, f"{prefix}/{component}/runs", "hello", "s2")
    response = client.post(
        f"{prefix}/{component}/runs/{first['run_id']}/continue",
        data={"input": "more", "session_id": "s2"},  # stream defaults to true, as in AgentOS
        headers=ALICE,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse(response.text)
    assert events[0]["event"] == opening
    assert events[-1]["event"] == closing
    assert events[-1]["content"] == "seen: hello | more"
    new_id = events[0]["run_id"]
    assert new_id != first["run_id"]
    assert {e["run_id"] for e in events if "parent_run_id" not in e} == {new_id}  # a member's name their team's
    assert "RunStarted" not in [e["event"] for e in events if e["run_id"] == new_id]
    runs = {r["run_id"]: r for r in stored_runs(client, "s2")}
    assert runs[new_id]["status"] == "COMPLETED"


def test_only_the_owner_continues_a_run_and_an_unknown_run_is_404(client: TestClient) -> None:
    first = start(client, "/agents/recall/runs", "secret plans", "s3")
    path = f"/agents/recall/runs/{first['run_id']}/continue"
    for headers, session, run_path in [
        (BOB, "s3", path),  # another user's run, even naming its session
        (ALICE, "other-session", path),  # the run is not in that session
        (ALICE, "s3", "/agents/recall/runs/no-such-run/continue"),
        (ALICE, "s3", f"/teams/desk/runs/{first['run_id']}/continue"),  # an agent's run is not the team's
    ]:
        response = client.post(
            run_path, data={"input": "tell me", "session_id": session, "stream": "false"}, headers=headers
        )
        assert response.status_code == 404, (run_path, response.text)
        assert "not found" in response.json()["detail"]
    assert (
        client.post(
            "/agents/nobody/runs/x/continue", data={"input": "x", "session_id": "s3"}, headers=ALICE
        ).status_code
        == 404
    )
    assert [r["run_id"] for r in stored_runs(client, "s3")] == [first["run_id"]]  # nothing stored


def test_bad_input_is_a_4xx_with_a_detail_and_stores_nothing(client: TestClient) -> None:
    first = start(client, "/agents/recall/runs", "hi", "s4")
    path = f"/agents/recall/runs/{first['run_id']}/continue"
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"input": "x"}, 422, "session_id is required"),
        ({"input": "x", "session_id": "s4", "tools": "{not json"}, 422, "Invalid JSON in tools field"),
        ({"input": "x", "session_id": "s4", "tools": '{"a": 1}'}, 422, "JSON list of objects"),
        ({"session_id": "s4"}, 422, "input is required"),
        ({"input": "   ", "session_id": "s4"}, 422, "input is required"),
        ({"input": "x", "session_id": "s4", "continue_from": "last_user"}, 422, "continue_from"),
        ({"input": "x", "session_id": "s4", "regenerate": "true"}, 422, "regenerate"),
        (
            # Decisions for a run that ended (resumed already, say) are a conflict: nothing changes.
            {"input": "x", "session_id": "s4", "tools": json.dumps([{"tool_call_id": "c1", "result": "ok"}])},
            409,
            "no tool call",
        ),
        ({"input": "x", "session_id": "s4", "stream": "maybe"}, 422, ""),
    ]
    for form, status, detail in cases:
        response = client.post(path, data=form, headers=ALICE)
        assert response.status_code == status, (form, response.text)
        body = response.json()
        assert "detail" in body
        assert detail in json.dumps(body["detail"])
    bad_json = client.post(path, content=b"[1, 2]", headers={**ALICE, "content-type": "application/json"})
    assert bad_json.status_code == 422
    assert [r["run_id"] for r in stored_runs(client, "s4")] == [first["run_id"]]


def test_a_run_that_did_not_complete_cannot_be_followed_up(client: TestClient, store: Store) -> None:
    first = start(client, "/agents/recall/runs", "hi", "s5")
    run = asyncio.run(store.get_run(first["run_id"]))
    assert run is not None
    for status, detail in [
        (RunStatus.RUNNING, "run is already running"),
        (RunStatus.ERROR, "run has errored"),
        (RunStatus.CANCELLED, "run is already cancelled"),
    ]:
        _rewrite(store, run, status)
        response = client.post(
            f"/agents/recall/runs/{run.run_id}/continue",
            data={"input": "again", "session_id": "s5", "stream": "false"},
            headers=ALICE,
        )
        assert response.status_code == 409, response.text
        assert detail in response.json()["detail"]
    # A paused run is resumed with the decisions it waits for (tests/e2e/test_hitl_server.py), not followed up.
    _rewrite(store, run, RunStatus.PAUSED)
    response = client.post(
        f"/agents/recall/runs/{run.run_id}/continue",
        data={"input": "again", "session_id": "s5", "stream": "false"},
        headers=ALICE,
    )
    assert response.status_code == 422, response.text
    assert "send the decisions" in response.json()["detail"]
    assert len(stored_runs(client, "s5")) == 1


def test_a_run_still_running_in_this_process_is_a_409(client: TestClient) -> None:
    GATE.clear()
    accepted = client.post(
        "/agents/waiter/runs", data={"message": "slow", "session_id": "s10", "background": "true"}, headers=ALICE
    )
    assert accepted.status_code == 202, accepted.text
    run_id = accepted.json()["run_id"]
    try:
        response = client.post(
            f"/agents/waiter/runs/{run_id}/continue",
            data={"input": "and?", "session_id": "s10", "stream": "false"},
            headers=ALICE,
        )
        assert response.status_code == 409
        assert response.json()["detail"] == "run is still running"
    finally:
        GATE.set()
    deadline = time.monotonic() + 30
    while client.get(f"/agents/waiter/runs/{run_id}", headers=ALICE).json()["status"] != "COMPLETED":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert len(stored_runs(client, "s10")) == 1  # the refused continue stored nothing


def _rewrite(store: Store, run: RunOutput, status: RunStatus) -> None:
    async def write() -> None:
        session = await store.get_session(run.session_id)
        assert session is not None
        run.status = status
        await store.save_run(session, run, state_base=session.session_state)

    asyncio.run(write())


def test_a_paused_workflow_run_resumes_after_its_last_finished_step(client: TestClient, store: Store) -> None:
    done = start(client, "/workflows/pipeline/runs", "go", "s6")
    assert done["content"] == "SEEN: GO"
    # A run paused after its first step (what a step awaiting a person's decision leaves in the store).
    run = asyncio.run(store.get_run(done["run_id"]))
    assert run is not None
    assert run.step_results is not None
    run.step_results = run.step_results[:1]
    run.content = None
    _rewrite(store, run, RunStatus.PAUSED)

    path = f"/workflows/pipeline/runs/{run.run_id}/continue"
    form = {"step_requirements": "[]", "session_id": "s6", "stream": "false"}
    # While another request (here or in another process) holds the run's resumption, a second one is refused.
    held = asyncio.run(store.claim(f"continue:{run.run_id}", lease_seconds=60))
    refused = client.post(path, data=form, headers=ALICE)
    assert refused.status_code == 409
    assert refused.json()["detail"] == "run is already being continued"
    asyncio.run(store.release_claim(held))

    response = client.post(path, data=form, headers=ALICE)
    assert response.status_code == 200, response.text
    resumed = response.json()
    assert resumed["run_id"] == run.run_id  # resumed in place, as AgentOS does
    assert resumed["status"] == "COMPLETED"
    assert resumed["content"] == "SEEN: GO"
    assert [s["step_name"] for s in resumed["step_results"]] == ["Recall", "shout"]
    children = [r for r in asyncio.run(store.get_runs("s6")) if r.parent_run_id == run.run_id]
    assert len(children) == 1  # the first step's agent did not run again
    after = asyncio.run(store.claim(f"continue:{run.run_id}", lease_seconds=60))
    assert after.acquired  # the resumption gave its claim up at its end
    asyncio.run(store.release_claim(after))
    listed = [r for r in stored_runs(client, "s6") if r["run_id"] == run.run_id]
    assert listed[0]["status"] == "COMPLETED"
    # Only a paused workflow run continues (AgentOS' rule); a completed one is a 409.
    again = client.post(
        f"/workflows/pipeline/runs/{run.run_id}/continue", data={"session_id": "s6", "stream": "false"}, headers=ALICE
    )
    assert again.status_code == 409
    assert again.json()["detail"] == "run is already completed"

    # Streamed (the default), a resumed run's events go from WorkflowStarted to WorkflowCompleted.
    paused = asyncio.run(store.get_run(run.run_id))
    assert paused is not None
    paused.step_results = (paused.step_results or [])[:1]
    _rewrite(store, paused, RunStatus.PAUSED)
    streamed = client.post(path, data={"session_id": "s6"}, headers=ALICE)
    assert streamed.status_code == 200, streamed.text
    events = [e for e in sse(streamed.text) if e["run_id"] == run.run_id]
    assert (events[0]["event"], events[-1]["event"]) == ("WorkflowStarted", "WorkflowCompleted")
    assert events[-1]["content"] == "SEEN: GO"


def test_an_agent_that_learns_streams_the_memory_update_around_queueing_its_run(client: TestClient) -> None:
    response = client.post(
        "/agents/learner/runs", data={"message": "my name is Ada", "session_id": "s7"}, headers=ALICE
    )
    assert response.status_code == 200, response.text
    names = [e["event"] for e in sse(response.text)]
    assert names[-4:] == ["RunContentCompleted", "MemoryUpdateStarted", "MemoryUpdateCompleted", "RunCompleted"]
    # In a team's stream, its learning member's memory update comes with the member's other events.
    team = sse(
        client.post("/teams/tutors/runs", data={"message": "I love jam", "session_id": "s7t"}, headers=ALICE).text
    )
    member_run = next(e["run_id"] for e in team if e["event"] == "RunStarted")
    updates = [(e["event"], e["run_id"], e.get("parent_run_id")) for e in team if e["event"].startswith("MemoryUpdate")]
    team_run = team[-1]["run_id"]
    assert updates == [("MemoryUpdateStarted", member_run, team_run), ("MemoryUpdateCompleted", member_run, team_run)]
    assert team[-1]["event"] == "TeamRunCompleted"
    plain = client.post(
        "/agents/recall/runs", data={"message": "hi", "session_id": "s8"}, headers=ALICE
    )  # no learning: no memory events
    assert not [e for e in sse(plain.text) if e["event"].startswith("MemoryUpdate")]


def test_a_stored_agent_run_lists_agnos_empty_media_lists(client: TestClient) -> None:
    start(client, "/agents/recall/runs", "hi", "s9")
    (listed,) = stored_runs(client, "s9")
    for name in ("images", "videos", "audio", "files", "references", "reasoning_messages"):
        assert listed[name] == [], name


def test_arun_follows_up_on_a_completed_run_from_python(store: Store) -> None:
    from stratus.agent import Agent
    from stratus.models.testing import FunctionModel
    from tests.fakes.continue_apps import seen

    agent = Agent(id="recall", model=FunctionModel(seen), store=store)

    async def scenario() -> tuple[RunOutput, RunOutput, list[str]]:
        first = await agent.arun("remember 7", session_id="p1", user_id="ann")
        names = [e.kind async for e in agent.arun("which number?", stream=True, continues=first)]
        (_, follow_up) = await store.get_runs("p1")
        return first, follow_up, names

    first, follow_up, names = asyncio.run(scenario())
    assert (names[0], names[-1]) == ("RunContinued", "RunCompleted")
    assert follow_up.content == "seen: remember 7 | which number?"
    assert (follow_up.forked_from_run_id, follow_up.session_id, follow_up.user_id) == (first.run_id, "p1", "ann")
