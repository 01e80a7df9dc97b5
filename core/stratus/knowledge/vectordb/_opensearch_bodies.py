"""The JSON `OpenSearchVectorDb` sends and reads: documents, filters, queries, bulk lines, hits and errors,
with no client and no I/O."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from typing import Any, cast

from stratus.knowledge.documents import Chunk, SearchHit
from stratus.knowledge.vectordb._opensearch_index import (
    CHUNK_ID_FIELD,
    CONTENT_ID_FIELD,
    METADATA_FIELD,
    TEXT_FIELD,
    VECTOR_FIELD,
    Json,
)
from stratus.knowledge.vectordb.base import VectorDbError

__all__ = [
    "as_dict",
    "as_list",
    "batches",
    "chunk_document",
    "cosine",
    "describe",
    "filter_clauses",
    "knn_query",
    "line",
    "match_query",
    "missing_index",
    "ranked",
    "search_body",
    "search_hit",
    "unit",
]

_BULK_BYTES = 5_000_000  # one bulk request stays well under the 10 MB payload limit of AOSS and small domains


def knn_query(unit: list[float], clauses: list[Json], k: int) -> Json:
    """The `k` nearest chunks to the unit vector `unit`, among those the filter `clauses` let through."""
    knn: Json = {"vector": unit, "k": k}
    if clauses:
        knn["filter"] = {"bool": {"filter": clauses}}  # inside knn: filtered while searching, not after
    return {"knn": {VECTOR_FIELD: knn}}


def match_query(text: str, clauses: list[Json]) -> Json:
    """BM25 on the chunks' text, among those the filter `clauses` let through."""
    query: Json = {"must": [{"match": {TEXT_FIELD: {"query": text}}}]}  # plain text: no query syntax
    if clauses:
        query["filter"] = clauses
    return {"bool": query}


def search_body(query: Json, size: int) -> Json:
    """A search for the best `size` hits of `query`, without their vectors."""
    return {"size": size, "_source": {"excludes": [VECTOR_FIELD]}, "query": query}


def as_dict(value: Any) -> Json:
    """`value` if it is an object of a response, else an empty one (responses are read leniently)."""
    return cast(Json, value) if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """`value` if it is an array of a response, else an empty one."""
    return cast(list[Any], value) if isinstance(value, list) else []


def line(value: Json) -> str:
    """One line of a bulk request."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def unit(vector: Sequence[float]) -> list[float]:
    """`vector` scaled to length 1 (a zero vector stays zero), so inner product is cosine similarity."""
    values = [float(v) for v in vector]
    if not all(math.isfinite(v) for v in values):
        raise VectorDbError("vectors must hold finite numbers")
    norm = math.sqrt(math.fsum(v * v for v in values))
    return [v / norm for v in values] if norm > 0 else values


def cosine(score: float) -> float:
    """Undo OpenSearch's innerproduct scoring (p + 1 for p >= 0, 1 / (1 - p) below): the cosine similarity."""
    if score >= 1.0:
        return score - 1.0
    return 1.0 - 1.0 / score if score > 0 else -1.0


def chunk_document(chunk: Chunk) -> Json:
    """The document a chunk is indexed as, its vector made unit length."""
    return {
        CHUNK_ID_FIELD: chunk.id,
        CONTENT_ID_FIELD: chunk.content_id,
        TEXT_FIELD: chunk.text,
        METADATA_FIELD: chunk.metadata,
        VECTOR_FIELD: unit(chunk.embedding or []),
    }


def filter_clauses(filters: dict[str, list[Any]]) -> list[Json]:
    """`check_filters` output as term filters: `content_id` on its field, other keys under `metadata`."""
    clauses: list[Json] = []
    for key, values in filters.items():
        field = CONTENT_ID_FIELD if key == "content_id" else f"{METADATA_FIELD}.{key}"
        clauses.append({"term": {field: values[0]}} if len(values) == 1 else {"terms": {field: values}})
    return clauses


def search_hit(hit: Json) -> SearchHit:
    """One hit of a search response, as a chunk (without its vector) and its score."""
    source = as_dict(hit.get("_source"))
    chunk = Chunk(
        id=str(source.get(CHUNK_ID_FIELD) or hit.get("_id")),
        content_id=str(source.get(CONTENT_ID_FIELD, "")),
        text=str(source.get(TEXT_FIELD, "")),
        metadata=dict(as_dict(source.get(METADATA_FIELD))),
    )
    return SearchHit(chunk=chunk, score=float(hit.get("_score") or 0.0))


def ranked(hits: Sequence[SearchHit], limit: int) -> list[SearchHit]:
    """Best first (ties by id, as `fuse` orders them), one hit per chunk id, at most `limit`."""
    best: dict[str, SearchHit] = {}
    for hit in hits:
        if hit.chunk.id not in best or hit.score > best[hit.chunk.id].score:
            best[hit.chunk.id] = hit
    return sorted(best.values(), key=lambda h: (-h.score, h.chunk.id))[:limit]


def batches(documents: Sequence[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    """`documents` in groups of at most `size`, and of at most about 5 MB of JSON."""
    batch: list[tuple[str, str]] = []
    weight = 0
    for document in documents:
        if batch and (len(batch) >= size or weight + len(document[1]) > _BULK_BYTES):
            yield batch
            batch, weight = [], 0
        batch.append(document)
        weight += len(document[1])
    if batch:
        yield batch


def describe(exc: Exception) -> str:
    """An opensearch-py error in a few words: its status, its error type and OpenSearch's reason."""
    status = getattr(exc, "status_code", None)
    error = getattr(exc, "error", None)
    reason = as_dict(as_dict(getattr(exc, "info", None)).get("error")).get("reason")
    parts = [str(part) for part in (status, error, reason) if part not in (None, "", "N/A")]
    return " ".join(parts) or repr(exc)


def missing_index(exc: Exception) -> bool:
    """Whether a not-found error is about the index itself (a collection not created yet)."""
    return getattr(exc, "error", None) == "index_not_found_exception"
