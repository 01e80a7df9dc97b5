"""The `VectorDb` contract, run unchanged against every implementation. Vectors here are small and chosen by
hand (each axis a topic), so what should rank first is known exactly."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from stratus import ConfigError
from stratus.knowledge.documents import Chunk, SearchHit
from stratus.knowledge.vectordb.base import SearchMode, VectorDb, VectorDbError
from stratus.knowledge.vectordb.embedded import APPROXIMATE_FROM, CANDIDATES, EmbeddedVectorDb

DIMENSIONS = 4
StoreFactory = Callable[[str], VectorDb]


def embedded_factory(
    tmp_path: Path, approximate_from: int = APPROXIMATE_FROM, candidates: int = CANDIDATES
) -> StoreFactory:
    return lambda collection: EmbeddedVectorDb(
        collection, dimensions=DIMENSIONS, path=tmp_path, approximate_from=approximate_from, candidates=candidates
    )


def opensearch_factory() -> StoreFactory:
    # Serverless (the flavour AWS runs, and the stricter one) over the fake data plane: no server runs here.
    pytest.importorskip("opensearchpy")
    from stratus.knowledge.vectordb.opensearch import OpenSearchVectorDb
    from tests.fakes.opensearch import FakeOpenSearch

    fake = FakeOpenSearch(serverless=True)
    return lambda collection: OpenSearchVectorDb(collection, dimensions=DIMENSIONS, client=fake.client())


FACTORIES: dict[str, Callable[[pytest.FixtureRequest, Path], StoreFactory]] = {
    "embedded": lambda request, tmp_path: embedded_factory(tmp_path),
    # every vector search on the approximate path: narrowed by sign bits to 2 rows (or the limit), re-ranked
    "embedded-approximate": lambda request, tmp_path: embedded_factory(tmp_path, approximate_from=1, candidates=2),
    "opensearch": lambda request, tmp_path: opensearch_factory(),
}


@pytest.fixture(params=sorted(FACTORIES))
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VectorDb]:
    store = FACTORIES[request.param](request, tmp_path)("contract")
    await store.create()
    yield store
    await store.close()


def chunk(cid: str, index: int, text: str, vector: list[float], **metadata: object) -> Chunk:
    return Chunk(id=f"{cid}:{index}", content_id=cid, text=text, metadata=dict(metadata), embedding=vector)


CORPUS = [
    chunk("pets", 0, "Cats sleep most of the day and purr when content.", [1, 0, 0, 0], topic="pets", year=2023),
    chunk("pets", 1, "Dogs need a walk every morning and evening.", [0.9, 0.1, 0, 0], topic="pets", year=2024),
    chunk("tax", 0, "File your tax return before the April deadline.", [0, 1, 0, 0], topic="money", year=2024),
    chunk(
        "bank", 0, "The bank charges a fee for international transfers.", [0, 0.8, 0.2, 0], topic="money", public=True
    ),
    chunk("trip", 0, "The train to Oslo leaves at nine from platform two.", [0, 0, 1, 0], topic="travel", year=2023),
    chunk("trip", 1, "Book the hotel in Bergen near the fish market.", [0, 0, 0.9, 0.1], topic="travel", year=2024),
]


async def test_upsert_count_and_replace_by_id(db: VectorDb) -> None:
    await db.upsert(CORPUS)
    assert await db.count() == 6
    assert await db.count({"topic": "pets"}) == 2

    await db.upsert([chunk("pets", 0, "Cats are curious.", [1, 0, 0, 0], topic="pets", year=2025)])

    assert await db.count() == 6
    hits = await db.search(vector=[1, 0, 0, 0], mode=SearchMode.VECTOR, limit=1)
    assert (hits[0].chunk.text, hits[0].chunk.metadata["year"]) == ("Cats are curious.", 2025)
    await db.create()  # idempotent
    assert await db.count() == 6


async def test_vector_search_ranks_by_cosine_similarity(db: VectorDb) -> None:
    await db.upsert(CORPUS)

    hits = await db.search(vector=[0, 2, 0, 0], mode=SearchMode.VECTOR, limit=3)

    assert [h.chunk.id for h in hits] == ["tax:0", "bank:0", "pets:1"]
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert hits[0].score >= hits[1].score >= hits[2].score
    assert hits[0].chunk.content_id == "tax"
    assert hits[0].chunk.metadata == {"topic": "money", "year": 2024}
    assert hits[0].chunk.embedding is None  # vectors are not sent back


async def test_metadata_filters(db: VectorDb) -> None:
    await db.upsert(CORPUS)

    def ids(hits: list[SearchHit]) -> list[str]:
        return sorted(h.chunk.id for h in hits)

    query = [0.5, 0.5, 0.5, 0.5]
    assert ids(await db.search(vector=query, mode=SearchMode.VECTOR, filters={"topic": "travel"}, limit=10)) == [
        "trip:0",
        "trip:1",
    ]
    assert ids(await db.search(vector=query, mode=SearchMode.VECTOR, filters={"year": [2023]}, limit=10)) == [
        "pets:0",
        "trip:0",
    ]
    either_topic = {"topic": ["pets", "money"], "year": 2024}
    assert ids(await db.search(vector=query, mode=SearchMode.VECTOR, filters=either_topic, limit=10)) == [
        "pets:1",
        "tax:0",
    ]
    assert ids(await db.search(vector=query, mode=SearchMode.VECTOR, filters={"content_id": "bank"}, limit=10)) == [
        "bank:0"
    ]
    assert ids(await db.search(vector=query, mode=SearchMode.VECTOR, filters={"public": True}, limit=10)) == ["bank:0"]
    assert await db.search(vector=query, mode=SearchMode.VECTOR, filters={"topic": "nothing"}, limit=10) == []
    with pytest.raises(ConfigError):
        await db.search(vector=query, mode=SearchMode.VECTOR, filters={"bad key!": 1})


async def test_filtered_searches_see_later_writes_and_deletes(db: VectorDb) -> None:
    await db.upsert(CORPUS)
    query = [0, 0, 1, 0]
    travel = {"topic": "travel"}
    assert len(await db.search(vector=query, mode=SearchMode.VECTOR, filters=travel, limit=10)) == 2

    await db.upsert([chunk("ferry", 0, "The ferry to Bergen sails at dawn.", [0, 0, 1, 0.1], topic="travel")])
    await db.upsert([chunk("pets", 0, "Cats travel badly.", [1, 0, 0, 0], topic="travel", year=2023)])  # moved
    found = await db.search(vector=query, mode=SearchMode.VECTOR, filters=travel, limit=10)
    assert sorted(h.chunk.id for h in found) == ["ferry:0", "pets:0", "trip:0", "trip:1"]
    assert [h.chunk.id for h in await db.search(vector=query, mode=SearchMode.VECTOR, filters={"topic": "pets"})] == [
        "pets:1"
    ]

    await db.delete(["trip:0"])
    await db.delete_where({"content_id": "ferry"})
    found = await db.search(vector=query, mode=SearchMode.VECTOR, filters=travel, limit=10)
    assert sorted(h.chunk.id for h in found) == ["pets:0", "trip:1"]


async def test_keyword_search_finds_the_words(db: VectorDb) -> None:
    await db.upsert(CORPUS)

    hits = await db.search(text="When does the train to Oslo leave?", mode=SearchMode.KEYWORD, limit=2)

    assert hits[0].chunk.id == "trip:0"
    assert await db.search(text="hotel", mode=SearchMode.KEYWORD, filters={"year": 2023}) == []
    # punctuation and operators in the query are just text
    odd = await db.search(text='fee" OR NOT (bank* -- AND', mode=SearchMode.KEYWORD, limit=3)
    assert odd[0].chunk.id == "bank:0"
    assert await db.search(text="zeppelin", mode=SearchMode.KEYWORD) == []
    # common words do not drown the telling one; a query of common words alone still finds them
    assert (await db.search(text="what is the fee of the bank", mode=SearchMode.KEYWORD, limit=1))[0].chunk.id == (
        "bank:0"
    )
    assert await db.search(text="the", mode=SearchMode.KEYWORD, limit=10)


async def test_hybrid_search_blends_meaning_and_words(db: VectorDb) -> None:
    await db.upsert(CORPUS)

    # The vector points at "money"; the words name the Bergen hotel: both belong near the top.
    hits = await db.search(vector=[0, 1, 0, 0], text="hotel Bergen", mode=SearchMode.HYBRID, limit=3)

    top = [h.chunk.id for h in hits]
    assert top[0] == "tax:0"
    assert "trip:1" in top
    assert all(0.0 <= h.score <= 1.0 for h in hits)
    assert hits == sorted(hits, key=lambda h: -h.score)


async def test_deletes(db: VectorDb) -> None:
    await db.upsert(CORPUS)

    assert await db.delete(["pets:0", "missing:9"]) == 1
    assert await db.delete_where({"content_id": "trip"}) == 2
    assert await db.delete_where({"topic": "money", "public": True}) == 1
    assert await db.count() == 2
    assert [h.chunk.id for h in await db.search(text="train Oslo", mode=SearchMode.KEYWORD)] == []
    with pytest.raises(VectorDbError, match="at least one filter"):
        await db.delete_where({})
    await db.drop()
    await db.create()
    assert await db.count() == 0


async def test_bad_input_is_refused(db: VectorDb) -> None:
    with pytest.raises(VectorDbError, match="embedding of 2 floats"):
        await db.upsert([chunk("x", 0, "x", [1, 0])])
    with pytest.raises(VectorDbError, match="needs a query vector"):
        await db.search(text="x", mode=SearchMode.VECTOR)
    with pytest.raises(VectorDbError, match="needs the query text"):
        await db.search(vector=[1, 0, 0, 0], mode=SearchMode.KEYWORD)
    assert await db.count() == 0


async def test_chunks_come_back_with_their_text_and_metadata_to_embed_again(db: VectorDb) -> None:
    await db.upsert(CORPUS)
    await db.upsert([chunk("trip", 1, "Book the hotel in Bergen by the harbour.", [0, 0, 1, 0], topic="travel")])

    trip = await db.chunks({"content_id": "trip"})

    assert [c.id for c in trip] == ["trip:0", "trip:1"]
    assert [c.text for c in trip] == [
        "The train to Oslo leaves at nine from platform two.",
        "Book the hotel in Bergen by the harbour.",
    ]
    assert trip[0].metadata == {"topic": "travel", "year": 2023}
    assert {c.content_id for c in trip} == {"trip"}
    assert all(c.embedding is None for c in trip)
    assert [c.id for c in await db.chunks({"topic": ["money", "pets"], "year": 2024})] == ["pets:1", "tax:0"]
    assert await db.chunks({"content_id": "nothing"}) == []
    with pytest.raises(VectorDbError, match="at least one filter"):
        await db.chunks({})


@pytest.mark.parametrize("kind", sorted(FACTORIES))
async def test_a_collection_never_created_finds_nothing_and_is_not_created(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # What lets a knowledge base look into another embedder's collection without making one.
    store = FACTORIES[kind](request, tmp_path)("never")

    assert await store.count() == 0
    assert await store.chunks({"content_id": "x"}) == []
    assert await store.search(vector=[1, 0, 0, 0], mode=SearchMode.VECTOR) == []
    assert await store.search(text="x", mode=SearchMode.KEYWORD) == []
    assert await store.delete(["x:0"]) == 0
    assert await store.delete_where({"content_id": "x"}) == 0
    await store.drop()
    await store.close()

    if isinstance(store, EmbeddedVectorDb):
        assert not store.file.exists()
    else:
        from stratus.knowledge.vectordb.opensearch import OpenSearchVectorDb

        assert isinstance(store, OpenSearchVectorDb)
        assert not store.client.indices.exists(index="never")  # asked of the (fake) server


# --- the embedded store's own promises ---------------------------------------------------------------------


async def test_embedded_store_persists_and_sees_another_processes_writes(tmp_path: Path) -> None:
    writer = EmbeddedVectorDb("shared", dimensions=DIMENSIONS, path=tmp_path)
    reader = EmbeddedVectorDb("shared", dimensions=DIMENSIONS, path=tmp_path)
    await writer.upsert(CORPUS[:2])
    assert len(await reader.search(vector=[1, 0, 0, 0], mode=SearchMode.VECTOR, limit=10)) == 2

    await writer.upsert(CORPUS[2:])  # written by another connection after the reader loaded its matrix

    assert len(await reader.search(vector=[1, 0, 0, 0], mode=SearchMode.VECTOR, limit=10)) == 6
    await writer.close()
    await reader.close()
    with pytest.raises(ConfigError, match="holds vectors of 4 floats, not 8"):
        await EmbeddedVectorDb("shared", dimensions=8, path=tmp_path).count()
