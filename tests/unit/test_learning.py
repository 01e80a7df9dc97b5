"""The learning machine with scripted models on a real SQLite store: what a user says in one session is in
the context of their next session and of nobody else's; a correction replaces the old fact; duplicates merge;
caps evict the least used; learning is idempotent per run, off the request path, and never fails a run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from stratus import Agent, RunStatus
from stratus.knowledge.embedders.testing import HashEmbedder
from stratus.knowledge.vectordb.embedded import EmbeddedVectorDb
from stratus.learning import (
    INSIGHT,
    PROFILE,
    InProcessLearningQueue,
    LearningJob,
    LearningMachine,
    LearningQueue,
)
from stratus.messages import Message
from stratus.models.base import ModelRequest
from stratus.models.testing import FunctionModel, ScriptedModel, call
from stratus.storage import LearningQuery, MemoryQuery
from stratus.storage.sqlite import SqliteStore
from tests.fakes.learning import extract


class Chat:
    """The chatting model: answers "ok" and keeps every system message it was shown."""

    def __init__(self) -> None:
        self.systems: list[str] = []
        self.model = FunctionModel(self.answer)

    def answer(self, messages: list[Message], params: ModelRequest) -> str:
        self.systems.append(next((m.content or "" for m in messages if m.role == "system"), ""))
        return "ok"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "learning.db")
    yield s
    await s.close()


def machine(tmp_path: Path, **options: Any) -> LearningMachine:
    return LearningMachine(
        model=FunctionModel(extract),
        embedder=HashEmbedder(64),
        vector_db=EmbeddedVectorDb("learnings", dimensions=64, path=tmp_path / "vectors"),
        **options,
    )


async def say(agent: Agent, text: str, *, user: str | None, session: str) -> None:
    out = await agent.arun(text, user_id=user, session_id=session)
    assert out.status is RunStatus.COMPLETED, out.error
    learner = agent.learning_machine
    assert learner is not None
    await asyncio.wait_for(learner.queue.drain(), 10)


async def memories(store: SqliteStore, user: str) -> list[str]:
    found = (await store.list_memories(MemoryQuery(user_id=user, sort_by="memory", sort_order="asc"))).items
    return [m.memory for m in found]


async def test_a_fact_from_one_session_is_recalled_in_the_next_and_never_for_another_user(
    tmp_path: Path, store: SqliteStore
) -> None:
    chat = Chat()
    agent = Agent(id="helper", model=chat.model, store=store, learning=machine(tmp_path))

    await say(agent, "Hi, my name is Ada and I love tea", user="ada", session="s1")
    await say(agent, "What should I drink?", user="ada", session="s2")
    await say(agent, "What should I drink?", user="bob", session="s3")

    assert "The user likes tea." not in chat.systems[0]  # nothing known yet
    assert "The user likes tea." in chat.systems[1]
    assert "The user's name is Ada." in chat.systems[1]  # a sentence, which a small model reads best
    assert "tea" not in chat.systems[2]
    assert "Ada" not in chat.systems[2]
    assert await memories(store, "ada") == ["The user likes tea."]
    assert await memories(store, "bob") == []


async def test_a_corrected_fact_replaces_the_old_one(tmp_path: Path, store: SqliteStore) -> None:
    chat = Chat()
    agent = Agent(id="helper", model=chat.model, store=store, learning=machine(tmp_path))

    await say(agent, "I live in Oslo", user="ada", session="s1")
    await say(agent, "I moved to Bergen last month", user="ada", session="s2")
    await say(agent, "Where do I live?", user="ada", session="s3")

    assert await memories(store, "ada") == ["The user lives in Bergen."]
    assert "Bergen" in chat.systems[-1]
    assert "Oslo" not in chat.systems[-1]
    await say(agent, "please forget where I live", user="ada", session="s4")
    assert await memories(store, "ada") == []


async def test_the_same_fact_stated_again_is_stored_once(tmp_path: Path, store: SqliteStore) -> None:
    agent = Agent(id="helper", model=Chat().model, store=store, learning=machine(tmp_path))

    for session in ("s1", "s2", "s3"):
        await say(agent, "I love coffee", user="ada", session=session)
    await say(agent, "I love tea", user="ada", session="s4")

    assert await memories(store, "ada") == ["The user likes coffee.", "The user likes tea."]


async def test_memories_over_the_cap_evict_the_least_used(tmp_path: Path, store: SqliteStore) -> None:
    learner = machine(tmp_path, max_memories_per_user=3, recall_memories=0)
    agent = Agent(id="helper", model=Chat().model, store=store, learning=learner)
    for fruit in ("apples", "pears", "plums"):
        await say(agent, f"I love {fruit}", user="ada", session="s1")
    found = (await store.list_memories(MemoryQuery(user_id="ada"))).items
    apples = next(m for m in found if "apples" in m.memory)
    await store.put_memory(replace(apples, uses=3))  # the oldest, but recalled three times

    await say(agent, "I love figs", user="ada", session="s1")

    assert await memories(store, "ada") == ["The user likes apples.", "The user likes figs.", "The user likes plums."]


async def test_learning_from_a_run_twice_stores_nothing_new(tmp_path: Path, store: SqliteStore) -> None:
    learner = machine(tmp_path, learned_knowledge=True)
    agent = Agent(id="helper", model=Chat().model, store=store, learning=learner)
    out = await agent.arun("I love tea. tip: offer a cup first", user_id="ada", session_id="s1")
    await asyncio.wait_for(learner.queue.drain(), 10)
    job = LearningJob(run_id=out.run_id, session_id="s1", agent_id="helper", user_id="ada")

    again = await learner.learn(agent, job)

    assert again.skipped == "already learned from this run"
    assert await memories(store, "ada") == ["The user likes tea."]
    listed = await store.list_learnings(LearningQuery(agent_id="helper", learning_type=INSIGHT))
    insights, total = listed.items, listed.total
    assert total == 1
    assert insights[0].content["insight"] == "offer a cup first"


async def test_insights_are_shared_across_users_and_merged(tmp_path: Path, store: SqliteStore) -> None:
    chat = Chat()
    agent = Agent(id="helper", model=chat.model, store=store, learning=machine(tmp_path, learned_knowledge=True))

    await say(agent, "tip: Ask which city before booking a train.", user="ada", session="s1")
    await say(agent, "tip: ask which city before booking a train", user="bob", session="s2")
    await say(agent, "book me a train", user="cy", session="s3")

    listed = await store.list_learnings(LearningQuery(agent_id="helper", shared=True, learning_type=INSIGHT))
    found, total = listed.items, listed.total
    assert total == 1  # near-duplicates merged
    assert found[0].user_id is None
    assert "ask which city before booking" in chat.systems[-1]


async def test_the_session_summary_is_kept_and_recalled_in_the_session(tmp_path: Path, store: SqliteStore) -> None:
    chat = Chat()
    agent = Agent(id="helper", model=chat.model, store=store, learning=machine(tmp_path))

    await say(agent, "planning a trip to Rome", user="ada", session="s1")
    await say(agent, "what about hotels", user="ada", session="s1")

    session = await store.get_session("s1")
    assert session is not None
    assert session.summary is not None
    assert session.summary["summary"] == "talked about: planning a trip to Rome / talked about: what about hotels"
    assert "planning a trip to Rome" in chat.systems[1]


async def test_profile_fields_are_capped(tmp_path: Path, store: SqliteStore) -> None:
    agent = Agent(id="helper", model=Chat().model, store=store, learning=machine(tmp_path, max_profile_fields=1))
    learner = agent.learning_machine
    assert learner is not None
    await learner._update_profile(store, "ada", "helper", {"name": "Ada", "city": "Oslo"})  # pyright: ignore[reportPrivateUsage]
    await learner._update_profile(store, "ada", "helper", {"language": "Norwegian"})  # pyright: ignore[reportPrivateUsage]

    record = await store.get_learning("profile:ada", user_id="ada")
    assert record is not None
    assert record.learning_type == PROFILE
    assert record.content["fields"] == {"language": "Norwegian"}


async def test_memories_can_expire(tmp_path: Path, store: SqliteStore) -> None:
    agent = Agent(id="helper", model=Chat().model, store=store, learning=machine(tmp_path, ttl_seconds=3600))

    await say(agent, "I love tea", user="ada", session="s1")

    found = (await store.list_memories(MemoryQuery(user_id="ada"))).items
    assert found[0].expires_at is not None
    assert 3500 < found[0].expires_at - found[0].updated_at <= 3600


class BrokenQueue(LearningQueue):
    async def publish(self, job: LearningJob) -> None:
        raise ConnectionError("the queue is down")


class SlowQueue(LearningQueue):
    async def publish(self, job: LearningJob) -> None:
        await asyncio.sleep(30)


@pytest.mark.parametrize("queue", [BrokenQueue(), SlowQueue()], ids=["down", "hanging"])
async def test_a_queue_that_fails_never_fails_the_run(tmp_path: Path, store: SqliteStore, queue: LearningQueue) -> None:
    learner = machine(tmp_path, queue=queue, publish_timeout=0.2)
    agent = Agent(id="helper", model=Chat().model, store=store, learning=learner)

    out = await agent.arun("I love tea", user_id="ada", session_id="s1")

    assert out.status is RunStatus.COMPLETED
    assert out.content == "ok"
    assert queue.failed == 1
    assert len(await store.get_runs("s1")) == 1


async def test_a_failing_extraction_is_retried_then_counted(tmp_path: Path, store: SqliteStore) -> None:
    learner = LearningMachine(model=ScriptedModel(*(["not json"] * 20)), embedder=HashEmbedder(64))
    agent = Agent(id="helper", model=Chat().model, store=store, learning=learner)
    learner.queue = InProcessLearningQueue(learner._work_in_process, attempts=2, backoff=0.01)  # pyright: ignore[reportPrivateUsage]

    out = await agent.arun("I love tea", user_id="ada", session_id="s1")
    await asyncio.wait_for(learner.queue.drain(), 10)

    assert out.status is RunStatus.COMPLETED
    assert learner.queue.failed == 1
    assert await memories(store, "ada") == []
    assert await store.get_learning(f"run:{out.run_id}") is None  # not marked: a later delivery may succeed


async def test_agentic_mode_gives_the_agent_memory_tools(tmp_path: Path, store: SqliteStore) -> None:
    model = ScriptedModel(
        call("save_memory", memory="The user is allergic to nuts.", topics=["health"]),
        "Noted.",
        call("search_memories", query="allergies"),
        "You are allergic to nuts.",
    )
    learner = machine(tmp_path, mode="agentic")
    agent = Agent(id="helper", model=model, store=store, learning=learner)

    await say(agent, "I am allergic to nuts", user="ada", session="s1")
    out = await agent.arun("what am I allergic to?", user_id="ada", session_id="s2")

    assert await memories(store, "ada") == ["The user is allergic to nuts."]
    searched = out.tools[0]
    assert searched.tool_name == "search_memories"
    assert searched.result is not None
    assert "allergic to nuts" in searched.result
    assert "allergic to nuts" in (model.requests[2][0].content or "")  # recalled into the context too


async def test_learning_off_does_nothing(tmp_path: Path, store: SqliteStore) -> None:
    chat = Chat()
    agent = Agent(id="helper", model=chat.model, store=store, learning=machine(tmp_path, mode="off"))

    await say(agent, "I love tea", user="ada", session="s1")

    assert await memories(store, "ada") == []
    assert agent.learning_machine is not None
    assert agent.learning_machine.queue.published == 0


async def test_anonymous_runs_learn_nothing_about_a_user(tmp_path: Path, store: SqliteStore) -> None:
    agent = Agent(id="helper", model=Chat().model, store=store, learning=machine(tmp_path))

    await say(agent, "my name is Ada and I love tea", user=None, session="s1")

    listed = await store.list_memories(MemoryQuery())
    all_memories, total = listed.items, listed.total
    assert (all_memories, total) == ([], 0)


async def test_an_anonymous_run_asks_no_extraction_when_only_users_are_learned_about(
    tmp_path: Path, store: SqliteStore
) -> None:
    extractor = FunctionModel(extract)
    learner = machine(tmp_path, session_summary=False)
    learner.model = extractor
    agent = Agent(id="helper", model=Chat().model, store=store, learning=learner)

    await say(agent, "my name is Ada and I love tea", user=None, session="s1")
    await say(agent, "my name is Ada and I love tea", user="ada", session="s2")

    assert len(extractor.requests) == 1  # the second run's, which has a user
    assert await memories(store, "ada") != []
    assert learner.queue.published == 2


@pytest.mark.parametrize("recall_by", ["words", "meaning"])
async def test_recall_picks_the_memories_that_match_the_question(
    tmp_path: Path, store: SqliteStore, recall_by: str
) -> None:
    chat = Chat()
    learner = machine(tmp_path, recall_memories=1, recall_by=recall_by)
    agent = Agent(id="helper", model=chat.model, store=store, learning=learner)
    for thing in ("tea", "trains", "cats"):
        await say(agent, f"I love {thing}", user="ada", session="s1")

    await say(agent, "which trains run on Sunday?", user="ada", session="s2")

    assert "The user likes trains." in chat.systems[-1]
    assert "tea" not in chat.systems[-1]
    assert "cats" not in chat.systems[-1]


async def test_a_change_of_embedder_keeps_learned_insights_and_memories_working(
    tmp_path: Path, store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given insights and memories learned with one embedder, in the default (per-embedder) vector collection
    monkeypatch.setenv("STRATUS_VECTOR_DB", f"embedded:///{tmp_path / 'vectors'}")
    before = LearningMachine(model=FunctionModel(extract), embedder=HashEmbedder(64))
    assert await before.save_insight(store, "helper", "Answer questions about invoices with the invoice number.") == (
        "added"
    )
    known = {m.memory_id: m for m in await before.memories(store, "u1", embedded=True)}
    await before.remember(store, known, user_id="u1", agent_id="helper", text="Lives in Lisbon", topics=[])

    # when the deployment switches to an embedder of another length
    after = LearningMachine(model=FunctionModel(extract), embedder=HashEmbedder(16))
    hits = await after.search_insights("helper", await after.embedder.embed_query("invoice"), "invoice", 5, store=store)

    # then the stored insight is found (embedded again for the new collection), a new one is stored, no error
    assert [h.chunk.text for h in hits] == ["Answer questions about invoices with the invoice number."]
    assert await after.save_insight(store, "helper", "Offer the refund form for damaged parcels.") == "added"
    assert await after.vector_db.count({"agent_id": "helper"}) == 2
    # and memories are embedded again at the new length, so near-duplicates are still found
    again = await after.memories(store, "u1", embedded=True)
    assert [len(m.embedding or []) for m in again] == [16]

    # switching back finds the old collection and catches up with what changed meanwhile
    first = hits[0].chunk.id
    assert await store.delete_learning(first)
    back = LearningMachine(model=FunctionModel(extract), embedder=HashEmbedder(64))
    assert await back.index_agent(store, "helper") == 1  # only the insight added under the other embedder
    chunks = await back.vector_db.chunks({"agent_id": "helper"})
    assert [c.text for c in chunks] == ["Offer the refund form for damaged parcels."]  # the deleted one is gone
