"""Background runs through a queue: the API stores the run as PENDING and publishes a job; a worker (the SQS
run worker on AWS) executes it and stores the result under the same run id, which clients poll with
`GET /agents/{agent_id}/runs/{run_id}` (`/teams/...`, `/workflows/...` for a team's or a workflow's run).

A workflow's run is stored after each of its top-level steps. Given the end of its invocation (`deadline`),
the worker stops a workflow that has not the time left for its next step, with its progress stored, and
queues it again: the next invocation goes on after the last finished step. If the worker dies mid-step (the
Lambda timeout), the queue delivers the job again once its visibility timeout has passed, and that delivery
also resumes after the last finished step; after the queue's maxReceiveCount the job lands in the
dead-letter queue and the run stays RUNNING with the steps it finished.

A queue delivers at least once, and may hand one job to two workers at once: the worker claims the run
(`Store.claim` on `run:<run_id>`) before anything else, so only one delivery runs it. The claim's lease lasts
as long as the worker can (its invocation's end, when known); a duplicate meanwhile fails with
`ClaimHeldError`, so the queue delivers it again later, when it is a no-op, or, if the worker died, takes the
run over. A run that ends (completed, failed or cancelled) completes its claim; a delivery that fails (the
store unreachable) or stops for lack of time releases it, so the next delivery runs at once.

Without a queue (the local default), background runs execute as tasks of the serving process instead.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar, Final

from stratus._jobs import QueueMessage
from stratus._runnable import RunOptions
from stratus.deadline import current_deadline
from stratus.exceptions import NotFoundError, StratusError
from stratus.run import RunInput, RunOutput, RunStatus
from stratus.storage.base import Claim, ClaimHeldError, ClaimStatus
from stratus.storage.records import SessionRecord, SessionType

if TYPE_CHECKING:
    from stratus.agent import Agent
    from stratus.app import App
    from stratus.storage.base import Store
    from stratus.team import Team
    from stratus.workflow import Workflow

__all__ = [
    "BACKGROUND_RUN_VERSION",
    "DEFAULT_LEASE_SECONDS",
    "BackgroundRun",
    "QueueError",
    "RunQueue",
    "enqueue_run",
    "execute_run",
    "store_pending",
]

logger = logging.getLogger("stratus.background")

BACKGROUND_RUN_VERSION = 1

_FINISHED = (RunStatus.COMPLETED, RunStatus.ERROR, RunStatus.CANCELLED, RunStatus.PAUSED)
"""The statuses a job's run is not run again from (a PAUSED one waits for a person's `/continue`)."""

DEFAULT_LEASE_SECONDS = 900.0
"""A run's claim lease when the worker's end is not known: Lambda's longest invocation."""
LEASE_MARGIN_SECONDS = 30.0
"""Added to the time the worker has left: its clock and the next worker's may differ a little."""


_CARRIED: Final = ("session_state", "knowledge_filters", "dependencies")
"""The run options a job carries as they were given."""


class QueueError(StratusError):
    """A job could not be published (503: try again)."""


@dataclass(slots=True, kw_only=True)
class BackgroundRun(QueueMessage):
    """A run to execute later: everything the worker needs, nothing it can look up. It names the agent, the
    team or the workflow to run (one of `agent_id`, `team_id`, `workflow_id`)."""

    VERSION: ClassVar[int] = BACKGROUND_RUN_VERSION
    WHAT: ClassVar[str] = "background run"

    agent_id: str | None = None
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
    team_id: str | None = None
    workflow_id: str | None = None
    dependencies: dict[str, Any] | None = None

    @classmethod
    def of(cls, options: RunOptions, *, run_id: str, session_id: str, message: str, **more: Any) -> BackgroundRun:
        """The job of a run with these `options`, under its id and session (`more`: its input's, its component's)."""
        carried = {name: getattr(options, name) for name in _CARRIED}
        return cls(run_id=run_id, session_id=session_id, user_id=options.user_id, message=message, **carried, **more)

    def options(self) -> RunOptions:
        """The options the run goes with, as the API took them, under its own id and session."""
        carried = {name: getattr(self, name) for name in _CARRIED}
        return RunOptions(session_id=self.session_id, user_id=self.user_id, run_id=self.run_id, **carried)

    def _fields(self) -> dict[str, Any]:
        data = QueueMessage._fields(self)  # not super(): a slots dataclass is a new class, which breaks it
        for key in ("team_id", "workflow_id", "dependencies"):
            if data[key] is None:
                del data[key]  # a job without them reads as it always has
        return data


class RunQueue(ABC):
    """Where background runs wait for a worker."""

    @abstractmethod
    async def publish(self, job: BackgroundRun) -> None:
        """Hand `job` to the workers; raise `QueueError` if it could not be."""


async def store_pending(component: Agent | Team | Workflow, job: BackgroundRun) -> tuple[SessionRecord, RunOutput]:
    """Store the run as PENDING (creating its session if new), as AgentOS does before it answers 202, so a
    client can read the run at once."""
    store = _store_of(component)
    session_type, identity = _identity(component)
    session = await store.get_session(job.session_id)
    if session is None:
        session = SessionRecord(
            session_id=job.session_id,
            session_type=session_type,
            component_id=next(iter(identity.values())),
            user_id=job.user_id,
            session_name=job.input_content[:120].strip() or None,
        )
    pending = RunOutput(
        run_id=job.run_id,
        session_id=job.session_id,
        **identity,
        user_id=job.user_id,
        status=RunStatus.PENDING,
        input=RunInput(input_content=job.input_content, files=job.files),
    )
    return await store.save_run(session, pending, state_base=session.session_state), pending


async def enqueue_run(component: Agent | Team | Workflow, job: BackgroundRun, queue: RunQueue) -> RunOutput:
    """Store the run as PENDING, then publish it. If publishing fails the run is stored as ERROR, so a client
    polling it learns what happened, and `QueueError` is raised."""
    store = _store_of(component)
    session, pending = await store_pending(component, job)
    try:
        await queue.publish(job)
    except Exception as exc:
        failed = replace(pending, status=RunStatus.ERROR, error="the run could not be queued", error_type="QueueError")
        await store.save_run(session, failed, state_base=session.session_state)
        raise QueueError(f"background run {job.run_id} could not be queued: {exc}") from exc
    return pending


async def execute_run(app: App, job: BackgroundRun, *, deadline: float | None = None) -> RunOutput | None:
    """Execute a queued run, exactly once per run id however often it is delivered: the run is claimed first,
    and a run already finished (or cancelled while it waited) is not run again. Returns the run, or None when
    no run ended here (nothing to do, or a workflow that went back to the queue to go on). Raises
    `ClaimHeldError` while another worker runs it, and lets store failures propagate (the claim released),
    so the queue retries the message (and after a few tries moves it to its dead-letter queue); a failed run
    does not: it is stored as ERROR and that is its result.

    A workflow's run found RUNNING (an earlier delivery died mid-way, and its lease has lapsed) resumes after
    its last finished step. With `deadline` (a `time.monotonic()` instant, the end of the worker's
    invocation), a workflow that has not the time left for its next step stops with its progress stored and
    its job is queued again."""

    try:
        if job.workflow_id is not None:
            component: Agent | Team | Workflow = app.get_workflow(job.workflow_id)
        elif job.team_id is not None:
            component = app.get_team(job.team_id)
        else:
            component = app.get_agent(job.agent_id or "")
    except NotFoundError as exc:
        logger.error("background run %s: %s; dropped", job.run_id, exc)
        return None
    store = _store_of(component)
    claim = await store.claim(f"run:{job.run_id}", lease_seconds=_lease_seconds(deadline))
    if not claim.acquired:
        if claim.status is ClaimStatus.COMPLETED:
            logger.info("background run %s was run by an earlier delivery; not run again", job.run_id)
            return None
        raise ClaimHeldError(
            f"background run {job.run_id} is running in another worker (its lease ends in "
            f"{claim.lease_until - time.time():.0f}s); the queue delivers it again later"
        )
    try:
        output, requeue = await _run_claimed(app, component, store, job, deadline)
    except BaseException:
        await _release(store, claim)
        raise
    if requeue:
        await _release(store, claim)  # before publishing: the next delivery may start at once
        assert app.run_queue is not None
        await app.run_queue.publish(job)
        return None
    if not await store.complete_claim(claim):
        logger.warning("background run %s ended after its lease lapsed; another worker may have run it", job.run_id)
    return output


async def _run_claimed(
    app: App, component: Agent | Team | Workflow, store: Store, job: BackgroundRun, deadline: float | None
) -> tuple[RunOutput | None, bool]:
    """Run the claimed job: its output (None if it had ended before), and whether to queue it again."""
    from stratus._lifecycle import Resumption, Start
    from stratus.workflow import Workflow
    from stratus.workflow._run import WorkflowRun

    stored = await store.get_run(job.run_id, session_id=job.session_id)
    if stored is not None and stored.status in _FINISHED:
        logger.info("background run %s already %s; not run again", job.run_id, stored.status.value)
        return None, False
    session = await store.get_session(job.session_id)
    if stored is not None and session is not None and stored.status is not RunStatus.RUNNING:
        await store.save_run(session, replace(stored, status=RunStatus.RUNNING), state_base=session.session_state)
    options = job.options()
    if not isinstance(component, Workflow):
        run = component.execution(job.message, options)
        run.output.input = RunInput(input_content=job.input_content, files=job.files)
        return await run.result(), False
    resume = stored if stored is not None and stored.status is RunStatus.RUNNING else None
    if resume is not None:
        logger.info("background run %s resumes after %d steps", job.run_id, len(resume.step_results or []))
    start = Start(options, resume=Resumption(resume) if resume is not None else None)
    workflow_run = WorkflowRun(component, job.message, start, deadline=deadline)
    output = await workflow_run.result()
    if workflow_run.suspended:
        if app.run_queue is None:
            raise StratusError(f"background run {job.run_id} ran out of time and there is no queue to go on")
        return None, True
    return output, False


def _lease_seconds(deadline: float | None) -> float:
    """How long a worker holds a run: until its invocation ends (the workflow's `deadline`, or the deadline
    its runs inherit), when it is killed if not done, plus a margin; without a known end, the longest."""
    inherited = current_deadline()
    ends = [at for at in (deadline, inherited.at if inherited is not None else None) if at is not None]
    if not ends:
        return DEFAULT_LEASE_SECONDS
    return max(min(ends) - time.monotonic(), 0.0) + LEASE_MARGIN_SECONDS


async def _release(store: Store, claim: Claim) -> None:
    try:
        await store.release_claim(claim)
    except Exception as exc:  # the delivery's own error matters more; the lease lapses anyway
        logger.warning("background run claim %s could not be released (its lease will lapse): %s", claim.key, exc)


def _identity(component: Agent | Team | Workflow) -> tuple[SessionType, dict[str, Any]]:
    """The session type a component's runs go in, and the fields of `RunOutput` that name it."""
    from stratus.agent import Agent
    from stratus.team import Team

    if isinstance(component, Agent):
        return SessionType.AGENT, {"agent_id": component.agent_id, "agent_name": component.name}
    if isinstance(component, Team):
        return SessionType.TEAM, {"team_id": component.team_id, "team_name": component.name}
    return SessionType.WORKFLOW, {"workflow_id": component.workflow_id, "workflow_name": component.name}


def _store_of(component: Agent | Team | Workflow) -> Store:
    if component.store is None:
        kind, name = _identity(component)
        raise StratusError(f"{kind.value} {next(iter(name.values()))!r} has no store: background runs need one")
    return component.store
