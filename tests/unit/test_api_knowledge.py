"""`/knowledge` over HTTP: upload (file, text), follow the status to completed or failed, list, get, patch,
delete one and all, search, config; AgentOS' shapes; per-user isolation under authentication; clear 4xx
errors that store nothing. A hash embedder keeps it fast; the real embedders have their own suites."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from stratus import Agent, App
from stratus.api import create_app
from stratus.api.auth import ApiKeyAuth, hash_key
from stratus.knowledge import Knowledge
from stratus.knowledge.embedders.testing import HashEmbedder
from stratus.knowledge.ingestion import BlobStore, IngestionJob, IngestionQueue
from stratus.knowledge.vectordb.embedded import EmbeddedVectorDb
from stratus.models.testing import ScriptedModel
from stratus.storage.sqlite import SqliteStore
from tests.fakes.files import UNREADABLE, png

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REFERENCE = json.loads((Path(__file__).resolve().parents[1] / "reference" / "agentos-openapi.json").read_text())
SCHEMAS = REFERENCE["components"]["schemas"]

ALICE = {"authorization": "Bearer key-alice"}
BOB = {"authorization": "Bearer key-bob"}


def make_app(tmp_path: Path, **knowledge: Any) -> App:
    embedder = HashEmbedder(64)
    docs = Knowledge(
        "docs",
        description="uploaded documents",
        embedder=embedder,
        vector_db=EmbeddedVectorDb("docs", dimensions=64, path=tmp_path / "vectors"),
        **knowledge,
    )
    return App(
        agents=[Agent(id="assistant", model=ScriptedModel("hi"))],
        store=SqliteStore(tmp_path / "api.db"),
        knowledge=[docs],
    )


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_app(tmp_path), auth=None)) as c:
        yield c


@pytest.fixture
def authed(tmp_path: Path) -> Iterator[TestClient]:
    auth = ApiKeyAuth({hash_key("key-alice"): "alice", hash_key("key-bob"): "bob"})
    with TestClient(create_app(make_app(tmp_path), auth=auth)) as c:
        yield c


def wait_until_done(client: TestClient, content_id: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = client.get(f"/knowledge/content/{content_id}/status", headers=headers)
        assert status.status_code == 200, status.text
        if status.json()["status"] != "processing":
            return status.json()
        time.sleep(0.02)
    raise AssertionError(f"content {content_id} still processing after 30 s")


def upload(
    client: TestClient,
    path: Path,
    headers: dict[str, str] | None = None,
    content_type: str = "application/octet-stream",
    **fields: str,
) -> dict[str, Any]:
    response = client.post(
        "/knowledge/content",
        files={"file": (path.name, path.read_bytes(), content_type)},
        data=fields,
        headers=headers,
    )
    assert response.status_code == 202, response.text
    return response.json()


def test_upload_a_file_then_follow_it_to_completed_and_find_it(client: TestClient) -> None:
    accepted = upload(client, FIXTURES / "guide.md", content_type="text/markdown", metadata='{"team": "platform"}')

    assert accepted["status"] == "processing"
    assert accepted["name"] == "guide.md"
    assert set(accepted) <= set(SCHEMAS["ContentResponseSchema"]["properties"])
    status = wait_until_done(client, accepted["id"])
    assert status["status"] == "completed", status
    assert set(status) <= set(SCHEMAS["ContentStatusResponse"]["properties"])

    record = client.get(f"/knowledge/content/{accepted['id']}").json()
    assert (record["status"], record["metadata"], record["type"]) == (
        "completed",
        {"team": "platform"},
        "text/markdown",
    )
    assert int(record["size"]) == (FIXTURES / "guide.md").stat().st_size

    found = client.post("/knowledge/search", json={"query": "cold start lambda", "max_results": 3})
    assert found.status_code == 200, found.text
    results = found.json()["data"]
    assert results
    assert all(r["content_id"] == accepted["id"] for r in results)
    assert set(results[0]) <= set(SCHEMAS["VectorSearchResult"]["properties"])
    assert results[0]["meta_data"]["team"] == "platform"

    filtered = client.post("/knowledge/search", json={"query": "cold start", "filters": {"team": "sales"}})
    assert filtered.json()["data"] == []


def test_text_content_and_the_same_content_again_is_one_record(client: TestClient) -> None:
    first = client.post("/knowledge/content", data={"text_content": "Oslo is the capital of Norway.", "name": "oslo"})
    assert first.status_code == 202
    wait_until_done(client, first.json()["id"])
    again = client.post("/knowledge/content", data={"text_content": "Oslo is the capital of Norway.", "name": "x"})

    assert again.json()["id"] == first.json()["id"]
    assert again.json()["status"] == "completed"
    listing = client.get("/knowledge/content").json()
    assert listing["meta"]["total_count"] == 1
    assert listing["data"][0]["name"] == "oslo"


def test_a_corrupt_pdf_fails_with_a_readable_error_and_leaves_no_chunks(client: TestClient) -> None:
    accepted = upload(client, FIXTURES / "truncated.pdf", content_type="application/pdf")

    status = wait_until_done(client, accepted["id"])
    assert status["status"] == "failed"
    assert "pdf" in status["status_message"].lower()
    found = client.post("/knowledge/search", json={"query": "guide", "search_type": "keyword"}).json()
    assert all(r["content_id"] != accepted["id"] for r in found["data"])


def test_list_pages_and_sorts(client: TestClient) -> None:
    for name in ("b", "a", "c"):
        created = client.post("/knowledge/content", data={"text_content": f"note {name}", "name": name})
        wait_until_done(client, created.json()["id"])

    page = client.get("/knowledge/content", params={"sort_by": "name", "sort_order": "asc", "limit": 2}).json()
    assert [c["name"] for c in page["data"]] == ["a", "b"]
    assert (page["meta"]["total_count"], page["meta"]["total_pages"], page["meta"]["page"]) == (3, 2, 1)
    second = client.get("/knowledge/content", params={"sort_by": "name", "sort_order": "asc", "limit": 2, "page": 2})
    assert [c["name"] for c in second.json()["data"]] == ["c"]
    assert client.get("/knowledge/content", params={"sort_by": "size"}).status_code == 422


def test_patch_changes_only_what_is_given(client: TestClient) -> None:
    created = client.post("/knowledge/content", data={"text_content": "a note", "name": "n", "description": "d"})
    content_id = created.json()["id"]
    wait_until_done(client, content_id)

    patched = client.patch(f"/knowledge/content/{content_id}", data={"metadata": '{"tag": "x"}'})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["name"], patched.json()["description"], patched.json()["metadata"]) == (
        "n",
        "d",
        {"tag": "x"},
    )
    renamed = client.patch(f"/knowledge/content/{content_id}", data={"name": "renamed"}).json()
    assert (renamed["name"], renamed["metadata"]) == ("renamed", {"tag": "x"})
    bad = client.patch(f"/knowledge/content/{content_id}", data={"metadata": "[1, 2]"})
    assert bad.status_code == 422
    assert client.get(f"/knowledge/content/{content_id}").json()["metadata"] == {"tag": "x"}
    assert client.patch("/knowledge/content/nope", data={"name": "x"}).status_code == 404


def test_delete_one_then_all_removes_records_and_chunks(client: TestClient) -> None:
    ids = []
    for text in ("apples are red", "bananas are yellow", "cherries are dark"):
        created = client.post("/knowledge/content", data={"text_content": text})
        ids.append(created.json()["id"])
        wait_until_done(client, ids[-1])

    deleted = client.delete(f"/knowledge/content/{ids[0]}")
    assert deleted.status_code == 200
    assert deleted.json()["id"] == ids[0]
    assert client.get(f"/knowledge/content/{ids[0]}").status_code == 404
    assert client.delete(f"/knowledge/content/{ids[0]}").status_code == 404
    hits = client.post("/knowledge/search", json={"query": "apples", "search_type": "keyword"}).json()["data"]
    assert hits == []

    assert client.delete("/knowledge/content").json() == "success"  # AgentOS' answer
    assert client.get("/knowledge/content").json()["meta"]["total_count"] == 0
    assert client.post("/knowledge/search", json={"query": "bananas"}).json()["data"] == []


def test_bad_uploads_get_a_clear_4xx_and_store_nothing(client: TestClient) -> None:
    neither = client.post("/knowledge/content", data={"name": "x"})
    both = client.post("/knowledge/content", data={"text_content": "a", "url": "http://localhost/x"})
    as_json = client.post("/knowledge/content", json={"text_content": "a"})
    bad_metadata = client.post("/knowledge/content", data={"text_content": "a", "metadata": "{not json"})
    bad_chunker = client.post("/knowledge/content", data={"text_content": "a", "chunker": "magic"})
    bad_size = client.post("/knowledge/content", data={"text_content": "a", "chunk_size": "-3"})
    unknown_base = client.post("/knowledge/content", params={"knowledge_id": "other"}, data={"text_content": "a"})

    for response, status in (
        (neither, 422),
        (both, 422),
        (as_json, 415),
        (bad_metadata, 422),
        (bad_chunker, 422),
        (bad_size, 422),
        (unknown_base, 404),
    ):
        assert response.status_code == status, response.text
        assert isinstance(response.json()["detail"], str)
        assert response.json()["detail"]
    assert client.get("/knowledge/content").json()["meta"]["total_count"] == 0


@pytest.mark.parametrize("case", sorted(UNREADABLE))
def test_a_file_no_reader_can_read_is_refused_with_415_and_nothing_is_stored(
    client: TestClient, tmp_path: Path, case: str
) -> None:
    name, data, content_type = UNREADABLE[case]

    response = client.post(
        "/knowledge/content", files={"file": (name, data, content_type or "application/octet-stream")}
    )

    assert response.status_code == 415, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    assert detail.startswith(name)
    assert "supported files are .pdf, .docx, .csv" in detail
    assert client.get("/knowledge/content").json()["meta"]["total_count"] == 0
    assert not (tmp_path / "vectors").exists()  # no chunk: the vector store was not even opened


def test_the_supported_files_are_still_accepted_and_read(client: TestClient) -> None:
    types = {
        "guide.pdf": "application/pdf",
        "report.docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "products.csv": "text/csv",
        "records.json": "application/json",
        "events.jsonl": "application/x-ndjson",
        "page.html": "text/html",
        "guide.md": "text/markdown",
        "accents.txt": "text/plain",
    }
    for name, content_type in types.items():
        accepted = upload(client, FIXTURES / name, content_type=content_type)
        assert wait_until_done(client, accepted["id"])["status"] == "completed", name

    assert client.get("/knowledge/content").json()["meta"]["total_count"] == len(types)


class RecordingBlobs(BlobStore):
    def __init__(self) -> None:
        self.keys: list[str] = []

    async def put(self, key: str, data: bytes) -> None:
        self.keys.append(key)

    async def get(self, key: str) -> bytes:
        raise AssertionError("the API never reads a blob")

    async def delete(self, key: str) -> None:
        self.keys.remove(key)


class RecordingQueue(IngestionQueue):
    def __init__(self) -> None:
        self.jobs: list[IngestionJob] = []

    async def publish(self, job: IngestionJob) -> None:
        self.jobs.append(job)


def test_an_unreadable_upload_reaches_neither_the_blob_store_nor_the_queue(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    blobs, queue = RecordingBlobs(), RecordingQueue()
    app.blob_store, app.knowledge_queue = blobs, queue
    with TestClient(create_app(app, auth=None)) as client:
        refused = client.post("/knowledge/content", files={"file": ("evil.md", png(), "text/markdown")})
        accepted = client.post("/knowledge/content", files={"file": ("ok.md", b"# Fine\n\nText.", "text/markdown")})

        assert refused.status_code == 415
        assert accepted.status_code == 202
        assert [job.content_id for job in queue.jobs] == [accepted.json()["id"]]
        assert len(blobs.keys) == 1
        assert client.get("/knowledge/content").json()["meta"]["total_count"] == 1


def test_a_file_over_the_limit_is_refused_with_413(tmp_path: Path) -> None:
    app = make_app(tmp_path, max_bytes=1000)
    with TestClient(create_app(app, auth=None)) as client:
        response = client.post("/knowledge/content", files={"file": ("big.txt", b"x" * 5000, "text/plain")})
        assert response.status_code == 413
        assert "1000" in response.json()["detail"]
        assert client.get("/knowledge/content").json()["meta"]["total_count"] == 0


def test_a_chosen_chunker_and_size_are_used(client: TestClient) -> None:
    text = "\n\n".join(f"Paragraph {i} says something about topic {i} in a few words." for i in range(40))
    small = client.post("/knowledge/content", data={"text_content": text, "chunk_size": "30", "chunker": "fixed"})
    status = wait_until_done(client, small.json()["id"])
    assert status["status"] == "completed"
    assert int(status["status_message"].split()[0]) > 10


def test_search_validates_and_pages(client: TestClient) -> None:
    for i in range(5):
        created = client.post("/knowledge/content", data={"text_content": f"kiwi fact number {i}"})
        wait_until_done(client, created.json()["id"])

    first = client.post("/knowledge/search", json={"query": "kiwi", "meta": {"limit": 2, "page": 1}}).json()
    second = client.post("/knowledge/search", json={"query": "kiwi", "meta": {"limit": 2, "page": 2}}).json()
    assert len(first["data"]) == len(second["data"]) == 2
    assert not {r["id"] for r in first["data"]} & {r["id"] for r in second["data"]}
    assert client.post("/knowledge/search", json={"query": ""}).status_code == 422
    assert client.post("/knowledge/search", json={"query": "x", "search_type": "psychic"}).status_code == 422
    broken = client.post("/knowledge/search", content=b"{not json", headers={"content-type": "application/json"})
    assert broken.status_code == 422


def test_config_describes_readers_chunkers_and_the_store(client: TestClient) -> None:
    config = client.get("/knowledge/config").json()

    assert set(config) <= set(SCHEMAS["ConfigResponseSchema"]["properties"])
    assert {"pdf", "docx", "csv", "html", "json", "markdown", "text"} <= set(config["readers"])
    assert {"fixed", "recursive", "markdown", "semantic"} <= set(config["chunkers"])
    assert "application/pdf" in config["readersForType"]
    assert config["vector_dbs"][0]["search_types"] == ["vector", "keyword", "hybrid"]


def test_each_user_sees_searches_and_deletes_only_their_own(authed: TestClient) -> None:
    mine = authed.post("/knowledge/content", data={"text_content": "alice keeps the zebra notes"}, headers=ALICE)
    theirs = authed.post("/knowledge/content", data={"text_content": "bob keeps the zebra notes"}, headers=BOB)
    wait_until_done(authed, mine.json()["id"], ALICE)
    wait_until_done(authed, theirs.json()["id"], BOB)

    listed = authed.get("/knowledge/content", headers=ALICE).json()
    assert [c["id"] for c in listed["data"]] == [mine.json()["id"]]
    assert authed.get(f"/knowledge/content/{theirs.json()['id']}", headers=ALICE).status_code == 404
    assert authed.delete(f"/knowledge/content/{theirs.json()['id']}", headers=ALICE).status_code == 404
    hits = authed.post("/knowledge/search", json={"query": "zebra notes"}, headers=ALICE).json()["data"]
    assert [h["content_id"] for h in hits] == [mine.json()["id"]]
    assert "user_id" not in hits[0]["meta_data"]

    assert authed.delete("/knowledge/content", headers=ALICE).json() == "success"
    assert authed.get("/knowledge/content", headers=ALICE).json()["meta"]["total_count"] == 0
    assert authed.get("/knowledge/content", headers=BOB).json()["meta"]["total_count"] == 1
    assert authed.get("/knowledge/content").status_code == 401


SECRET = "the launch code is kiwi-742"


@pytest.fixture
def loopback_service() -> Iterator[tuple[int, list[str]]]:
    """A service listening on 127.0.0.1 only, as an internal admin page would: its port and the paths asked."""
    asked: list[str] = []

    class Service(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            if self.path == "/to-metadata":
                self.send_response(302)
                self.send_header("Location", "http://169.254.169.254/latest/meta-data/iam/security-credentials/")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = SECRET.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Service)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], asked
    server.shutdown()
    server.server_close()
    thread.join()


def test_a_url_to_a_loopback_service_is_refused_with_422_and_nothing_is_stored(
    client: TestClient, loopback_service: tuple[int, list[str]]
) -> None:
    port, asked = loopback_service

    for url in (
        f"http://127.0.0.1:{port}/secret",
        f"http://2130706433:{port}/secret",
        f"http://evil@127.0.0.1:{port}/",
    ):
        response = client.post("/knowledge/content", data={"url": url})
        assert response.status_code == 422, response.text
        assert isinstance(response.json()["detail"], str)
    assert "loopback" in client.post("/knowledge/content", data={"url": f"http://127.0.0.1:{port}/"}).json()["detail"]
    metadata = client.post("/knowledge/content", data={"url": "http://169.254.169.254/latest/meta-data/"})
    assert metadata.status_code == 422
    assert "metadata" in metadata.json()["detail"]

    assert asked == []  # the service was never asked
    assert client.get("/knowledge/content").json()["meta"]["total_count"] == 0
    assert client.post("/knowledge/search", json={"query": "launch code kiwi"}).json()["data"] == []


def test_the_allow_list_lets_an_internal_url_in_but_not_its_redirect_to_metadata(
    client: TestClient, loopback_service: tuple[int, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, asked = loopback_service
    monkeypatch.setenv("STRATUS_FETCH_ALLOW", "127.0.0.1")

    redirected = client.post("/knowledge/content", data={"url": f"http://127.0.0.1:{port}/to-metadata"})
    assert redirected.status_code == 422, redirected.text
    assert "metadata" in redirected.json()["detail"]
    assert client.get("/knowledge/content").json()["meta"]["total_count"] == 0

    created = client.post("/knowledge/content", data={"url": f"http://127.0.0.1:{port}/secret"})
    assert created.status_code == 202, created.text
    assert wait_until_done(client, created.json()["id"])["status"] == "completed"
    hits = client.post("/knowledge/search", json={"query": "launch code kiwi"}).json()["data"]
    assert any(SECRET in hit["content"] for hit in hits)
    assert asked == ["/to-metadata", "/secret"]
