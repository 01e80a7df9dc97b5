"""moto in server mode: a real HTTP endpoint on a free loopback port that speaks DynamoDB, S3, SQS and
Secrets Manager, so boto3 runs unmodified (no in-process patching) with `AWS_ENDPOINT_URL` pointed at it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

REGION = "us-east-1"
_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
}


@dataclass(frozen=True)
class MotoServer:
    endpoint_url: str

    def client(self, service: str) -> Any:
        import boto3

        sdk: Any = boto3  # any service by name; the stubs only type literal names
        return sdk.client(service, region_name=REGION, endpoint_url=self.endpoint_url)

    def new_bucket(self) -> str:
        name = f"stratus-test-{uuid.uuid4().hex[:12]}"
        self.client("s3").create_bucket(Bucket=name)
        return name


@contextmanager
def moto_server() -> Iterator[MotoServer]:
    """Start moto's server on a free port, point boto3 at it through the environment, stop it after."""
    from stratus.aws.local import LocalAws

    server = LocalAws().start()
    endpoint = server.endpoint_url
    saved = {k: os.environ.get(k) for k in (*_FAKE_CREDENTIALS, "AWS_ENDPOINT_URL")}
    os.environ.update(_FAKE_CREDENTIALS)
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    try:
        yield MotoServer(endpoint_url=endpoint)
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
