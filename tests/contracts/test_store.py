"""The `Store` contract, run unchanged against every implementation: the embedded `SqliteStore` and
`DynamoStore` on moto's DynamoDB server. What passes here behaves the same on a laptop and on AWS."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from stratus import StoreError
from stratus._utils import time_ordered_id
from stratus.messages import Message, Usage
from stratus.run import RunInput, RunOutput, RunStatus
from stratus.storage import (
    ConflictError,
    ContentQuery,
    ContentRecord,
    ContentStatus,
    LearningQuery,
    LearningRecord,
    MemoryQuery,
    SessionQuery,
    SessionRecord,
    SessionType,
    Store,
    UserMemory,
)
from stratus.storage.dynamodb import DynamoStore
from stratus.storage.sqlite import SqliteStore
from tests.aws import REGION, MotoServer


@pytest.fixture(params=["sqlite", "dynamodb"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """Each backend in turn."""
    if request.param == "sqlite":
        backend: Store = SqliteStore(tmp_path / "contract.db")
    else:
        backend = request.getfixturevalue("dynamo_store")
    yield backend
    await backend.close()


def make_session(session_id: str = "s1", *, user: str | None = "alice", component: str = "assistant") -> SessionRecord:
    return SessionRecord(session_id=session_id, component_id=component, user_id=user, session_name=f"chat {session_id}")


def make_run(session_id: str = "s1", *, user: str | None = "alice", text: str = "hello", tokens: int = 10) -> RunOutput:
    run = RunOutput(
        run_id=time_ordered_id(),
        session_id=session_id,
        agent_id="assistant",
        user_id=user,
        status=RunStatus.COMPLETED,
        input=RunInput(input_content=text),
        content=f"answer to {text}",
        messages=[Message(role="user", content=text), Message(role="assistant", content=f"answer to {text}")],
    )
    run.metrics.usage = Usage(input_tokens=tokens, output_tokens=tokens // 2, total_tokens=tokens + tokens // 2)
    return run


# --- sessions ------------------------------------------------------------------------------------------------


async def test_a_created_session_reads_back(store: Store) -> None:
    created = await store.create_session(
        SessionRecord(
            session_id="s1",
            user_id="alice",
            component_id="assistant",
            session_name="Planning",
            session_state={"step": 1},
            metadata={"tags": ["a"]},
        )
    )

    assert created.version == 1
    assert created.created_at > 0
    read = await store.get_session("s1")
    assert read is not None
    assert (read.session_name, read.session_state, read.metadata, read.user_id) == (
        "Planning",
        {"step": 1},
        {"tags": ["a"]},
        "alice",
    )
    with pytest.raises(ConflictError):
        await store.create_session(SessionRecord(session_id="s1", user_id="bob"))


async def test_another_users_session_reads_as_absent(store: Store) -> None:
    await store.create_session(make_session(user="alice"))

    assert await store.get_session("s1", user_id="bob") is None
    assert await store.update_session("s1", user_id="bob", session_name="mine now") is None
    assert await store.delete_session("s1", user_id="bob") is False
    assert await store.get_session("s1", user_id="alice") is not None


async def test_updates_change_only_what_is_given_and_bump_the_version(store: Store) -> None:
    await store.create_session(make_session())

    renamed = await store.update_session("s1", session_name="Renamed")
    assert renamed is not None
    updated = await store.update_session("s1", session_state={"k": "v"}, summary={"summary": "short"})
    assert updated is not None

    assert (updated.session_name, updated.session_state, updated.summary) == (
        "Renamed",
        {"k": "v"},
        {"summary": "short"},
    )
    assert updated.version == 3
    cleared = await store.update_session("s1", summary=None)
    assert cleared is not None
    assert cleared.summary is None
    assert await store.update_session("missing", session_name="x") is None


async def test_concurrent_state_updates_lose_no_write(store: Store) -> None:
    await store.create_session(
        make_session(),
    )

    def increment(session: SessionRecord) -> None:
        session.session_state["count"] = session.session_state.get("count", 0) + 1

    await asyncio.gather(*(store.update_session("s1", change=increment) for _ in range(20)))

    session = await store.get_session("s1")
    assert session is not None
    assert session.session_state["count"] == 20
    assert session.version == 21


async def test_sessions_list_with_filters_sorting_and_paging(store: Store) -> None:
    for i, name in enumerate(["Alpha plan", "beta PLAN", "gamma"]):
        await store.create_session(
            SessionRecord(session_id=f"a{i}", user_id="alice", component_id="assistant", session_name=name)
        )
        await asyncio.sleep(0.01)  # distinct creation times
    await store.create_session(SessionRecord(session_id="b0", user_id="bob", component_id="other", session_name="plan"))
    await store.create_session(
        SessionRecord(
            session_id="t0", user_id="alice", session_type=SessionType.TEAM, component_id="crew", session_name="team"
        )
    )

    listed = await store.list_sessions(SessionQuery())
    everything, total = listed.items, listed.total
    assert total == 5
    assert [s.session_id for s in everything][:1] == ["t0"]  # newest first by default

    listed = await store.list_sessions(SessionQuery(user_id="alice", session_type=SessionType.AGENT))
    alices, total = listed.items, listed.total
    assert total == 3
    assert [s.session_id for s in alices] == ["a2", "a1", "a0"]

    listed = await store.list_sessions(SessionQuery(user_id="alice", limit=2, page=2, sort_order="asc"))
    page, total = listed.items, listed.total
    assert total == 4
    assert [s.session_id for s in page] == ["a2", "t0"]

    named = (
        await store.list_sessions(SessionQuery(session_name="PLAN", sort_by="session_name", sort_order="asc"))
    ).items
    assert [s.session_id for s in named] == ["a0", "a1", "b0"]

    listed = await store.list_sessions(SessionQuery(component_id="other"))
    components, total = listed.items, listed.total
    assert (total, [s.session_id for s in components]) == (1, ["b0"])

    await store.update_session("a0", session_name="Alpha plan v2")
    recent = (await store.list_sessions(SessionQuery(user_id="alice", sort_by="updated_at"))).items
    assert recent[0].session_id == "a0"


async def test_deleting_sessions_deletes_their_runs(store: Store) -> None:
    for session_id in ("s1", "s2", "s3"):
        await store.save_run(make_session(session_id), make_run(session_id))
    await store.create_session(SessionRecord(session_id="t1", user_id="alice", session_type=SessionType.TEAM))
    run = (await store.get_runs("s1"))[0]

    assert await store.delete_session("s1") is True
    assert await store.get_session("s1") is None
    assert await store.get_runs("s1") == []
    assert await store.get_run(run.run_id) is None
    assert await store.delete_session("s1") is False

    deleted = await store.delete_sessions(
        ["s2", "s3", "t1", "nope"], user_id="alice", session_types=[SessionType.AGENT]
    )
    assert deleted == 2
    assert await store.get_session("t1") is not None


# --- runs ----------------------------------------------------------------------------------------------------


async def test_a_run_creates_its_session_and_reads_back_intact(store: Store) -> None:
    run = make_run(tokens=10)

    session = await store.save_run(make_session(), run)

    assert (session.session_name, session.component_id, session.user_id) == ("chat s1", "assistant", "alice")
    assert session.usage.total_tokens == 15
    fetched = await store.get_run(run.run_id)
    assert fetched is not None
    assert fetched.to_dict() == run.to_dict()
    assert await store.get_run(run.run_id, session_id="s1") is not None
    assert await store.get_run(run.run_id, session_id="other") is None
    assert await store.get_run(run.run_id, user_id="bob") is None


async def test_history_is_the_last_n_runs_oldest_first(store: Store) -> None:
    session = make_session()
    for i in range(8):
        run = make_run(text=f"q{i}")
        if i == 6:
            run.status = RunStatus.ERROR
        await store.save_run(session, run)

    last_three = await store.get_runs("s1", last=3, statuses=[RunStatus.COMPLETED])
    everything = await store.get_runs("s1")

    assert [r.input.input_content for r in last_three if r.input] == ["q4", "q5", "q7"]
    assert [r.input.input_content for r in everything if r.input] == [f"q{i}" for i in range(8)]
    assert await store.get_runs("s1", last=0) == []
    assert await store.get_runs("s1", user_id="bob") == []


async def test_saving_a_run_again_replaces_it_without_counting_tokens_twice(store: Store) -> None:
    run = make_run(tokens=10)
    await store.save_run(make_session(), run)
    run.content = "a better answer"
    session = await store.save_run(make_session(), run)

    assert session.usage.total_tokens == 15
    assert [r.content for r in await store.get_runs("s1")] == ["a better answer"]


async def test_fifty_concurrent_runs_on_one_session_are_all_stored(store: Store) -> None:
    runs = [make_run(text=f"q{i}", tokens=2) for i in range(50)]

    await asyncio.gather(*(store.save_run(make_session(), run) for run in runs))

    stored = await store.get_runs("s1")
    assert len(stored) == 50
    assert {r.run_id for r in stored} == {r.run_id for r in runs}
    session = await store.get_session("s1")
    assert session is not None
    assert session.usage.total_tokens == 50 * 3


async def test_concurrent_runs_that_change_the_state_lose_no_write(store: Store) -> None:
    await store.save_run(make_session(), make_run())
    start = await store.get_session("s1")
    assert start is not None

    async def run_setting(key: str) -> None:
        # Every run read the same version and state, and sets a key of its own.
        session = SessionRecord(
            session_id="s1",
            user_id="alice",
            component_id="assistant",
            version=start.version,
            session_state={**start.session_state, key: True},
        )
        await store.save_run(session, make_run(), state_base=dict(start.session_state))

    await asyncio.gather(*(run_setting(f"k{i}") for i in range(20)))

    session = await store.get_session("s1")
    assert session is not None
    assert session.session_state == {f"k{i}": True for i in range(20)}
    assert len(await store.get_runs("s1")) == 21


async def test_a_run_cannot_be_written_into_another_users_session(store: Store) -> None:
    await store.save_run(make_session(user="alice"), make_run(user="alice"))
    intruder = make_session(user="mallory")
    intruder.session_state = {"owned": True}

    with pytest.raises(StoreError, match="another user"):
        await store.save_run(intruder, make_run(user="mallory"))

    session = await store.get_session("s1")
    assert session is not None
    assert session.user_id == "alice"
    assert session.session_state == {}
    assert len(await store.get_runs("s1")) == 1


async def test_a_run_larger_than_a_dynamodb_item_round_trips_intact(store: Store) -> None:
    # 900 KB of messages that compress only to about half (random hex), and 600 KB that compress well.
    noisy = os.urandom(450_000).hex()
    plain = "all work and no play " * 30_000
    for text in (noisy, plain):
        run = make_run(text="big")
        run.messages.append(Message(role="tool", content=text, tool_call_id="c1", tool_name="dump", tool_args={}))
        await store.save_run(make_session(), run)

        back = await store.get_run(run.run_id)
        assert back is not None
        assert back.messages[-1].content == text
        assert back.to_dict() == run.to_dict()
    assert len(await store.get_runs("s1", last=2)) == 2


async def test_expired_records_read_as_absent(store: Store) -> None:
    store.ttl_seconds = 2  # expiry is stamped in whole seconds: at least one second from now
    await store.save_run(make_session(), make_run())
    await store.put_memory(UserMemory(memory_id="m1", memory="likes tea", user_id="alice"))
    assert await store.get_session("s1") is not None

    await asyncio.sleep(2.1)

    assert await store.get_session("s1") is None
    assert await store.get_runs("s1") == []
    assert await store.get_memory("m1") is None
    assert (await store.list_sessions(SessionQuery())).total == 0
    # the id is free again
    store.ttl_seconds = None
    fresh = await store.save_run(make_session(), make_run())
    assert fresh.usage.total_tokens == 15


# --- memories ------------------------------------------------------------------------------------------------


async def test_memories_round_trip_and_updates_keep_their_creation_time(store: Store) -> None:
    first = await store.put_memory(
        UserMemory(memory_id="m1", memory="Likes green tea", user_id="alice", topics=["food"])
    )
    await asyncio.sleep(0.01)
    second = await store.put_memory(
        UserMemory(memory_id="m1", memory="Likes green tea, no sugar", user_id="alice", topics=["food", "tea"])
    )

    read = await store.get_memory("m1")
    assert read is not None
    assert (read.memory, read.topics) == ("Likes green tea, no sugar", ["food", "tea"])
    assert read.created_at == first.created_at
    assert second.updated_at > first.created_at
    assert await store.get_memory("m1", user_id="bob") is None


async def test_memories_list_with_filters_sorting_and_paging(store: Store) -> None:
    rows = [
        ("m1", "alice", "Works at ACME", ["work"], "assistant"),
        ("m2", "alice", "Has a dog named Rex", ["pets", "family"], "assistant"),
        ("m3", "alice", "Prefers short answers", ["style"], "other"),
        ("m4", "bob", "Lives in Oslo", ["home"], "assistant"),
    ]
    for memory_id, user, text, topics, agent in rows:
        await store.put_memory(
            UserMemory(memory_id=memory_id, memory=text, user_id=user, topics=topics, agent_id=agent)
        )
        await asyncio.sleep(0.01)

    listed = await store.list_memories(MemoryQuery(user_id="alice"))
    alice, total = listed.items, listed.total
    assert total == 3
    assert [m.memory_id for m in alice] == ["m3", "m2", "m1"]  # most recently updated first
    by_topic = (await store.list_memories(MemoryQuery(topics=["pets", "home"]))).items
    assert sorted(m.memory_id for m in by_topic) == ["m2", "m4"]
    searched = (await store.list_memories(MemoryQuery(search_content="DOG"))).items
    assert [m.memory_id for m in searched] == ["m2"]
    listed = await store.list_memories(MemoryQuery(agent_id="assistant", sort_by="memory", sort_order="asc"))
    by_agent, total = listed.items, listed.total
    assert (total, [m.memory_id for m in by_agent]) == (3, ["m2", "m4", "m1"])
    listed = await store.list_memories(MemoryQuery(limit=3, page=2))
    paged, total = listed.items, listed.total
    assert (total, [m.memory_id for m in paged]) == (4, ["m1"])

    assert await store.memory_topics(user_id="alice") == ["family", "pets", "style", "work"]
    listed_stats = await store.user_memory_stats()
    stats, users = listed_stats.items, listed_stats.total
    assert users == 2
    assert [(s.user_id, s.total_memories) for s in stats] == [("bob", 1), ("alice", 3)]


async def test_memories_delete_one_and_many_within_the_callers_reach(store: Store) -> None:
    for memory_id, user in (("m1", "alice"), ("m2", "alice"), ("m3", "bob")):
        await store.put_memory(UserMemory(memory_id=memory_id, memory="x", user_id=user))

    assert await store.delete_memory("m3", user_id="alice") is False
    assert await store.delete_memory("m1", user_id="alice") is True
    assert await store.delete_memories(["m2", "m3"], user_id="alice") == 1
    assert await store.get_memory("m3") is not None
    assert (await store.list_memories(MemoryQuery())).total == 1


# --- learnings and knowledge content -------------------------------------------------------------------------


async def test_learnings_per_user_and_per_agent(store: Store) -> None:
    await store.put_learning(
        LearningRecord(
            learning_id="l1",
            learning_type="user_profile",
            content={"name": "Ann"},
            user_id="alice",
            agent_id="assistant",
        )
    )
    await store.put_learning(
        LearningRecord(learning_id="l2", learning_type="insight", content={"text": "Be brief"}, agent_id="assistant")
    )
    await store.put_learning(
        LearningRecord(learning_id="l3", learning_type="insight", content={"text": "x"}, agent_id="other")
    )

    listed = await store.list_learnings(LearningQuery(user_id="alice"))
    mine, total = listed.items, listed.total
    assert (total, [item.learning_id for item in mine]) == (1, ["l1"])
    listed = await store.list_learnings(LearningQuery(agent_id="assistant"))
    agents, total = listed.items, listed.total
    assert (total, sorted(item.learning_id for item in agents)) == (2, ["l1", "l2"])
    insights = (await store.list_learnings(LearningQuery(learning_type="insight"))).items
    assert sorted(item.learning_id for item in insights) == ["l2", "l3"]

    record = await store.get_learning("l2")
    assert record is not None
    assert record.content == {"text": "Be brief"}
    assert await store.get_learning("l1", user_id="bob") is None
    assert await store.delete_learning("l1", user_id="bob") is False
    assert await store.delete_learning("l1") is True
    assert await store.get_learning("l1") is None


async def test_knowledge_content_records(store: Store) -> None:
    await store.put_content(ContentRecord(content_id="c1", knowledge_id="docs", name="guide.md", content_hash="h1"))
    await asyncio.sleep(0.01)
    done = ContentRecord(
        content_id="c2", knowledge_id="docs", name="faq.md", status=ContentStatus.COMPLETED, chunk_count=12
    )
    await store.put_content(done)
    await store.put_content(ContentRecord(content_id="c3", knowledge_id="other", name="x"))

    docs = await store.list_contents(ContentQuery(knowledge_id="docs"))
    listed, total = docs.items, docs.total
    assert (total, [c.content_id for c in listed]) == (2, ["c2", "c1"])
    completed = (await store.list_contents(ContentQuery(knowledge_id="docs", status=ContentStatus.COMPLETED))).items
    assert [c.chunk_count for c in completed] == [12]
    same_hash = (await store.list_contents(ContentQuery(knowledge_id="docs", content_hash="h1"))).items
    assert [c.content_id for c in same_hash] == ["c1"]

    fetched = await store.get_content("c2")
    assert fetched is not None
    assert fetched.status is ContentStatus.COMPLETED
    assert await store.get_content("c2", knowledge_id="other") is None
    assert await store.delete_content("c1") is True
    assert await store.get_content("c1") is None


# --- what only DynamoDB needs ----------------------------------------------------------------------------


async def test_dynamodb_without_a_bucket_refuses_a_run_too_big_for_an_item(moto: MotoServer) -> None:
    store = DynamoStore(f"no-bucket-{time.time_ns()}", region=REGION)
    store.create_table()
    run = make_run()
    run.messages.append(
        Message(role="tool", content=os.urandom(450_000).hex(), tool_call_id="c", tool_name="t", tool_args={})
    )

    with pytest.raises(StoreError, match="too large for a DynamoDB item"):
        await store.save_run(make_session(), run)
    assert await store.get_session("s1") is None  # nothing half-written


async def test_dynamodb_compresses_big_runs_and_offloads_huge_ones_to_s3(
    dynamo_store: DynamoStore, moto: MotoServer
) -> None:
    small, compressible, huge = make_run(text="small"), make_run(text="compressible"), make_run(text="huge")
    compressible.messages.append(Message(role="assistant", content="la " * 200_000))
    huge.messages.append(Message(role="assistant", content=os.urandom(450_000).hex()))
    for run in (small, compressible, huge):
        await dynamo_store.save_run(make_session(), run)

    items = moto.client("dynamodb").query(
        TableName=dynamo_store.table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :run)",
        ExpressionAttributeValues={":pk": {"S": "SESSION#s1"}, ":run": {"S": "RUN#"}},
    )["Items"]
    bodies = {item["run_id"]["S"]: {k for k in item if k.startswith("data")} for item in items}
    assert bodies == {small.run_id: {"data"}, compressible.run_id: {"data_z"}, huge.run_id: {"data_s3"}}
    objects = moto.client("s3").list_objects_v2(Bucket=dynamo_store.bucket)["Contents"]
    assert [o["Key"] for o in objects] == [f"runs/s1/{huge.run_id}.json.gz"]

    await dynamo_store.delete_session("s1")
    assert moto.client("s3").list_objects_v2(Bucket=dynamo_store.bucket).get("KeyCount") == 0


async def test_dynamodb_refuses_an_item_of_an_unknown_schema_version(
    dynamo_store: DynamoStore, moto: MotoServer
) -> None:
    from stratus import SchemaVersionError

    await dynamo_store.save_run(make_session(), make_run())
    moto.client("dynamodb").update_item(
        TableName=dynamo_store.table,
        Key={"pk": {"S": "SESSION#s1"}, "sk": {"S": "META"}},
        UpdateExpression="SET schema_version = :v",
        ExpressionAttributeValues={":v": {"N": "99"}},
    )

    with pytest.raises(SchemaVersionError, match="schema_version 99"):
        await dynamo_store.get_session("s1")


def test_the_table_is_built_from_the_shared_key_schema(dynamo_store: DynamoStore, moto: MotoServer) -> None:
    from stratus.storage import keys

    table = moto.client("dynamodb").describe_table(TableName=dynamo_store.table)["Table"]
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {keys.PK: "HASH", keys.SK: "RANGE"}
    indexes = {index["IndexName"]: index for index in table["GlobalSecondaryIndexes"]}
    assert set(indexes) == {index.name for index in keys.INDEXES}
    for expected in keys.INDEXES:
        index = indexes[expected.name]
        assert [(k["AttributeName"], k["KeyType"]) for k in index["KeySchema"]] == [
            (expected.pk, "HASH"),
            (expected.sk, "RANGE"),
        ]
        assert set(index["Projection"]["NonKeyAttributes"]) == set(expected.projected)
    ttl = moto.client("dynamodb").describe_time_to_live(TableName=dynamo_store.table)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == keys.TTL_ATTRIBUTE


# --- bounds: a store writes only what it can read back ---------------------------------------------------------


def _deep(levels: int) -> dict[str, object]:
    value: dict[str, object] = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"k": value}
    return value


async def test_a_record_nested_too_deep_is_refused_and_nothing_is_stored(store: Store) -> None:
    from dataclasses import replace

    from stratus.limits import MAX_STORED_DEPTH, UnstorableRecordError

    too_deep = _deep(MAX_STORED_DEPTH + 1)
    with pytest.raises(UnstorableRecordError):
        await store.create_session(replace(make_session(), session_state=too_deep))
    with pytest.raises(UnstorableRecordError):
        await store.create_session(replace(make_session(), metadata=_deep(3000)))
    run = make_run()
    run.session_state = too_deep
    with pytest.raises(UnstorableRecordError):
        await store.save_run(replace(make_session(), session_state=too_deep), run)
    with pytest.raises(UnstorableRecordError):
        await store.put_learning(LearningRecord(learning_id="l1", learning_type="note", content=too_deep))
    assert await store.get_session("s1") is None
    assert await store.get_runs("s1") == []
    listed = await store.list_sessions(SessionQuery())
    assert (listed.items, listed.total) == ([], 0)
    assert (await store.list_learnings(LearningQuery(learning_type="note"))).items == []

    at_limit = _deep(MAX_STORED_DEPTH)  # the deepest a store keeps reads back as it was written
    stored = await store.create_session(replace(make_session(), session_state=at_limit))
    assert stored.session_state == at_limit
    assert (await store.list_sessions(SessionQuery())).items[0].session_state == at_limit
    # Wide is not deep: far more objects than levels (the depth is then walked, not bounded by counting).
    wide = {"items": [{"n": n, "tags": ["a", {"b": [n]}]} for n in range(200)], "note": "{[" * 100}
    stored = await store.create_session(replace(make_session("wide"), session_state=wide))
    assert stored.session_state == wide
    assert (await store.get_session("wide")) is not None


async def test_a_page_past_any_row_is_empty_not_an_error(store: Store) -> None:
    await store.create_session(make_session())
    for page in (2**31, 2**62, 2**63, 10**30):
        assert (await store.list_sessions(SessionQuery(page=page))).items == []


async def test_a_dynamodb_listing_skips_an_item_it_cannot_read(dynamo_store: DynamoStore, moto: MotoServer) -> None:
    for session_id in ("good", "bad"):
        await dynamo_store.save_run(make_session(session_id), make_run(session_id))
    moto.client("dynamodb").update_item(  # written behind the store's back, as an older version could
        TableName=dynamo_store.table,
        Key={"pk": {"S": "SESSION#bad"}, "sk": {"S": "META"}},
        UpdateExpression="SET session_state = :v",
        ExpressionAttributeValues={":v": {"S": '{"k":' * 299 + "{}" + "}" * 299}},
    )

    for query in (SessionQuery(), SessionQuery(user_id="alice")):
        sessions = (await dynamo_store.list_sessions(query)).items
        assert [s.session_id for s in sessions] == ["good"]


# --- claims: exactly-once effects for queue work ---------------------------------------------------------------


def _twin(store: Store) -> Store:
    """A second client of the same database: another worker, its own connection."""
    if isinstance(store, SqliteStore):
        return SqliteStore(store.path)
    assert isinstance(store, DynamoStore)
    return DynamoStore(store.table, region=store.region, bucket=store.bucket)


class TestClaims:
    async def test_one_of_many_concurrent_claims_wins_across_connections(self, store: Store) -> None:
        from stratus.storage.base import ClaimStatus

        other = _twin(store)
        for worker in (store, other):  # both workers are up (each has opened the database)
            await worker.get_session("warm-up")
        try:
            claims = await asyncio.gather(
                *(s.claim("run:r1", lease_seconds=60) for s in [store, other] * 5),
            )
        finally:
            await other.close()

        winners = [c for c in claims if c.acquired]
        assert len(winners) == 1
        assert {c.status for c in claims} == {ClaimStatus.IN_PROGRESS}
        assert {c.token for c in claims} == {winners[0].token}  # the losers see who holds it

    async def test_a_completed_claim_makes_every_later_claim_a_no_op(self, store: Store) -> None:
        from stratus.storage.base import ClaimStatus

        claim = await store.claim("run:r1", lease_seconds=60)
        assert await store.complete_claim(claim)

        again = await store.claim("run:r1", lease_seconds=60)
        assert (again.acquired, again.status) == (False, ClaimStatus.COMPLETED)
        assert not await store.release_claim(claim)  # done is done
        assert (await store.claim("run:r1", lease_seconds=60)).status is ClaimStatus.COMPLETED

    async def test_a_released_claim_is_acquired_by_the_next_delivery(self, store: Store) -> None:
        first = await store.claim("run:r1", lease_seconds=60)
        assert not (await store.claim("run:r1", lease_seconds=60)).acquired

        assert await store.release_claim(first)

        retry = await store.claim("run:r1", lease_seconds=60)
        assert retry.acquired
        assert retry.token != first.token

    async def test_a_lapsed_lease_is_taken_over_and_its_old_holder_can_no_longer_end_it(self, store: Store) -> None:
        dead = await store.claim("run:r1", lease_seconds=0.2)
        await asyncio.sleep(0.3)  # its worker died: no complete, no release

        takeover = await store.claim("run:r1", lease_seconds=60)

        assert takeover.acquired
        assert not await store.release_claim(dead)
        assert not (await store.claim("run:r1", lease_seconds=60)).acquired  # the new holder still has it
        assert await store.complete_claim(takeover)

    async def test_claims_on_different_work_are_independent(self, store: Store) -> None:
        first = await store.claim("run:r1", lease_seconds=60)
        await store.complete_claim(first)

        assert (await store.claim("run:r2", lease_seconds=60)).acquired
        assert (await store.claim("learn:assistant:r1", lease_seconds=60)).acquired

    async def test_a_completed_claim_is_forgotten_after_it_is_kept(self, store: Store) -> None:
        claim = await store.claim("run:r1", lease_seconds=60)
        await store.complete_claim(claim, keep_seconds=0)
        await asyncio.sleep(1.1)  # expiry is in whole epoch seconds, as DynamoDB's TTL

        assert (await store.claim("run:r1", lease_seconds=60)).acquired

    async def test_a_lease_must_be_positive(self, store: Store) -> None:
        with pytest.raises(ValueError, match="lease"):
            await store.claim("run:r1", lease_seconds=0)
