"""The `a2a` Lambda function (`functions/a2a.py`) against moto's server: the `a2a-sdk` client drives the app the
Web Adapter serves (streamed), and its buffered handler answers an API Gateway event; the task is a run stored in
DynamoDB in the caller's session, and a request without the key is refused."""

from __future__ import annotations

import asyncio
import base64
import json
from copy import deepcopy
from typing import Any

import httpx
import pytest
from a2a.client import ClientConfig, create_client
from a2a.helpers.proto_helpers import get_artifact_text
from a2a.types import GetTaskRequest, Message, Part, Role, SendMessageRequest, StreamResponse, TaskState
from a2a.utils.constants import PROTOCOL_VERSION_1_0, VERSION_HEADER
from fastapi.testclient import TestClient

from tests.integration.test_lambda_handlers import KEY, USER, Deployment, call, event, sessions_of

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


def message(text: str, context_id: str) -> SendMessageRequest:
    sent = Message(role=Role.ROLE_USER, message_id="m1", context_id=context_id, parts=[Part(text=text)])
    return SendMessageRequest(message=sent)


def test_the_sdk_client_streams_a_task_through_the_streamed_function(deployment: Deployment) -> None:
    import functions.a2a as deployed

    async def scenario() -> tuple[list[StreamResponse], int, str]:
        async with deployed.app.router.lifespan_context(deployed.app):  # as uvicorn runs it under the Web Adapter
            return await drive(httpx.ASGITransport(app=deployed.app))

    async def drive(transport: httpx.ASGITransport) -> tuple[list[StreamResponse], int, str]:
        base = "http://lambda.local"
        async with httpx.AsyncClient(transport=transport, base_url=base) as anonymous:
            refused = (await anonymous.get("/a2a/agents/assistant/.well-known/agent-card.json")).status_code
        headers = {"Authorization": f"Bearer {KEY}"}
        async with httpx.AsyncClient(transport=transport, headers=headers, timeout=30) as http:
            config = ClientConfig(httpx_client=http, supported_protocol_bindings=["HTTP+JSON"])
            client = await create_client(f"{base}/a2a/agents/assistant", config)
            events = [e async for e in client.send_message(message("hi", "c-a2a"))]
            read = await client.get_task(GetTaskRequest(id=events[0].task.id))
        return events, refused, get_artifact_text(read.artifacts[0])

    events, refused, answer = asyncio.run(scenario())

    assert events[0].task.context_id == "c-a2a"
    assert events[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED
    assert answer == "echo: hi"
    assert refused == 401
    assert sessions_of(deployment.store, USER) == ["c-a2a"]  # the task's run, in DynamoDB, the key's user's


def gateway_event(method: str, path: str) -> dict[str, Any]:
    """An API Gateway event for `path` under `/a2a`, on the stage `prod` (as the sample events are)."""
    request = deepcopy(event("health"))
    request.update(
        resource="/a2a/{proxy+}",
        path=path,
        httpMethod=method,
        pathParameters={"proxy": path.removeprefix("/a2a/")},
        isBase64Encoded=False,
    )
    request["requestContext"].update(path=f"/prod{path}", resourcePath="/a2a/{proxy+}", httpMethod=method)
    return request


def test_the_card_points_at_the_stage_the_caller_asked_through(deployment: Deployment) -> None:
    answer = call("a2a", gateway_event("GET", "/a2a/agents/assistant/.well-known/agent-card.json"))

    assert answer["statusCode"] == 200, answer["body"]
    card = json.loads(answer["body"])
    url = "https://abc123.execute-api.us-east-1.amazonaws.com/prod/a2a/agents/assistant"
    assert [i["url"] for i in card["supportedInterfaces"]] == [url, url]


def test_under_the_web_adapter_the_card_reads_the_stage_from_the_request_context(deployment: Deployment) -> None:
    import functions.a2a as deployed

    card_path = "/a2a/agents/assistant/.well-known/agent-card.json"
    context = json.dumps({"path": f"/prod{card_path}", "stage": "prod"})  # what the adapter passes on
    with TestClient(deployed.app, base_url="https://api.example.com") as client:
        card = client.get(card_path, headers={"Authorization": f"Bearer {KEY}", "x-amzn-request-context": context})
        ready = client.get("/health")  # the adapter's readiness check, no key needed

    assert ready.status_code == 200
    assert card.status_code == 200, card.text
    assert card.json()["supportedInterfaces"][0]["url"] == "https://api.example.com/prod/a2a/agents/assistant"


def test_the_buffered_handler_answers_an_api_gateway_event(deployment: Deployment) -> None:
    request = gateway_event("POST", "/a2a/agents/assistant/message:send")
    sent = {"message": {"role": "ROLE_USER", "messageId": "m1", "contextId": "c-event", "parts": [{"text": "yo"}]}}
    request["body"] = json.dumps(sent)
    for name, value in (("Content-Type", "application/json"), (VERSION_HEADER, PROTOCOL_VERSION_1_0)):
        request["headers"][name] = value
        request["multiValueHeaders"][name] = [value]

    answer = call("a2a", request)

    assert answer["statusCode"] == 200, answer["body"]
    assert answer["headers"]["content-type"] == "application/a2a+json"
    body = base64.b64decode(answer["body"]) if answer["isBase64Encoded"] else answer["body"]  # Mangum: not text/*
    task = json.loads(body)["task"]
    assert (task["contextId"], task["status"]["state"]) == ("c-event", "TASK_STATE_COMPLETED")
    assert task["artifacts"][0]["parts"][0]["text"] == "echo: yo"
    assert sessions_of(deployment.store, USER) == ["c-event"]
