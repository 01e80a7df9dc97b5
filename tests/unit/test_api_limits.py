"""Input bounds over HTTP: JSON nested too deep or too large, and numbers out of range, are refused with a 4xx
JSON answer before anything is stored, and nothing stored (even by an older version) can break a listing."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from stratus import Agent, App, RunContext, tool
from stratus.api import create_app
from stratus.exceptions import ConfigError
from stratus.knowledge import Knowledge
from stratus.knowledge.chunking import FixedSizeChunker, RecursiveChunker
from stratus.knowledge.embedders.testing import HashEmbedder
from stratus.knowledge.vectordb.embedded import EmbeddedVectorDb
from stratus.limits import MAX_JSON_DEPTH, MAX_STATE_BYTES, InputLimitError
from stratus.models.testing import ScriptedModel, call
from stratus.storage.sqlite import SqliteStore

TOO_DEEP = [MAX_JSON_DEPTH + 1, 64, 300, 3000]
BAD_PAGES = ["0", "-1", str(2**31), str(2**63), str(2**63 - 1), "1e30", "abc"]


def deep(levels: int) -> str:
    """A JSON object nested `levels` deep, as text (json.dumps itself cannot write 3,000 levels)."""
    return '{"k":' * (levels - 1) + '{"leaf":1}' + "}" * (levels - 1)


def deep_value(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"k": value}
    return value


@pytest.fixture
def app(tmp_path: Path) -> App:
    docs = Knowledge(
        "docs",
        embedder=HashEmbedder(64),
        vector_db=EmbeddedVectorDb("docs", dimensions=64, path=tmp_path / "vectors"),
    )
    return App(
        agents=[Agent(id="assistant", model=ScriptedModel(*["hi"] * 10))],
        store=SqliteStore(tmp_path / "api.db"),
        knowledge=[docs],
    )


@pytest.fixture
def client(app: App) -> Iterator[TestClient]:
    with TestClient(create_app(app, auth=None), raise_server_exceptions=False) as c:
        yield c


def refused(response: Any, status: int = 422) -> None:
    assert response.status_code == status, response.text
    assert "detail" in response.json()


def listings_answer(client: TestClient) -> list[str]:
    """The ids `GET /sessions` lists, after checking it (scoped and unscoped) answers 200."""
    scoped = client.get("/sessions", params={"user_id": "alice"})
    unscoped = client.get("/sessions")
    assert scoped.status_code == unscoped.status_code == 200, (scoped.text, unscoped.text)
    return sorted(s["session_id"] for s in unscoped.json()["data"])


def post_json(client: TestClient, path: str, text: str) -> Any:
    return client.post(path, content=text, headers={"content-type": "application/json"})


# --- session state, metadata and filters nested too deep ------------------------------------------------------


@pytest.mark.parametrize("levels", TOO_DEEP)
def test_a_run_with_state_nested_too_deep_is_refused_and_nothing_is_stored(client: TestClient, levels: int) -> None:
    body = (
        f'{{"message": "hi", "stream": false, "session_id": "s1", "user_id": "alice", "session_state": {deep(levels)}}}'
    )
    refused(post_json(client, "/agents/assistant/runs", body))
    form = {"message": "hi", "stream": "false", "session_id": "s1", "user_id": "alice", "session_state": deep(levels)}
    refused(client.post("/agents/assistant/runs", data=form))  # urlencoded
    refused(client.post("/agents/assistant/runs", data=form, files={"unused": ("a.txt", b"x", "text/plain")}))
    assert listings_answer(client) == []
    assert client.get("/sessions/s1").status_code == 404


@pytest.mark.parametrize("levels", [3000, 10_000])
def test_a_message_nested_too_deep_is_a_4xx(client: TestClient, levels: int) -> None:
    refused(post_json(client, "/agents/assistant/runs", f'{{"message": {deep(levels)}, "stream": false}}'))
    assert listings_answer(client) == []


def test_state_at_the_depth_limit_is_kept_and_reads_back(client: TestClient) -> None:
    state = deep_value(MAX_JSON_DEPTH)
    response = client.post(
        "/agents/assistant/runs",
        json={"message": "hi", "stream": False, "session_id": "s1", "user_id": "alice", "session_state": state},
    )
    assert response.status_code == 200, response.text
    assert listings_answer(client) == ["s1"]
    assert client.get("/sessions/s1").json()["session_state"] == state
    assert client.get("/sessions/s1/runs").status_code == 200


def test_a_state_too_large_is_refused(client: TestClient) -> None:
    state = {"blob": "x" * (MAX_STATE_BYTES + 1)}
    response = client.post("/agents/assistant/runs", json={"message": "hi", "stream": False, "session_state": state})
    refused(response)
    assert response.json()["detail"][0]["type"] == "json_too_large"
    assert listings_answer(client) == []


@pytest.mark.parametrize("field", ["session_state", "metadata"])
@pytest.mark.parametrize("levels", TOO_DEEP)
def test_creating_a_session_nested_too_deep_is_refused(client: TestClient, field: str, levels: int) -> None:
    refused(
        post_json(client, "/sessions", f'{{"session_id": "s1", "{field}": {deep(levels)}}}'),
        422,  # past ~900 levels the JSON parser itself gives up: still the documented 422
    )
    assert listings_answer(client) == []


@pytest.mark.parametrize("field", ["session_state", "metadata", "summary"])
@pytest.mark.parametrize("levels", TOO_DEEP)
def test_patching_a_session_too_deep_leaves_it_unchanged(client: TestClient, field: str, levels: int) -> None:
    assert client.post("/sessions", json={"session_id": "s1", "session_state": {"city": "Oslo"}}).status_code == 201
    response = client.request(
        "PATCH", "/sessions/s1", content=f'{{"{field}": {deep(levels)}}}', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert "detail" in response.json()
    assert client.get("/sessions/s1").json()["session_state"] == {"city": "Oslo"}
    assert listings_answer(client) == ["s1"]


@pytest.mark.parametrize("levels", TOO_DEEP)
def test_knowledge_metadata_too_deep_is_refused_and_nothing_is_stored(client: TestClient, levels: int) -> None:
    response = client.post("/knowledge/content", data={"text_content": "Oslo is in Norway.", "metadata": deep(levels)})
    refused(response)
    assert client.get("/knowledge/content").json()["data"] == []


@pytest.mark.parametrize("levels", TOO_DEEP)
def test_search_filters_too_deep_are_refused(client: TestClient, levels: int) -> None:
    refused(post_json(client, "/knowledge/search", f'{{"query": "oslo", "filters": {deep(levels)}}}'))


@pytest.mark.parametrize("levels", TOO_DEEP)
def test_learning_content_too_deep_is_refused(client: TestClient, levels: int) -> None:
    body = f'{{"learning_type": "note", "user_id": "alice", "content": {deep(levels)}}}'
    response = post_json(client, "/learnings", body)
    assert response.status_code == 422, response.text
    assert client.get("/learnings").json()["data"] == []


# --- numbers out of range -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/sessions", "/memories", "/learnings", "/knowledge/content", "/user_memory_stats"])
@pytest.mark.parametrize("page", BAD_PAGES)
def test_a_page_out_of_range_is_a_422(client: TestClient, path: str, page: str) -> None:
    refused(client.get(path, params={"page": page}))
    assert client.get(path, params={"page": "1000000"}).status_code == 200
    assert listings_answer(client) == []


@pytest.mark.parametrize("path", ["/sessions", "/memories", "/learnings", "/knowledge/content"])
def test_a_limit_out_of_range_is_a_422(client: TestClient, path: str) -> None:
    for limit in ("0", str(2**63), "1e30"):
        refused(client.get(path, params={"limit": limit}))


@pytest.mark.parametrize("meta", [{"page": 2**63}, {"page": 10**6}, {"page": 0}, {"limit": 10**9}])
def test_a_search_page_out_of_range_is_a_422(client: TestClient, meta: dict[str, int]) -> None:
    refused(client.post("/knowledge/search", json={"query": "oslo", "meta": meta}))


@pytest.mark.parametrize(
    "sizes",
    [
        {"chunk_size": "0"},
        {"chunk_size": "-5"},
        {"chunk_size": "1e30"},
        {"chunk_size": str(10**9)},
        {"chunk_size": str(10**30)},
        {"chunk_size": "100", "chunk_overlap": "100"},
        {"chunk_size": "100", "chunk_overlap": "500"},
        {"chunk_overlap": str(10**9)},
    ],
)
def test_chunk_sizes_out_of_range_are_refused_and_nothing_is_stored(client: TestClient, sizes: dict[str, str]) -> None:
    response = client.post("/knowledge/content", data={"text_content": "Oslo is in Norway.", **sizes})
    refused(response)
    assert client.get("/knowledge/content").json()["data"] == []


def test_chunkers_refuse_absurd_sizes() -> None:
    for size in (0, -5, 10**9):
        with pytest.raises(ConfigError):
            FixedSizeChunker(size_tokens=size)
        with pytest.raises(ConfigError):
            RecursiveChunker(size_tokens=size)


# --- the library refuses too, and nothing stored breaks a read ------------------------------------------------


def test_the_library_refuses_a_state_too_deep_before_storing_it(app: App) -> None:
    agent = app.agents["assistant"]

    async def run() -> None:
        await agent.arun("hi", session_id="s1", user_id="alice", session_state=deep_value(300))

    with pytest.raises(InputLimitError):
        asyncio.run(run())
    assert asyncio.run(app.store.get_session("s1")) is None


def test_a_listing_skips_records_an_older_version_stored_badly(client: TestClient, tmp_path: Path) -> None:
    for session_id in ("good", "deep", "broken"):
        response = client.post(
            "/agents/assistant/runs",
            json={"message": "hi", "stream": False, "session_id": session_id, "user_id": "alice"},
        )
        assert response.status_code == 200, response.text
    with sqlite3.connect(tmp_path / "api.db") as db:  # written behind the API's back, as an older version could
        db.execute("UPDATE sessions SET session_state = ? WHERE session_id = 'deep'", (deep(300),))
        db.execute("UPDATE sessions SET metadata = '{not json' WHERE session_id = 'broken'")
        db.execute("UPDATE runs SET data = ? WHERE session_id = 'good'", (deep(3000),))

    assert listings_answer(client) == ["good"]
    assert client.get("/sessions", params={"user_id": "alice"}).json()["data"][0]["session_id"] == "good"
    good = client.get("/sessions/good")
    assert good.status_code == 200
    assert good.json()["chat_history"] == []  # its unreadable run is skipped
    assert client.get("/sessions/good/runs").json() == []
    for session_id in ("deep", "broken"):
        response = client.get(f"/sessions/{session_id}")
        assert response.status_code >= 400
        assert "detail" in response.json()
        assert "Traceback" not in response.text


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        ("/sessions", "application/json", b'{"session_name": "\xff\xfe"}'),  # not UTF-8
        ("/sessions", "application/json", b"*\x1dM?\xc3"),
        ("/agents/assistant/runs", "multipart/form-data; boundary=xyz", b"--xyz\r\nbroken"),
        ("/memories", "application/json", b"\x80"),
    ],
)
def test_a_body_that_cannot_be_decoded_is_a_documented_422(
    client: TestClient, path: str, content_type: str, body: bytes
) -> None:
    response = client.post(path, content=body, headers={"content-type": content_type})
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list)
    assert client.get("/sessions").json()["meta"]["total_count"] == 0  # nothing stored


def test_an_oversized_form_field_is_a_413_and_too_many_fields_a_422(client: TestClient) -> None:
    huge = client.post("/agents/assistant/runs", data={"message": "x" * (1024 * 1024 + 10), "stream": "false"})
    assert huge.status_code == 413, huge.text
    many = client.post("/agents/assistant/runs", data={f"field{i}": "v" for i in range(1500)} | {"message": "hi"})
    assert many.status_code == 422, many.text
    assert client.get("/sessions").json()["meta"]["total_count"] == 0


def _deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"d": value}
    return value


def test_a_tool_that_leaves_state_too_deep_fails_the_run_and_the_session_keeps_its_state(tmp_path: Path) -> None:
    @tool
    def nest(run_context: RunContext) -> str:
        """Nest the state."""
        run_context.session_state["deep"] = _deep(200)
        return "nested"

    @tool
    def grow(run_context: RunContext) -> str:
        """Grow the state."""
        run_context.session_state["big"] = "x" * 1_000_000
        return "grown"

    script = [call("nest"), "done", call("grow"), "done"]
    agent = Agent(id="nester", model=ScriptedModel(*script), tools=[nest, grow])
    app = App(agents=[agent], store=SqliteStore(tmp_path / "state.db"))
    with TestClient(app.asgi()) as client:
        assert client.post("/sessions", json={"session_id": "s1", "session_state": {"kept": 1}}).status_code == 201
        deep = client.post("/agents/nester/runs", data={"message": "go", "stream": "false", "session_id": "s1"})
        assert deep.status_code == 422, deep.text
        assert deep.json()["error_type"] == "InputLimitError"
        assert "session_state" in deep.json()["detail"]
        big = client.post("/agents/nester/runs", data={"message": "go", "stream": "false", "session_id": "s1"})
        assert big.status_code == 422, big.text  # the tool's doing, not a request too large
        # both runs are stored, as errors; the session's state is what it was; every read works
        runs = client.get("/sessions/s1/runs").json()
        assert [r["status"] for r in runs] == ["ERROR", "ERROR"]
        assert client.get("/sessions/s1").json()["session_state"] == {"kept": 1}
        assert client.get("/sessions").status_code == 200
