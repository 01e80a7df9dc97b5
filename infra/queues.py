"""The SQS queues of `stratus.aws.functions.QUEUES`, each with its own dead-letter queue and an alarm on it."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.monitoring import ALARM_PERIOD, Monitoring
from infra.nag import skip_checkov
from infra.naming import pascal
from stratus.aws.functions import QUEUES, QueueSpec

__all__ = ["QUEUE_ENCRYPTION", "Queues"]

QUEUE_ENCRYPTION = sqs.QueueEncryption.SQS_MANAGED
"""SSE-SQS on every queue and dead-letter queue: encrypted at rest, and no KMS grant for producers and consumers
(SNS or EventBridge never send to these queues, which is what would need a KMS key)."""

_SSE_SQS_REASON = (
    "Encrypted at rest with SQS-managed server-side encryption (SqsManagedSseEnabled: true); CKV_AWS_27 only "
    "recognizes a KMS key (KmsMasterKeyId). A KMS key would add KMS calls and grants for every producer and "
    "consumer and protect nothing more: who may send and receive is the queue's IAM grants."
)


class Queues(Construct):
    """One queue and one dead-letter queue per `QUEUES` entry, keyed by its name.

    Attributes:
        queues: The work queues.
        dead_letter_queues: Where a message lands after `max_receive_count` failed deliveries.
    """

    def __init__(self, scope: Construct, construct_id: str, *, monitoring: Monitoring) -> None:
        super().__init__(scope, construct_id)
        self.queues: dict[str, sqs.Queue] = {}
        self.dead_letter_queues: dict[str, sqs.Queue] = {}
        for name, spec in QUEUES.items():
            dead_letters = self._build_dead_letter_queue(spec)
            self.dead_letter_queues[name] = dead_letters
            self.queues[name] = self._build_queue(spec, dead_letters)
            self._build_alarm(spec, dead_letters, monitoring)

    def _build_dead_letter_queue(self, spec: QueueSpec) -> sqs.Queue:
        queue = sqs.Queue(
            self,
            f"{pascal(spec.name)}DeadLetters",
            encryption=QUEUE_ENCRYPTION,
            enforce_ssl=True,
            retention_period=Duration.days(14),  # the longest SQS keeps a message: time to investigate
        )
        skip_checkov(queue, "CKV_AWS_27", _SSE_SQS_REASON)
        return queue

    def _build_queue(self, spec: QueueSpec, dead_letters: sqs.IQueue) -> sqs.Queue:
        queue = sqs.Queue(
            self,
            pascal(spec.name),
            encryption=QUEUE_ENCRYPTION,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(spec.visibility_timeout_seconds),
            dead_letter_queue=sqs.DeadLetterQueue(queue=dead_letters, max_receive_count=spec.max_receive_count),
        )
        skip_checkov(queue, "CKV_AWS_27", _SSE_SQS_REASON)
        return queue

    def _build_alarm(self, spec: QueueSpec, dead_letters: sqs.Queue, monitoring: Monitoring) -> None:
        metric = dead_letters.metric_approximate_number_of_messages_visible(
            period=ALARM_PERIOD, statistic=cloudwatch.Stats.MAXIMUM
        )
        monitoring.alarm_when_positive(
            self,
            f"{pascal(spec.name)}DeadLettersAlarm",
            metric,
            f"Messages of the {spec.name} queue failed {spec.max_receive_count} times and wait in its DLQ",
        )
