"""OpenAI embeddings (and any OpenAI-compatible embeddings endpoint) through the official SDK."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Unpack

from stratus.exceptions import ConfigError, EmbedderError, ModelError
from stratus.knowledge.embedders.base import Embedder
from stratus.models.openai import OpenAIClientOwner, OpenAIConnection

if TYPE_CHECKING:
    pass

__all__ = ["OpenAIEmbedder"]

_KNOWN_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}


class OpenAIEmbedder(OpenAIClientOwner, Embedder):
    """`text-embedding-3-small` by default. Batches of `batch_size` texts per request, retried on 429, 5xx and
    timeouts like `OpenAIChat`. `dimensions` shortens the vectors of the `-3` models (the API's own option)."""

    def __init__(
        self,
        id: str = "text-embedding-3-small",
        *,
        dimensions: int | None = None,
        batch_size: int = 256,
        **connection: Unpack[OpenAIConnection],
    ) -> None:
        if dimensions is None:
            if id not in _KNOWN_DIMENSIONS:
                raise ConfigError(f"OpenAIEmbedder({id!r}): pass dimensions=, the vectors' length for this model")
            dimensions = _KNOWN_DIMENSIONS[id]
        self.id = id
        self.dimensions = dimensions
        self.batch_size = batch_size
        self.max_tokens = 8191  # the input limit of OpenAI's embedding models
        self._shorten = id.startswith("text-embedding-3") and dimensions != _KNOWN_DIMENSIONS.get(id)
        self._init_client(**connection)

    async def _embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        client = self.client
        inputs = [t if t.strip() else " " for t in texts]  # the API refuses empty strings
        try:
            if self._shorten or not self.id.startswith("text-embedding"):
                dims = self.dimensions
                response = await self._within_deadline(
                    lambda: client.embeddings.create(model=self.id, input=inputs, dimensions=dims)
                )
            else:
                response = await self._within_deadline(lambda: client.embeddings.create(model=self.id, input=inputs))
        except ModelError as exc:
            raise EmbedderError(str(exc)) from exc
        ordered = sorted(response.data, key=lambda d: d.index)
        if len(ordered) != len(texts):
            raise EmbedderError(f"{self.id}: asked for {len(texts)} embeddings, got {len(ordered)}")
        vectors = [list(d.embedding) for d in ordered]
        for vector in vectors:
            if len(vector) != self.dimensions:
                raise EmbedderError(f"{self.id}: got vectors of {len(vector)} floats, expected {self.dimensions}")
        return [_unit(v) for v in vectors]


def _unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm > 0 else vector
