"""The `mcp` Lambda function (`functions/mcp.py`: Mangum, no lifespan) driven by the `mcp` SDK's own client, its
HTTP requests turned into API Gateway's events and its answers back, against moto's server: the tools list, an
agent's run lands in DynamoDB in the caller's session with its progress in the (buffered) stream, each key is
its own user, and a request without a key never reaches a tool."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from copy import deepcopy
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import TextContent

from stratus.api.auth import hash_key
from tests.aws import MotoServer
from tests.e2e.test_mcp_server import TOOLS
from tests.integration.test_lambda_handlers import KEY, USER, Deployment, call, event, sessions_of

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

OTHER_KEY = "sk-stratus-other-key"
OTHER_USER = "other-user"
URL = "https://abc123.execute-api.us-east-1.amazonaws.com/mcp"


def mcp_event(method: str, headers: dict[str, str], body: str) -> dict[str, Any]:
    """API Gateway's REST API event for a request to `/mcp`."""
    request = deepcopy(event("health"))
    request.update(
        resource="/mcp",
        path="/mcp",
        httpMethod=method,
        headers=headers,
        multiValueHeaders={k: [v] for k, v in headers.items()},
        body=body,
        isBase64Encoded=False,
    )
    request["requestContext"].update(resourcePath="/mcp", httpMethod=method, path="/prod/mcp")
    return request


class ApiGateway(httpx2.AsyncBaseTransport):
    """What API Gateway does for the client: each request becomes a REST API event for the `mcp` function, and
    its answer the HTTP response. The handlers keep one event loop per thread, so they run on a thread of their
    own, one invocation at a time, as one Lambda instance would."""

    def __init__(self, lambda_thread: ThreadPoolExecutor) -> None:
        self._thread = lambda_thread
        self.invocations = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        request_event = mcp_event(request.method, dict(request.headers.items()), (await request.aread()).decode())
        self.invocations += 1
        answer = await asyncio.get_running_loop().run_in_executor(self._thread, call, "mcp", request_event)
        body = answer.get("body") or ""
        content = base64.b64decode(body) if answer.get("isBase64Encoded") else body.encode()
        answered = {
            **answer.get("headers", {}),
            **{k: v[-1] for k, v in (answer.get("multiValueHeaders") or {}).items()},
        }
        return httpx2.Response(answer["statusCode"], headers=answered, content=content)


@pytest.fixture
def lambda_thread() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lambda") as pool:
        yield pool
        pool.submit(_close_the_threads_loop).result()


def _close_the_threads_loop() -> None:
    """The instance goes away: the loop its handlers kept on this thread is closed."""
    try:
        loop = asyncio.get_event_loop()
    except RuntimeError:
        return
    pending = asyncio.all_tasks(loop)  # e.g. sse-starlette's shutdown watcher, one per loop
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.close()
    asyncio.set_event_loop(None)


@pytest.fixture
def two_keys(deployment: Deployment, moto: MotoServer) -> Deployment:
    """The deployment's keys secret with a second key, another user's."""
    import os

    document = {
        "keys": [{"sha256": hash_key(KEY), "user_id": USER}, {"sha256": hash_key(OTHER_KEY), "user_id": OTHER_USER}]
    }
    moto.client("secretsmanager").put_secret_value(
        SecretId=os.environ["STRATUS_API_KEYS_SECRET"], SecretString=json.dumps(document)
    )
    return deployment


@asynccontextmanager
async def client(gateway: ApiGateway, key: str) -> AsyncIterator[Client]:
    """The SDK's client, through the gateway, sending `key` with every request."""
    async with (
        httpx2.AsyncClient(transport=gateway, headers={"Authorization": f"Bearer {key}"}, timeout=60) as http,
        Client(streamable_http_client(URL, http_client=http)) as mcp,
    ):
        yield mcp


def test_the_mcp_function_runs_an_agent_for_its_caller(two_keys: Deployment, lambda_thread: ThreadPoolExecutor) -> None:
    gateway = ApiGateway(lambda_thread)
    run = asyncio.run(run_as_the_caller(gateway))
    assert (run["status"], run["content"], run["session_id"]) == ("COMPLETED", "echo: hello", "s-mcp")
    assert gateway.invocations >= 3  # no MCP session: every request is an invocation of its own
    asyncio.run(look_as_another_user(gateway))
    # In DynamoDB, in the verified caller's session (not the user the call claimed); nothing for the other user.
    assert sessions_of(two_keys.store, USER) == ["s-mcp"]
    assert sessions_of(two_keys.store, OTHER_USER) == []


async def run_as_the_caller(gateway: ApiGateway) -> dict[str, Any]:
    async with client(gateway, KEY) as mcp:
        assert {t.name for t in (await mcp.list_tools()).tools} == TOOLS
        notes: list[str] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            notes.append(message or "")

        result = await mcp.call_tool(
            "run_agent",
            {"agent_id": "assistant", "message": "hello", "session_id": "s-mcp", "user_id": "someone-else"},
            progress_callback=on_progress,
        )
        assert not result.is_error, result.content
        block = result.content[0]
        assert isinstance(block, TextContent)
        assert block.text == "echo: hello"
        # Buffered by API Gateway, the notifications still arrive, ahead of the result.
        assert (notes[0], notes[-1]) == ("RunStarted: Assistant", "RunCompleted: Assistant")

        listed = await mcp.call_tool("get_sessions", {})
        assert listed.structured_content is not None
        assert [(s["session_id"], s["user_id"]) for s in listed.structured_content["data"]] == [("s-mcp", USER)]
        assert result.structured_content is not None
        return result.structured_content


async def look_as_another_user(gateway: ApiGateway) -> None:
    async with client(gateway, OTHER_KEY) as other:
        theirs = await other.call_tool("get_sessions", {})
        assert theirs.structured_content is not None
        assert theirs.structured_content["data"] == []
        refused = await other.call_tool("get_session_runs", {"session_id": "s-mcp"})
        assert refused.is_error
        assert "session 's-mcp' not found" in str(refused.content)
        refused = await other.call_tool("run_agent", {"agent_id": "assistant", "message": "hi", "session_id": "s-mcp"})
        assert refused.is_error
        assert "session 's-mcp' not found" in str(refused.content)


def test_the_mcp_function_refuses_a_request_without_a_key(deployment: Deployment) -> None:
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    answer = call("mcp", mcp_event("POST", headers, json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})))
    assert answer["statusCode"] == 401
    assert json.loads(answer["body"])["detail"].startswith("missing API key")


def test_the_sample_event_lists_the_tools(deployment: Deployment, lambda_thread: ThreadPoolExecutor) -> None:
    answer = lambda_thread.submit(call, "mcp", event("mcp_tools_list")).result()
    assert answer["statusCode"] == 200
    assert answer["headers"]["content-type"].startswith("text/event-stream")
    messages = [json.loads(line[len("data: ") :]) for line in answer["body"].splitlines() if line.startswith("data: ")]
    assert {tool["name"] for tool in messages[-1]["result"]["tools"]} == TOOLS
