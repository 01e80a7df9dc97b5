"""Learning happens off the request path: a run that ends publishes a `LearningJob`; a worker takes it.

`InProcessLearningQueue` (the local default) runs jobs as tasks of the serving process, one at a time, with a
few retries; `SqsLearningQueue` (in `stratus.aws.queues`) sends them to SQS, where the learning worker function
takes them with partial batch failures and a dead-letter queue. Both end in `LearningMachine.learn`, which
is idempotent per run: a job delivered twice stores nothing new.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import ClassVar

from stratus._jobs import QueueMessage
from stratus.exceptions import StratusError

__all__ = [
    "LEARNING_JOB_VERSION",
    "InProcessLearningQueue",
    "LearningError",
    "LearningJob",
    "LearningQueue",
]

logger = logging.getLogger(__name__)

LEARNING_JOB_VERSION = 1


class LearningError(StratusError):
    """Learning from a run failed (the extraction model, the store); the job is retried."""


@dataclass(frozen=True, slots=True)
class LearningJob(QueueMessage):
    """A finished run to learn from, and the memories and learnings its context used (to count their use)."""

    VERSION: ClassVar[int] = LEARNING_JOB_VERSION
    WHAT: ClassVar[str] = "learning"

    run_id: str
    session_id: str
    agent_id: str
    user_id: str | None = None
    recalled: list[str] = field(default_factory=list[str])
    version: int = LEARNING_JOB_VERSION


class LearningQueue(ABC):
    """Where finished runs wait to be learned from."""

    published: int = 0
    failed: int = 0

    @abstractmethod
    async def publish(self, job: LearningJob) -> None:
        """Hand `job` to the workers; raise if it could not be (the caller logs and counts it)."""

    def record_failure(self) -> None:
        """Count a job that could not be queued (a metric where the deployment has them)."""
        self.failed += 1

    async def drain(self) -> None:  # noqa: B027 - nothing to wait for by default
        """Wait for the jobs this process still has in hand (tests, shutdown); bound it with a timeout."""

    async def close(self) -> None:  # noqa: B027 - nothing to release by default
        """Stop taking jobs."""


Worker = Callable[[LearningJob], Awaitable[object]]


class InProcessLearningQueue(LearningQueue):
    """Runs each job as a task of this process after the run has answered: one at a time (learning must not
    take the CPU from the runs), retried `attempts` times with backoff, then logged as failed."""

    def __init__(self, worker: Worker, *, attempts: int = 3, backoff: float = 0.5) -> None:
        self._worker = worker
        self._attempts = attempts
        self._backoff = backoff
        self._pending: asyncio.Queue[LearningJob] | None = None
        self._consumer: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.processed = 0

    async def publish(self, job: LearningJob) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._consumer is None or self._consumer.done():
            self._loop = loop
            self._pending = asyncio.Queue()
            self._consumer = loop.create_task(self._consume(self._pending), name="stratus-learning")
        assert self._pending is not None
        self._pending.put_nowait(job)
        self.published += 1

    async def _consume(self, pending: asyncio.Queue[LearningJob]) -> None:
        while True:
            job = await pending.get()
            try:
                for attempt in range(1, self._attempts + 1):
                    try:
                        await self._worker(job)
                        self.processed += 1
                        break
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:
                        if attempt == self._attempts:
                            self.failed += 1
                            logger.error(
                                "learning from run %s failed %d times; giving up: %s", job.run_id, attempt, exc
                            )
                        else:
                            logger.warning("learning from run %s failed (attempt %d): %s", job.run_id, attempt, exc)
                            await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
            finally:
                pending.task_done()

    async def drain(self) -> None:
        pending = self._pending
        if pending is None or self._loop is not asyncio.get_running_loop():
            return
        await pending.join()

    async def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None and not consumer.done() and consumer.get_loop() is asyncio.get_running_loop():
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)
