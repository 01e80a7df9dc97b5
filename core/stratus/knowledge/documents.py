"""What knowledge is made of: readers turn a file into `Document`s, chunkers cut those into `ChunkText`s,
embedders turn those into `Chunk`s with vectors, and vector stores answer searches with `SearchHit`s."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Chunk", "ChunkText", "Document", "SearchHit", "approx_tokens"]


def approx_tokens(text: str) -> int:
    """A cheap token estimate (about four characters a token for English), used to size chunks the same way
    whatever model embeds them."""
    return math.ceil(len(text) / 4)


@dataclass(slots=True)
class Document:
    """A readable part of one piece of content: the text of a page, a section, a table, with its metadata
    (e.g. `page`)."""

    text: str
    metadata: dict[str, Any] = field(default_factory=dict[str, Any])


@dataclass(slots=True)
class ChunkText:
    """A piece of a document small enough to embed and to show a model, before it has a vector."""

    text: str
    metadata: dict[str, Any] = field(default_factory=dict[str, Any])


@dataclass(slots=True)
class Chunk:
    """An indexed chunk. `id` is `<content_id>:<index>`, so adding the same content twice overwrites, never
    duplicates. `metadata` holds the content's metadata, its name, and the reader's (page, section, ...)."""

    id: str
    content_id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict[str, Any])
    embedding: list[float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "content_id": self.content_id, "text": self.text, "metadata": self.metadata}


@dataclass(slots=True)
class SearchHit:
    """A chunk a search found, with its score: cosine similarity for vector search, BM25 for keyword search,
    and for hybrid search the weighted mean of both after min-max normalisation (0 to 1)."""

    chunk: Chunk
    score: float
