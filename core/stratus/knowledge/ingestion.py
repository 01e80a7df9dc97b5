"""Ingesting content in the background: in the serving process locally, through a queue and a worker on AWS.

The API stores a PROCESSING content record and answers 202 at once; the content's bytes then go either to a
task of this process, or to a blob store (S3) with a job on the ingestion queue (SQS) for the knowledge
worker. Either way `Knowledge.ingest` does the work, and the content's status route shows its progress.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from stratus._jobs import QueueMessage
from stratus.exceptions import NotFoundError, StratusError
from stratus.storage.records import ContentRecord, ContentStatus

if TYPE_CHECKING:
    from stratus.app import App
    from stratus.knowledge.chunking import Chunker
    from stratus.knowledge.knowledge import Knowledge

__all__ = [
    "INGESTION_JOB_VERSION",
    "BlobStore",
    "IngestionError",
    "IngestionJob",
    "IngestionQueue",
    "Ingestor",
    "blob_key",
    "run_ingestion_job",
]

logger = logging.getLogger("stratus.knowledge")

INGESTION_JOB_VERSION = 1


class IngestionError(StratusError):
    """Content could not be handed to the ingestion queue (503: try again)."""


@dataclass(slots=True, kw_only=True)
class IngestionJob(QueueMessage):
    """Content waiting to be ingested: which knowledge base and record, where its bytes are, how to chunk."""

    VERSION: ClassVar[int] = INGESTION_JOB_VERSION
    WHAT: ClassVar[str] = "ingestion"

    knowledge_id: str
    content_id: str
    blob_key: str
    chunker: str | None = None
    chunk_size: int | None = None
    chunk_overlap: int | None = None
    version: int = INGESTION_JOB_VERSION


def blob_key(knowledge_id: str, content_id: str) -> str:
    """Where an upload's bytes wait for the worker."""
    return f"knowledge/{knowledge_id}/{content_id}"


class BlobStore(ABC):
    """Holds uploaded bytes between the API and the worker (S3 on AWS)."""

    @abstractmethod
    async def put(self, key: str, data: bytes) -> None: ...

    @abstractmethod
    async def get(self, key: str) -> bytes: ...

    @abstractmethod
    async def delete(self, key: str) -> None: ...


class IngestionQueue(ABC):
    """Where ingestion jobs wait for the knowledge worker."""

    @abstractmethod
    async def publish(self, job: IngestionJob) -> None:
        """Hand `job` to the workers; raise `IngestionError` if it could not be."""


def chunker_for(job_chunker: str | None, size: int | None, overlap: int | None, knowledge: Knowledge) -> Chunker | None:
    """The chunker a request asked for, or None for the knowledge base's own."""
    if job_chunker is None and size is None and overlap is None:
        return None
    from stratus.knowledge.chunking import chunker_from_name

    return chunker_from_name(
        job_chunker or "recursive",
        size_tokens=size or knowledge.default_chunk_size,
        overlap_tokens=overlap,
        embedder=knowledge.embedder,
    )


class Ingestor:
    """Runs ingestions as tasks of this process (the local default), keeping them until they end."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[ContentRecord]] = set()

    def start(
        self, knowledge: Knowledge, record: ContentRecord, data: bytes, chunker: Chunker | None = None
    ) -> asyncio.Task[ContentRecord]:
        task = asyncio.create_task(knowledge.ingest(record, data, chunker=chunker), name=f"ingest-{record.content_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def wait(self) -> None:
        """Wait for every ingestion in flight (tests, the CLI)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def shutdown(self) -> None:
        """Cancel what is in flight: each such content ends FAILED, saying it was interrupted."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def run_ingestion_job(app: App, job: IngestionJob, blobs: BlobStore) -> ContentRecord | None:
    """The knowledge worker's work for one job. Idempotent: content already completed (or failed) is left
    alone. Failures to reach the store or the blob propagate, so the queue retries the message."""
    try:
        knowledge = app.get_knowledge(job.knowledge_id)
    except NotFoundError:
        logger.error("ingestion job for unknown knowledge base %r dropped", job.knowledge_id)
        return None
    record = await knowledge.get_content(job.content_id)
    if record is None:
        logger.info("content %s is gone (deleted before ingestion); nothing to do", job.content_id)
        return None
    if record.status is not ContentStatus.PROCESSING:
        logger.info("content %s is already %s; not ingested again", job.content_id, record.status.value)
        return None
    data = await blobs.get(job.blob_key)
    result = await knowledge.ingest(
        record, data, chunker=chunker_for(job.chunker, job.chunk_size, job.chunk_overlap, knowledge)
    )
    if result.status is ContentStatus.COMPLETED:
        await blobs.delete(job.blob_key)  # the chunks hold what is needed now
    return result
