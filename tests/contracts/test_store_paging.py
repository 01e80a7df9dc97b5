"""Listings are queries inside the stores: cursor pages through a thousand records miss and repeat nothing,
with or without a filter that drops most of them, on `SqliteStore` and on `DynamoStore` (moto's server), and
DynamoDB is only ever asked with Query, never Scan, including for everyone's records (an administrator's
view) and for the memory topics and stats; the one Scan is the maintenance rebuild, tested last.

The thousand records per kind are written once per store for the module. SQLite takes them through its own
writes; on moto every single-record write costs time in proportion to the table (its index queries walk
every item), so DynamoDB gets them as `DynamoStore` lays them out (`session_item`, `memory_item`,
`learning_item`) in BatchWriteItem calls. The other contract tests cover the single-record writes.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from stratus.storage import (
    InvalidCursorError,
    LearningQuery,
    LearningRecord,
    MemoryQuery,
    Page,
    SessionQuery,
    SessionRecord,
    Store,
    UnsupportedQueryError,
    UserMemory,
    keys,
)
from stratus.storage._dynamo_items import to_item
from stratus.storage.dynamodb import DynamoStore
from stratus.storage.sqlite import SqliteStore
from tests.aws import REGION, MotoServer

COUNT = 1000
PAGE = 50
OTHERS = 30  # records of another user, so a user's listing is seen to keep to that user
BASE = 1_700_000_000.0


def kept(i: int) -> bool:
    """The records the filtered listings keep: one in eight."""
    return i % 8 == 0


def records(user: str, count: int) -> tuple[list[SessionRecord], list[UserMemory], list[LearningRecord]]:
    """`count` sessions, memories and learnings of `user`, one millisecond apart, one in eight marked `keep`."""
    sessions, memories, learnings = [], [], []
    for i in range(count):
        stamp = BASE + i / 1000
        mark = "keep" if kept(i) else "drop"
        sessions.append(
            SessionRecord(
                session_id=f"{user}-s{i:04}",
                user_id=user,
                component_id=mark,
                session_name=f"chat {i}",
                created_at=stamp,
                updated_at=stamp,
                version=1,
            )
        )
        memories.append(
            UserMemory(
                memory_id=f"{user}-m{i:04}",
                memory=f"fact {i}",
                user_id=user,
                agent_id=mark,
                topics=[mark],
                created_at=stamp,
                updated_at=stamp,
            )
        )
        learnings.append(
            LearningRecord(
                learning_id=f"{user}-l{i:04}",
                learning_type="note",
                content={"i": i},
                user_id=user,
                namespace=mark,
                created_at=stamp,
                updated_at=stamp,
            )
        )
    return sessions, memories, learnings


def write_dynamo(store: DynamoStore, moto: MotoServer, items: list[dict[str, Any]]) -> None:
    client = moto.client("dynamodb")
    for start in range(0, len(items), 25):
        requests = {store.table: [{"PutRequest": {"Item": to_item(item)}} for item in items[start : start + 25]]}
        while requests:
            requests = client.batch_write_item(RequestItems=requests).get("UnprocessedItems") or {}


async def write_sqlite(
    store: SqliteStore, rows: tuple[list[SessionRecord], list[UserMemory], list[LearningRecord]]
) -> None:
    sessions, memories, learnings = rows
    for session in sessions:
        await store.create_session(session)
    for memory in memories:
        await store.put_memory(memory)
    for learning in learnings:
        await store.put_learning(learning)


@dataclass(frozen=True)
class Seeded:
    """Where each kind of record was written: one SQLite file, or one DynamoDB table per kind (moto's index
    queries walk the whole table, so three tables of a thousand make each Query a third of the work)."""

    sessions: Store
    memories: Store
    learnings: Store

    @property
    def dynamodb(self) -> bool:
        return isinstance(self.sessions, DynamoStore)

    def stores(self) -> list[Store]:
        return list(dict.fromkeys([self.sessions, self.memories, self.learnings]))


@pytest.fixture(scope="module", params=["sqlite", "dynamodb"])
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """`COUNT` sessions, memories and learnings of "pager" and `OTHERS` of "other"."""
    data = [records("pager", COUNT), records("other", OTHERS)]
    if request.param == "sqlite":
        sqlite = SqliteStore(tmp_path_factory.mktemp("paging") / "paging.db")
        for rows in data:
            asyncio.run(write_sqlite(sqlite, rows))
        seeded = Seeded(sqlite, sqlite, sqlite)
    else:
        moto: MotoServer = request.getfixturevalue("moto")
        tables = [DynamoStore(f"paging-{uuid.uuid4().hex[:12]}", region=REGION) for _ in range(3)]
        for table in tables:
            table.create_table()
        sessions, memories, learnings = tables
        for rows in data:
            write_dynamo(sessions, moto, [sessions.session_item(s) for s in rows[0]])
            write_dynamo(memories, moto, [memories.memory_item(m) for m in rows[1]])
            write_dynamo(learnings, moto, [learnings.learning_item(record) for record in rows[2]])
        seeded = Seeded(sessions, memories, learnings)
    yield seeded
    for store in seeded.stores():
        asyncio.run(store.close())


class Calls:
    """The DynamoDB operations the stores' clients sent (nothing is recorded for SQLite)."""

    def __init__(self, *stores: Store) -> None:
        self.names: list[str] = []
        self._clients = [store.client for store in stores if isinstance(store, DynamoStore)]
        for client in self._clients:
            client.meta.events.register("before-call.dynamodb.*", self._record)

    def _record(self, event_name: str, **_: Any) -> None:
        self.names.append(event_name.rsplit(".", 1)[-1])

    def close(self) -> None:
        for client in self._clients:
            client.meta.events.unregister("before-call.dynamodb.*", self._record)


@pytest.fixture
def calls(seeded: Seeded) -> Iterator[Calls]:
    recorder = Calls(*seeded.stores())
    yield recorder
    recorder.close()


Lister = Callable[[Any], Awaitable[Page[Any]]]


async def walk(list_page: Lister, query: Any) -> list[Page[Any]]:
    """Every page of a listing, each asked with the cursor the one before returned."""
    pages = [await list_page(query)]
    while pages[-1].next_cursor is not None:
        assert len(pages) <= COUNT, "the cursor never ends"
        pages.append(await list_page(replace(query, cursor=pages[-1].next_cursor)))
    return pages


def ids(pages: list[Page[Any]], field: str) -> list[str]:
    return [getattr(item, field) for page in pages for item in page.items]


def expected(kind: str, user: str, count: int, *, filtered: bool) -> list[str]:
    """The ids of `user`'s records of `kind`, newest first."""
    return [f"{user}-{kind}{i:04}" for i in reversed(range(count)) if not filtered or kept(i)]


LISTINGS = {
    "sessions": ("s", "session_id", lambda seeded: seeded.sessions.list_sessions),
    "memories": ("m", "memory_id", lambda seeded: seeded.memories.list_memories),
    "learnings": ("l", "learning_id", lambda seeded: seeded.learnings.list_learnings),
}


def user_query(kind: str, *, filtered: bool) -> Any:
    keep = "keep" if filtered else None
    if kind == "sessions":
        return SessionQuery(user_id="pager", component_id=keep, limit=PAGE)
    if kind == "memories":
        return MemoryQuery(user_id="pager", agent_id=keep, limit=PAGE)
    return LearningQuery(user_id="pager", namespace=keep, limit=PAGE)


@pytest.mark.parametrize("filtered", [False, True], ids=["all", "one-in-eight"])
@pytest.mark.parametrize("kind", list(LISTINGS))
async def test_a_users_records_page_through_by_cursor_with_none_missed_or_repeated(
    seeded: Seeded, calls: Calls, kind: str, filtered: bool
) -> None:
    prefix, field, listing = LISTINGS[kind]

    pages = await walk(listing(seeded), user_query(kind, filtered=filtered))

    assert ids(pages, field) == expected(prefix, "pager", COUNT, filtered=filtered)
    assert all(len(page.items) == PAGE for page in pages[:-1])  # a filter that drops most still fills pages
    assert [page.offset for page in pages] == [PAGE * n for n in range(len(pages))]
    assert pages[-1].total == len(ids(pages, field))
    if seeded.dynamodb:
        assert "Scan" not in calls.names
        assert calls.names.count("Query") >= len(pages)
        if filtered:  # DynamoDB dropped most of what each Query read, so pages took several Queries
            assert calls.names.count("Query") > len(pages)


async def test_everyones_sessions_page_through_the_kind_index_not_a_scan(seeded: Seeded, calls: Calls) -> None:
    pages = await walk(seeded.sessions.list_sessions, SessionQuery(component_id="keep", limit=PAGE, sort_order="asc"))

    everyone = [s for user, count in (("pager", COUNT), ("other", OTHERS)) for s in records(user, count)[0]]
    oldest_first = sorted((s for s in everyone if s.component_id == "keep"), key=lambda s: (s.created_at, s.session_id))
    assert ids(pages, "session_id") == [s.session_id for s in oldest_first]
    assert pages[-1].total == len(oldest_first)
    if seeded.dynamodb:
        assert "Scan" not in calls.names
        assert "Query" in calls.names


async def test_everyones_memories_and_learnings_with_filters_need_no_scan(seeded: Seeded, calls: Calls) -> None:
    memories = await walk(seeded.memories.list_memories, MemoryQuery(agent_id="keep", limit=PAGE))
    learnings = await walk(
        seeded.learnings.list_learnings, LearningQuery(namespace="keep", limit=PAGE, sort_by="created_at")
    )

    both = (("pager", COUNT), ("other", OTHERS))
    assert sorted(ids(memories, "memory_id")) == sorted(
        f"{user}-m{i:04}" for user, count in both for i in range(count) if kept(i)
    )
    assert sorted(ids(learnings, "learning_id")) == sorted(
        f"{user}-l{i:04}" for user, count in both for i in range(count) if kept(i)
    )
    if seeded.dynamodb:
        assert "Scan" not in calls.names
        assert "Query" in calls.names


async def test_a_page_number_still_serves_the_page_a_cursor_would(seeded: Seeded) -> None:
    query = user_query("sessions", filtered=True)
    by_cursor = await walk(seeded.sessions.list_sessions, query)

    second = await seeded.sessions.list_sessions(replace(query, page=2))

    assert [s.session_id for s in second.items] == [s.session_id for s in by_cursor[1].items]
    assert second.offset == PAGE
    beyond = await seeded.sessions.list_sessions(replace(query, page=99))
    assert beyond.items == []
    assert beyond.next_cursor is None
    assert beyond.total == COUNT // 8


def _tampered(cursor: str, change: Callable[[dict[str, Any]], None]) -> str:
    body = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    change(body)
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")


async def test_a_malformed_forged_or_foreign_cursor_is_an_invalid_cursor_error(seeded: Seeded) -> None:
    store = seeded.memories
    query = user_query("memories", filtered=False)
    cursor = (await store.list_memories(query)).next_cursor
    assert cursor is not None

    def to_another_user(body: dict[str, Any]) -> None:
        position = body["k"]
        if isinstance(position, dict):  # DynamoDB: a key in the other user's partition
            for name, value in position.items():
                position[name] = value.replace("pager", "other")
        else:  # SQLite: a position of the wrong shape
            body["k"] = {"user_id": "other"}

    bad = {
        "not base64 JSON": "%%%not-a-cursor%%%",
        "not a cursor body": base64.urlsafe_b64encode(b'["a", 1]').decode(),
        "a negative offset": _tampered(cursor, lambda body: body.update(n=-1)),
        "another position": _tampered(cursor, to_another_user),
        "another listing's": (await store.list_memories(replace(query, agent_id="keep"))).next_cursor,
    }
    refused = {}
    for reason, text in bad.items():
        try:
            await store.list_memories(replace(query, cursor=text))
        except InvalidCursorError as exc:
            refused[reason] = str(exc)
    assert set(refused) == set(bad)


async def test_a_sort_no_index_serves_is_bounded_on_dynamodb(seeded: Seeded) -> None:
    store = seeded.sessions
    query = SessionQuery(user_id="other", sort_by="session_name", sort_order="asc", limit=10)

    first = await store.list_sessions(query)
    second = await store.list_sessions(replace(query, cursor=first.next_cursor))

    names = [s.session_name for s in first.items + second.items]
    assert names == sorted(f"chat {i}" for i in range(OTHERS))[:20]  # "chat 0", "chat 1", "chat 10", ...
    assert first.total == OTHERS
    if not seeded.dynamodb:
        return  # SQLite sorts any listing in SQL
    with pytest.raises(UnsupportedQueryError, match="sort by created_at or updated_at"):
        await store.list_sessions(SessionQuery(sort_by="session_name"))  # everyone's: past the bound


# --- aggregates: topics and per-user stats, through the stores' own writes -------------------------------------


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "sqlite":
        return SqliteStore(tmp_path / "aggregates.db")
    return request.getfixturevalue("dynamo_store")


async def test_topics_and_stats_follow_edits_moves_and_deletes_without_reading_every_memory(store: Store) -> None:
    calls = Calls(store)
    for memory_id, user, topics in (("m1", "ann", ["tea", "home"]), ("m2", "ann", ["tea"]), ("m3", "bob", ["pets"])):
        await store.put_memory(UserMemory(memory_id=memory_id, memory="x", user_id=user, topics=topics))
        await asyncio.sleep(0.01)
    await store.put_memory(UserMemory(memory_id="m1", memory="y", user_id="ann", topics=["work"]))  # topics change
    await store.put_memory(UserMemory(memory_id="m2", memory="x", user_id="bob", topics=["tea"]))  # moves to bob
    assert await store.delete_memory("m3") is True

    assert await store.memory_topics(user_id="ann") == ["work"]
    assert await store.memory_topics(user_id="bob") == ["tea"]
    assert await store.memory_topics() == ["tea", "work"]
    stats = await store.user_memory_stats()
    assert [(s.user_id, s.total_memories) for s in stats.items] == [("bob", 1), ("ann", 1)]
    assert [s.total_memories for s in (await store.user_memory_stats(user_id="ann")).items] == [1]
    first = await store.user_memory_stats(limit=1)
    rest = await store.user_memory_stats(limit=1, cursor=first.next_cursor)
    assert [s.user_id for s in first.items + rest.items] == ["bob", "ann"]
    assert rest.next_cursor is None
    assert "Scan" not in calls.names
    calls.close()


async def test_internal_learnings_stay_out_of_the_recall_and_a_listing_of_them_is_their_own(store: Store) -> None:
    for i in range(5):
        await store.put_learning(
            LearningRecord(learning_id=f"mark{i}", learning_type="_run_learned", content={}, agent_id="helper")
        )
    await store.put_learning(
        LearningRecord(learning_id="tip", learning_type="insight", content={"insight": "be brief"}, agent_id="helper")
    )

    recall = await store.list_learnings(LearningQuery(agent_id="helper", shared=True, learning_type="insight"))
    marks = await store.list_learnings(LearningQuery(learning_type="_run_learned", limit=2))
    everything = await store.list_learnings(LearningQuery(agent_id="helper"))

    assert [r.learning_id for r in recall.items] == ["tip"]
    assert len(marks.items) == 2
    assert marks.next_cursor is not None
    assert [r.learning_id for r in everything.items] == ["tip"]


# --- maintenance: a table written before the listing indexes -------------------------------------------------


async def test_a_table_from_before_the_listing_indexes_lists_everything_after_one_rebuild(
    dynamo_store: DynamoStore, moto: MotoServer
) -> None:
    store = dynamo_store
    await store.create_session(SessionRecord(session_id="old", user_id="ann"))
    await store.put_memory(UserMemory(memory_id="m1", memory="likes tea", user_id="ann", topics=["tea"]))
    await store.put_learning(LearningRecord(learning_id="l1", learning_type="note", content={}, user_id="ann"))
    client = moto.client("dynamodb")
    listing_attributes = [name for index in keys.LISTING_INDEXES for name in (index.pk, index.sk)]
    for item in client.scan(TableName=store.table)["Items"]:  # as an older stratus left them: no entries, no counts
        key = {keys.PK: item[keys.PK], keys.SK: item[keys.SK]}
        if item[keys.SK]["S"] == keys.MEMORY_STATS_SK or item[keys.SK]["S"].startswith("TOPIC#"):
            client.delete_item(TableName=store.table, Key=key)
        else:
            names = {f"#a{i}": name for i, name in enumerate(listing_attributes)}
            client.update_item(
                TableName=store.table,
                Key=key,
                UpdateExpression="REMOVE " + ", ".join(names),
                ExpressionAttributeNames=names,
            )
    assert (await store.list_sessions(SessionQuery(user_id="ann"))).items == []
    assert await store.memory_topics(user_id="ann") == []

    calls = Calls(store)
    report = await store.rebuild_indexes()
    scans = calls.names.count("Scan")
    calls.close()

    assert scans >= 1  # the one place stratus scans, and it is no request
    assert (report.reindexed, report.unreadable) == (3, 0)
    assert [s.session_id for s in (await store.list_sessions(SessionQuery(user_id="ann"))).items] == ["old"]
    assert [m.memory_id for m in (await store.list_memories(MemoryQuery())).items] == ["m1"]
    assert [r.learning_id for r in (await store.list_learnings(LearningQuery(user_id="ann"))).items] == ["l1"]
    assert await store.memory_topics(user_id="ann") == ["tea"]
    assert [(s.user_id, s.total_memories) for s in (await store.user_memory_stats()).items] == [("ann", 1)]
    again = await store.rebuild_indexes()  # idempotent
    assert (again.reindexed, (await store.user_memory_stats(user_id="ann")).items[0].total_memories) == (3, 1)
