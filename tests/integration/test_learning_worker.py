"""Learning on AWS, against moto's SQS and DynamoDB: a run published to the learning queue by the agent_runs
function; the learning worker consumes it and the memory appears; the same message delivered twice stores
once; a message that always fails reaches the dead-letter queue after maxReceiveCount while the rest of its
batch succeeds."""

from __future__ import annotations

import json
from copy import deepcopy
from typing import Any

import pytest

from stratus.storage import MemoryQuery
from tests.integration.test_lambda_handlers import (
    USER,
    Deployment,
    asyncio_run,
    body_of,
    call,
    event,
    sqs_event,
)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


def learner_run(message: str, session: str) -> dict[str, Any]:
    request = deepcopy(event("agent_run"))
    request["path"] = "/agents/learner/runs"
    request["pathParameters"] = {"proxy": "learner/runs"}
    request["body"] = json.dumps({"message": message, "stream": False, "session_id": session})
    return request


def memories(deployment: Deployment) -> list[str]:
    found = asyncio_run(deployment.store.list_memories(MemoryQuery(user_id=USER))).items
    return sorted(m.memory for m in found)


def work(deployment: Deployment, rounds: int = 4) -> list[list[str]]:
    """What Lambda's SQS trigger does: receive, invoke the worker, delete what succeeded. The bodies that
    failed, round by round."""
    failures: list[list[str]] = []
    for _ in range(rounds):
        messages = deployment.receive(deployment.learning_queue_url)
        if not messages:
            break
        response = call("learning_worker", sqs_event(messages))
        failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        failures.append([m["Body"] for m in messages if m["MessageId"] in failed])
        for m in messages:
            if m["MessageId"] not in failed:
                deployment.sqs.delete_message(QueueUrl=deployment.learning_queue_url, ReceiptHandle=m["ReceiptHandle"])
    return failures


def test_a_run_is_learned_from_by_the_worker_once(deployment: Deployment) -> None:
    answered = call("agent_runs", learner_run("I love tea", "s-learn"))
    assert answered["statusCode"] == 200, answered["body"]
    assert memories(deployment) == []  # nothing learned on the request path

    messages = deployment.receive(deployment.learning_queue_url)
    assert len(messages) == 1
    assert json.loads(messages[0]["Body"])["run_id"] == body_of(answered)["run_id"]
    assert call("learning_worker", sqs_event(messages)) == {"batchItemFailures": []}
    assert memories(deployment) == ["The user likes tea."]

    # delivered again (SQS is at-least-once): nothing new
    assert call("learning_worker", sqs_event(messages)) == {"batchItemFailures": []}
    assert memories(deployment) == ["The user likes tea."]
    session = asyncio_run(deployment.store.get_session("s-learn"))
    assert session is not None
    assert session.summary is not None
    assert session.summary["summary"] == "talked about: I love tea"

    # the next session of the same user has it in its context
    call("agent_runs", learner_run("what do I like?", "s-next"))
    runs = asyncio_run(deployment.store.get_runs("s-next"))
    system = runs[0].messages[0]
    assert system.role == "system"
    assert "The user likes tea." in (system.content or "")


def test_a_message_that_always_fails_reaches_the_dead_letter_queue(deployment: Deployment) -> None:
    call("agent_runs", learner_run("I love coffee", "s-good"))
    deployment.sqs.send_message(QueueUrl=deployment.learning_queue_url, MessageBody="{not a learning job")
    missing = {"run_id": "r-none", "session_id": "s-none", "agent_id": "learner", "user_id": USER, "version": 99}
    deployment.sqs.send_message(QueueUrl=deployment.learning_queue_url, MessageBody=json.dumps(missing))

    failures = work(deployment)

    assert sorted(failures[0]) == sorted(["{not a learning job", json.dumps(missing)])
    dead = deployment.receive(deployment.learning_dlq_url)
    assert sorted(m["Body"] for m in dead) == sorted(["{not a learning job", json.dumps(missing)])
    assert memories(deployment) == ["The user likes coffee."]


def test_the_learning_worker_sample_event(deployment: Deployment) -> None:
    answered = body_of(call("agent_runs", learner_run("I love figs", "s-sample")))
    sample = event("learning_worker")
    job = json.loads(sample["Records"][0]["body"])
    job.update(run_id=answered["run_id"], session_id="s-sample")
    sample["Records"][0]["body"] = json.dumps(job)

    assert call("learning_worker", sample) == {"batchItemFailures": []}
    assert memories(deployment) == ["The user likes figs."]
