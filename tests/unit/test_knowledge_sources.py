"""`Knowledge(sources=[...])`: files and folders a knowledge base holds, indexed the first time and kept in step
with the files afterwards (a restart re-ingests nothing unchanged), searched without anyone adding them, and
loaded by the API server as it starts."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import pytest

from stratus import Agent, App
from stratus.api import create_app
from stratus.knowledge import Knowledge
from stratus.knowledge.embedders.testing import HashEmbedder
from stratus.knowledge.knowledge import SOURCE_KEY
from stratus.knowledge.vectordb.embedded import EmbeddedVectorDb
from stratus.models.testing import ScriptedModel
from stratus.storage import ContentStatus
from stratus.storage.records import ContentQuery
from stratus.storage.sqlite import SqliteStore


@pytest.fixture
def handbook(tmp_path: Path) -> Path:
    folder = tmp_path / "handbook"
    folder.mkdir()
    (folder / "leave.md").write_text("# Leave\n\nEvery employee gets 27 days of paid leave a year.\n")
    (folder / "expenses.md").write_text("# Expenses\n\nHotels are refunded up to 160 euros a night.\n")
    (folder / ".draft.md").write_text("# Not ready\n")  # hidden: left out
    (folder / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # no reader reads it: left out
    return folder


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


class Opened:
    """One process's view of the knowledge base: its store and vector store on the same files each time."""

    def __init__(self, data: Path, *sources: Path) -> None:
        self.store = SqliteStore(data / "stratus.db")
        self.knowledge = Knowledge(
            "handbook",
            embedder=HashEmbedder(16),
            vector_db=EmbeddedVectorDb("handbook", dimensions=16, path=data / "vectors"),
            store=self.store,
            per_user=False,
            sources=sources,
        )

    async def names(self) -> dict[str, ContentStatus]:
        page = await self.store.list_contents(ContentQuery(knowledge_id="handbook"))
        return {r.name or "": r.status for r in page.items}

    async def close(self) -> None:
        await self.knowledge.close()
        await self.store.close()


async def test_the_first_search_indexes_the_sources_and_finds_them(data: Path, handbook: Path) -> None:
    view = Opened(data, handbook)

    hits = await view.knowledge.search("how many days of paid leave?", limit=1)

    assert "27 days" in hits[0].chunk.text
    assert hits[0].chunk.metadata["name"] == "handbook/leave.md"
    assert await view.names() == {
        "handbook/expenses.md": ContentStatus.COMPLETED,
        "handbook/leave.md": ContentStatus.COMPLETED,
    }
    await view.close()


async def test_a_restart_ingests_nothing_unchanged(
    data: Path, handbook: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = Opened(data, handbook)
    records = await first.knowledge.load_sources()
    await first.close()
    caplog.clear()

    with caplog.at_level(logging.INFO, logger="stratus.knowledge"):
        second = Opened(data, handbook)
        again = await second.knowledge.load_sources()

    assert sorted(r.content_id for r in again) == sorted(r.content_id for r in records)
    assert [r.message for r in caplog.records] == ["knowledge handbook: sources up to date (2 files unchanged)"]
    assert await second.knowledge.vector_db.count() == 2
    await second.close()


async def test_a_changed_file_replaces_its_old_version_and_a_deleted_one_goes(
    data: Path, handbook: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = Opened(data, handbook)
    await first.knowledge.load_sources()
    await first.close()
    (handbook / "leave.md").write_text("# Leave\n\nEvery employee gets 30 days of paid leave a year.\n")
    (handbook / "expenses.md").unlink()

    with caplog.at_level(logging.INFO, logger="stratus.knowledge"):
        second = Opened(data, handbook)
        await second.knowledge.load_sources()

    assert await second.names() == {"handbook/leave.md": ContentStatus.COMPLETED}
    hits = await second.knowledge.search("paid leave", limit=5)
    assert [h.chunk.text.count("30 days") for h in hits] == [1]
    messages = [r.message for r in caplog.records]
    assert "knowledge handbook: [1/1] handbook/leave.md: 1 chunk" in messages
    assert messages[-1].startswith("knowledge handbook: sources ready in ")
    assert messages[-1].endswith(": 1 indexed, 0 unchanged, 2 removed")  # the old leave.md, expenses.md
    await second.close()


async def test_a_missing_source_removes_nothing(data: Path, handbook: Path, tmp_path: Path) -> None:
    first = Opened(data, handbook)
    await first.knowledge.load_sources()
    await first.close()

    second = Opened(data, tmp_path / "not-there")
    await second.knowledge.load_sources()

    assert set(await second.names()) == {"handbook/expenses.md", "handbook/leave.md"}
    await second.close()


async def test_single_files_are_sources_too_and_content_added_otherwise_stays(data: Path, handbook: Path) -> None:
    view = Opened(data, handbook / "leave.md")
    uploaded = await view.knowledge.add(text="The canteen serves soup on Fridays.")

    await view.knowledge.load_sources()
    await view.knowledge.load_sources()

    assert await view.names() == {
        "leave.md": ContentStatus.COMPLETED,
        "The canteen serves soup on Fridays.": ContentStatus.COMPLETED,
    }
    record = await view.knowledge.get_content(uploaded.content_id)
    assert record is not None
    assert SOURCE_KEY not in (record.metadata or {})
    await view.close()


async def test_the_api_server_loads_the_sources_as_it_starts(data: Path, handbook: Path) -> None:
    view = Opened(data, handbook)
    agent = Agent(id="helper", model=ScriptedModel(), knowledge=view.knowledge)
    api = create_app(App(agents=[agent], store=view.store))

    async with api.router.lifespan_context(api):
        for _ in range(100):  # nobody searched: the server's start indexes them
            if set((await view.names()).values()) == {ContentStatus.COMPLETED} and len(await view.names()) == 2:
                break
            await asyncio.sleep(0.05)
        transport = httpx.ASGITransport(app=api)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            listed = (await client.get("/knowledge/content")).json()["data"]

    assert sorted((c["name"], c["status"]) for c in listed) == [
        ("handbook/expenses.md", "completed"),
        ("handbook/leave.md", "completed"),
    ]


async def test_min_score_leaves_out_of_what_agents_get_the_passages_below_it(data: Path, handbook: Path) -> None:
    view = Opened(data, handbook)
    everything = await view.knowledge.search("paid leave days", limit=5)
    view.knowledge.min_score = (everything[0].score + everything[-1].score) / 2

    kept = await view.knowledge.search("paid leave days", limit=5, min_score=view.knowledge.min_score)
    given = await view.knowledge.search_tool(limit=5).function(query="paid leave days")
    unfiltered = await view.knowledge.search("paid leave days", limit=5)  # the API's search: its own threshold

    assert len(everything) == 2
    assert [h.chunk.id for h in kept] == [everything[0].chunk.id]
    assert given.count("[") == 1
    assert "27 days" in given
    assert len(unfiltered) == 2
    await view.close()
