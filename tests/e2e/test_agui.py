"""AG-UI on the real server (`stratus dev`, uvicorn, its SQLite file), driven by AG-UI's own client: the
`@ag-ui/client` package's `HttpAgent`, unchanged, run by node (tests/agui_client, installed from its lock), as a
front end drives an agent. API keys are on: two users, each with their own key (tests/fakes/agui_app.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from ag_ui.core import Event, EventType, RunFinishedEvent, RunStartedEvent
from pydantic import TypeAdapter

from tests.e2e.conftest import Server, start_server, stop_server

pytestmark = pytest.mark.e2e

CLIENT = Path(__file__).resolve().parents[1] / "agui_client"
ANN, BOB = {"Authorization": "Bearer key-ann"}, {"Authorization": "Bearer key-bob"}

Turns = list[dict[str, Any]]


@pytest.fixture(scope="session")
def agui_client() -> Callable[..., Turns]:
    """`run(path, thread, turns, headers=..., state=...)`: the client's view of each turn (run.mjs says what)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node, "the AG-UI tests run AG-UI's JavaScript client: install Node.js (20 or later)"
    assert npm, "npm (it comes with Node.js) installs the client from tests/agui_client/package-lock.json"
    installed = CLIENT / "node_modules" / ".package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < (CLIENT / "package-lock.json").stat().st_mtime:
        # Exactly what the lock pins; node_modules is git-ignored, so this runs once per checkout.
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--prefix", str(CLIENT)], check=True, timeout=300)

    def run(url: str, thread: str, turns: list[str], headers: dict[str, str], state: dict[str, Any] | None = None):
        spec = {"url": url, "threadId": thread, "headers": headers, "state": state or {}, "turns": turns}
        done = subprocess.run(
            [node, "run.mjs", json.dumps(spec)], cwd=CLIENT, capture_output=True, text=True, timeout=60, check=True
        )
        return json.loads(done.stdout)

    return run


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"AGUI_TEST_KEYS": "key-ann=ann,key-bob=bob", "STRATUS_API_KEYS_SECRET": "stratus-api-keys"}
    server = start_server(tmp_path_factory.mktemp("agui"), app="tests.fakes.agui_app:app", env=env)
    yield server
    stop_server(server)


def kinds(turn: dict[str, Any]) -> list[str]:
    """The turn's event types, each stretch of text deltas as one."""
    out: list[str] = []
    for event in turn["events"]:
        if not (event["type"] == "TEXT_MESSAGE_CONTENT" and out[-1:] == ["TEXT_MESSAGE_CONTENT"]):
            out.append(event["type"])
    return out


def text(turn: dict[str, Any]) -> str:
    return "".join(e["delta"] for e in turn["events"] if e["type"] == "TEXT_MESSAGE_CONTENT")


def of_type(turn: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in turn["events"] if e["type"] == kind]


def test_the_ag_ui_client_runs_an_agent_and_sees_its_text_tool_calls_and_state(
    server: Server, agui_client: Callable[..., Turns]
) -> None:
    first, second = agui_client(
        f"{server.url}/agui/agents/shop", "thread-1", ["apples", "pears"], ANN, state={"theme": "dark"}
    )

    assert first["error"] is None
    assert second["error"] is None
    assert kinds(first) == [
        "RUN_STARTED",
        "TOOL_CALL_START",
        "TOOL_CALL_ARGS",
        "TOOL_CALL_END",
        "TOOL_CALL_RESULT",
        "STATE_SNAPSHOT",  # the tool wrote the state: the front end sees it at once
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_END",
        "STATE_SNAPSHOT",  # the state the run leaves, stored
        "RUN_FINISHED",
    ]
    assert [e["snapshot"] for e in of_type(first, "STATE_SNAPSHOT")] == [{"theme": "dark", "cart": ["apples"]}] * 2
    (start,) = of_type(first, "TOOL_CALL_START")
    assert start["toolCallName"] == "add_to_cart"
    assert json.loads(of_type(first, "TOOL_CALL_ARGS")[0]["delta"]) == {"item": "apples"}
    (result,) = of_type(first, "TOOL_CALL_RESULT")
    assert result["toolCallId"] == start["toolCallId"]
    assert json.loads(result["content"]) == {"added": "apples", "size": 1}
    assert len(of_type(first, "TEXT_MESSAGE_CONTENT")) > 1  # streamed, delta by delta
    assert text(first) == "added apples; the cart holds 1 (turn 1)"
    # The state the client sent is the session's, with what the tool wrote; the client now holds it.
    assert first["state"] == {"theme": "dark", "cart": ["apples"]}
    # The server keeps the thread: the second turn's model saw the first (turn 2), and the cart grew.
    assert text(second) == "added pears; the cart holds 2 (turn 2)"
    assert second["state"] == {"theme": "dark", "cart": ["apples", "pears"]}
    roles = [(m["role"], m.get("content")) for m in second["messages"]]
    assert roles[-4:] == [
        ("user", "pears"),
        ("assistant", None),  # its tool call
        ("tool", '{"added": "pears", "size": 2}'),
        ("assistant", "added pears; the cart holds 2 (turn 2)"),
    ]

    # The thread is the session and the runs are REST runs: RUN_STARTED names them.
    (started,) = of_type(first, "RUN_STARTED")
    assert started["threadId"] == "thread-1"
    run = httpx.get(
        f"{server.url}/agents/shop/runs/{started['runId']}", params={"session_id": "thread-1"}, headers=ANN, timeout=10
    )
    assert run.status_code == 200, run.text
    assert (run.json()["status"], run.json()["content"]) == ("COMPLETED", "added apples; the cart holds 1 (turn 1)")
    session = httpx.get(f"{server.url}/sessions/thread-1", headers=ANN, timeout=10).json()
    assert (session["user_id"], session["session_state"]) == ("ann", {"theme": "dark", "cart": ["apples", "pears"]})


def test_a_team_answers_over_ag_ui(server: Server, agui_client: Callable[..., Turns]) -> None:
    (turn,) = agui_client(f"{server.url}/agui/teams/desk", "thread-desk", ["plums"], ANN)

    assert turn["error"] is None
    assert [e["toolCallName"] for e in of_type(turn, "TOOL_CALL_START")] == ["route_to_member"]  # the member's stay in
    assert text(turn) == "added plums; the cart holds 1 (turn 1)"
    # The member's tool wrote the state the team shares: sent as it changed (after the member's run), and at the end.
    assert kinds(turn)[:6] == [
        "RUN_STARTED",
        "TOOL_CALL_START",
        "TOOL_CALL_ARGS",
        "TOOL_CALL_END",
        "STATE_SNAPSHOT",
        "TOOL_CALL_RESULT",
    ]
    assert [e["snapshot"] for e in of_type(turn, "STATE_SNAPSHOT")] == [{"cart": ["plums"]}] * 2
    assert turn["state"] == {"cart": ["plums"]}


def test_another_user_can_neither_continue_nor_read_a_thread(server: Server, agui_client: Callable[..., Turns]) -> None:
    (ann,) = agui_client(f"{server.url}/agui/agents/shop", "thread-ann", ["figs"], ANN)
    assert ann["error"] is None

    (bob,) = agui_client(f"{server.url}/agui/agents/shop", "thread-ann", ["steal"], BOB)
    assert "HTTP 404" in (bob["error"] or "")
    assert bob["events"] == []
    # Another component cannot take the thread over either, not even for its owner.
    (team,) = agui_client(f"{server.url}/agui/teams/desk", "thread-ann", ["figs"], ANN)
    assert "HTTP 404" in (team["error"] or "")
    # A user id the client claims does not beat the verified one.
    claimed = httpx.post(
        f"{server.url}/agui/agents/shop",
        json={**body("steal", thread="thread-ann"), "forwardedProps": {"user_id": "ann"}},
        headers=BOB,
        timeout=10,
    )
    assert claimed.status_code == 404
    assert claimed.json()["detail"] == "session 'thread-ann' not found"
    assert httpx.get(f"{server.url}/sessions/thread-ann", headers=BOB, timeout=10).status_code == 404
    assert httpx.post(f"{server.url}/agui/agents/shop", json=body("hi"), timeout=10).status_code == 401

    # Nothing of Bob's went into Ann's thread.
    runs = httpx.get(f"{server.url}/sessions/thread-ann/runs", headers=ANN, timeout=10).json()
    assert [r["content"] for r in runs] == ["added figs; the cart holds 1 (turn 1)"]


def body(message: str | None, thread: str = "thread-bad", **more: Any) -> dict[str, Any]:
    messages = [] if message is None else [{"id": "m1", "role": "user", "content": message}]
    return {"threadId": thread, "runId": "client-run", "messages": messages, **more}


@pytest.mark.parametrize(
    ("payload", "status", "says"),
    [
        (body(None), 422, "no user message"),
        (body("   "), 422, "empty"),
        (body("hi", messages=[{"id": "a", "role": "assistant", "content": "hello"}]), 422, "no user message"),
        (body("hi", state=["not", "an", "object"]), 422, "dictionary"),
        (body("hi", thread="t" * 300), 422, "at most 256"),
        (body("hi", resume=[{"interruptId": "i1", "status": "resolved"}]), 422, "/continue"),
        (
            body(
                None,
                messages=[
                    {
                        "id": "m1",
                        "role": "user",
                        "content": [{"type": "image", "source": {"type": "url", "value": "https://example.com/a.png"}}],
                    }
                ],
            ),
            422,
            "only text parts",
        ),
        ({"threadId": "thread-bad"}, 422, "Field required"),
    ],
)
def test_bad_input_is_a_4xx_with_a_detail_and_stores_nothing(
    server: Server, payload: dict[str, Any], status: int, says: str
) -> None:
    answer = httpx.post(f"{server.url}/agui/agents/shop", json=payload, headers=ANN, timeout=10)

    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert says in json.dumps(answer.json()["detail"])
    for thread in ("thread-bad", "t" * 300):
        assert httpx.get(f"{server.url}/sessions/{thread}", headers=ANN, timeout=10).status_code == 404


def test_an_unknown_agent_is_a_404(server: Server) -> None:
    answer = httpx.post(f"{server.url}/agui/agents/nobody", json=body("hi"), headers=ANN, timeout=10)

    assert answer.status_code == 404
    assert answer.json()["detail"] == "agent 'nobody' not found"


def test_a_failed_run_ends_with_run_error(server: Server, agui_client: Callable[..., Turns]) -> None:
    (turn,) = agui_client(f"{server.url}/agui/agents/broken", "thread-broken", ["hi"], ANN)

    assert kinds(turn) == ["RUN_STARTED", "RUN_ERROR"]
    (error,) = of_type(turn, "RUN_ERROR")
    # As a buffered REST run's: the error's type, and its message only when it is about the run, not the server.
    assert (error["code"], error["message"]) == ("RuntimeError", "Internal server error")


def test_a_run_that_waits_for_a_person_ends_with_an_interrupt(
    server: Server, agui_client: Callable[..., Turns]
) -> None:
    turn, after = agui_client(
        f"{server.url}/agui/agents/banker",
        "thread-bank",
        ["pay", {"text": "never mind", "cancelInterrupts": True}],
        ANN,
    )

    assert turn["error"] is None
    assert kinds(turn) == ["RUN_STARTED", "TOOL_CALL_START", "TOOL_CALL_ARGS", "TOOL_CALL_END", "RUN_FINISHED"]
    (call,) = of_type(turn, "TOOL_CALL_START")
    assert call["toolCallName"] == "transfer"
    (finished,) = of_type(turn, "RUN_FINISHED")
    assert finished["outcome"] == {
        "type": "interrupt",
        "interrupts": [{"id": call["toolCallId"], "reason": "confirmation", "toolCallId": call["toolCallId"]}],
    }
    # Giving the interrupt up lets the thread go on (a new run); the paused one waits, stored.
    assert after["error"] is None
    assert of_type(after, "RUN_FINISHED")[0]["runId"] != finished["runId"]
    # Stored PAUSED, nothing held in memory: the REST API's /continue takes the decision.
    run = httpx.get(
        f"{server.url}/agents/banker/runs/{finished['runId']}", params={"session_id": "thread-bank"}, headers=ANN
    ).json()
    assert run["status"] == "PAUSED"
    decided = [{**run["tools"][0], "confirmed": True}]
    resumed = httpx.post(
        f"{server.url}/agents/banker/runs/{finished['runId']}/continue",
        json={"tools": decided, "session_id": "thread-bank", "stream": False},
        headers=ANN,
        timeout=30,
    )
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["content"] == "done: sent 10"


EVENT: TypeAdapter[Any] = TypeAdapter(Event)


def test_a_run_cancelled_over_rest_ends_its_ag_ui_stream(server: Server) -> None:
    """The AG-UI run is a REST run in the registry: `/cancel` with the id RUN_STARTED names stops it."""
    events: list[Any] = []
    with httpx.stream(
        "POST", f"{server.url}/agui/agents/sleepy", json=body("hi", thread="thread-sleepy"), headers=ANN, timeout=30
    ) as stream:
        assert stream.status_code == 200
        for line in stream.iter_lines():
            if not line.startswith("data: "):
                continue
            events.append(EVENT.validate_json(line[len("data: ") :]))  # AG-UI's own Python types
            if isinstance(events[-1], RunStartedEvent):
                cancel = httpx.post(
                    f"{server.url}/agents/sleepy/runs/{events[-1].run_id}/cancel",
                    params={"session_id": "thread-sleepy"},
                    headers=ANN,
                    timeout=10,
                )
                assert cancel.status_code == 200, cancel.text

    assert [e.type for e in events] == [EventType.RUN_STARTED, EventType.RUN_FINISHED]
    finished = events[-1]
    assert isinstance(finished, RunFinishedEvent)
    assert finished.outcome is not None
    assert finished.outcome.type == "cancelled"
    run = httpx.get(
        f"{server.url}/agents/sleepy/runs/{events[0].run_id}",
        params={"session_id": "thread-sleepy"},
        headers=ANN,
        timeout=10,
    )
    assert run.json()["status"] == "CANCELLED"


def test_a_client_that_goes_away_leaves_the_run_to_finish_and_be_stored(server: Server) -> None:
    with httpx.stream(
        "POST", f"{server.url}/agui/agents/sleepy", json=body("nap", thread="thread-nap"), headers=ANN, timeout=30
    ) as stream:
        first = EVENT.validate_json(next(stream.iter_lines()).removeprefix("data: "))
    assert isinstance(first, RunStartedEvent)  # and the client hangs up

    deadline = time.monotonic() + 20
    run: dict[str, Any] = {}
    while time.monotonic() < deadline:
        run = httpx.get(
            f"{server.url}/agents/sleepy/runs/{first.run_id}", params={"session_id": "thread-nap"}, headers=ANN
        ).json()
        if run["status"] != "RUNNING":
            break
        time.sleep(0.2)
    assert (run["status"], run["content"]) == ("COMPLETED", "rested")
