"""A2A on the real server (`stratus dev`, uvicorn, its SQLite file), driven by the `a2a-sdk` client as any A2A
agent would drive it, over both of its bindings (HTTP+JSON and JSON-RPC), with API keys on: two users, each
seeing only their own tasks. A task is a run: the REST API reads the same run, by the task's id."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from a2a.client import A2ACardResolver, Client, ClientConfig, create_client
from a2a.helpers.proto_helpers import get_artifact_text, get_message_text
from a2a.types import (
    CancelTaskRequest,
    GetTaskRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    StreamResponse,
    Task,
    TaskState,
)
from a2a.utils.errors import (
    ContentTypeNotSupportedError,
    InvalidParamsError,
    TaskNotCancelableError,
    TaskNotFoundError,
    UnsupportedOperationError,
)

from tests.e2e.conftest import Server, start_server, stop_server

pytestmark = pytest.mark.e2e

KEYS = {"key-ann": "ann", "key-bob": "bob"}
BINDINGS = ["HTTP+JSON", "JSONRPC"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"STRATUS_API_KEYS_SECRET": "a2a-e2e-keys", "A2A_E2E_KEYS": json.dumps(KEYS)}
    running = start_server(tmp_path_factory.mktemp("a2a"), app="tests.fakes.a2a_app:a2a_app", env=env)
    yield running
    stop_server(running)


def headers(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


@pytest.fixture
async def ann_http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(headers=headers("key-ann"), timeout=30) as http:
        yield http


@pytest.fixture
async def bob_http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(headers=headers("key-bob"), timeout=30) as http:
        yield http


async def client_for(
    server: Server, http: httpx.AsyncClient, path: str = "agents/echo", *, binding: str = "HTTP+JSON", stream: bool
) -> Client:
    config = ClientConfig(httpx_client=http, supported_protocol_bindings=[binding], streaming=stream)
    return await create_client(f"{server.url}/a2a/{path}", config)


def message(
    text: str, *, context_id: str = "", task_id: str = "", parts: list[Part] | None = None
) -> SendMessageRequest:
    sent = Message(
        role=Role.ROLE_USER,
        message_id=f"m-{text}",
        context_id=context_id,
        task_id=task_id,
        parts=parts if parts is not None else [Part(text=text)],
    )
    return SendMessageRequest(message=sent)


async def send(client: Client, request: SendMessageRequest) -> list[StreamResponse]:
    return [event async for event in client.send_message(request)]


def answer(task: Task) -> str:
    assert [a.name for a in task.artifacts] == ["answer"]
    return get_artifact_text(task.artifacts[0])


async def rest_run(server: Server, http: httpx.AsyncClient, path: str, run_id: str) -> httpx.Response:
    """The run over the REST API (`path`: `agents/echo`, `teams/desk`), as the user `http` is."""
    return await http.get(f"{server.url}/{path}/runs/{run_id}")


async def session_runs(server: Server, http: httpx.AsyncClient, session_id: str) -> list[str]:
    listed = await http.get(f"{server.url}/sessions/{session_id}/runs", params={"type": "agent"})
    assert listed.status_code == 200, listed.text
    return [r["run_id"] for r in listed.json()]


async def sessions_of(server: Server, http: httpx.AsyncClient) -> list[str]:
    listed = await http.get(f"{server.url}/sessions", params={"type": "agent"})
    assert listed.status_code == 200, listed.text
    return [s["session_id"] for s in listed.json()["data"]]


async def test_the_card_says_where_the_agent_is_and_what_it_speaks(server: Server, ann_http: httpx.AsyncClient) -> None:
    card = await A2ACardResolver(ann_http, f"{server.url}/a2a/agents/echo").get_agent_card()

    assert (card.name, card.description) == ("Echo", "Says back what it is told.")
    assert [(i.protocol_binding, i.url) for i in card.supported_interfaces] == [
        ("HTTP+JSON", f"{server.url}/a2a/agents/echo"),
        ("JSONRPC", f"{server.url}/a2a/agents/echo"),
    ]
    assert card.capabilities.streaming
    assert not card.capabilities.push_notifications
    assert [s.id for s in card.skills] == ["echo"]
    team = await A2ACardResolver(ann_http, f"{server.url}/a2a/teams/desk").get_agent_card()
    assert team.supported_interfaces[0].url == f"{server.url}/a2a/teams/desk"
    # Behind the same authentication as the REST API; an agent the app does not serve has no card.
    async with httpx.AsyncClient() as anonymous:
        assert (await anonymous.get(f"{server.url}/a2a/agents/echo/.well-known/agent-card.json")).status_code == 401
    assert (await ann_http.get(f"{server.url}/a2a/agents/nobody/.well-known/agent-card.json")).status_code == 404


@pytest.mark.parametrize("binding", BINDINGS)
async def test_a_message_is_a_run_the_task_reads_back(
    server: Server, ann_http: httpx.AsyncClient, binding: str
) -> None:
    client = await client_for(server, ann_http, binding=binding, stream=False)

    [response] = await send(client, message("hello there"))

    task = response.task
    assert task.status.state == TaskState.TASK_STATE_COMPLETED
    assert answer(task) == "echo: hello there"
    assert get_message_text(task.history[0]) == "hello there"
    read = await client.get_task(GetTaskRequest(id=task.id))
    assert (read.id, read.context_id, read.status.state) == (task.id, task.context_id, TaskState.TASK_STATE_COMPLETED)
    assert answer(read) == "echo: hello there"
    assert get_message_text(read.history[0]) == "hello there"
    # The task is the run: the REST API reads it by the task's id, in the session the context names, as ann's.
    run = await rest_run(server, ann_http, "agents/echo", task.id)
    assert run.status_code == 200, run.text
    body = run.json()
    assert (body["session_id"], body["user_id"], body["status"]) == (task.context_id, "ann", "COMPLETED")
    assert body["content"] == "echo: hello there"

    # A follow-up in the same context is a new task, a new run in the same session.
    [second] = await send(client, message("again", context_id=task.context_id))
    assert second.task.context_id == task.context_id
    assert second.task.id != task.id
    assert answer(second.task) == "echo: again"
    assert await session_runs(server, ann_http, task.context_id) == [task.id, second.task.id]


@pytest.mark.parametrize("binding", BINDINGS)
async def test_a_streamed_task_shows_its_states_and_the_answer_as_it_comes(
    server: Server, ann_http: httpx.AsyncClient, binding: str
) -> None:
    client = await client_for(server, ann_http, binding=binding, stream=True)

    events = await send(client, message("one two three"))

    kinds = [e.WhichOneof("payload") for e in events]
    assert kinds[0] == "task"
    assert events[0].task.status.state == TaskState.TASK_STATE_SUBMITTED
    task_id = events[0].task.id
    states = [e.status_update.status.state for e in events if e.HasField("status_update")]
    assert states == [TaskState.TASK_STATE_WORKING, TaskState.TASK_STATE_COMPLETED]
    assert kinds[-1] == "status_update"
    chunks = [e.artifact_update for e in events if e.HasField("artifact_update")]
    assert all(c.task_id == task_id and c.artifact.artifact_id == "answer" for c in chunks)
    pieces = [get_artifact_text(c.artifact) for c in chunks[:-1]]
    assert len(pieces) == 4
    assert "".join(pieces) == "echo: one two three"
    assert [c.append for c in chunks[:-1]] == [False, True, True, True]
    last = chunks[-1]  # then the whole answer, in place of the pieces
    assert (last.last_chunk, last.append, get_artifact_text(last.artifact)) == (True, False, "echo: one two three")
    read = await client.get_task(GetTaskRequest(id=task_id))
    assert read.status.state == TaskState.TASK_STATE_COMPLETED
    assert answer(read) == "echo: one two three"


async def test_a_team_is_an_agent_too(server: Server, ann_http: httpx.AsyncClient) -> None:
    client = await client_for(server, ann_http, "teams/desk", stream=True)

    events = await send(client, message("route me"))

    task_id = events[0].task.id
    assert events[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED
    read = await client.get_task(GetTaskRequest(id=task_id))
    assert answer(read) == "echo: route me"  # the member's answer is the team's
    run = await rest_run(server, ann_http, "teams/desk", task_id)
    assert run.status_code == 200, run.text
    assert run.json()["status"] == "COMPLETED"


async def test_a_task_in_flight_is_cancelled_and_its_stream_ends_so(
    server: Server, ann_http: httpx.AsyncClient
) -> None:
    client = await client_for(server, ann_http, stream=True)
    seen: list[StreamResponse] = []
    working = asyncio.Event()

    async def follow() -> None:
        async for event in client.send_message(message("hang")):
            seen.append(event)
            if event.status_update.status.state == TaskState.TASK_STATE_WORKING:
                working.set()

    following = asyncio.create_task(follow())
    await asyncio.wait_for(working.wait(), 20)
    task_id = seen[0].task.id
    assert (await client.get_task(GetTaskRequest(id=task_id))).status.state == TaskState.TASK_STATE_WORKING

    cancelled = await client.cancel_task(CancelTaskRequest(id=task_id))

    assert cancelled.status.state == TaskState.TASK_STATE_CANCELED
    await asyncio.wait_for(following, 20)
    assert seen[-1].status_update.status.state == TaskState.TASK_STATE_CANCELED
    assert (await client.get_task(GetTaskRequest(id=task_id))).status.state == TaskState.TASK_STATE_CANCELED
    assert (await rest_run(server, ann_http, "agents/echo", task_id)).json()["status"] == "CANCELLED"
    with pytest.raises(TaskNotCancelableError, match="already ended"):
        await client.cancel_task(CancelTaskRequest(id=task_id))


async def test_a_failed_run_is_a_failed_task_saying_no_more_than_the_rest_api(
    server: Server, ann_http: httpx.AsyncClient
) -> None:
    client = await client_for(server, ann_http, stream=True)

    events = await send(client, message("fail"))

    status = events[-1].status_update.status
    assert status.state == TaskState.TASK_STATE_FAILED
    assert get_message_text(status.message) == "Internal server error"  # the model's error stays inside
    read = await client.get_task(GetTaskRequest(id=events[0].task.id))
    assert read.status.state == TaskState.TASK_STATE_FAILED
    assert get_message_text(read.status.message) == "Internal server error"
    assert not read.artifacts


async def test_a_run_started_over_rest_is_a_task_a2a_reads_and_cancels(
    server: Server, ann_http: httpx.AsyncClient
) -> None:
    client = await client_for(server, ann_http, stream=False)
    async with ann_http.stream(
        "POST", f"{server.url}/agents/echo/runs", data={"message": "hang", "stream": "true"}
    ) as response:
        lines = response.aiter_lines()
        started = json.loads((await anext(line async for line in lines if line.startswith("data: ")))[6:])
        run_id = started["run_id"]

        read = await client.get_task(GetTaskRequest(id=run_id))
        assert (read.status.state, read.context_id) == (TaskState.TASK_STATE_WORKING, started["session_id"])
        assert get_message_text(read.history[0]) == "hang"
        cancelled = await client.cancel_task(CancelTaskRequest(id=run_id))

        assert cancelled.status.state == TaskState.TASK_STATE_CANCELED
        rest = [json.loads(line[6:])["event"] async for line in lines if line.startswith("data: ")]
        assert rest[-1] == "RunCancelled"
    assert (await client.get_task(GetTaskRequest(id=run_id))).status.state == TaskState.TASK_STATE_CANCELED


async def test_a_paused_run_is_a_task_awaiting_input_that_goes_on_over_rest(
    server: Server, ann_http: httpx.AsyncClient
) -> None:
    client = await client_for(server, ann_http, "agents/banker", stream=False)

    [response] = await send(client, message("pay"))

    task = response.task
    assert task.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
    assert "/continue" in get_message_text(task.status.message)
    read = await client.get_task(GetTaskRequest(id=task.id))
    assert read.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
    run = (await rest_run(server, ann_http, "agents/banker", task.id)).json()
    assert run["status"] == "PAUSED"
    decided = [{**run["tools"][0], "confirmed": True}]
    form = {"tools": json.dumps(decided), "session_id": task.context_id, "stream": "false"}
    resumed = await ann_http.post(f"{server.url}/agents/banker/runs/{task.id}/continue", data=form)
    assert resumed.status_code == 200, resumed.text
    done = await client.get_task(GetTaskRequest(id=task.id))
    assert done.status.state == TaskState.TASK_STATE_COMPLETED
    assert answer(done) == "done: sent 10"


@pytest.mark.parametrize("binding", BINDINGS)
async def test_another_users_task_and_context_are_absent(
    server: Server, ann_http: httpx.AsyncClient, bob_http: httpx.AsyncClient, binding: str
) -> None:
    ann = await client_for(server, ann_http, binding=binding, stream=False)
    bob = await client_for(server, bob_http, binding=binding, stream=False)
    [mine] = await send(ann, message("ann's secret"))
    task = mine.task

    with pytest.raises(TaskNotFoundError):
        await bob.get_task(GetTaskRequest(id=task.id))
    with pytest.raises(TaskNotFoundError):
        await bob.cancel_task(CancelTaskRequest(id=task.id))
    with pytest.raises(InvalidParamsError, match="not found"):
        await send(bob, message("let me in", context_id=task.context_id))
    # Nothing of bob's went into ann's session, and ann's task is as it was.
    assert await session_runs(server, ann_http, task.context_id) == [task.id]
    assert (await rest_run(server, bob_http, "agents/echo", task.id)).status_code == 404
    assert answer(await ann.get_task(GetTaskRequest(id=task.id))) == "echo: ann's secret"
    # Nor does bob's task under the team's URL read ann's agent task.
    desk = await client_for(server, ann_http, "teams/desk", binding=binding, stream=False)
    with pytest.raises(TaskNotFoundError):
        await desk.get_task(GetTaskRequest(id=task.id))


async def test_bad_input_is_an_a2a_error_and_nothing_is_stored(server: Server, bob_http: httpx.AsyncClient) -> None:
    client = await client_for(server, bob_http, stream=False)
    before = await sessions_of(server, bob_http)

    with pytest.raises(InvalidParamsError, match="no text"):
        await send(client, message("  ", parts=[Part(text="  ")]))
    with pytest.raises(ContentTypeNotSupportedError, match="only text"):
        await send(client, message("a url", parts=[Part(url="https://example.com/a.png")]))
    with pytest.raises(UnsupportedOperationError, match="one message"):
        await send(client, message("more", task_id="some-task"))
    with pytest.raises(TaskNotFoundError):
        await client.get_task(GetTaskRequest(id="no-such-task"))

    assert await sessions_of(server, bob_http) == before


async def test_with_authentication_off_the_user_header_names_the_caller(tmp_path: Path) -> None:
    open_server = start_server(tmp_path, app="tests.fakes.a2a_app:a2a_app")
    try:
        async with (
            httpx.AsyncClient(headers={"X-User-ID": "ann"}, timeout=30) as ann_http,
            httpx.AsyncClient(headers={"X-User-ID": "bob"}, timeout=30) as bob_http,
        ):
            ann = await client_for(open_server, ann_http, stream=False)
            bob = await client_for(open_server, bob_http, stream=False)
            [mine] = await send(ann, message("hello"))

            assert (await rest_run(open_server, ann_http, "agents/echo", mine.task.id)).json()["user_id"] == "ann"
            with pytest.raises(TaskNotFoundError):
                await bob.get_task(GetTaskRequest(id=mine.task.id))
            with pytest.raises(InvalidParamsError, match="not found"):
                await send(bob, message("let me in", context_id=mine.task.context_id))
    finally:
        stop_server(open_server)


async def test_a_message_sent_to_poll_returns_at_once_and_its_run_goes_on(
    server: Server, ann_http: httpx.AsyncClient
) -> None:
    config = ClientConfig(
        httpx_client=ann_http, supported_protocol_bindings=["HTTP+JSON"], streaming=False, polling=True
    )
    client = await create_client(f"{server.url}/a2a/agents/echo", config)

    [response] = await send(client, message("hang"))

    task_id = response.task.id
    assert response.task.status.state not in (TaskState.TASK_STATE_COMPLETED, TaskState.TASK_STATE_CANCELED)
    read = await client.get_task(GetTaskRequest(id=task_id))
    assert read.status.state == TaskState.TASK_STATE_WORKING
    assert (await client.cancel_task(CancelTaskRequest(id=task_id))).status.state == TaskState.TASK_STATE_CANCELED
