"""SQS and S3 behind the queue contracts: background runs go to the run queue; uploads wait in S3 while their
ingestion job waits in the knowledge queue; finished runs wait in the learning queue to be learned from."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, cast

from stratus.background import BackgroundRun, QueueError, RunQueue
from stratus.knowledge.ingestion import BlobStore, IngestionError, IngestionJob, IngestionQueue
from stratus.learning.queue import LearningJob, LearningQueue

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

__all__ = ["S3BlobStore", "SqsIngestionQueue", "SqsLearningQueue", "SqsRunQueue"]


C = TypeVar("C")


class _Boto3Client(Generic[C]):
    """A boto3 client of `_service`: the one handed in, or one built on first use (boto3 honours
    `AWS_ENDPOINT_URL`), so importing this module loads no SDK."""

    _service: ClassVar[str]

    def __init__(self, client: C | None) -> None:
        self._client = client

    @property
    def client(self) -> C:
        if self._client is None:
            import boto3

            sdk: Any = boto3
            self._client = cast(C, sdk.client(self._service))
        return self._client

    def forget_clients(self) -> None:
        """Drop the client: the next call builds a new one (a Lambda SnapStart restore, `stratus.aws.snapstart`)."""
        self._client = None


class _SqsSender(_Boto3Client["SQSClient"]):
    """One SQS queue to send to. `client` is a boto3 SQS client (one is built when None)."""

    _service = "sqs"

    def __init__(self, url: str, *, client: SQSClient | None = None) -> None:
        super().__init__(client)
        self.url = url

    async def _send(self, body: str, run_id: str | None = None) -> None:
        attributes: dict[str, Any] = {}
        if run_id is not None:
            attributes["MessageAttributes"] = {"run_id": {"DataType": "String", "StringValue": run_id}}
        await asyncio.to_thread(self.client.send_message, QueueUrl=self.url, MessageBody=body, **attributes)


class SqsRunQueue(_SqsSender, RunQueue):
    """Publishes background runs to an SQS queue; the run worker consumes them."""

    async def publish(self, job: BackgroundRun) -> None:
        try:
            await self._send(job.to_json(), job.run_id)
        except Exception as exc:
            raise QueueError(f"SQS {self.url}: {exc}") from exc


class SqsIngestionQueue(_SqsSender, IngestionQueue):
    """Publishes ingestion jobs to an SQS queue; the knowledge worker consumes them."""

    async def publish(self, job: IngestionJob) -> None:
        try:
            await self._send(job.to_json())
        except Exception as exc:
            raise IngestionError(f"SQS {self.url}: {exc}") from exc


class S3BlobStore(_Boto3Client["S3Client"], BlobStore):
    """Uploads waiting for the knowledge worker, in an S3 bucket (the deployment's run-body bucket)."""

    _service = "s3"

    def __init__(self, bucket: str, *, client: S3Client | None = None) -> None:
        super().__init__(client)
        self.bucket = bucket

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self.client.put_object, Bucket=self.bucket, Key=key, Body=data)

    async def get(self, key: str) -> bytes:
        response = await asyncio.to_thread(self.client.get_object, Bucket=self.bucket, Key=key)
        return await asyncio.to_thread(response["Body"].read)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=key)


class SqsLearningQueue(_SqsSender, LearningQueue):
    """Publishes finished runs to the learning queue; the learning worker function learns from them."""

    async def publish(self, job: LearningJob) -> None:
        await self._send(job.to_json(), job.run_id)
        self.published += 1

    def record_failure(self) -> None:
        from aws_lambda_powertools.metrics import MetricUnit

        from stratus.aws.observability import metrics

        super().record_failure()
        metrics.add_metric(name="LearningEnqueueFailures", unit=MetricUnit.Count, value=1)
