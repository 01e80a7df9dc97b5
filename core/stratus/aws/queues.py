"""SQS behind the queue contracts: background runs go to the run queue."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, cast

from stratus.background import BackgroundRun, QueueError, RunQueue

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

__all__ = ["SqsRunQueue"]


class SqsRunQueue(RunQueue):
    """Publishes background runs to an SQS queue; the run worker consumes them.

    `client` is a boto3 SQS client (one is built when None; boto3 honours `AWS_ENDPOINT_URL`).
    """

    def __init__(self, url: str, *, client: SQSClient | None = None) -> None:
        self.url = url
        self._client = client

    @property
    def client(self) -> SQSClient:
        if self._client is None:
            import boto3

            sdk: Any = boto3
            self._client = cast("SQSClient", sdk.client("sqs"))
        return self._client

    async def publish(self, job: BackgroundRun) -> None:
        try:
            await asyncio.to_thread(
                self.client.send_message,
                QueueUrl=self.url,
                MessageBody=job.to_json(),
                MessageAttributes={"run_id": {"DataType": "String", "StringValue": job.run_id}},
            )
        except Exception as exc:
            raise QueueError(f"SQS {self.url}: {exc}") from exc
