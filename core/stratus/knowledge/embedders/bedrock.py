"""Amazon Titan Text Embeddings v2 on Bedrock, through boto3's `bedrock-runtime`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from stratus.exceptions import ConfigError, EmbedderError
from stratus.knowledge.embedders.base import Embedder
from stratus.models._clients import BlockingClient, boto3_client

__all__ = ["BedrockEmbedder"]


class BedrockEmbedder(Embedder):
    """`amazon.titan-embed-text-v2:0`: 1024, 512 or 256 dimensions, normalised. Titan takes one text per
    request, so a batch is sent as concurrent requests (at most `concurrency` at a time); throttling is
    retried by botocore's standard retry mode.

    `client` is a boto3 `bedrock-runtime` client (built from `region` when None).
    """

    def __init__(
        self,
        id: str = "amazon.titan-embed-text-v2:0",
        *,
        dimensions: int = 1024,
        region: str | None = None,
        concurrency: int = 8,
        client: Any | None = None,
    ) -> None:
        if dimensions not in (256, 512, 1024):
            raise ConfigError("Titan Text Embeddings v2 makes vectors of 256, 512 or 1024 floats")
        self.id = id
        self.dimensions = dimensions
        self.region = region
        self.batch_size = 64
        self.max_tokens = 8192  # Titan Text Embeddings v2's input limit
        self._concurrency = concurrency
        self._client = BlockingClient[Any](client)

    @property
    def client(self) -> Any:
        """The boto3 client, built once on first use (a batch's requests run in several threads at once)."""
        return self._client.get(self._build_client)

    def _build_client(self) -> Any:
        retries = {"mode": "standard", "max_attempts": 6}
        return boto3_client("BedrockEmbedder", "bedrock-runtime", region=self.region, retries=retries)

    def _embed_one(self, text: str) -> list[float]:
        body = json.dumps({"inputText": text or " ", "dimensions": self.dimensions, "normalize": True})
        try:
            response = self.client.invoke_model(
                modelId=self.id, body=body, contentType="application/json", accept="application/json"
            )
            payload = json.loads(response["body"].read())
        except Exception as exc:
            raise EmbedderError(f"Bedrock {self.id}: {type(exc).__name__}: {exc}") from exc
        vector = [float(x) for x in payload["embedding"]]
        if len(vector) != self.dimensions:
            raise EmbedderError(f"Bedrock {self.id}: got {len(vector)} floats, expected {self.dimensions}")
        return vector

    async def _embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        limit = asyncio.Semaphore(self._concurrency)

        async def one(text: str) -> list[float]:
            async with limit:
                return await asyncio.to_thread(self._embed_one, text)

        return list(await asyncio.gather(*(one(t) for t in texts)))
