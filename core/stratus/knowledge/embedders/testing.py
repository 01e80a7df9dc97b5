"""An embedder for tests: deterministic, offline, instant, no model to load.

`HashEmbedder` hashes each word into one of `dimensions` buckets, so texts that share words point the same
way and a search over its vectors finds passages by their words. Use it in your own tests where loading a
real embedding model would be slow or need the network:

    from stratus.knowledge import Knowledge
    from stratus.knowledge.embedders.testing import HashEmbedder

    docs = Knowledge("docs", embedder=HashEmbedder())
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence

from stratus.knowledge.embedders.base import Embedder

__all__ = ["HashEmbedder", "hashed_embedding"]

_WORD = re.compile(r"\w+")


def hashed_embedding(text: str, dimensions: int = 64) -> list[float]:
    """A bag-of-words vector of unit length (all zeros for a text without words)."""
    vector = [0.0] * dimensions
    for word in _WORD.findall(text.lower()):
        digest = hashlib.sha1(word.encode()).digest()
        index = int.from_bytes(digest[:4], "big") % dimensions
        vector[index] += 1.0 if digest[4] % 2 else -1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


class HashEmbedder(Embedder):
    """Bag-of-words vectors from word hashes (see the module's docstring). Counts the texts it embedded."""

    def __init__(self, dimensions: int = 64, *, batch_size: int = 64) -> None:
        if dimensions <= 0:
            raise ValueError("dimensions must be positive")
        self.id = f"hash-{dimensions}"
        self.dimensions = dimensions
        self.batch_size = batch_size
        self.embedded = 0

    async def _embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        self.embedded += len(texts)
        return [hashed_embedding(text, self.dimensions) for text in texts]
