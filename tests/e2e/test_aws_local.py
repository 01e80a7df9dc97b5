"""`make run-aws-local`: the demo served with its data in DynamoDB and S3 (moto, in the server's process), so
the AWS storage path can be tried on a laptop."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest

from tests.e2e.conftest import Server, start_server, stop_server

pytestmark = pytest.mark.e2e


@pytest.fixture
def aws_local_server(tmp_path: Path) -> Iterator[Server]:
    server = start_server(tmp_path, app="tests.fakes.apps:echo_app", args=["--aws-local"])
    yield server
    stop_server(server)


def test_sessions_land_in_the_local_dynamodb_table(aws_local_server: Server) -> None:
    response = httpx.post(
        f"{aws_local_server.url}/agents/echo/runs",
        json={"message": "hello", "stream": False, "session_id": "s1", "user_id": "u1"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.json()["content"] == "echo: hello"
    listed = httpx.get(f"{aws_local_server.url}/sessions", params={"user_id": "u1"}, timeout=10).json()
    assert [s["session_id"] for s in listed["data"]] == ["s1"]

    # The items are in DynamoDB, at the endpoint the server announced.
    announced = re.search(r"AWS services \(moto\) at (http://\S+):", aws_local_server.output())
    assert announced, aws_local_server.output()
    sdk: object = boto3
    dynamodb = sdk.client(  # type: ignore[attr-defined]
        "dynamodb",
        endpoint_url=announced.group(1),
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    items = dynamodb.query(
        TableName="stratus-local",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "SESSION#s1"}},
    )["Items"]
    assert sorted(str(item["sk"].get("S"))[:4] for item in items) == ["META", "RUN#"]
