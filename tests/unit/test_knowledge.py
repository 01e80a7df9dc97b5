"""The `Knowledge` layer on its embedded defaults, in process: where its files go when nothing is configured.
A hash embedder keeps it fast; the real embedders have their own suites."""

from __future__ import annotations

from pathlib import Path

import pytest

from stratus import ConfigError
from stratus.knowledge import Knowledge
from stratus.knowledge.embedders.testing import HashEmbedder
from stratus.knowledge.vectordb import STRATUS_VECTOR_DB, vector_db_from_env
from stratus.knowledge.vectordb.embedded import EmbeddedVectorDb
from stratus.storage import ContentStatus


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
