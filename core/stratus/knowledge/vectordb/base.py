"""The vector store contract: one behavioural suite (tests/contracts/test_vectordb.py) runs unchanged
against every implementation, so the embedded store and OpenSearch answer alike."""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from stratus.exceptions import ConfigError, StratusError
from stratus.knowledge.documents import Chunk, SearchHit

__all__ = [
    "HYBRID_KEYWORD_WEIGHT",
    "HYBRID_VECTOR_WEIGHT",
    "Filters",
    "SearchMode",
    "SearchQuery",
    "VectorDb",
    "VectorDbError",
    "check_filters",
    "fuse",
    "matches",
]

Filters = Mapping[str, Any]
"""Metadata filters: `{"key": value}` matches chunks whose metadata has that value (a list of values matches
any of them); `content_id` filters on the chunk's content. All keys must match."""

HYBRID_VECTOR_WEIGHT: Final = 0.7
HYBRID_KEYWORD_WEIGHT: Final = 0.3
"""How hybrid search weighs the (min-max normalised) vector and keyword scores, in every store."""


class SearchMode(StrEnum):
    VECTOR = "vector"
    KEYWORD = "keyword"
    HYBRID = "hybrid"


class VectorDbError(StratusError):
    """The vector store failed, or was asked for something it cannot do."""


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A search `VectorDb.search` has checked: a vector of the store's length where the mode needs one (else
    empty), the text where it needs it (else ""), normalised filters, and a limit of at least 1."""

    mode: SearchMode
    vector: Sequence[float]
    text: str
    filters: dict[str, list[Any]]
    limit: int


def check_filters(filters: Filters | None) -> dict[str, list[Any]]:
    """Normalise filters to key -> accepted values; refuse what no store could filter on."""
    normalised: dict[str, list[Any]] = {}
    for key, value in (filters or {}).items():
        if not key or not key.replace("_", "").replace("-", "").replace(".", "").isalnum():
            raise ConfigError(f"filter key {key!r} must be letters, digits, '_', '-' or '.'")
        values: list[Any] = list(value) if isinstance(value, list | tuple | set) else [value]  # pyright: ignore[reportUnknownArgumentType]
        for v in values:
            if not isinstance(v, str | int | float | bool):
                raise ConfigError(f"filter {key!r}: values must be strings, numbers or booleans")
        normalised[key] = values
    return normalised


def matches(chunk: Chunk, filters: dict[str, list[Any]]) -> bool:
    """Whether `chunk` passes normalised `filters` (the reference semantics every store follows)."""
    for key, values in filters.items():
        actual = chunk.content_id if key == "content_id" else chunk.metadata.get(key)
        if actual not in values:
            return False
    return True


def fuse(vector: Sequence[SearchHit], keyword: Sequence[SearchHit], limit: int) -> list[SearchHit]:
    """Hybrid ranking: min-max normalise each list's scores, then the weighted arithmetic mean (a chunk
    missing from one list scores 0 there). The same arithmetic as OpenSearch's normalization processor."""

    def normalised(hits: Sequence[SearchHit]) -> dict[str, float]:
        if not hits:
            return {}
        low, high = min(h.score for h in hits), max(h.score for h in hits)
        span = high - low
        return {h.chunk.id: (h.score - low) / span if span > 0 else 1.0 for h in hits}

    by_id = {h.chunk.id: h.chunk for h in [*vector, *keyword]}
    v, k = normalised(vector), normalised(keyword)
    scored = [
        SearchHit(chunk=by_id[i], score=HYBRID_VECTOR_WEIGHT * v.get(i, 0.0) + HYBRID_KEYWORD_WEIGHT * k.get(i, 0.0))
        for i in by_id
    ]
    scored.sort(key=lambda h: (-h.score, h.chunk.id))
    return scored[:limit]


class VectorDb(ABC):
    """Where chunks and their vectors live, and how they are searched.

    Chunks carry their own embeddings in; searches take a query vector (vector, hybrid) and/or the query
    text (keyword, hybrid). Every method is async. Only `create` and `upsert` create a collection that does not
    exist: searches, counts and deletes of a missing one find nothing.
    """

    @property
    @abstractmethod
    def id(self) -> str:
        """A stable identifier (AgentOS' vector db id)."""

    @property
    @abstractmethod
    def dimensions(self) -> int:
        """The length of every vector this store holds."""

    @abstractmethod
    async def create(self) -> None:
        """Create the index (or table) if it does not exist; a no-op if it does."""

    @abstractmethod
    async def upsert(self, chunks: Sequence[Chunk]) -> None:
        """Insert or replace chunks by id. Every chunk must carry an embedding of `dimensions` floats."""

    async def search(
        self,
        *,
        vector: Sequence[float] | None = None,
        text: str | None = None,
        mode: SearchMode = SearchMode.HYBRID,
        filters: Filters | None = None,
        limit: int = 5,
    ) -> list[SearchHit]:
        """The best `limit` chunks for the query, best first. Vector and hybrid searches need `vector` (of
        `dimensions` floats), keyword and hybrid ones the query `text`."""
        wants_vector = mode in (SearchMode.VECTOR, SearchMode.HYBRID)
        wants_text = mode in (SearchMode.KEYWORD, SearchMode.HYBRID)
        if wants_vector and vector is None:
            raise VectorDbError(f"{mode.value} search needs a query vector")
        if wants_text and not (text or "").strip():
            raise VectorDbError(f"{mode.value} search needs the query text")
        if wants_vector and vector is not None and len(vector) != self.dimensions:
            raise VectorDbError(f"the query vector must have {self.dimensions} floats")
        query = SearchQuery(
            mode=mode,
            vector=vector if wants_vector and vector is not None else (),
            text=(text or "") if wants_text else "",
            filters=check_filters(filters),
            limit=max(1, limit),
        )
        return await self._search(query)

    @abstractmethod
    async def _search(self, query: SearchQuery) -> list[SearchHit]:
        """`search`, once the query is checked."""

    @abstractmethod
    async def delete(self, ids: Sequence[str]) -> int:
        """Delete chunks by id; returns how many existed."""

    @abstractmethod
    async def delete_where(self, filters: Filters) -> int:
        """Delete the chunks that match `filters` (which must not be empty); returns how many."""

    @abstractmethod
    async def count(self, filters: Filters | None = None) -> int:
        """How many chunks (match `filters`)."""

    @abstractmethod
    async def drop(self) -> None:
        """Delete the index and everything in it."""

    async def chunks(self, filters: Filters) -> list[Chunk]:
        """Every chunk that matches `filters` (which must not be empty), with its text and metadata but no
        embedding, in id order: what it takes to embed the same chunks again with another model. A collection
        that does not exist holds none, and reading it does not create it."""
        raise VectorDbError(f"{type(self).__name__} cannot read its chunks back")

    async def close(self) -> None:  # noqa: B027 - optional for stores that hold nothing
        """Release connections."""

    def _check(self, chunks: Sequence[Chunk]) -> None:
        for chunk in chunks:
            if chunk.embedding is None or len(chunk.embedding) != self.dimensions:
                got = "none" if chunk.embedding is None else len(chunk.embedding)
                raise VectorDbError(
                    f"chunk {chunk.id!r} has an embedding of {got} floats; this store holds {self.dimensions}"
                )

    @staticmethod
    def _required_filters(filters: Filters, method: str, instead: str = "") -> dict[str, list[Any]]:
        """`check_filters(filters)`, refusing no filter at all (`delete_where` and `chunks` need one)."""
        wanted = check_filters(filters)
        if not wanted:
            raise VectorDbError(f"{method} needs at least one filter" + (f"; {instead}" if instead else ""))
        return wanted


class AddressedVectorDb(VectorDb):
    """Base of the stores stratus ships: one is named by the address of where it keeps its vectors (its `id`
    is a UUID made from that address, the same in every process) and holds vectors of one length."""

    def __init__(self, address: str, *, dimensions: int) -> None:
        if dimensions <= 0:
            raise ConfigError("dimensions must be positive")
        self._id = str(uuid.uuid5(uuid.NAMESPACE_URL, address))
        self._dimensions = dimensions

    @property
    def id(self) -> str:
        return self._id

    @property
    def dimensions(self) -> int:
        return self._dimensions
