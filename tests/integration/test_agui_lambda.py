"""The `agui` Lambda function (`functions/agui.py`) against moto's server: through the app the Web Adapter serves
(streamed) and through its buffered handler with an API Gateway event, an agent's AG-UI run lands in DynamoDB
in the caller's session, and a request without the key is refused."""

from __future__ import annotations

import json
from copy import deepcopy
from typing import Any

import pytest
from ag_ui.core import Event, EventType
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from tests.integration.test_lambda_handlers import KEY, USER, Deployment, call, event, sessions_of

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

EVENTS: TypeAdapter[Any] = TypeAdapter(Event)


def run_input(text: str, thread: str) -> dict[str, Any]:
    return {"threadId": thread, "runId": "r1", "messages": [{"id": "m1", "role": "user", "content": text}]}


def agui_events(text: str) -> list[Any]:
    return [EVENTS.validate_json(line[len("data: ") :]) for line in text.splitlines() if line.startswith("data: ")]


def test_an_agent_runs_over_ag_ui_through_the_streamed_function(deployment: Deployment) -> None:
    import functions.agui as deployed

    with TestClient(deployed.app) as client:
        answer = client.post(
            "/agui/agents/assistant", json=run_input("hi", "t-agui"), headers={"Authorization": f"Bearer {KEY}"}
        )
        refused = client.post("/agui/agents/assistant", json=run_input("hi", "t-agui-2"))
        assert client.get("/health").status_code == 200  # the Web Adapter's readiness check, no key needed

    assert answer.status_code == 200
    events = agui_events(answer.text)
    assert (events[0].type, events[-1].type) == (EventType.RUN_STARTED, EventType.RUN_FINISHED)
    assert "".join(e.delta for e in events if e.type is EventType.TEXT_MESSAGE_CONTENT) == "echo: hi"
    assert refused.status_code == 401
    assert sessions_of(deployment.store, USER) == ["t-agui"]


def test_the_buffered_handler_answers_an_api_gateway_event(deployment: Deployment) -> None:
    request = deepcopy(event("health"))
    request.update(
        resource="/agui/{proxy+}",
        path="/agui/agents/assistant",
        httpMethod="POST",
        pathParameters={"proxy": "agents/assistant"},
        body=json.dumps(run_input("from an event", "t-event")),
        isBase64Encoded=False,
    )
    request["headers"]["Content-Type"] = "application/json"
    request["multiValueHeaders"]["Content-Type"] = ["application/json"]

    answer = call("agui", request)

    assert answer["statusCode"] == 200
    assert answer["headers"]["content-type"].startswith("text/event-stream")
    events = agui_events(answer["body"])
    assert "".join(e.delta for e in events if e.type is EventType.TEXT_MESSAGE_CONTENT) == "echo: from an event"
    assert sessions_of(deployment.store, USER) == ["t-event"]
