"""`/learnings` and `/memories` over HTTP, fed by a served agent that learns: AgentOS' shapes, per-user
scoping under authentication, shared insights kept in step with their index, internal records never served."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from stratus import Agent, App
from stratus.api import create_app
from stratus.api.auth import ApiKeyAuth, hash_key
from stratus.knowledge.embedders.testing import HashEmbedder
from stratus.knowledge.vectordb.embedded import EmbeddedVectorDb
from stratus.learning import INSIGHT, LearningMachine
from stratus.models.testing import FunctionModel
from stratus.storage.sqlite import SqliteStore
from tests.unit.test_learning import Chat, extract

REFERENCE = json.loads((Path(__file__).resolve().parents[1] / "reference" / "agentos-openapi.json").read_text())
SCHEMAS = REFERENCE["components"]["schemas"]
ALICE = {"authorization": "Bearer key-alice"}
BOB = {"authorization": "Bearer key-bob"}


def make_app(tmp_path: Path) -> tuple[App, LearningMachine]:
    learner = LearningMachine(
        model=FunctionModel(extract),
        embedder=HashEmbedder(64),
        vector_db=EmbeddedVectorDb("learnings", dimensions=64, path=tmp_path / "vectors"),
        learned_knowledge=True,
    )
    agent = Agent(id="helper", model=Chat().model, learning=learner)
    return App(agents=[agent], store=SqliteStore(tmp_path / "api.db")), learner


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[TestClient, LearningMachine]]:
    app, learner = make_app(tmp_path)
    auth = ApiKeyAuth({hash_key("key-alice"): "alice", hash_key("key-bob"): "bob"})
    with TestClient(create_app(app, auth=auth)) as client:
        yield client, learner


def run(client: TestClient, learner: LearningMachine, message: str, headers: dict[str, str], session: str) -> None:
    response = client.post(
        "/agents/helper/runs", json={"message": message, "stream": False, "session_id": session}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert client.portal is not None
    client.portal.call(learner.queue.drain)


def test_what_a_run_teaches_is_served_to_its_user_only(served: tuple[TestClient, LearningMachine]) -> None:
    client, learner = served
    run(client, learner, "my name is Alice and I love tea. tip: offer tea first", ALICE, "s1")

    memories = client.get("/memories", headers=ALICE).json()
    assert [m["memory"] for m in memories["data"]] == ["The user likes tea."]
    assert set(memories["data"][0]) <= set(SCHEMAS["UserMemorySchema"]["properties"])  # no embedding leaks
    assert client.get("/memories", headers=BOB).json()["meta"]["total_count"] == 0

    mine = client.get("/learnings", headers=ALICE).json()
    assert [(r["learning_type"], r["user_id"]) for r in mine["data"]] == [("user_profile", "alice")]
    profile = mine["data"][0]
    assert profile["content"]["fields"] == {"name": "Alice"}
    assert set(profile) <= set(SCHEMAS["LearningResponse"]["properties"])
    assert isinstance(profile["updated_at"], int)
    assert client.get("/learnings", headers=BOB).json()["data"] == []
    assert client.get(f"/learnings/{profile['learning_id']}", headers=BOB).status_code == 404
    users = client.get("/learnings/users", headers=ALICE).json()
    assert [u["user_id"] for u in users["data"]] == ["alice"]
    assert set(users["data"][0]) <= set(SCHEMAS["LearningUserStats"]["properties"])


def test_shared_insights_are_readable_not_writable_by_users(
    served: tuple[TestClient, LearningMachine], tmp_path: Path
) -> None:
    client, learner = served
    run(client, learner, "tip: ask for the travel dates first", ALICE, "s1")
    assert client.portal is not None

    shared = client.get("/learnings", params={"learning_type": INSIGHT}).status_code
    assert shared == 401  # no key, no access
    listed = client.get("/learnings", params={"learning_type": INSIGHT, "agent_id": "helper"}, headers=ALICE).json()
    assert listed["data"] == []  # a user's listing holds their own records
    marks = client.get("/learnings", params={"learning_type": "_run_learned"}, headers=ALICE).json()
    assert marks["data"] == []  # internal records are never served
    insight_id = next(
        r.learning_id
        for r in client.portal.call(learner_insights, client)
        if r.content["insight"] == "ask for the travel dates first"
    )
    got = client.get(f"/learnings/{insight_id}", headers=BOB)
    assert got.status_code == 200
    assert got.json()["user_id"] is None
    assert client.patch(f"/learnings/{insight_id}", json={"content": {"insight": "x"}}, headers=BOB).status_code == 403
    assert client.delete(f"/learnings/{insight_id}", headers=BOB).status_code == 403


async def learner_insights(client: TestClient) -> list[Any]:
    from stratus.storage import LearningQuery

    app: App = client.app.state.stratus  # type: ignore[attr-defined]
    listed = await app.store.list_learnings(LearningQuery(agent_id="helper", shared=True, learning_type=INSIGHT))
    return listed.items


def test_create_patch_and_delete_a_users_learnings(served: tuple[TestClient, LearningMachine]) -> None:
    client, _ = served
    created = client.post(
        "/learnings",
        json={"learning_type": "entity_memory", "content": {"fact": "Acme is a client"}, "entity_id": "acme"},
        headers=ALICE,
    )
    assert created.status_code == 201, created.text
    record = created.json()
    assert record["user_id"] == "alice"  # the caller's, not a shared record
    forged = client.post("/learnings", json={"learning_type": "x", "content": {}, "user_id": "bob"}, headers=ALICE)
    assert forged.status_code == 403
    bad = client.post("/learnings", json={"learning_type": "", "content": {}}, headers=ALICE)
    assert bad.status_code == 422

    patched = client.patch(f"/learnings/{record['learning_id']}", json={"metadata": {"source": "crm"}}, headers=ALICE)
    assert patched.json()["metadata"] == {"source": "crm"}
    assert patched.json()["content"] == {"fact": "Acme is a client"}
    by_entity = client.get("/learnings", params={"entity_id": "acme"}, headers=ALICE).json()
    assert [r["learning_id"] for r in by_entity["data"]] == [record["learning_id"]]

    assert client.delete("/learnings/users/bob", headers=ALICE).status_code == 403
    assert client.delete("/learnings/users/alice", headers=ALICE).status_code == 204
    assert client.get(f"/learnings/{record['learning_id']}", headers=ALICE).status_code == 404


def test_locally_shared_insights_can_be_curated_and_stay_indexed(tmp_path: Path) -> None:
    app, learner = make_app(tmp_path)
    with TestClient(create_app(app, auth=None)) as client:
        created = client.post(
            "/learnings",
            json={"learning_type": INSIGHT, "agent_id": "helper", "content": {"insight": "quote prices in euros"}},
        ).json()
        assert client.portal is not None

        async def search(text: str) -> list[str]:
            vector = await learner.embedder.embed_query(text)
            return [h.chunk.text for h in await learner.search_insights("helper", vector, text, 3)]

        assert client.portal.call(search, "prices") == ["quote prices in euros"]
        client.patch(f"/learnings/{created['learning_id']}", json={"content": {"insight": "quote prices in kroner"}})
        assert client.portal.call(search, "prices") == ["quote prices in kroner"]
        assert client.delete(f"/learnings/{created['learning_id']}").status_code == 204
        assert client.portal.call(search, "prices") == []


def test_a_memory_edited_over_the_api_is_embedded_again(served: tuple[TestClient, LearningMachine]) -> None:
    client, learner = served
    made = client.post("/memories", json={"memory": "The user likes jazz.", "topics": ["music"]}, headers=ALICE).json()
    run(client, learner, "I love jazz", ALICE, "s1")  # the same fact: merged into the API-made memory

    listed = client.get("/memories", headers=ALICE).json()["data"]
    assert [m["memory_id"] for m in listed] == [made["memory_id"]]
    assert listed[0]["topics"] == ["food", "music"]
