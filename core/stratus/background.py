"""Background runs through a queue: the API stores the run as PENDING and publishes a job; a worker (the SQS
run worker on AWS) executes it and stores the result under the same run id, which clients poll with
`GET /agents/{agent_id}/runs/{run_id}`.

Without a queue (the local default), background runs execute as tasks of the serving process instead.
"""

from __future__ import annotations

import json
import logging
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, cast

from stratus.exceptions import NotFoundError, SchemaVersionError, StratusError
from stratus.run import RunInput, RunOutput, RunStatus
from stratus.storage.records import SessionRecord, SessionType

if TYPE_CHECKING:
    from stratus.agent import Agent
    from stratus.app import App
    from stratus.storage.base import Store

__all__ = [
    "BACKGROUND_RUN_VERSION",
    "BackgroundRun",
    "QueueError",
    "RunQueue",
    "enqueue_run",
    "execute_run",
]

logger = logging.getLogger("stratus.background")

BACKGROUND_RUN_VERSION = 1

_FINISHED = (RunStatus.COMPLETED, RunStatus.ERROR, RunStatus.CANCELLED)


class QueueError(StratusError):
    """A job could not be published (503: try again)."""


@dataclass(slots=True, kw_only=True)
class BackgroundRun:
    """A run to execute later: everything the worker needs, nothing it can look up."""

    agent_id: str
    run_id: str
    session_id: str
    user_id: str | None
    message: str
    input_content: str
    files: list[str] | None = None
    session_state: dict[str, Any] | None = None
    enqueued_at: float = field(default_factory=time.time)
    knowledge_filters: dict[str, Any] | None = None
    version: int = BACKGROUND_RUN_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> BackgroundRun:
        data: Any = json.loads(text)
        if not isinstance(data, dict) or cast(dict[str, Any], data).get("version") != BACKGROUND_RUN_VERSION:
            raise SchemaVersionError(f"background run message of unknown version: {text[:80]}")
        return cls(**cast(dict[str, Any], data))


class RunQueue(ABC):
    """Where background runs wait for a worker."""

    @abstractmethod
    async def publish(self, job: BackgroundRun) -> None:
        """Hand `job` to the workers; raise `QueueError` if it could not be."""


async def enqueue_run(agent: Agent, job: BackgroundRun, queue: RunQueue) -> RunOutput:
    """Store the run as PENDING (creating its session if new), then publish it. If publishing fails the run
    is stored as ERROR, so a client polling it learns what happened, and `QueueError` is raised."""
    store = _store_of(agent)
    session = await store.get_session(job.session_id)
    if session is None:
        session = SessionRecord(
            session_id=job.session_id,
            session_type=SessionType.AGENT,
            component_id=agent.agent_id,
            user_id=job.user_id,
            session_name=job.input_content[:120].strip() or None,
        )
    pending = RunOutput(
        run_id=job.run_id,
        session_id=job.session_id,
        agent_id=agent.agent_id,
        agent_name=agent.name,
        user_id=job.user_id,
        status=RunStatus.PENDING,
        input=RunInput(input_content=job.input_content, files=job.files),
    )
    session = await store.save_run(session, pending, state_base=session.session_state)
    try:
        await queue.publish(job)
    except Exception as exc:
        failed = replace(pending, status=RunStatus.ERROR, error="the run could not be queued", error_type="QueueError")
        await store.save_run(session, failed, state_base=session.session_state)
        raise QueueError(f"background run {job.run_id} could not be queued: {exc}") from exc
    return pending


async def execute_run(app: App, job: BackgroundRun) -> RunOutput | None:
    """Execute a queued run. Idempotent per run id: a run already finished (or cancelled while it waited) is
    not run again. Returns None when there was nothing to do. Store failures propagate, so the queue retries
    the message (and after a few tries moves it to its dead-letter queue); a failed agent run does not: it is
    stored as ERROR and that is its result."""
    from stratus.agent._loop import AgentRun

    try:
        agent = app.get_agent(job.agent_id)
    except NotFoundError:
        logger.error("background run %s names unknown agent %r; dropped", job.run_id, job.agent_id)
        return None
    store = _store_of(agent)
    stored = await store.get_run(job.run_id, session_id=job.session_id)
    if stored is not None and stored.status in _FINISHED:
        logger.info("background run %s already %s; not run again", job.run_id, stored.status.value)
        return None
    session = await store.get_session(job.session_id)
    if stored is not None and session is not None:
        await store.save_run(session, replace(stored, status=RunStatus.RUNNING), state_base=session.session_state)
    run = AgentRun(
        agent,
        job.message,
        session_id=job.session_id,
        user_id=job.user_id,
        session_state=job.session_state,
        run_id=job.run_id,
        knowledge_filters=job.knowledge_filters,
    )
    run.output.input = RunInput(input_content=job.input_content, files=job.files)
    return await run.result()


def _store_of(agent: Agent) -> Store:
    if agent.store is None:
        raise StratusError(f"agent {agent.agent_id!r} has no store: background runs need one")
    return agent.store
