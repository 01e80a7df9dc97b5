"""Memory optimization (`POST /optimize-memories`) on both stores with scripted models: the consolidated set
replaces the user's memories, written before the old ones go, so a failure loses nothing; a preview, a
failing model and a malformed answer change nothing; the route is scoped to the verified user."""

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
from stratus.exceptions import ConfigError, ModelError, NotFoundError, StoreError
from stratus.knowledge.documents import approx_tokens
from stratus.knowledge.embedders.testing import HashEmbedder
from stratus.learning import LearningMachine
from stratus.learning._optimize import learning_model, optimize_memories
from stratus.messages import Message
from stratus.models.base import ModelRequest
from stratus.models.testing import FunctionModel, Reply, ScriptedModel
from stratus.storage import MemoryQuery
from stratus.storage.base import Store
from stratus.storage.records import UserMemory
from stratus.storage.sqlite import SqliteStore
from tests.fakes.optimize import consolidate

GIVEN = ["Ana likes tea.", "Ana likes green tea.", "Ana lives in Oslo."]
MERGED = {"memories": [{"memory": "Ana drinks green tea.", "topics": ["food"]}, {"memory": "Ana lives in Oslo."}]}


@pytest.fixture(params=["sqlite", "dynamodb"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "sqlite":
        return SqliteStore(tmp_path / "optimize.db")
    return request.getfixturevalue("dynamo_store")


async def remember(store: Store, user: str, *texts: str, agent_id: str | None = "learner") -> list[UserMemory]:
    return [
        await store.put_memory(
            UserMemory(memory_id=f"{user}-{i}", memory=t, user_id=user, topics=["t"], agent_id=agent_id)
        )
        for i, t in enumerate(texts)
    ]


async def stored(store: Store, user: str) -> dict[str, str]:
    page = await store.list_memories(MemoryQuery(user_id=user, limit=100))
    return {m.memory_id: m.memory for m in page.items}


def answering(reply: dict[str, Any] | str) -> FunctionModel:
    return FunctionModel(lambda messages, params: reply if isinstance(reply, str) else json.dumps(reply))


# --- the optimizer ---------------------------------------------------------------------------------------


async def test_applied_the_consolidated_set_replaces_the_users_memories(any_store: Store) -> None:
    await remember(any_store, "ana", *GIVEN)
    await remember(any_store, "ben", "Ben likes tea.")
    model = answering({"memories": [{"memory": "Ana likes green tea, and lives in Oslo.", "topics": ["food", "home"]}]})

    found = await optimize_memories(any_store, "ana", model)

    assert found.applied
    assert (found.memories_before, found.memories_after) == (3, 1)
    [merged] = found.memories
    assert (merged.memory, merged.topics, merged.user_id, merged.agent_id) == (
        "Ana likes green tea, and lives in Oslo.",
        ["food", "home"],
        "ana",
        "learner",  # every given memory was this agent's
    )
    assert await stored(any_store, "ana") == {merged.memory_id: merged.memory}
    assert await stored(any_store, "ben") == {"ben-0": "Ben likes tea."}
    assert found.tokens_before == sum(approx_tokens(t) for t in GIVEN)
    assert found.tokens_after == approx_tokens(merged.memory)
    assert found.tokens_saved == found.tokens_before - found.tokens_after > 0
    assert found.reduction_percentage == pytest.approx(found.tokens_saved / found.tokens_before * 100)
    prompt = model.requests[0][-1].content or ""
    assert [line for line in prompt.splitlines() if line.startswith("[")] == [
        f"[{i}] {t} (topics: t)"
        for i, t in enumerate(GIVEN, 1)  # oldest first: later ones correct earlier
    ]


async def test_a_memory_answered_word_for_word_is_kept_as_it_was(any_store: Store) -> None:
    await remember(any_store, "ana", *GIVEN)

    found = await optimize_memories(any_store, "ana", FunctionModel(consolidate))

    assert [(m.memory_id, m.memory) for m in found.memories] == [("ana-1", GIVEN[1]), ("ana-2", GIVEN[2])]
    assert await stored(any_store, "ana") == {"ana-1": GIVEN[1], "ana-2": GIVEN[2]}


async def test_a_preview_changes_nothing(any_store: Store) -> None:
    await remember(any_store, "ana", *GIVEN)

    found = await optimize_memories(any_store, "ana", answering(MERGED), apply=False)

    assert not found.applied
    assert [m.memory for m in found.memories] == ["Ana drinks green tea.", "Ana lives in Oslo."]
    assert found.memories[0].topics == ["food"]
    assert await stored(any_store, "ana") == {f"ana-{i}": t for i, t in enumerate(GIVEN)}


@pytest.mark.parametrize(
    "reply",
    [
        ModelError("the provider is down", retryable=True),
        RuntimeError("the model crashed"),
        "no JSON at all",
        json.dumps({"memories": []}),
        json.dumps({"memories": [{"memory": "  "}]}),
        json.dumps({"memories": [{"memory": f"Ana fact {i}."} for i in range(4)]}),  # more than given
    ],
    ids=["model-error", "crash", "not-json", "none", "blank", "more-than-given"],
)
async def test_a_failing_or_malformed_answer_is_a_model_error_and_changes_nothing(
    any_store: Store, reply: Reply
) -> None:
    await remember(any_store, "ana", *GIVEN)

    with pytest.raises(ModelError):
        await optimize_memories(any_store, "ana", FunctionModel(lambda messages, params: reply))

    assert await stored(any_store, "ana") == {f"ana-{i}": t for i, t in enumerate(GIVEN)}


async def test_a_write_that_fails_midway_takes_back_the_new_ones_and_keeps_the_old(
    any_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    await remember(any_store, "ana", *GIVEN)
    real_put = any_store.put_memory
    writes: list[str] = []

    async def failing_put(memory: UserMemory) -> UserMemory:
        writes.append(memory.memory)
        if len(writes) == 2:
            raise StoreError("the table is throttling")
        return await real_put(memory)

    monkeypatch.setattr(any_store, "put_memory", failing_put)
    model = answering({"memories": [{"memory": "Ana drinks green tea."}, {"memory": "Ana is in Oslo."}]})

    with pytest.raises(StoreError):
        await optimize_memories(any_store, "ana", model)

    assert writes == ["Ana drinks green tea.", "Ana is in Oslo."]
    assert await stored(any_store, "ana") == {f"ana-{i}": t for i, t in enumerate(GIVEN)}


async def test_a_consolidation_longer_than_the_memories_is_not_applied(any_store: Store) -> None:
    await remember(any_store, "ana", "Ana likes tea.")
    model = answering({"memories": [{"memory": "Ana, who is a person, likes the drink called tea very much."}]})

    found = await optimize_memories(any_store, "ana", model)

    assert not found.applied
    assert [(m.memory_id, m.memory) for m in found.memories] == [("ana-0", "Ana likes tea.")]
    assert (found.tokens_saved, found.reduction_percentage) == (0, 0.0)
    assert await stored(any_store, "ana") == {"ana-0": "Ana likes tea."}


async def test_a_user_without_memories_is_not_found_and_the_model_is_not_asked(any_store: Store) -> None:
    await remember(any_store, "ben", "Ben likes tea.")
    model = ScriptedModel()

    with pytest.raises(NotFoundError):
        await optimize_memories(any_store, "ana", model)

    assert model.requests == []


async def test_the_default_model_is_the_learning_machines_of_the_agent_that_made_the_memories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STRATUS_MODEL", raising=False)
    store = SqliteStore(tmp_path / "default.db")
    quiet = Agent(id="quiet", model=ScriptedModel())
    first = Agent(id="first", model=ScriptedModel(), learning=LearningMachine(embedder=HashEmbedder(8)))
    machine_model = FunctionModel(consolidate)
    maker = Agent(
        id="maker", model=ScriptedModel(), learning=LearningMachine(model=machine_model, embedder=HashEmbedder(8))
    )
    await remember(store, "ana", *GIVEN, agent_id="maker")

    assert learning_model([quiet, first, maker], []) is first.model  # no memories: the first that learns
    found = await optimize_memories(store, "ana", agents=[quiet, first, maker])

    assert len(machine_model.requests) == 1
    assert found.memories_after == 2
    with pytest.raises(ConfigError, match="no model to optimize memories with"):
        await optimize_memories(store, "ana", agents=[quiet])
    await store.close()


# --- the route -------------------------------------------------------------------------------------------

ALICE = {"authorization": "Bearer key-alice"}
BOB = {"authorization": "Bearer key-bob"}


class Optimizer:
    """The learning model of the route's app: consolidates, or fails while `failing` is set."""

    def __init__(self) -> None:
        self.failing: Reply | None = None
        self.model = FunctionModel(self.answer)

    def answer(self, messages: list[Message], params: ModelRequest) -> Reply:
        return self.failing if self.failing is not None else consolidate(messages, params)


@pytest.fixture
def optimizer() -> Optimizer:
    return Optimizer()


@pytest.fixture
def client(any_store: Store, optimizer: Optimizer) -> Iterator[TestClient]:
    learner = Agent(
        id="learner",
        model=ScriptedModel(),
        learning=LearningMachine(model=optimizer.model, embedder=HashEmbedder(8)),
    )
    auth = ApiKeyAuth({hash_key("key-alice"): "alice", hash_key("key-bob"): "bob"})
    with TestClient(create_app(App(agents=[learner], store=any_store), auth=auth)) as c:
        yield c


def create(client: TestClient, headers: dict[str, str], *texts: str) -> None:
    for text in texts:
        assert client.post("/memories", headers=headers, json={"memory": text, "topics": ["t"]}).status_code == 200


def listed(client: TestClient, headers: dict[str, str], user: str) -> list[str]:
    page = client.get("/memories", headers=headers, params={"user_id": user, "sort_by": "memory", "sort_order": "asc"})
    return [m["memory"] for m in page.json()["data"]]


def test_the_route_previews_then_applies_as_agentos_answers(client: TestClient) -> None:
    create(client, ALICE, *GIVEN)

    preview = client.post("/optimize-memories", headers=ALICE, json={"user_id": "alice", "apply": False})
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert set(body) == {
        "memories",
        "memories_before",
        "memories_after",
        "tokens_before",
        "tokens_after",
        "tokens_saved",
        "reduction_percentage",
    }
    assert [m["memory"] for m in body["memories"]] == [GIVEN[1], GIVEN[2]]
    assert {m["user_id"] for m in body["memories"]} == {"alice"}
    assert (body["memories_before"], body["memories_after"]) == (3, 2)
    assert body["tokens_saved"] == body["tokens_before"] - body["tokens_after"] == approx_tokens(GIVEN[0])
    assert listed(client, ALICE, "alice") == sorted(GIVEN)

    applied = client.post("/optimize-memories", headers=ALICE, json={"user_id": "alice"})
    assert applied.status_code == 200
    assert listed(client, ALICE, "alice") == [GIVEN[1], GIVEN[2]]


def test_a_caller_optimizes_only_their_own_memories(client: TestClient) -> None:
    create(client, ALICE, *GIVEN)

    as_bob = client.post("/optimize-memories", headers=BOB, json={"user_id": "alice"})

    assert as_bob.status_code == 404
    assert as_bob.json()["detail"] == "No memories found for user bob"
    assert listed(client, ALICE, "alice") == sorted(GIVEN)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"user_id": ""},
        {"user_id": "alice", "model": "gpt-4o"},
        {"user_id": "alice", "model": "openai:"},
        {"user_id": "alice", "model": "nope:model"},
        {"user_id": "alice", "model": "local:/etc/passwd"},
        {"user_id": "alice", "apply": "maybe"},
    ],
    ids=["no-user", "empty-user", "no-provider", "no-model-id", "unknown-provider", "local-path", "bad-apply"],
)
def test_a_bad_request_is_422_with_a_detail_and_changes_nothing(client: TestClient, body: dict[str, Any]) -> None:
    create(client, ALICE, *GIVEN)

    response = client.post("/optimize-memories", headers=ALICE, json=body)

    assert response.status_code == 422, response.text
    assert response.json()["detail"]
    assert listed(client, ALICE, "alice") == sorted(GIVEN)


@pytest.mark.parametrize("failure", [ModelError("the provider is down"), "not a consolidation"])
def test_a_failing_model_is_502_with_a_detail_and_changes_nothing(
    client: TestClient, optimizer: Optimizer, failure: Reply
) -> None:
    create(client, ALICE, *GIVEN)
    optimizer.failing = failure

    response = client.post("/optimize-memories", headers=ALICE, json={"user_id": "alice"})

    assert response.status_code == 502, response.text
    assert response.json()["detail"]
    assert listed(client, ALICE, "alice") == sorted(GIVEN)


def test_the_document_declares_what_the_route_answers(client: TestClient, optimizer: Optimizer) -> None:
    from jsonschema import Draft202012Validator

    spec = client.get("/openapi.json", headers=ALICE).json()
    operation = spec["paths"]["/optimize-memories"]["post"]
    create(client, ALICE, *GIVEN)
    answers = [
        client.post("/optimize-memories", headers=ALICE, json={"user_id": "alice", "apply": False}),
        client.post("/optimize-memories", headers=BOB, json={"user_id": "bob"}),
        client.post("/optimize-memories", headers=ALICE, json={"user_id": "alice", "model": "gpt-4o"}),
    ]
    optimizer.failing = "not a consolidation"
    answers.append(client.post("/optimize-memories", headers=ALICE, json={"user_id": "alice"}))

    assert [a.status_code for a in answers] == [200, 404, 422, 502]
    for answer in answers:
        declared = operation["responses"][str(answer.status_code)]["content"]["application/json"]["schema"]
        Draft202012Validator({**declared, "components": spec["components"]}).validate(answer.json())
