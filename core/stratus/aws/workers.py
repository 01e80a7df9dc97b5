"""The SQS consumers: `run_worker_handler` executes background runs, `knowledge_worker_handler` ingests
uploaded content. No FastAPI here: a worker starts fast."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

from aws_lambda_powertools.utilities import batch
from aws_lambda_powertools.utilities.batch import AsyncBatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from stratus.aws.bootstrap import lambda_app
from stratus.aws.deadlines import invocation_deadline
from stratus.aws.observability import LambdaHandler, instrument, logger
from stratus.background import BackgroundRun, execute_run
from stratus.knowledge.ingestion import IngestionJob, run_ingestion_job
from stratus.run import run_tree

__all__ = ["knowledge_worker_handler", "learning_worker_handler", "run_worker_handler"]


def _batch_handler(process: Callable[..., Awaitable[None]]) -> LambdaHandler:
    """The Lambda handler of an SQS consumer: `process` runs on each record of a batch (with the Lambda
    context, if it takes one), and the records it failed on are reported back to be retried."""
    # Failed records are reported, never raised: SQS then retries exactly those, and the invocation succeeds.
    processor = AsyncBatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        process_batch: Any = cast(Any, batch).async_process_partial_response  # untyped in Powertools
        response: dict[str, Any] = process_batch(
            event=event, record_handler=process, processor=processor, context=context
        )
        return response

    return instrument(handler)


def run_worker_handler() -> LambdaHandler:
    """The SQS consumer of background runs. Each record is one run, run once however often SQS delivers it
    (`execute_run` claims it first). A record that fails (a malformed message, the store unreachable, a
    duplicate whose run another worker is running) is reported back alone, retried, and after the queue's
    maxReceiveCount lands in its dead-letter queue, while the rest of the batch succeeds. A run that fails is
    stored as ERROR: that is its result, not a reason to retry."""
    app = lambda_app()

    async def process(record: SQSRecord, lambda_context: LambdaContext) -> None:
        job = BackgroundRun.from_json(record.body)
        logger.append_keys(
            run_id=job.run_id,
            session_id=job.session_id,
            agent_id=job.agent_id,
            team_id=job.team_id,
            workflow_id=job.workflow_id,
        )
        # A workflow stops between steps before the invocation's end, and is queued again to go on.
        remaining = lambda_context.get_remaining_time_in_millis() / 1000
        if job.workflow_id is not None:
            output = await execute_run(app, job, deadline=time.monotonic() + remaining)
        else:  # an agent's or a team's run ends, stored as an error, before the invocation does
            with invocation_deadline(remaining):
                output = await execute_run(app, job)
        for ended in run_tree(output) if output is not None else []:
            app.run_ended(ended)  # runs, errors, tokens and latency metrics, flushed with the invocation

    return _batch_handler(process)


def knowledge_worker_handler() -> LambdaHandler:
    """The SQS consumer of ingestion jobs: fetch the upload from S3, read, chunk, embed and index it under its
    content record. Idempotent per content id; content that fails to read ends FAILED (its result, not a
    reason to retry); infrastructure failures are reported for retry, then the dead-letter queue."""
    app = lambda_app()

    async def process(record: SQSRecord) -> None:
        job = IngestionJob.from_json(record.body)
        logger.append_keys(content_id=job.content_id, knowledge_id=job.knowledge_id)
        if app.blob_store is None:
            raise RuntimeError("no blob store: STRATUS_DB names no bucket")
        await run_ingestion_job(app, job, app.blob_store)

    return _batch_handler(process)


def learning_worker_handler() -> LambdaHandler:
    """The SQS consumer of finished runs: the agent's learning machine extracts and stores what is worth
    keeping. Exactly once per run (`LearningMachine.learn` claims it first: a later delivery stores nothing
    new, and one that arrives while another worker learns from the run is reported for retry); a message that
    cannot be read, or whose extraction keeps failing, is reported for retry and then lands in the dead-letter
    queue, while the rest of its batch succeeds."""
    app = lambda_app()

    async def process(record: SQSRecord) -> None:
        from stratus.learning.queue import LearningJob

        job = LearningJob.from_json(record.body)
        logger.append_keys(run_id=job.run_id, session_id=job.session_id, agent_id=job.agent_id)
        agent = next((a for a in app.all_agents() if a.agent_id == job.agent_id), None)
        machine = agent.learning_machine if agent is not None else None
        if agent is None or machine is None:
            logger.warning("learning job for agent %r, which does not learn here; dropped", job.agent_id)
            return
        report = await machine.learn(agent, job)
        logger.info("learned from run %s", job.run_id, extra={"learning": report.to_dict()})

    return _batch_handler(process)
