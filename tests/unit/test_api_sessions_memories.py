"""`/sessions` and `/memories` over HTTP: AgentOS' shapes, partial updates, filters and clear errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from stratus import Agent, App
from stratus.messages import Message
from stratus.models.base import ModelRequest
from stratus.models.testing import FunctionModel
from stratus.storage.sqlite import SqliteStore

REFERENCE = json.loads((Path(__file__).resolve().parents[1] / "reference" / "agentos-openapi.json").read_text())
SCHEMAS = REFERENCE["components"]["schemas"]


def echo(messages: list[Message], params: ModelRequest) -> str:
    return f"echo: {messages[-1].content}"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = App(
        agents=[Agent(id="assistant", name="Assistant", model=FunctionModel(echo))],
        store=SqliteStore(tmp_path / "api.db"),
    )
    with TestClient(app.asgi()) as c:
        yield c


def run(client: TestClient, message: str, session_id: str, user_id: str = "alice") -> dict[str, Any]:
    response = client.post(
        "/agents/assistant/runs",
        json={"message": message, "stream": False, "session_id": session_id, "user_id": user_id},
    )
    assert response.status_code == 200, response.text
    return response.json()


# --- sessions ------------------------------------------------------------------------------------------------


def test_create_a_session_then_run_in_it(client: TestClient) -> None:
    created = client.post(
        "/sessions",
        params={"type": "agent"},
        json={
            "session_id": "s1",
            "session_name": "Trip",
            "session_state": {"city": "Oslo"},
            "user_id": "alice",
            "agent_id": "assistant",
        },
    )
    assert created.status_code == 201
    body = created.json()
    assert (body["session_id"], body["session_name"], body["session_state"], body["agent_id"]) == (
        "s1",
        "Trip",
        {"city": "Oslo"},
        "assistant",
    )
    assert set(body) <= set(SCHEMAS["AgentSessionDetailSchema"]["properties"])

    output = run(client, "hello", "s1")
    assert output["session_state"] == {"city": "Oslo"}
    assert client.post("/sessions", json={"session_id": "s1"}).status_code == 409
    generated = client.post("/sessions", json={}).json()
    assert len(generated["session_id"]) == 36
    unknown = client.post("/sessions", json={"agent_id": "nobody"})
    assert unknown.status_code == 404


def test_patch_and_rename_change_only_what_is_given(client: TestClient) -> None:
    run(client, "hello", "s1")

    patched = client.patch("/sessions/s1", json={"session_state": {"step": 2}, "metadata": {"tag": "x"}}).json()
    assert (patched["session_name"], patched["session_state"], patched["metadata"]) == (
        "hello",
        {"step": 2},
        {"tag": "x"},
    )
    renamed = client.post("/sessions/s1/rename", json={"session_name": "Greetings"}).json()
    assert (renamed["session_name"], renamed["session_state"]) == ("Greetings", {"step": 2})
    summarised = client.patch("/sessions/s1", json={"summary": {"summary": "said hi"}, "metadata": None}).json()
    assert (summarised["session_summary"], summarised["metadata"]) == ({"summary": "said hi"}, None)

    assert client.post("/sessions/s1/rename", json={"session_name": ""}).status_code == 422
    assert client.patch("/sessions/s1", json={"session_state": "not a dict"}).status_code == 422
    assert client.patch("/sessions/s1", json={"unknown": 1}).status_code == 422
    assert client.patch("/sessions/nope", json={"session_name": "x"}).status_code == 404
    # the next run sees the patched state
    assert run(client, "again", "s1")["session_state"] == {"step": 2}


def test_runs_run_previews_and_one_run(client: TestClient) -> None:
    first = run(client, "first question", "s1")
    run(client, "second question " + "x" * 300, "s1")

    runs = client.get("/sessions/s1/runs").json()
    assert [r["run_input"][:15] for r in runs] == ["first question", "second question"]
    assert set(runs[0]) <= set(SCHEMAS["RunSchema"]["properties"]) | {"error"}
    previews = client.get("/sessions/s1/run-previews").json()
    # AgentOS leaves out what is null (this agent's runs have no parent, team or workflow), and cuts at 280
    assert set(previews[0]) == set(SCHEMAS["SessionRunPreviewSchema"]["properties"]) - {
        "parent_run_id",
        "team_id",
        "workflow_id",
    }
    assert previews[1]["content_preview"] == ("echo: second question " + "x" * 300)[:280]
    assert previews[1]["run_input"] == ("second question " + "x" * 300)[:280]
    one = client.get(f"/sessions/s1/runs/{first['run_id']}")
    assert one.json()["content"] == "echo: first question"
    assert client.get("/sessions/s1/runs/nope").status_code == 404
    assert client.get("/sessions/s1/runs", params={"status": "error"}).json() == []
    assert len(client.get("/sessions/s1/runs", params={"status": ["COMPLETED", "ERROR"]}).json()) == 2
    assert client.get("/sessions/s1/runs", params={"created_after": first["created_at"] + 10_000}).json() == []
    assert client.get("/sessions/s1/runs", params={"status": "sleeping"}).status_code == 422


def test_delete_many_sessions(client: TestClient) -> None:
    for session_id in ("s1", "s2", "s3"):
        run(client, "hi", session_id)

    response = client.request(
        "DELETE", "/sessions", json={"session_ids": ["s1", "s2", "missing"], "session_types": ["agent"]}
    )

    assert response.status_code == 204
    remaining = client.get("/sessions").json()["data"]
    assert [s["session_id"] for s in remaining] == ["s3"]
    assert client.request("DELETE", "/sessions", json={"session_ids": "s3"}).status_code == 422


def test_sessions_page_by_cursor_and_a_bad_cursor_is_422(client: TestClient) -> None:
    for i in range(5):
        assert client.post("/sessions", json={"session_id": f"s{i}", "user_id": "alice"}).status_code == 201

    first = client.get("/sessions", params={"user_id": "alice", "limit": 2}).json()
    cursor = first["meta"]["next_cursor"]
    second = client.get("/sessions", params={"user_id": "alice", "limit": 2, "cursor": cursor}).json()
    last = client.get("/sessions", params={"user_id": "alice", "limit": 2, "cursor": second["meta"]["next_cursor"]})

    listed = [s["session_id"] for page in (first, second, last.json()) for s in page["data"]]
    assert listed == ["s4", "s3", "s2", "s1", "s0"]
    assert {k: second["meta"][k] for k in ("page", "limit", "total_count", "total_pages")} == {
        "page": 2,
        "limit": 2,
        "total_count": 5,
        "total_pages": 3,
    }
    assert last.json()["meta"]["next_cursor"] is None
    for bad in ("garbage", cursor[:-4]):
        refused = client.get("/sessions", params={"user_id": "alice", "cursor": bad})
        assert refused.status_code == 422, refused.text
        assert refused.json()["error_type"] == "InvalidCursorError"
        assert "cursor" in refused.json()["detail"]
    # a cursor continues the listing that made it, and no other
    other = client.get("/sessions", params={"user_id": "alice", "cursor": cursor, "sort_by": "updated_at"})
    assert other.status_code == 422
    assert client.get("/memories", params={"cursor": cursor}).status_code == 422


# --- memories ------------------------------------------------------------------------------------------------


def test_memories_create_list_get_patch_delete(client: TestClient) -> None:
    made = client.post(
        "/memories", json={"memory": "Likes green tea", "user_id": "alice", "topics": ["food", " food ", ""]}
    )
    assert made.status_code == 200
    memory = made.json()
    assert set(memory) == set(SCHEMAS["UserMemorySchema"]["properties"])
    assert memory["topics"] == ["food"]
    client.post("/memories", json={"memory": "Has a dog", "user_id": "alice", "topics": ["pets"]})
    client.post("/memories", json={"memory": "Lives in Oslo", "user_id": "bob", "topics": ["home"]})

    page = client.get("/memories", params={"user_id": "alice"}).json()
    assert [m["memory"] for m in page["data"]] == ["Has a dog", "Likes green tea"]
    assert page["meta"]["total_count"] == 2
    assert [m["memory"] for m in client.get("/memories", params={"topics": "pets,home"}).json()["data"]] == [
        "Lives in Oslo",
        "Has a dog",
    ]
    assert client.get("/memories", params={"search_content": "TEA"}).json()["meta"]["total_count"] == 1

    patched = client.patch(
        f"/memories/{memory['memory_id']}", json={"memory": "Likes green tea, no sugar", "user_id": "alice"}
    )
    assert patched.json()["memory"] == "Likes green tea, no sugar"
    assert patched.json()["topics"] == ["food"]
    assert client.get(f"/memories/{memory['memory_id']}").json()["memory"] == "Likes green tea, no sugar"

    assert client.get("/memory_topics", params={"user_id": "alice"}).json() == ["food", "pets"]
    stats = client.get("/user_memory_stats").json()
    assert [(s["user_id"], s["total_memories"]) for s in stats["data"]] == [("alice", 2), ("bob", 1)]

    assert client.delete(f"/memories/{memory['memory_id']}").status_code == 204
    assert client.get(f"/memories/{memory['memory_id']}").status_code == 404
    remaining = [m["memory_id"] for m in client.get("/memories").json()["data"]]
    assert client.request("DELETE", "/memories", json={"memory_ids": remaining}).status_code == 204
    assert client.get("/memories").json()["data"] == []


def test_invalid_memory_requests_are_422(client: TestClient) -> None:
    assert client.post("/memories", json={"memory": ""}).status_code == 422
    assert client.post("/memories", json={"topics": ["x"]}).status_code == 422
    assert client.patch("/memories/nope", json={"memory": "x"}).status_code == 404
    assert client.get("/memories", params={"sort_by": "color"}).status_code == 422
