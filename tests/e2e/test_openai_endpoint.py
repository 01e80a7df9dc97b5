"""With `OPENAI_API_KEY` and `OPENAI_BASE_URL` set, the same demo app talks to that endpoint instead of the
offline model (here a local server speaking the Chat Completions wire format)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Server, start_server, stop_server
from tests.fakes.openai_server import FakeOpenAIServer, FakeToolCall, TextReply, ToolCallsReply

pytestmark = pytest.mark.e2e


@pytest.fixture
def endpoint() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def openai_demo(tmp_path: Path, endpoint: FakeOpenAIServer) -> Iterator[Server]:
    server = start_server(
        tmp_path,
        env={"OPENAI_API_KEY": "sk-test-e2e", "OPENAI_BASE_URL": endpoint.base_url, "OPENAI_MODEL": "gpt-4o"},
    )
    yield server
    stop_server(server)


def test_the_demo_uses_the_configured_openai_endpoint(openai_demo: Server, endpoint: FakeOpenAIServer) -> None:
    response = httpx.post(
        f"{openai_demo.url}/agents/assistant/runs",
        files={"message": (None, "hi"), "stream": (None, "false")},
        timeout=30,
    )

    assert response.status_code == 200, response.text
    run = response.json()
    assert run["content"] == "ECHO: hi"
    assert (run["model_provider"], run["model"]) == ("OpenAI", "gpt-4o")
    sent = endpoint.last_request
    assert sent.authorization == "Bearer sk-test-e2e"
    assert sent.body["model"] == "gpt-4o"
    assert {t["function"]["name"] for t in sent.body["tools"]} == {
        "current_time",
        "calculate",
        "add_note",
        "list_notes",
    }  # no search tool: the handbook's passages come with the message (add_knowledge_to_context)


def test_a_streamed_tool_run_through_the_endpoint(openai_demo: Server, endpoint: FakeOpenAIServer) -> None:
    endpoint.enqueue(
        ToolCallsReply([FakeToolCall("calculate", {"expression": "6 * 7"}, id="call_calc")]),
        TextReply("6 times 7 is 42."),
    )

    with httpx.stream(
        "POST",
        f"{openai_demo.url}/agents/assistant/runs",
        files={"message": (None, "What is 6 times 7?"), "stream": (None, "true")},
        timeout=30,
    ) as response:
        events = [json.loads(line[len("data: ") :]) for line in response.iter_lines() if line.startswith("data: ")]

    names = [e["event"] for e in events]
    assert names[0] == "RunStarted"
    assert names[-1] == "RunCompleted"
    completed = next(e for e in events if e["event"] == "ToolCallCompleted")
    assert completed["tool"]["result"] == "42"
    assert events[-1]["content"] == "6 times 7 is 42."
    tool_message = endpoint.last_request.body["messages"][-1]
    assert tool_message == {"role": "tool", "tool_call_id": "call_calc", "content": "42"}


def test_with_a_key_the_demo_embeds_uploads_with_openai(openai_demo: Server, endpoint: FakeOpenAIServer) -> None:
    accepted = httpx.post(
        f"{openai_demo.url}/knowledge/content",
        data={"text_content": "The library closes at six on Fridays.", "name": "hours"},
        timeout=30,
    )
    assert accepted.status_code == 202, accepted.text
    content_id = accepted.json()["id"]
    status = "processing"
    for _ in range(200):
        status = httpx.get(f"{openai_demo.url}/knowledge/content/{content_id}/status", timeout=10).json()["status"]
        if status != "processing":
            break
        time.sleep(0.05)
    assert status == "completed", openai_demo.output()

    embedded = [r for r in endpoint.requests if r.path.endswith("/embeddings")]
    assert embedded  # the handbook's pages as the server started, then the upload
    assert {r.body["model"] for r in embedded} == {"text-embedding-3-small"}
    assert ["The library closes at six on Fridays."] in [r.body["input"] for r in embedded]
    # the demo's knowledge holds its handbook too: a search by the upload's own words, by meaning, finds it first
    found = httpx.post(
        f"{openai_demo.url}/knowledge/search",
        json={"query": "The library closes at six on Fridays.", "search_type": "vector"},
        timeout=30,
    )
    assert found.json()["data"][0]["content_id"] == content_id
