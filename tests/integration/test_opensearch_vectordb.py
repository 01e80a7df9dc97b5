"""`OpenSearchVectorDb` on the fake data plane (tests/fakes/opensearch.py) behind the real opensearch-py client:
the exact requests it sends (golden files under tests/golden/opensearch/), how it copes with what OpenSearch
answers, and SigV4 signing as it arrives on the wire at a local HTTP server. What every vector store promises
is tests/contracts/test_vectordb.py, which runs the store on Serverless; it runs here again on a domain.

Regenerate the golden files after a deliberate change with `STRATUS_UPDATE_GOLDEN=1 make test`, and review
the diff."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("opensearchpy")

from stratus import ConfigError
from stratus.knowledge.vectordb import opensearch
from stratus.knowledge.vectordb.base import SearchMode, VectorDb, VectorDbError, fuse
from stratus.knowledge.vectordb.opensearch import (
    OpenSearchBulkError,
    OpenSearchVectorDb,
    hybrid_pipeline_body,
    index_body,
)
from tests.contracts import test_vectordb as contract
from tests.fakes.opensearch import FakeOpenSearch, RecordedRequest

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "opensearch"
UPDATE_GOLDEN = os.environ.get("STRATUS_UPDATE_GOLDEN") == "1"
CORPUS = contract.CORPUS
chunk = contract.chunk


def recorded(requests: list[RecordedRequest]) -> list[dict[str, Any]]:
    return [{"method": r.method, "path": r.path, "params": r.params, "body": r.body} for r in requests]


def assert_golden(name: str, requests: list[RecordedRequest]) -> None:
    """The requests equal tests/golden/opensearch/<name>.json (written instead when STRATUS_UPDATE_GOLDEN=1)."""
    path = GOLDEN / f"{name}.json"
    actual = recorded(requests)
    if UPDATE_GOLDEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n")
    assert actual == json.loads(path.read_text())


def store(service: str = "aoss", **options: Any) -> tuple[OpenSearchVectorDb, FakeOpenSearch]:
    fake = FakeOpenSearch(serverless=service == "aoss")
    db = OpenSearchVectorDb("kb", dimensions=4, service=service, client=fake.client(), **options)  # type: ignore[arg-type]
    return db, fake


# --- the index and the search pipeline ------------------------------------------------------------------


async def test_create_sends_the_index_mapping_then_the_search_pipeline() -> None:
    db, fake = store("aoss")

    await db.create()

    assert_golden("create", fake.requests)
    assert fake.requests[1].body == index_body(4)
    assert fake.requests[3].body == hybrid_pipeline_body()


async def test_create_is_idempotent() -> None:
    db, fake = store("aoss")

    await db.create()
    await db.create()
    await OpenSearchVectorDb("kb", dimensions=4, client=fake.client()).create()  # another process

    assert len(fake.requests_to("PUT", "/kb")) == 1
    assert len(fake.requests_to("PUT", "/_search/pipeline/stratus-hybrid")) == 1
    assert len(fake.requests_to("GET", "/kb/_mapping")) == 2  # the existing index is checked, not recreated


async def test_create_tolerates_another_writer_creating_the_index_first() -> None:
    db, fake = store("aoss")
    # Between our existence check and our PUT, a concurrent Lambda creates the index.
    fake.before_next("PUT", "/kb", lambda: fake.create_index("kb", index_body(4)))

    await db.create()
    await db.upsert(CORPUS[:1])

    put = fake.requests_to("PUT", "/kb")
    assert len(put) == 1  # it was sent, answered resource_already_exists_exception, and that was fine
    assert await db.count() == 1


async def test_create_refuses_an_index_built_for_other_vectors() -> None:
    db, fake = store("aoss")
    fake.create_index("kb", index_body(8))

    with pytest.raises(ConfigError, match="holds vectors of 8 floats, not 4"):
        await db.create()
    with pytest.raises(ConfigError, match="holds vectors of 8 floats"):
        await db.upsert(CORPUS[:1])


async def test_create_refuses_an_index_it_did_not_make() -> None:
    db, fake = store("es")
    fake.create_index("kb", {"mappings": {"properties": {"title": {"type": "text"}}}})

    with pytest.raises(ConfigError, match="without a knn_vector field"):
        await db.create()


async def test_a_lucene_index_on_a_domain_leaves_ef_search_to_k() -> None:
    db, fake = store("es", engine="lucene", m=32, ef_construction=256)

    await db.create()

    method = fake.requests_to("PUT", "/kb")[0].body["mappings"]["properties"]["embedding"]["method"]
    assert method == {
        "name": "hnsw",
        "engine": "lucene",
        "space_type": "innerproduct",
        "parameters": {"m": 32, "ef_construction": 256},
    }


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"engine": "nmslib"}, "cannot filter inside a k-NN search"),
        ({"engine": "lucene"}, "Serverless serves faiss"),
        ({"service": "opensearch"}, "service must be"),
        ({"hybrid": "server"}, "hybrid must be"),
        ({"ef_search": 0}, "ef_search must be > 0"),
        ({"batch_size": 20_000}, "batch_size"),
    ],
)
def test_settings_are_checked(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        OpenSearchVectorDb("kb", dimensions=4, client=object(), **options)


def test_index_names_are_checked_and_lowercased() -> None:
    assert OpenSearchVectorDb("Handbook", dimensions=4, client=object()).index == "handbook"
    for bad in ("_hidden", "-x", "a b", "a/b", ""):
        with pytest.raises(ConfigError, match="index name"):
            OpenSearchVectorDb(bad, dimensions=4, client=object())


# --- writing --------------------------------------------------------------------------------------------


async def test_upsert_on_serverless_indexes_without_ids_and_deletes_the_old_copies() -> None:
    db, fake = store("aoss")
    await db.create()
    fake.requests.clear()

    await db.upsert([chunk("a", 0, "First words.", [1, 0, 0, 0], topic="x"), chunk("a", 1, "Second.", [0, 3, 4, 0])])
    first = list(fake.requests)
    fake.requests.clear()
    await db.upsert([chunk("a", 0, "First words, edited.", [1, 0, 0, 0], topic="y")])

    assert_golden("upsert_serverless", first)
    assert_golden("replace_serverless", fake.requests)
    sources = list(fake.documents("kb").values())
    assert sorted((s["chunk_id"], s["text"]) for s in sources) == [("a:0", "First words, edited."), ("a:1", "Second.")]


async def test_upsert_on_a_domain_uses_chunk_ids_and_refreshes() -> None:
    db, fake = store("es")
    await db.create()
    fake.requests.clear()

    await db.upsert([chunk("a", 0, "First words.", [1, 0, 0, 0], topic="x"), chunk("a", 1, "Second.", [0, 3, 4, 0])])
    await db.upsert([chunk("a", 0, "First words, edited.", [1, 0, 0, 0], topic="y")])

    assert_golden("upsert_domain", fake.requests)
    assert sorted(fake.documents("kb")) == ["a:0", "a:1"]


async def test_large_upserts_are_split_into_bulk_requests() -> None:
    db, fake = store("es", batch_size=2)

    await db.upsert([chunk("c", i, f"Chunk {i}.", [1, 0, 0, i]) for i in range(5)])

    bulks = fake.requests_to("POST", "/kb/_bulk")
    assert [len(r.body) // 2 for r in bulks] == [2, 2, 1]
    assert await db.count() == 5


async def test_bulk_item_errors_raise_naming_the_chunks() -> None:
    db, _ = store("es")
    await db.upsert([chunk("a", 0, "A year.", [1, 0, 0, 0], year=2024)])  # metadata.year is now a long

    with pytest.raises(OpenSearchBulkError) as caught:
        await db.upsert(
            [chunk("b", 0, "Soon.", [0, 1, 0, 0], year="soon"), chunk("c", 0, "Later.", [0, 0, 1, 0], year=2025)]
        )

    assert caught.value.ids == ["b:0"]
    assert "b:0" in str(caught.value)
    assert "mapper_parsing_exception" in str(caught.value)
    assert await db.count() == 2  # the good document of the batch was written


async def test_a_failed_replacement_on_serverless_keeps_the_old_copy() -> None:
    db, fake = store("aoss")
    await db.upsert([chunk("a", 0, "Old a.", [1, 0, 0, 0], year=2024), chunk("b", 0, "Old b.", [0, 1, 0, 0])])

    with pytest.raises(OpenSearchBulkError) as caught:
        await db.upsert([chunk("a", 0, "New a.", [1, 0, 0, 0], year="soon"), chunk("b", 0, "New b.", [0, 1, 0, 0])])

    assert caught.value.ids == ["a:0"]
    assert sorted((s["chunk_id"], s["text"]) for s in fake.documents("kb").values()) == [
        ("a:0", "Old a."),
        ("b:0", "New b."),
    ]


async def test_a_store_set_up_for_a_domain_fails_loudly_on_serverless() -> None:
    fake = FakeOpenSearch(serverless=True)
    db = OpenSearchVectorDb("kb", dimensions=4, service="es", client=fake.client())

    with pytest.raises(VectorDbError, match="refresh"):
        await db.upsert(CORPUS)
    fake_client = fake.client()
    answer = fake_client.bulk(index="kb", body='{"index": {"_id": "x"}}\n{"text": "x"}\n')
    assert answer["items"][0]["index"]["error"]["reason"] == (
        "Document ID is not supported in create/index operation request"
    )


async def test_copies_left_by_serverless_lag_are_collapsed_and_cleaned_up() -> None:
    db, fake = store("aoss")
    await db.upsert(CORPUS)
    # An upsert that did not yet see the first copy (Serverless is eventually consistent) leaves a second one.
    stale = {"chunk_id": "tax:0", "content_id": "tax", "text": "Old tax text.", "metadata": {"topic": "money"}}
    fake.client().bulk(
        index="kb", body=json.dumps({"index": {}}) + "\n" + json.dumps(stale | {"embedding": [0, 1, 0, 0]})
    )

    hits = await db.search(vector=[0, 1, 0, 0], mode=SearchMode.VECTOR, limit=3)
    assert [h.chunk.id for h in hits] == ["tax:0", "bank:0", "pets:1"]

    await db.upsert([chunk("tax", 0, "File your tax return.", [0, 1, 0, 0], topic="money")])
    assert [s["text"] for s in fake.documents("kb").values() if s["chunk_id"] == "tax:0"] == ["File your tax return."]
    assert await db.delete(["tax:0"]) == 1


async def test_date_like_metadata_stays_a_keyword() -> None:
    db, _ = store("aoss")
    await db.upsert([chunk("d", 0, "Dated.", [1, 0, 0, 0], published="2024-01-05"), chunk("e", 0, "x", [0, 1, 0, 0])])

    hits = await db.search(vector=[1, 1, 0, 0], mode=SearchMode.VECTOR, filters={"published": "2024-01-05"})

    assert [h.chunk.id for h in hits] == ["d:0"]


# --- searching ------------------------------------------------------------------------------------------


async def test_query_bodies_for_vector_keyword_and_hybrid_search_with_filters() -> None:
    db, fake = store("aoss")
    await db.create()
    await db.upsert(CORPUS)
    fake.requests.clear()
    filters = {"topic": ["pets", "money"], "year": 2024}

    vector = await db.search(vector=[0, 2, 0, 0], mode=SearchMode.VECTOR, filters=filters, limit=3)
    keyword = await db.search(text="tax deadline", mode=SearchMode.KEYWORD, filters=filters, limit=3)
    hybrid = await db.search(vector=[0, 2, 0, 0], text="tax deadline", filters=filters, limit=3)

    assert_golden("search", fake.requests)
    assert [h.chunk.id for h in vector] == ["tax:0", "pets:1"]
    assert [h.chunk.id for h in keyword] == ["tax:0"]
    assert [h.chunk.id for h in hybrid] == ["tax:0", "pets:1"]


async def test_count_and_deletes_send_term_filters() -> None:
    aoss, aoss_fake = store("aoss")
    es, es_fake = store("es")
    for db, fake in ((aoss, aoss_fake), (es, es_fake)):
        await db.upsert(CORPUS)
        fake.requests.clear()
        assert await db.count({"topic": "money", "public": True}) == 1
        assert await db.delete(["pets:0", "missing:0"]) == 1
        assert await db.delete_where({"content_id": ["trip", "tax"]}) == 3

    assert_golden("delete_serverless", aoss_fake.requests)
    assert_golden("delete_domain", es_fake.requests)
    assert not aoss_fake.requests_to("POST", "/kb/_delete_by_query")


async def test_serverless_lookups_page_past_the_documents_already_seen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(opensearch, "_LOOKUP_PAGE", 2)
    db, fake = store("aoss")
    await db.upsert([chunk("big", i, f"Part {i}.", [1, 0, 0, i]) for i in range(5)])
    fake.requests.clear()

    assert await db.delete_where({"content_id": "big"}) == 5

    pages = [r.body["query"] for r in fake.requests_to("POST", "/kb/_search")]
    assert len(pages) == 3
    assert pages[2]["bool"]["must_not"] == [{"ids": {"values": ["fake-1", "fake-2", "fake-3", "fake-4"]}}]
    assert await db.count() == 0


async def test_chunks_page_past_the_documents_already_seen_without_their_vectors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(opensearch, "_LOOKUP_PAGE", 2)
    db, fake = store("aoss")
    await db.upsert([chunk("big", i, f"Part {i}.", [1, 0, 0, i]) for i in range(5)])
    # A copy of one chunk left by Serverless' lag comes back once.
    stale = {"chunk_id": "big:3", "content_id": "big", "text": "Part 3.", "metadata": {}}
    fake.client().bulk(
        index="kb", body=json.dumps({"index": {}}) + "\n" + json.dumps(stale | {"embedding": [1, 0, 0, 3]})
    )
    fake.requests.clear()

    found = await db.chunks({"content_id": "big"})

    assert [(c.id, c.text) for c in found] == [(f"big:{i}", f"Part {i}.") for i in range(5)]
    bodies = [r.body for r in fake.requests_to("POST", "/kb/_search")]
    assert len(bodies) == 4  # six documents, two a page, then an empty page
    assert all(b["_source"] == {"excludes": ["embedding"]} for b in bodies)
    assert bodies[0]["query"] == {"bool": {"filter": [{"term": {"content_id": "big"}}]}}
    assert bodies[2]["query"]["bool"]["must_not"] == [{"ids": {"values": ["fake-1", "fake-2", "fake-3", "fake-4"]}}]
    assert not fake.requests_to("PUT", "/kb")


async def test_vector_scores_are_cosine_similarities() -> None:
    db, _ = store("es")
    await db.upsert(
        [
            chunk("v", 0, "same", [2, 0, 0, 0]),
            chunk("v", 1, "near", [0.6, 0.8, 0, 0]),
            chunk("v", 2, "apart", [0, 0, 1, 0]),
            chunk("v", 3, "opposite", [-1, 0, 0, 0]),
        ]
    )

    hits = await db.search(vector=[1, 0, 0, 0], mode=SearchMode.VECTOR, limit=4)

    assert [(h.chunk.id, round(h.score, 6)) for h in hits] == [("v:0", 1.0), ("v:1", 0.6), ("v:2", 0.0), ("v:3", -1.0)]


async def test_hybrid_scores_are_fuse_of_the_two_searches() -> None:
    db, _ = store("aoss")
    await db.upsert(CORPUS)
    vector, text = [0.3, 1, 0.2, 0], "the bank fee before the tax deadline"

    hybrid = await db.search(vector=vector, text=text, mode=SearchMode.HYBRID, limit=6)
    by_vector = await db.search(vector=vector, mode=SearchMode.VECTOR, limit=50)
    by_keyword = await db.search(text=text, mode=SearchMode.KEYWORD, limit=50)
    expected = fuse(by_vector, by_keyword, 6)

    assert [h.chunk.id for h in hybrid] == [h.chunk.id for h in expected]
    # OpenSearch floors each list's lowest normalised score at 0.001 where fuse has 0: at most 0.001 apart.
    assert [h.score for h in hybrid] == pytest.approx([h.score for h in expected], abs=1e-3)


async def test_hybrid_search_applies_the_pipeline_arithmetic() -> None:
    db, _ = store("aoss")
    await db.upsert(CORPUS)

    hits = await db.search(vector=[0, 1, 0, 0], text="hotel Bergen", limit=3)

    # tax:0 tops the vector list (1.0 x 0.7); trip:1 alone matches the words (1.0 x 0.3) and is at the bottom
    # of the vector list, where OpenSearch's min-max gives 0.001 (x 0.7), not 0.
    assert [(h.chunk.id, round(h.score, 6)) for h in hits] == [
        ("tax:0", 0.7),
        ("bank:0", round(0.7 * (1 + 0.8 / (0.8**2 + 0.2**2) ** 0.5 - 1), 6)),
        ("trip:1", 0.3007),
    ]


async def test_client_side_hybrid_is_exactly_fuse_and_needs_no_pipeline() -> None:
    db, fake = store("aoss", hybrid="client")
    await db.create()
    await db.upsert(CORPUS)
    vector, text = [0.3, 1, 0.2, 0], "the bank fee before the tax deadline"

    hybrid = await db.search(vector=vector, text=text, limit=6)

    expected = fuse(
        await db.search(vector=vector, mode=SearchMode.VECTOR, limit=50),
        await db.search(text=text, mode=SearchMode.KEYWORD, limit=50),
        6,
    )
    assert [(h.chunk.id, h.score) for h in hybrid] == [(h.chunk.id, h.score) for h in expected]
    assert not [r for r in fake.requests if "pipeline" in r.path or "search_pipeline" in r.params]


async def test_without_pipeline_permissions_hybrid_search_fuses_client_side(caplog: pytest.LogCaptureFixture) -> None:
    db, fake = store("aoss")
    await db.upsert(CORPUS)
    fake.fail_next("GET", "/_search/pipeline/stratus-hybrid", status=403, error_type="security_exception")
    vector, text = [0.3, 1, 0.2, 0], "the bank fee before the tax deadline"

    hybrid = await db.search(vector=vector, text=text, limit=6)

    expected = fuse(
        await db.search(vector=vector, mode=SearchMode.VECTOR, limit=50),
        await db.search(text=text, mode=SearchMode.KEYWORD, limit=50),
        6,
    )
    assert [h.chunk.id for h in hybrid] == [h.chunk.id for h in expected]
    assert db.hybrid == "client"
    assert "fuses results client-side" in caplog.text
    assert not [r for r in fake.requests if "search_pipeline" in r.params]


async def test_reads_and_deletes_on_a_missing_index_find_nothing_and_create_nothing() -> None:
    for service in ("aoss", "es"):
        db, fake = store(service)

        assert await db.count() == 0
        assert await db.search(vector=[1, 0, 0, 0], text="x", limit=3) == []
        assert await db.delete(["a:0"]) == 0
        assert await db.delete_where({"topic": "x"}) == 0
        assert await db.chunks({"content_id": "a"}) == []
        await db.drop()

        assert "kb" not in fake.indices
        assert not fake.requests_to("PUT", "/kb")  # a reader's role need not be allowed to create indexes


async def test_drop_deletes_the_index_and_the_next_upsert_recreates_it() -> None:
    db, fake = store("aoss")
    await db.upsert(CORPUS)

    await db.drop()
    assert "kb" not in fake.indices
    await db.upsert(CORPUS[:2])

    assert await db.count() == 2


async def test_opensearch_errors_become_vector_db_errors() -> None:
    db, fake = store("aoss")
    await db.upsert(CORPUS)
    fake.fail_next("POST", "/kb/_search", status=429, error_type="too_many_requests", reason="slow down")

    with pytest.raises(VectorDbError, match="429 too_many_requests slow down"):
        await db.search(text="tax", mode=SearchMode.KEYWORD)


# --- the client: SigV4, the optional extra, lazy imports ---------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    received: list[tuple[str, str, dict[str, str], bytes]]

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        payload = b'{"count": 0}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[tuple[str, list[tuple[str, str, dict[str, str], bytes]]]]:
    """A local HTTP server standing in for the endpoint: its URL and the requests it received."""
    received: list[tuple[str, str, dict[str, str], bytes]] = []
    handler = type("Recorder", (_Recorder,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake static credentials, and nothing else boto3 could read."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("aws_credentials")
@pytest.mark.parametrize(("service", "region_argument"), [("aoss", "eu-west-1"), ("es", None)])
async def test_requests_are_signed_with_sigv4_for_the_service(
    service: str,
    region_argument: str | None,
    endpoint: tuple[str, list[tuple[str, str, dict[str, str], bytes]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, received = endpoint
    monkeypatch.setenv("AWS_REGION", "eu-west-1")  # used when no region is given
    db = OpenSearchVectorDb("kb", dimensions=4, host=url, service=service, region=region_argument)  # type: ignore[arg-type]

    auth = db.client.transport.get_connection().session.auth
    assert (auth.service, auth.signer.region) == (service, "eu-west-1")
    assert await db.count({"topic": "pets"}) == 0
    await db.close()

    (method, path, headers, body) = received[0]
    assert (method, path) == ("POST", "/kb/_count")
    assert re.fullmatch(
        rf"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\d{{8}}/eu-west-1/{service}/aws4_request, "
        r"SignedHeaders=[a-z0-9;-]*host;[a-z0-9;-]*x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}",
        headers["authorization"],
    )
    assert headers["x-amz-content-sha256"] == hashlib.sha256(body).hexdigest()  # Serverless requires it
    assert json.loads(body) == {"query": {"bool": {"filter": [{"term": {"metadata.topic": "pets"}}]}}}


@pytest.mark.usefixtures("aws_credentials")
def test_building_a_client_needs_an_endpoint_and_a_region() -> None:
    with pytest.raises(ConfigError, match="needs the endpoint"):
        _ = OpenSearchVectorDb("kb", dimensions=4).client
    with pytest.raises(ConfigError, match="region"):
        _ = OpenSearchVectorDb("kb", dimensions=4, host="abc.eu-west-1.aoss.amazonaws.com").client


async def test_a_missing_extra_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opensearchpy", None)  # as if opensearch-py were not installed
    db = OpenSearchVectorDb("kb", dimensions=4, host="abc.eu-west-1.aoss.amazonaws.com", region="eu-west-1")

    with pytest.raises(ConfigError, match=re.escape("pip install 'stratus[opensearch]'")):
        await db.count()


def test_importing_the_module_imports_no_sdk() -> None:
    code = (
        "import sys, stratus.knowledge.vectordb.opensearch\n"
        "loaded = {'opensearchpy', 'boto3', 'botocore'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])


# --- the contract again, on a managed domain ----------------------------------------------------------------


@pytest.fixture
async def db() -> AsyncIterator[VectorDb]:
    """The contract suite's store, as a managed domain (`service="es"`): ids, refresh, delete by query."""
    store = OpenSearchVectorDb(
        "contract", dimensions=contract.DIMENSIONS, service="es", client=FakeOpenSearch().client()
    )
    await store.create()
    yield store
    await store.close()


test_domain_upsert_count_and_replace_by_id = contract.test_upsert_count_and_replace_by_id
test_domain_vector_search_ranks_by_cosine_similarity = contract.test_vector_search_ranks_by_cosine_similarity
test_domain_metadata_filters = contract.test_metadata_filters
test_domain_keyword_search_finds_the_words = contract.test_keyword_search_finds_the_words
test_domain_hybrid_search_blends_meaning_and_words = contract.test_hybrid_search_blends_meaning_and_words
test_domain_deletes = contract.test_deletes
test_domain_bad_input_is_refused = contract.test_bad_input_is_refused
