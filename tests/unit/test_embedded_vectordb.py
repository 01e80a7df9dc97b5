"""`EmbeddedVectorDb`'s vectors in memory: writes applied row by row (never a reload of the collection), the
approximate path past `approximate_from`, and what another instance on the same file wrote."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from stratus.knowledge.documents import Chunk
from stratus.knowledge.vectordb.base import SearchMode
from stratus.knowledge.vectordb.embedded import EmbeddedVectorDb

DIMENSIONS = 32
SIZE = 4_000
CANDIDATES = 256  # what an approximate search re-ranks: the sign bits narrow 4,000 rows (1,000 per user) down
RELOAD = "SELECT rowid, embedding FROM chunks ORDER BY rowid"


def clustered(size: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, DIMENSIONS))
    vectors = centres[rng.integers(0, 40, size=size)] + rng.normal(scale=0.5, size=(size, DIMENSIONS))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def chunks(vectors: np.ndarray, prefix: str = "c") -> list[Chunk]:
    return [
        Chunk(
            id=f"{prefix}{i}",
            content_id=f"doc{i // 10}",
            text=f"chunk number {i}",
            metadata={"user_id": f"u{i % 4}", "even": i % 2 == 0},
            embedding=v.tolist(),
        )
        for i, v in enumerate(vectors)
    ]


def open_db(folder: Path, approximate_from: int = 1) -> EmbeddedVectorDb:
    return EmbeddedVectorDb(
        "t", dimensions=DIMENSIONS, path=folder, approximate_from=approximate_from, candidates=CANDIDATES
    )


@pytest.fixture
async def filled(tmp_path: Path) -> AsyncIterator[tuple[EmbeddedVectorDb, np.ndarray]]:
    vectors = clustered(SIZE)
    db = open_db(tmp_path)
    for start in range(0, SIZE, 1_000):
        await db.upsert(chunks(vectors)[start : start + 1_000])
    yield db, vectors
    await db.close()


async def ids(db: EmbeddedVectorDb, vector: np.ndarray | list[float], limit: int = 10, **filters: object) -> list[str]:
    query = vector.tolist() if isinstance(vector, np.ndarray) else vector
    hits = await db.search(vector=query, mode=SearchMode.VECTOR, filters=filters or None, limit=limit)
    return [h.chunk.id for h in hits]


def statements(db: EmbeddedVectorDb) -> list[str]:
    seen: list[str] = []
    conn = db._connect()
    conn.set_trace_callback(seen.append)
    return seen


async def test_the_approximate_path_finds_what_an_exact_search_finds(
    filled: tuple[EmbeddedVectorDb, np.ndarray], tmp_path: Path
) -> None:
    db, vectors = filled
    exact = open_db(tmp_path, approximate_from=10**9)
    rng = np.random.default_rng(2)
    found = found_user = 0
    for i in rng.integers(0, SIZE, size=40):
        query = vectors[i] + rng.normal(scale=0.05, size=DIMENSIONS).astype(np.float32)
        got, want = await ids(db, query), await ids(exact, query)
        assert got[0] == want[0]
        found += len(set(got) & set(want))
        user = f"u{i % 4}"
        mine = await ids(db, query, user_id=user)
        assert len(mine) == 10
        assert all(int(c[1:]) % 4 == i % 4 for c in mine)
        found_user += len(set(mine) & set(await ids(exact, query, user_id=user)))
    assert found / 400 >= 0.9
    assert found_user / 400 >= 0.9
    await exact.close()


async def test_a_filter_on_the_approximate_path_returns_only_matching_rows(
    filled: tuple[EmbeddedVectorDb, np.ndarray],
) -> None:
    db, vectors = filled
    hits = await db.search(vector=vectors[5].tolist(), mode=SearchMode.VECTOR, filters={"even": True}, limit=50)
    assert len(hits) == 50
    assert all(h.chunk.metadata["even"] is True for h in hits)
    assert "c5" not in [h.chunk.id for h in hits]  # the query's own chunk, but odd
    both = await ids(db, vectors[6], limit=50, user_id=["u1", "u2"], even=True)
    assert both
    assert all(int(c[1:]) % 4 == 2 for c in both)
    assert await ids(db, vectors[6], user_id="nobody") == []


async def test_upsert_then_search_finds_the_new_chunk_without_reloading(
    filled: tuple[EmbeddedVectorDb, np.ndarray],
) -> None:
    db, _ = filled
    await ids(db, clustered(1, seed=9)[0])  # the vectors are held
    seen = statements(db)
    new = clustered(3, seed=9)
    await db.upsert(chunks(new, prefix="new"))
    for i, vector in enumerate(new):
        assert (await ids(db, vector, limit=1)) == [f"new{i}"]
        assert (await ids(db, vector, limit=1, user_id=f"u{i % 4}")) == [f"new{i}"]
    assert RELOAD not in seen
    assert await db.count() == SIZE + 3


async def test_update_moves_the_vector_and_its_filter_values(filled: tuple[EmbeddedVectorDb, np.ndarray]) -> None:
    db, vectors = filled
    await ids(db, vectors[7], user_id="u3")  # the user_id values are held
    moved = Chunk(id="c7", content_id="doc0", text="moved", metadata={"user_id": "u0"}, embedding=vectors[100].tolist())
    await db.upsert([moved])
    assert "c7" not in await ids(db, vectors[7], limit=5)
    assert "c7" not in await ids(db, vectors[7], limit=50, user_id="u3")
    assert set(await ids(db, vectors[100], limit=2)) == {"c7", "c100"}
    near = await db.search(vector=vectors[100].tolist(), mode=SearchMode.VECTOR, filters={"user_id": "u0"}, limit=1)
    assert (near[0].chunk.id, near[0].chunk.text) == ("c7", "moved")
    assert await db.count() == SIZE


async def test_deleted_chunks_are_never_returned(filled: tuple[EmbeddedVectorDb, np.ndarray]) -> None:
    db, vectors = filled
    await ids(db, vectors[0], user_id="u0")  # the vectors and the user_id values are held
    seen = statements(db)
    assert await db.delete(["c11", "c12", "missing"]) == 2
    assert await db.delete_where({"content_id": "doc3"}) == 10  # c30..c39
    for i in (11, 12, *range(30, 40)):
        near = await ids(db, vectors[i], limit=100)
        mine = await ids(db, vectors[i], limit=100, user_id=f"u{i % 4}")
        assert (len(near), len(mine)) == (100, 100)  # deleted rows take no place among the best
        assert f"c{i}" not in near
        assert f"c{i}" not in mine
    assert (await ids(db, vectors[13], limit=1)) == ["c13"]
    assert RELOAD not in seen
    assert await db.count() == SIZE - 12
    await db.drop()
    assert await ids(db, vectors[13]) == []


async def test_a_deleted_last_row_whose_rowid_sqlite_gives_again_is_replaced_in_place(tmp_path: Path) -> None:
    db = open_db(tmp_path)
    vectors = clustered(20)
    await db.upsert(chunks(vectors[:10]))
    await db.delete(["c9"])  # the largest rowid: SQLite gives it to the next new row
    await db.upsert(chunks(vectors[10:12], prefix="n"))
    assert (await ids(db, vectors[9], limit=1)) != ["c9"]
    assert (await ids(db, vectors[10], limit=1)) == ["n0"]
    assert (await ids(db, vectors[11], limit=1)) == ["n1"]
    assert await db.count() == 11
    await db.close()


async def test_random_writes_leave_what_a_reload_reads(tmp_path: Path) -> None:
    db = open_db(tmp_path, approximate_from=10**9)
    vectors = clustered(600, seed=3)
    rng = random.Random(4)
    await db.upsert(chunks(vectors[:200]))
    await ids(db, vectors[0], user_id="u0")
    for step in range(30):
        picks = rng.sample(range(600), 25)
        if step % 3 == 2:
            await db.delete([f"c{i}" for i in picks])
        else:
            replaced = chunks(clustered(600, seed=10 + step))
            await db.upsert([replaced[i] for i in picks])
        reloaded = open_db(tmp_path, approximate_from=10**9)
        query = vectors[rng.randrange(600)]
        assert await ids(db, query, limit=30) == await ids(reloaded, query, limit=30)
        assert await ids(db, query, limit=30, user_id="u1") == await ids(reloaded, query, limit=30, user_id="u1")
        await reloaded.close()
    await db.close()


async def test_a_restart_reads_the_same_vectors_back(
    filled: tuple[EmbeddedVectorDb, np.ndarray], tmp_path: Path
) -> None:
    db, vectors = filled
    await db.delete(["c1"])
    before = [await ids(db, vectors[i], user_id="u2") for i in range(0, 40, 4)]
    plain = await ids(db, vectors[1])
    await db.close()
    again = open_db(tmp_path)
    assert [await ids(again, vectors[i], user_id="u2") for i in range(0, 40, 4)] == before
    assert await ids(again, vectors[1]) == plain
    assert "c1" not in plain
    await again.close()


async def test_two_instances_see_each_others_writes_and_deletes(tmp_path: Path) -> None:
    one, two = open_db(tmp_path), open_db(tmp_path)
    vectors = clustered(2_000, seed=5)
    await one.upsert(chunks(vectors[:1_500]))
    assert (await ids(two, vectors[3], limit=1)) == ["c3"]  # two holds the vectors now

    await two.delete(["c3"])
    await two.upsert(chunks(vectors)[1_500:])
    moved = Chunk(id="c4", content_id="doc0", text="moved", metadata={"user_id": "u0"}, embedding=vectors[900].tolist())
    await two.upsert([moved])

    assert "c3" not in await ids(one, vectors[3], limit=20)
    assert (await ids(one, vectors[1_700], limit=1)) == ["c1700"]
    assert set(await ids(one, vectors[900], limit=2, user_id="u0")) == {"c4", "c900"}
    assert "c4" not in await ids(one, vectors[4], limit=20)

    async def write(db: EmbeddedVectorDb, prefix: str) -> None:
        for start in range(0, 200, 20):
            await db.upsert(chunks(clustered(20, seed=start), prefix=f"{prefix}{start}-"))

    await asyncio.gather(write(one, "a"), write(two, "b"))
    assert await one.count() == await two.count() == 2_000 - 1 + 400
    probe = clustered(20, seed=40)[7]
    assert set(await ids(one, probe, limit=2)) == {"a40-7", "b40-7"}
    assert await ids(one, probe, limit=20) == await ids(two, probe, limit=20)
    await one.close()
    await two.close()


def test_approximate_from_is_checked(tmp_path: Path) -> None:
    from stratus import ConfigError

    with pytest.raises(ConfigError, match="approximate_from"):
        open_db(tmp_path, approximate_from=0)


def test_a_filter_value_of_a_row_not_held_changes_no_other_row() -> None:
    from stratus.knowledge.vectordb._rows import Rows

    rows = Rows(DIMENSIONS)
    assert rows.write(np.array([1, 2, 3]), clustered(3))
    rows.set_column("k", np.array([1, 2, 3]), ["a", "a", None])
    rows.set_column("k", np.array([2, 99]), ["c", "b"])  # 99: another connection's row, read before a reload
    assert rows.matching({"k": ["a"]}).tolist() == [0]
    assert rows.matching({"k": ["c"]}).tolist() == [1]
    assert rows.matching({"k": ["b"]}).tolist() == []
    assert rows.write(np.array([2, 4, 3]), clustered(3))  # 2 and 3 replaced in place, 4 appended
    assert rows.positions(np.array([4, 2, 7])).tolist() == [3, 1, -1]
    assert rows.columns["k"].rows[:4].tolist() == [0, 1, -1, -1]  # the new row: no value read yet
    assert not rows.write(np.array([0]), clustered(1))  # a new rowid below the last: left to a reload
    assert rows.count == 4


def test_embeddings_sharing_a_common_direction_keep_their_recall_on_the_approximate_path() -> None:
    from stratus.knowledge.vectordb._rows import Rows

    # Real sentence embeddings share a direction (unrelated texts still score well above 0): about zero most
    # of the sign bits agree for every row; about the collection's mean they tell the rows apart again.
    rng = np.random.default_rng(3)
    centres, common = rng.normal(size=(100, 64)), rng.normal(size=64)
    common /= np.linalg.norm(common)

    def draw(count: int) -> np.ndarray:
        topic = centres[rng.integers(0, 100, size=count)] + rng.normal(scale=1.5, size=(count, 64))
        shared = topic / np.linalg.norm(topic, axis=1, keepdims=True) + common
        return (shared / np.linalg.norm(shared, axis=1, keepdims=True)).astype(np.float32)

    vectors = draw(20_000)
    rows = Rows(64)
    for start in range(0, len(vectors), 2_500):  # written in batches, as a knowledge base grows
        assert rows.write(np.arange(start, start + 2_500), vectors[start : start + 2_500])
    recall = []
    for query in draw(50):  # a question near a topic, not a copy of a stored chunk
        exact = set(np.argsort(-(vectors @ query))[:10].tolist())
        found = {rowid for rowid, _ in rows.search(query, None, 10, candidates=2_000)}
        recall.append(len(exact & found) / 10)
    assert float(np.mean(recall)) >= 0.95  # about zero: 0.88
