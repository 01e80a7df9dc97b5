"""The embedder contract: texts in, vectors out, in batches."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from stratus.exceptions import EmbedderError

__all__ = ["Embedder", "EmbedderError"]


class Embedder(ABC):
    """Turns texts into vectors of `dimensions` floats (normalised to unit length, so a dot product is the
    cosine similarity)."""

    id: str
    dimensions: int
    batch_size: int = 64
    max_tokens: int | None = None
    """The longest text the model embeds whole, in its own tokens (longer text is cut short by the model);
    None when it is long enough not to matter. The default chunker keeps chunks within it."""

    @abstractmethod
    async def _embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed one batch (at most `batch_size` texts)."""

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed any number of texts, `batch_size` at a time, in order."""
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            vectors.extend(await self._embed_batch(texts[start : start + self.batch_size]))
        return vectors

    async def embed_query(self, text: str) -> list[float]:
        """Embed a search query (some models embed queries differently from documents)."""
        return (await self.embed([text]))[0]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, dimensions={self.dimensions})"
