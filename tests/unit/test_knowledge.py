"""The `Knowledge` layer on its defaults, in process: where its files go when nothing is configured, what
happens when its embedder changes, and how content no reader reads is refused. Hash embedders keep it fast;
the real embedders have their own suites."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from stratus import ConfigError
from stratus.exceptions import EmbedderError, KnowledgeError
from stratus.knowledge import Knowledge, vectordb
from stratus.knowledge.embedders.testing import HashEmbedder
from stratus.knowledge.readers import UnsupportedContentError
from stratus.knowledge.vectordb import STRATUS_VECTOR_DB, SearchMode, VectorDb, vector_db_from_env
from stratus.knowledge.vectordb.embedded import EmbeddedVectorDb
from stratus.storage import ContentStatus
from stratus.storage.records import ContentQuery
from stratus.storage.sqlite import SqliteStore
from tests.fakes.files import elf, png


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory, with no vector store configured."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(STRATUS_VECTOR_DB, raising=False)
    monkeypatch.delenv("STRATUS_EMBEDDER", raising=False)
    return tmp_path


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def names_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


async def test_a_default_knowledge_base_keeps_every_file_under_dot_stratus(workdir: Path) -> None:
    docs = Knowledge("docs", embedder=HashEmbedder(16))

    record = await docs.add(text="The ferry to Bergen leaves at dawn from pier four.")
    hits = await docs.search("ferry Bergen")
    await docs.close()
    assert docs.store is not None
    await docs.store.close()

    assert record.status is ContentStatus.COMPLETED, record.status_message
    assert hits
    assert names_in(workdir) == [".stratus"]
    found = files_under(workdir)
    assert any(name.startswith(".stratus/knowledge/docs") and name.endswith(".db") for name in found), found
    assert all(name.startswith((".stratus/knowledge/", ".stratus/stratus.db")) for name in found), found


@pytest.mark.parametrize(
    ("setting", "folder"),
    [
        (None, Path(".stratus/knowledge")),
        ("", Path(".stratus/knowledge")),
        ("embedded", Path(".stratus/knowledge")),
        (" embedded ", Path(".stratus/knowledge")),
        ("embedded://", Path(".stratus/knowledge")),
        ("embedded:///", Path(".stratus/knowledge")),
        ("embedded:///data/vectors", Path("data/vectors")),
        ("embedded:////srv/vectors", Path("/srv/vectors")),
    ],
)
def test_the_embedded_store_goes_where_stratus_vector_db_says(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, setting: str | None, folder: Path
) -> None:
    if setting is not None:
        monkeypatch.setenv(STRATUS_VECTOR_DB, setting)

    db = vector_db_from_env("docs", dimensions=4)

    assert isinstance(db, EmbeddedVectorDb)
    assert db.file == folder / "docs.db"
    assert names_in(workdir) == []  # nothing is created before it is used


def test_an_embedded_url_with_a_host_is_refused_rather_than_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STRATUS_VECTOR_DB, "embedded://vectors")

    with pytest.raises(ConfigError, match="three slashes"):
        vector_db_from_env("docs", dimensions=4)


# --- changing the embedder ---------------------------------------------------------------------------------

FERRY = "The ferry to Bergen leaves at dawn from pier four."
TRAIN = "The night train to Oslo has sleeping cars and a restaurant."


@pytest.fixture
async def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SqliteStore]:
    monkeypatch.setenv(STRATUS_VECTOR_DB, f"embedded:///{tmp_path / 'vectors'}")
    records = SqliteStore(tmp_path / "records.db")
    yield records
    await records.close()


async def found(base: Knowledge, query: str) -> set[str]:
    return {hit.chunk.content_id for hit in await base.search(query, mode=SearchMode.VECTOR, limit=10)}


async def test_a_new_embedder_gets_its_own_collection_with_the_old_content_embedded_again(
    store: SqliteStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    before = Knowledge("docs", embedder=HashEmbedder(384), store=store)
    ferry = await before.add(text=FERRY, name="ferry")
    await before.close()

    embedder = HashEmbedder(16)
    after = Knowledge("docs", embedder=embedder, store=store)
    with caplog.at_level(logging.INFO, logger="stratus.knowledge"):
        train = await after.add(text=TRAIN, name="train")
        hits = await found(after, "ferry to Bergen")
    record = await after.get_content(ferry.content_id)
    await after.close()

    assert train.status is ContentStatus.COMPLETED, train.status_message
    assert ferry.content_id in hits
    assert record is not None
    assert (record.status, record.embedders) == (ContentStatus.COMPLETED, ["hash-384@384", "hash-16@16"])
    assert embedder.embedded == 3  # the ferry's chunk again, the train's, the query
    assert "1 content(s) were indexed with another embedder" in caplog.text
    assert "1/1 embedded again with hash-16@16: ferry (1 chunk)" in caplog.text
    assert sorted(p.name for p in (tmp_path / "vectors").glob("*.db")) == ["docs.hash-16-16.db", "docs.hash-384-384.db"]


async def test_changing_back_finds_the_old_vectors_and_embeds_only_what_was_added_meanwhile(
    store: SqliteStore,
) -> None:
    first = Knowledge("docs", embedder=HashEmbedder(384), store=store)
    ferry = await first.add(text=FERRY)
    await first.close()
    second = Knowledge("docs", embedder=HashEmbedder(16), store=store)
    train = await second.add(text=TRAIN)
    await second.close()

    embedder = HashEmbedder(384)
    back = Knowledge("docs", embedder=embedder, store=store)
    ferry_hits = await found(back, "ferry to Bergen")
    train_hits = await found(back, "night train to Oslo")
    await back.close()

    assert ferry.content_id in ferry_hits
    assert train.content_id in train_hits
    assert embedder.embedded == 3  # the train's chunk, and the two queries: the ferry's vectors were there


async def test_deleting_content_removes_its_chunks_from_every_embedders_collection(
    store: SqliteStore, tmp_path: Path
) -> None:
    first = Knowledge("docs", embedder=HashEmbedder(384), store=store)
    ferry = await first.add(text=FERRY)
    await first.close()
    second = Knowledge("docs", embedder=HashEmbedder(16), store=store)
    await second.search("anything")  # the ferry is embedded again here

    assert await second.delete_content(ferry.content_id)
    await second.close()

    for name, dimensions in (("docs.hash-384-384", 384), ("docs.hash-16-16", 16)):
        db = EmbeddedVectorDb(name, dimensions=dimensions, path=tmp_path / "vectors")
        assert await db.count({"content_id": ferry.content_id}) == 0, name
        await db.close()
    back = Knowledge("docs", embedder=HashEmbedder(384), store=store)
    assert await found(back, "ferry to Bergen") == set()
    await back.close()


async def test_long_chunks_are_cut_again_for_an_embedder_that_reads_less(store: SqliteStore) -> None:
    sentences = " ".join(f"Sentence {i} tells of harbour number {i} and its ferries." for i in range(60))
    wide = Knowledge("docs", embedder=HashEmbedder(64), store=store)
    added = await wide.add(text=sentences, name="harbours")
    await wide.close()
    narrow_embedder = HashEmbedder(32)
    narrow_embedder.max_tokens = 100  # a model whose window holds a tenth of the chunk

    narrow = Knowledge("docs", embedder=narrow_embedder, store=store)
    hits = await narrow.search("harbour number 59", limit=50)
    await narrow.close()

    assert added.chunk_count == 1
    assert len({h.chunk.id for h in hits}) > 5
    assert all(len(h.chunk.text) <= 4 * narrow.default_chunk_size for h in hits)
    assert any("Sentence 59 " in h.chunk.text for h in hits)


class FlakyEmbedder(HashEmbedder):
    """Fails while `down` is set, as an unreachable embedding service does."""

    down = False

    async def _embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        if self.down:
            raise EmbedderError("the embedding service is unreachable")
        return await super()._embed_batch(texts)


async def test_a_failed_catch_up_is_logged_and_tried_again_next_time(
    store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    first = Knowledge("docs", embedder=HashEmbedder(384), store=store)
    ferry = await first.add(text=FERRY)
    await first.close()
    flaky = FlakyEmbedder(16)
    flaky.down = True

    offline = Knowledge("docs", embedder=flaky, store=store)
    with caplog.at_level(logging.WARNING, logger="stratus.knowledge"):
        keyword_hits = await offline.search("ferry Bergen", mode=SearchMode.KEYWORD)
    await offline.close()
    flaky.down = False
    online = Knowledge("docs", embedder=flaky, store=store)
    hits = await found(online, "ferry to Bergen")
    record = await online.get_content(ferry.content_id)
    await online.close()

    assert keyword_hits == []  # not indexed with this embedder yet: nothing found, nothing broken
    assert "the embedding service is unreachable; the rest waits" in caplog.text
    assert ferry.content_id in hits
    assert record is not None
    assert record.status is ContentStatus.COMPLETED


async def test_content_indexed_before_collections_were_per_embedder_moves_to_the_new_one(
    store: SqliteStore, tmp_path: Path
) -> None:
    # Content indexed by an earlier stratus: the collection named after the knowledge base alone, no list of
    # embedders on the record.
    legacy = EmbeddedVectorDb("docs", dimensions=384, path=tmp_path / "vectors")
    old = Knowledge("docs", embedder=HashEmbedder(384), vector_db=legacy, store=store)
    ferry = await old.add(text=FERRY)
    train = await old.add(text=TRAIN)
    await old.close()
    assert ferry.embedders is None

    same_length = Knowledge("docs", embedder=HashEmbedder(384), store=store)
    hits = await found(same_length, "ferry to Bergen")
    assert await same_length.delete_content(train.content_id)
    await same_length.close()
    record = await store.get_content(ferry.content_id)

    assert ferry.content_id in hits
    assert record is not None
    assert record.embedders == ["", "hash-384@384"]
    reopened = EmbeddedVectorDb("docs", dimensions=384, path=tmp_path / "vectors")
    assert await reopened.count({"content_id": train.content_id}) == 0  # deleted where it was, too
    await reopened.close()


async def test_content_whose_chunks_cannot_be_read_is_reported_and_can_be_added_again(
    store: SqliteStore, tmp_path: Path
) -> None:
    legacy = EmbeddedVectorDb("docs", dimensions=384, path=tmp_path / "vectors")
    old = Knowledge("docs", embedder=HashEmbedder(384), vector_db=legacy, store=store)
    ferry = await old.add(text=FERRY)
    await old.close()

    other_length = Knowledge("docs", embedder=HashEmbedder(16), store=store)
    assert await found(other_length, "ferry to Bergen") == set()
    reported = await other_length.get_content(ferry.content_id)
    again = await other_length.add(text=FERRY)
    hits = await found(other_length, "ferry to Bergen")
    await other_length.close()

    assert reported is not None
    assert reported.status is ContentStatus.FAILED
    assert reported.status_message == (
        "indexed with another embedder, whose chunks are gone: add it again to index it with hash-16@16"
    )
    assert "float" not in (reported.status_message or "")
    assert (again.content_id, again.status) == (ferry.content_id, ContentStatus.COMPLETED)
    assert ferry.content_id in hits


async def test_opensearch_keeps_one_index_per_embedder_too(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("opensearchpy")
    from stratus.knowledge.vectordb.opensearch import OpenSearchVectorDb
    from tests.fakes.opensearch import FakeOpenSearch

    fake = FakeOpenSearch(serverless=True)

    def on_the_fake(collection: str, *, dimensions: int) -> VectorDb:
        return OpenSearchVectorDb(collection, dimensions=dimensions, client=fake.client())

    monkeypatch.setattr(vectordb, "vector_db_from_env", on_the_fake)
    records = SqliteStore(tmp_path / "records.db")
    first = Knowledge("docs", embedder=HashEmbedder(384), store=records)
    ferry = await first.add(text=FERRY)
    await first.close()

    second = Knowledge("docs", embedder=HashEmbedder(16), store=records)
    train = await second.add(text=TRAIN)
    hits = await found(second, "ferry to Bergen")
    await second.close()
    back = Knowledge("docs", embedder=HashEmbedder(384), store=records)
    train_hits = await found(back, "night train to Oslo")
    await back.close()
    await records.close()

    assert train.status is ContentStatus.COMPLETED, train.status_message
    assert ferry.content_id in hits
    assert train.content_id in train_hits
    assert sorted(fake.indices) == ["docs.hash-16-16", "docs.hash-384-384"]


# --- content no reader reads -------------------------------------------------------------------------------


async def test_adding_a_file_no_reader_can_read_raises_and_stores_nothing(store: SqliteStore, tmp_path: Path) -> None:
    docs = Knowledge("docs", embedder=HashEmbedder(16), store=store)
    image = tmp_path / "photo.png"
    image.write_bytes(png())
    attempts: list[tuple[Path | bytes, str | None, str | None]] = [
        (image, None, None),
        (png(), "evil.md", None),
        (elf(), "server.txt", "text/plain"),
        (b"plain words", "x.pdf", None),
    ]

    for source, name, content_type in attempts:
        with pytest.raises(UnsupportedContentError, match=r"supported files are \.pdf, \.docx") as caught:
            await docs.add(source, name=name, content_type=content_type)
        assert isinstance(caught.value, KnowledgeError)

    total = (await docs.list_contents(ContentQuery(knowledge_id="docs"))).total
    await docs.close()
    assert total == 0
    assert not (tmp_path / "vectors").exists()


async def test_a_url_that_answers_with_an_image_is_refused(store: SqliteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATUS_FETCH_ALLOW", "127.0.0.1")  # the local server stands for a public one
    image = png()

    class Image(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            # One path says what it is, the other lies about it.
            self.send_header("Content-Type", "image/png" if self.path == "/logo" else "text/html")
            self.send_header("Content-Length", str(len(image)))
            self.end_headers()
            self.wfile.write(image)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Image)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    docs = Knowledge("docs", embedder=HashEmbedder(16), store=store)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with pytest.raises(UnsupportedContentError, match=r"^logo is of an unsupported type image/png: "):
            await docs.add(url=f"{base}/logo")
        with pytest.raises(UnsupportedContentError, match=r"^index\.html is not a \.html file: it is a PNG image; "):
            await docs.add(url=f"{base}/index.html")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        await docs.close()

    assert (await docs.list_contents(ContentQuery(knowledge_id="docs"))).total == 0
