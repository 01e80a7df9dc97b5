"""The HTTP API in process (FastAPI's TestClient): AgentOS' routes, fields, event names and error shapes."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from stratus import Agent, App, ModelError, ModelTimeoutError, tool
from stratus.models.testing import ScriptedModel, call
from stratus.storage.sqlite import SqliteStore

REFERENCE = Path(__file__).resolve().parents[1] / "reference"


@tool
def get_weather(city: str) -> str:
    """Get the weather for a city."""
    return f"sunny in {city}"


ClientFactory = Callable[..., TestClient]


@pytest.fixture
def client_for(tmp_path: Path) -> Iterator[ClientFactory]:
    """Build a TestClient serving one agent named `assistant` with the given scripted model."""
    clients: list[TestClient] = []

    def build(model: ScriptedModel, **agent_options: Any) -> TestClient:
        agent = Agent(id="assistant", name="Assistant", model=model, tools=[get_weather], **agent_options)
        app = App(agents=[agent], store=SqliteStore(tmp_path / "api.db"))
        client = TestClient(app.asgi())
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


def parse_sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    for block in text.strip().split("\n\n"):
        lines = block.split("\n")
        assert lines[0].startswith("event: ")
        assert lines[1].startswith("data: ")
        events.append((lines[0][len("event: ") :], json.loads(lines[1][len("data: ") :])))
    return events


# --- discovery ---------------------------------------------------------------------------------------------


def test_health_config_and_agents(client_for: ClientFactory) -> None:
    client = client_for(ScriptedModel())

    health = client.get("/health").json()
    assert health["status"] == "ok"
    assert health["instantiated_at"].endswith("Z")

    config = client.get("/config").json()
    assert config["agents"] == [{"id": "assistant", "name": "Assistant", "db_id": config["databases"][0]}]
    assert config["available_models"] == [{"id": "scripted", "provider": "Test"}]

    agents = client.get("/agents").json()
    assert [a["id"] for a in agents] == ["assistant"]
    agent = client.get("/agents/assistant").json()
    assert agent["model"] == {"name": "ScriptedModel", "model": "scripted", "provider": "Test"}
    assert agent["tools"]["tools"][0]["name"] == "get_weather"
    assert agent["tools"]["tools"][0]["parameters"]["required"] == ["city"]
    assert agent["sessions"]["add_history_to_context"] is False


def test_agent_response_has_the_reference_fields(client_for: ClientFactory) -> None:
    reference = json.loads((REFERENCE / "agentos-openapi.json").read_text())
    fields = set(reference["components"]["schemas"]["AgentResponse"]["properties"])
    agent = client_for(ScriptedModel()).get("/agents/assistant").json()
    assert set(agent) <= fields
    assert {"id", "name", "db_id", "model", "tools", "sessions"} <= set(agent)


def test_unknown_agent_is_a_json_404(client_for: ClientFactory) -> None:
    client = client_for(ScriptedModel())
    for response in (
        client.get("/agents/nope"),
        client.post("/agents/nope/runs", data={"message": "hi"}),
        client.get("/agents/nope/runs/r1"),
    ):
        assert response.status_code == 404
        assert "nope" in response.json()["detail"]


# --- runs ----------------------------------------------------------------------------------------------------


def test_a_buffered_run_from_a_multipart_form(client_for: ClientFactory) -> None:
    client = client_for(ScriptedModel(call("get_weather", city="Oslo"), "TOOL RESULT: sunny in Oslo"))

    response = client.post(
        "/agents/assistant/runs",
        files={"message": (None, "weather?"), "stream": (None, "false"), "session_id": (None, "s1")},
        data={"user_id": "u1"},
    )

    assert response.status_code == 200
    run = response.json()
    assert run["content"] == "TOOL RESULT: sunny in Oslo"
    assert run["status"] == "COMPLETED"
    assert (run["agent_id"], run["agent_name"], run["session_id"], run["user_id"]) == (
        "assistant",
        "Assistant",
        "s1",
        "u1",
    )
    assert run["input"] == {"input_content": "weather?"}
    assert [m["role"] for m in run["messages"]] == ["user", "assistant", "tool", "assistant"]
    assert run["tools"][0]["result"] == "sunny in Oslo"
    assert run["metrics"]["total_tokens"] > 0
    # the keys AgentOS returns for a run are all there
    for key in ("run_id", "content_type", "model", "model_provider", "session_state", "created_at", "metrics"):
        assert key in run


def test_a_buffered_run_from_urlencoded_and_from_json(client_for: ClientFactory) -> None:
    client = client_for(ScriptedModel("from form", "from json"))

    form = client.post("/agents/assistant/runs", data={"message": "hi", "stream": "false"})
    body = client.post("/agents/assistant/runs", json={"message": "hi", "stream": False})

    assert form.json()["content"] == "from form"
    assert body.json()["content"] == "from json"


def test_a_streamed_run_speaks_server_sent_events(client_for: ClientFactory) -> None:
    client = client_for(ScriptedModel(call("get_weather", city="Oslo"), "TOOL RESULT: sunny in Oslo"))

    with client.stream("POST", "/agents/assistant/runs", data={"message": "weather?", "session_id": "s1"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = "".join(response.iter_text())

    events = parse_sse(text)
    names = [name for name, _ in events]
    assert names[0] == "RunStarted"
    assert names[-1] == "RunCompleted"
    assert {
        "ModelRequestStarted",
        "ModelRequestCompleted",
        "ToolCallStarted",
        "ToolCallCompleted",
        "RunContent",
    } <= set(names)
    for name, data in events:
        assert data["event"] == name
        assert data["session_id"] == "s1"
        assert data["agent_id"] == "assistant"
    assert events[-1][1]["content"] == "TOOL RESULT: sunny in Oslo"
    assert "metrics" in events[-1][1]


def test_stream_payloads_carry_the_reference_keys(client_for: ClientFactory) -> None:
    reference: dict[str, set[str]] = {}
    for line in (REFERENCE / "agentos-sse-sample.txt").read_text().splitlines():
        if line.startswith("data: "):
            data = json.loads(line[len("data: ") :])
            reference.setdefault(data["event"], set()).update(data)
    client = client_for(ScriptedModel(call("get_weather", city="Oslo"), "TOOL RESULT: sunny in Oslo"))
    text = client.post("/agents/assistant/runs", data={"message": "weather?", "session_id": "s1"}).text

    ours: dict[str, set[str]] = {}
    for name, data in parse_sse(text):
        ours.setdefault(name, set()).update(data)
    assert set(ours) == set(reference)
    for name, keys in reference.items():
        assert keys <= ours[name], f"{name} lacks {keys - ours[name]}"


@pytest.mark.parametrize(
    ("request_kwargs", "fragment"),
    [
        ({"data": {"stream": "false"}}, "message"),
        ({"data": {"message": "", "stream": "false"}}, "message"),
        ({"data": {"message": "hi", "stream": "perhaps"}}, "stream"),
        ({"data": {"message": "hi", "session_state": "{oops"}}, "session_state"),
        ({"json": {"message": 42}}, "message"),
        ({"json": ["message"]}, "body"),
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, "body"),
    ],
)
def test_invalid_input_is_a_422_that_says_what_is_wrong(
    client_for: ClientFactory, request_kwargs: dict[str, Any], fragment: str
) -> None:
    response = client_for(ScriptedModel()).post("/agents/assistant/runs", **request_kwargs)

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, list)
    assert fragment in [str(part) for error in detail for part in error["loc"]]


def test_an_unsupported_content_type_is_a_415(client_for: ClientFactory) -> None:
    response = client_for(ScriptedModel()).post(
        "/agents/assistant/runs", content=b"hi", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 415
    assert "multipart/form-data" in response.json()["detail"]


def test_text_files_reach_the_model_and_binary_ones_are_refused(client_for: ClientFactory) -> None:
    model = ScriptedModel("read it")
    client = client_for(model)

    ok = client.post(
        "/agents/assistant/runs",
        data={"message": "summarise", "stream": "false"},
        files=[("files", ("notes.md", b"# Plan\nship it", "text/markdown"))],
    )
    refused = client.post(
        "/agents/assistant/runs",
        data={"message": "look", "stream": "false"},
        files=[("files", ("photo.png", b"\x89PNG\r\n", "image/png"))],
    )

    assert ok.status_code == 200
    assert ok.json()["input"] == {"input_content": "summarise", "files": ["notes.md"]}
    assert '<file name="notes.md">\n# Plan\nship it\n</file>' in (model.requests[0][-1].content or "")
    assert refused.status_code == 415
    assert "photo.png" in refused.json()["detail"]


def test_a_text_file_sent_with_a_run_is_listed_with_it_and_leaves_the_session_named_by_the_message(
    client_for: ClientFactory,
) -> None:
    client = client_for(ScriptedModel("read it"))

    sent = client.post(
        "/agents/assistant/runs",
        data={"message": "read this", "stream": "false", "session_id": "f1"},
        files=[("files", ("note.txt", b"the launch moved to May", "text/plain"))],
    )

    assert sent.status_code == 200, sent.text
    session = client.get("/sessions/f1", params={"type": "agent"}).json()
    assert session["session_name"] == "read this"  # what was said, not the file's text
    (run,) = client.get("/sessions/f1/runs", params={"type": "agent"}).json()
    assert run["run_input"] == "read this"
    assert run["files"] == [{"name": "note.txt", "filename": "note.txt", "inlined": True}]
    assert "the launch moved to May" in run["messages"][-2]["content"]  # the model read it in the message


def test_a_failed_buffered_run_answers_with_a_json_error_and_is_stored(client_for: ClientFactory) -> None:
    client = client_for(ScriptedModel(ModelError("OpenAI model 'x' failed: HTTP 500: upstream down", retryable=True)))

    response = client.post("/agents/assistant/runs", data={"message": "hi", "stream": "false", "session_id": "s1"})

    assert response.status_code == 502
    body = response.json()
    assert body["detail"] == "OpenAI model 'x' failed: HTTP 500: upstream down"
    assert body["error_type"] == "ModelError"
    stored = client.get(f"/agents/assistant/runs/{body['run_id']}", params={"session_id": "s1"}).json()
    assert stored["status"] == "ERROR"


def test_a_tripped_limit_is_a_422_that_names_the_limit(client_for: ClientFactory) -> None:
    # a limit the agent sets is about this request, not a server fault: 422, with the stored run's id and status
    client = client_for(ScriptedModel(*[call("get_weather", city="x") for _ in range(3)]), max_tool_rounds=1)
    response = client.post("/agents/assistant/runs", data={"message": "hi", "stream": "false"})
    assert response.status_code == 422
    body = response.json()
    assert "max_tool_rounds=1" in body["detail"]
    assert (body["error_type"], body["status"]) == ("RunLimitExceeded", "ERROR")


def test_a_model_past_its_deadline_is_a_504(client_for: ClientFactory) -> None:
    client = client_for(ScriptedModel(ModelTimeoutError("OpenAI model 'x' gave no answer within its 60s deadline")))
    response = client.post("/agents/assistant/runs", data={"message": "hi", "stream": "false"})
    assert response.status_code == 504
    assert response.json()["error_type"] == "ModelTimeoutError"
    assert "deadline" in response.json()["detail"]


def test_an_unexpected_crash_does_not_leak_internals(client_for: ClientFactory) -> None:
    client = client_for(ScriptedModel(TypeError("secret internal detail")))
    response = client.post("/agents/assistant/runs", data={"message": "hi", "stream": "false"})
    assert response.status_code == 500
    assert response.json()["detail"] == "Internal server error"
    assert "secret" not in response.text


def test_a_run_can_be_read_back_by_id(client_for: ClientFactory) -> None:
    client = client_for(ScriptedModel("hello"))
    run = client.post("/agents/assistant/runs", data={"message": "hi", "stream": "false", "session_id": "s1"}).json()

    fetched = client.get(f"/agents/assistant/runs/{run['run_id']}", params={"session_id": "s1"})
    listed = client.get("/agents/assistant/runs", params={"session_id": "s1"})

    assert fetched.status_code == 200
    assert fetched.json()["content"] == "hello"
    assert [r["run_id"] for r in listed.json()] == [run["run_id"]]
    assert client.get(f"/agents/assistant/runs/{run['run_id']}", params={"session_id": "other"}).status_code == 404


def test_a_background_run_answers_202_and_can_be_polled(client_for: ClientFactory) -> None:
    client = client_for(ScriptedModel("done in the background", delay=0.2))

    accepted = client.post("/agents/assistant/runs", data={"message": "hi", "background": "true", "session_id": "s1"})

    assert accepted.status_code == 202
    run_id = accepted.json()["run_id"]
    assert accepted.json()["status"] == "PENDING"  # accepted, not started: AgentOS says PENDING too
    deadline = time.monotonic() + 10
    status = "PENDING"
    while status in ("PENDING", "RUNNING") and time.monotonic() < deadline:
        status = client.get(f"/agents/assistant/runs/{run_id}").json()["status"]
        time.sleep(0.02)
    final = client.get(f"/agents/assistant/runs/{run_id}").json()
    assert final["status"] == "COMPLETED"
    assert final["content"] == "done in the background"


def test_a_run_in_flight_can_be_cancelled(client_for: ClientFactory) -> None:
    client = client_for(ScriptedModel("too late", delay=30))
    run_id = client.post("/agents/assistant/runs", data={"message": "hi", "background": "true"}).json()["run_id"]

    cancelled = client.post(f"/agents/assistant/runs/{run_id}/cancel")

    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "CANCELLED"
    assert client.get(f"/agents/assistant/runs/{run_id}").json()["status"] == "CANCELLED"
    again = client.post(f"/agents/assistant/runs/{run_id}/cancel")
    assert again.status_code == 409


# --- sessions ------------------------------------------------------------------------------------------------


def test_sessions_list_get_runs_and_delete(client_for: ClientFactory) -> None:
    client = client_for(ScriptedModel("a1", "a2", "b1"), add_history_to_context=True)
    for message, session, user in (("first", "s1", "u1"), ("second", "s1", "u1"), ("other", "s2", "u2")):
        response = client.post(
            "/agents/assistant/runs",
            data={"message": message, "stream": "false", "session_id": session, "user_id": user},
        )
        assert response.status_code == 200

    listing = client.get("/sessions", params={"type": "agent", "user_id": "u1"}).json()
    assert listing["meta"]["total_count"] == 1
    assert listing["meta"]["page"] == 1
    row = listing["data"][0]
    assert row["session_id"] == "s1"
    assert row["session_name"] == "first"
    assert row["agent_id"] == "assistant"
    assert row["total_tokens"] > 0
    assert row["created_at"].endswith("Z")

    detail = client.get("/sessions/s1", params={"user_id": "u1"}).json()
    assert detail["agent_session_id"] == "s1"
    assert [m["content"] for m in detail["chat_history"]] == ["first", "a1", "second", "a2"]
    assert detail["agent_data"]["agent_id"] == "assistant"

    runs = client.get("/sessions/s1/runs").json()
    assert [r["run_input"] for r in runs] == ["first", "second"]
    assert runs[0]["status"] == "COMPLETED"
    assert runs[0]["run_response_format"] == "text"

    assert client.get("/sessions", params={"component_id": "assistant"}).json()["meta"]["total_count"] == 2
    paged = client.get("/sessions", params={"limit": 1, "page": 2, "sort_by": "created_at", "sort_order": "asc"})
    assert [s["session_id"] for s in paged.json()["data"]] == ["s2"]
    assert paged.json()["meta"]["total_pages"] == 2

    assert client.delete("/sessions/s1").status_code == 204
    assert client.get("/sessions/s1").status_code == 404
    assert client.delete("/sessions/s1").status_code == 404


def test_one_user_cannot_reach_another_users_session(client_for: ClientFactory) -> None:
    client = client_for(ScriptedModel("for alice"))
    client.post(
        "/agents/assistant/runs", data={"message": "hi", "stream": "false", "session_id": "s1", "user_id": "alice"}
    )

    hijack = client.post(
        "/agents/assistant/runs", data={"message": "hi", "stream": "true", "session_id": "s1", "user_id": "mallory"}
    )
    assert hijack.status_code == 404
    assert client.get("/sessions/s1", params={"user_id": "mallory"}).status_code == 404
    assert client.get("/sessions/s1/runs", params={"user_id": "mallory"}).status_code == 404
    assert client.delete("/sessions/s1", params={"user_id": "mallory"}).status_code == 404
    assert client.get("/sessions", params={"user_id": "mallory"}).json()["data"] == []
    assert client.get("/sessions/s1", params={"user_id": "alice"}).status_code == 200


def test_a_run_in_a_stored_session_reads_the_session_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SqliteStore(tmp_path / "once.db")
    app = App(agents=[Agent(id="assistant", model=ScriptedModel("a1", "a2", "a3"))], store=store)
    reads: list[str] = []
    get_session = store.get_session

    async def counted(session_id: str, **kw: Any) -> Any:
        reads.append(session_id)
        return await get_session(session_id, **kw)

    monkeypatch.setattr(store, "get_session", counted)
    form = {"message": "hi", "session_id": "s1", "user_id": "alice"}
    with TestClient(app.asgi()) as client:
        for stream in ("false", "true"):
            assert client.post("/agents/assistant/runs", data={**form, "stream": stream}).status_code == 200
            # the route's ownership check reads it; the run takes that read rather than reading it again
            assert reads == ["s1"]
            reads.clear()
        refused = client.post("/agents/assistant/runs", data={**form, "user_id": "mallory", "stream": "false"})
        assert refused.status_code == 404
        runs = client.get("/sessions/s1/runs", params={"user_id": "alice"}).json()
        assert [r["content"] for r in runs] == ["a1", "a2"]


def test_the_openapi_document_lists_the_routes(client_for: ClientFactory) -> None:
    spec = client_for(ScriptedModel()).get("/openapi.json").json()
    for path in ("/health", "/config", "/agents", "/agents/{agent_id}", "/agents/{agent_id}/runs", "/sessions"):
        assert path in spec["paths"]
    body = spec["paths"]["/agents/{agent_id}/runs"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/json"} <= set(body)


def test_browsers_get_the_playground_and_api_clients_get_json(client_for: ClientFactory) -> None:
    client = client_for(ScriptedModel())

    page = client.get("/", headers={"accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 200
    assert page.url.path == "/playground"
    assert "<title>stratus playground</title>" in page.text
    # no external assets, so it works offline
    assert "http://" not in page.text
    assert "https://" not in page.text
    assert client.get("/").json()["playground"] == "/playground"
