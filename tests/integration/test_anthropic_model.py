"""`AnthropicChat` through the real `anthropic` SDK, over real HTTP, against a fake Messages API server.

Nothing is mocked between the provider and the socket: each test scripts the fake server's replies, drives
the provider (or a whole agent run), then checks both what the caller got back and what crossed the wire.
"""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from stratus import Agent, Tool, tool
from stratus.exceptions import ConfigError, ModelError, ModelTimeoutError
from stratus.messages import Message, ToolCall, Usage
from stratus.models import infer_model
from stratus.models.anthropic import AnthropicChat
from stratus.models.base import ModelDelta, ModelRequest
from stratus.run import RunCompleted, RunContent, RunError, RunStatus
from stratus.secrets import clear_resolvers, register_resolver
from tests.fakes.anthropic_server import (
    DisconnectReply,
    ErrorReply,
    FakeAnthropicServer,
    FakeToolUse,
    FakeUsage,
    RawEventsReply,
    TextReply,
    ToolUseReply,
)
from tests.fakes.tools import add

ROOT = Path(__file__).resolve().parents[2]
MODEL_ID = "claude-haiku-4-5"

MakeModel = Callable[..., AnthropicChat]


@pytest.fixture(autouse=True)
def _no_anthropic_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Nothing from this machine's environment or home directory may reach the SDK's credential chain."""
    for name in (
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_PROFILE",
        "ANTHROPIC_CUSTOM_HEADERS",
        "ANTHROPIC_IDENTITY_TOKEN",
        "ANTHROPIC_IDENTITY_TOKEN_FILE",
        "ANTHROPIC_FEDERATION_RULE_ID",
        "ANTHROPIC_ORGANIZATION_ID",
        "ANTHROPIC_CONFIG_DIR",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # the SDK looks for profiles under ~/.config/anthropic
    yield
    clear_resolvers()


@pytest.fixture
def server() -> Iterator[FakeAnthropicServer]:
    """A running fake Anthropic server; its script starts empty (unscripted requests are echoed)."""
    with FakeAnthropicServer() as running:
        yield running


@pytest.fixture
async def make_model(server: FakeAnthropicServer) -> AsyncIterator[MakeModel]:
    """Builds `AnthropicChat`s pointed at the fake server; closes them after the test."""
    made: list[AnthropicChat] = []

    def make(**overrides: Any) -> AnthropicChat:
        options: dict[str, Any] = {"api_key": "test", "base_url": server.url}
        options.update(overrides)
        model = AnthropicChat(id=MODEL_ID, **options)
        made.append(model)
        return model

    yield make
    for model in made:
        await model.aclose()


@pytest.fixture
def model(make_model: MakeModel) -> AnthropicChat:
    return make_model()


ASK = [Message(role="user", content="What is 2 + 3?")]


class CityWeather(BaseModel):
    city: str
    celsius: float


async def collect(
    model: AnthropicChat,
    messages: list[Message],
    params: ModelRequest | None = None,
    *,
    into: list[ModelDelta] | None = None,
) -> list[ModelDelta]:
    """Every delta of one streamed answer (appended to `into` as they arrive, when given)."""
    deltas = [] if into is None else into
    async for delta in model.stream(messages, params or ModelRequest()):
        deltas.append(delta)
    return deltas


# --- plain answers ---------------------------------------------------------------------------------------


async def test_a_plain_answer_maps_text_usage_and_stop_reason(
    model: AnthropicChat, server: FakeAnthropicServer
) -> None:
    # Given a server that answers with text and reports cache reads and writes apart from the other input
    usage = FakeUsage(input_tokens=10, output_tokens=7, cache_read_input_tokens=30, cache_creation_input_tokens=5)
    server.enqueue(TextReply("2 + 3 = 5.", usage=usage))

    # When the provider sends one request
    response = await model.request(ASK, ModelRequest())

    # Then the text comes back, input counts every input token, and stop_reason reads as finish_reason
    assert response.content == "2 + 3 = 5."
    assert response.tool_calls == []
    assert response.finish_reason == "stop"
    assert response.usage == Usage(
        input_tokens=45, output_tokens=7, total_tokens=52, cache_read_tokens=30, cache_write_tokens=5
    )
    assert response.provider_data is not None
    assert response.provider_data["id"].startswith("msg_fake")
    assert response.provider_data["stop_reason"] == "end_turn"
    # And the request was a Messages API request with the key, the API version and the required max_tokens
    sent = server.last_request
    assert sent.path == "/v1/messages"
    assert sent.body["model"] == MODEL_ID
    assert sent.body["max_tokens"] == 4096
    assert sent.messages == [{"role": "user", "content": "What is 2 + 3?"}]
    assert not sent.stream
    assert sent.api_key == "test"
    assert sent.headers["anthropic-version"]
    assert "tools" not in sent.body
    assert "system" not in sent.body


async def test_the_conversation_goes_out_as_anthropic_content_blocks(
    model: AnthropicChat, server: FakeAnthropicServer
) -> None:
    # Given a conversation with a system message and a turn that called two tools (one of which failed)
    calls = [
        ToolCall(id="toolu_add", name="add", arguments='{"a": 2, "b": 3}'),
        ToolCall(id="toolu_weather", name="get_weather", arguments='{"city": "Oslo"}'),
    ]
    conversation = [
        Message(role="system", content="You add numbers."),
        Message(role="user", content="What is 2 + 3, and how is Oslo?"),
        Message(role="assistant", content="Let me check.", tool_calls=calls),
        Message(role="tool", content="5", tool_call_id="toolu_add", tool_name="add"),
        Message(role="tool", content="no such city", tool_call_id="toolu_weather", tool_call_error=True),
    ]
    server.enqueue(TextReply("5, and I could not find Oslo."))

    # When it is sent with the `add` tool
    await model.request(conversation, ModelRequest(tools=[add.definition()]))

    # Then the system text went apart, the calls as tool_use blocks, and both results in ONE user message
    sent = server.last_request
    assert sent.body["system"] == "You add numbers."
    assert sent.messages == [
        {"role": "user", "content": "What is 2 + 3, and how is Oslo?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_add", "name": "add", "input": {"a": 2, "b": 3}},
                {"type": "tool_use", "id": "toolu_weather", "name": "get_weather", "input": {"city": "Oslo"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_add", "content": "5"},
                {"type": "tool_result", "tool_use_id": "toolu_weather", "content": "no such city", "is_error": True},
            ],
        },
    ]
    # And the tool went out with its JSON schema as input_schema
    assert sent.tools == [
        {
            "name": "add",
            "description": "Add two numbers.",
            "input_schema": {
                "type": "object",
                "properties": {
                    "a": {"type": "integer", "description": "The first number."},
                    "b": {"type": "integer", "description": "The second number."},
                },
                "required": ["a", "b"],
            },
        }
    ]
    assert "tool_choice" not in sent.body


async def test_max_tokens_and_extra_body_reach_the_server(make_model: MakeModel, server: FakeAnthropicServer) -> None:
    model = make_model(max_tokens=64, extra_body={"temperature": 0.2, "stop_sequences": ["END"]})

    await model.request(ASK, ModelRequest())

    sent = server.last_request.body
    assert sent["max_tokens"] == 64
    assert sent["temperature"] == 0.2
    assert sent["stop_sequences"] == ["END"]


async def test_an_answer_with_two_tool_uses_returns_both_calls(
    model: AnthropicChat, server: FakeAnthropicServer
) -> None:
    # Given a server that calls two tools in one turn
    server.enqueue(
        ToolUseReply(
            [
                FakeToolUse("add", {"a": 2, "b": 3}, id="toolu_1"),
                FakeToolUse("get_weather", {"city": "Oslo"}, id="toolu_2"),
            ]
        )
    )

    # When the provider asks
    response = await model.request(ASK, ModelRequest(tools=[add.definition()]))

    # Then both calls come back, with their ids, names and JSON input
    assert response.content is None
    assert response.finish_reason == "tool_calls"
    assert [(c.id, c.name, c.parsed_arguments()) for c in response.tool_calls] == [
        ("toolu_1", "add", {"a": 2, "b": 3}),
        ("toolu_2", "get_weather", {"city": "Oslo"}),
    ]


@pytest.mark.parametrize(("stop_reason", "finish_reason"), [("max_tokens", "length"), ("refusal", "content_filter")])
async def test_stop_reasons_map_to_finish_reasons(
    model: AnthropicChat, server: FakeAnthropicServer, stop_reason: str, finish_reason: str
) -> None:
    server.enqueue(TextReply("It was a dark and", stop_reason=stop_reason))

    response = await model.request(ASK, ModelRequest())

    assert response.finish_reason == finish_reason
    assert response.provider_data is not None
    assert response.provider_data["stop_reason"] == stop_reason


async def test_an_empty_answer_is_a_model_error(model: AnthropicChat, server: FakeAnthropicServer) -> None:
    server.enqueue(TextReply(""), TextReply(""))

    with pytest.raises(ModelError, match="empty response"):
        await model.request(ASK, ModelRequest())
    with pytest.raises(ModelError, match="empty stream"):
        await collect(model, ASK)


# --- streaming -------------------------------------------------------------------------------------------


async def test_a_streamed_answer_yields_each_delta_as_the_server_sends_it(
    model: AnthropicChat, server: FakeAnthropicServer
) -> None:
    # Given a server that streams three text deltas, 0.15 s apart
    usage = FakeUsage(input_tokens=12, output_tokens=3, cache_read_input_tokens=4)
    server.enqueue(
        TextReply("Hello there, world!", chunks=["Hello", " there,", " world!"], usage=usage, event_delay=0.15)
    )

    # When the provider streams the answer, noting what the server had sent when each delta arrived
    deltas: list[ModelDelta] = []
    arrived: list[float] = []
    sent_by_then: list[list[str]] = []
    async for delta in model.stream(ASK, ModelRequest()):
        deltas.append(delta)
        if delta.content:
            arrived.append(time.monotonic())
            sent_by_then.append([e.event for e in server.last_request.events_sent()])

    # Then each piece arrived in order, the first one while the server still had the rest to send
    assert [d.content for d in deltas if d.content] == ["Hello", " there,", " world!"]
    assert "message_stop" not in sent_by_then[0]
    assert sent_by_then[0].count("content_block_delta") == 1
    events = server.last_request.events_sent()
    last_text = max(e.sent_at for e in events if e.event == "content_block_delta")
    assert arrived[0] < last_text
    assert arrived[-1] - arrived[0] >= 0.25  # two waits of 0.15 s between the three pieces
    # And the stream was the Messages API's sequence of events
    assert [e.event for e in events] == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    # And the final delta carries usage (input from message_start, output from message_delta) and the finish
    final = deltas[-1]
    assert final.usage == Usage(input_tokens=16, output_tokens=3, total_tokens=19, cache_read_tokens=4)
    assert final.finish_reason == "stop"
    assert final.tool_calls is None
    assert server.last_request.stream


async def test_streamed_tool_uses_are_assembled_from_input_json_deltas(
    model: AnthropicChat, server: FakeAnthropicServer
) -> None:
    # Given a server that streams some text, then two tool_use blocks whose input arrives in four fragments
    weather = {"city": "Oslo", "unit": "celsius", "days": [1, 2, 3]}
    server.enqueue(
        ToolUseReply(
            [FakeToolUse("add", {"a": 2, "b": 3}, id="toolu_add"), FakeToolUse("get_weather", weather, id="toolu_w")],
            content="Let me look.",
            json_fragments=4,
            usage=FakeUsage(50, 20),
        )
    )

    # When the provider streams the answer
    deltas = await collect(model, ASK, ModelRequest(tools=[add.definition()]))

    # Then the text streamed, and the last delta holds both complete calls, in order
    fragments = [
        e.data["delta"]["partial_json"]
        for e in server.last_request.events_sent()
        if e.event == "content_block_delta" and e.data["index"] == 2
    ]
    assert len(fragments) == 4
    assert "".join(d.content or "" for d in deltas) == "Let me look."
    final = deltas[-1]
    assert final.tool_calls == [
        ToolCall(id="toolu_add", name="add", arguments=json.dumps({"a": 2, "b": 3})),
        ToolCall(id="toolu_w", name="get_weather", arguments=json.dumps(weather)),
    ]
    assert final.tool_calls is not None
    assert final.tool_calls[1].parsed_arguments() == weather
    assert final.finish_reason == "tool_calls"
    assert final.usage == Usage(input_tokens=50, output_tokens=20, total_tokens=70)


async def test_an_error_event_inside_a_stream_is_a_retryable_model_error(
    model: AnthropicChat, server: FakeAnthropicServer
) -> None:
    # Given a stream that starts, sends one delta, then an `overloaded_error` event (as Anthropic does)
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": MODEL_ID,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 5, "output_tokens": 1},
        },
    }
    server.enqueue(
        RawEventsReply(
            [
                ("message_start", start),
                (
                    "content_block_start",
                    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                ),
                (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}},
                ),
                ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
            ]
        )
    )

    # When the provider streams, then the caller gets the first delta and a retryable 529 ModelError
    received: list[ModelDelta] = []
    with pytest.raises(ModelError) as caught:
        await collect(model, ASK, into=received)
    assert [d.content for d in received] == ["Hel"]
    assert caught.value.retryable is True
    assert caught.value.status_code == 529
    assert "overloaded_error" in str(caught.value)
    assert MODEL_ID in str(caught.value)


async def test_a_stream_cut_off_midway_is_a_model_error(model: AnthropicChat, server: FakeAnthropicServer) -> None:
    # Given a server that drops the connection after message_start, the text block's start, a ping and one delta
    server.enqueue(TextReply("one two three four", drop_after=3))

    received: list[ModelDelta] = []
    with pytest.raises(ModelError) as caught:
        await collect(model, ASK, into=received)

    assert [d.content for d in received] == ["one "]
    assert caught.value.retryable is True


async def test_a_stream_that_ends_before_message_stop_is_a_model_error(
    model: AnthropicChat, server: FakeAnthropicServer
) -> None:
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": MODEL_ID,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 5, "output_tokens": 1},
        },
    }
    text = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Half an ans"}}
    opening = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    server.enqueue(
        RawEventsReply([("message_start", start), ("content_block_start", opening), ("content_block_delta", text)])
    )

    with pytest.raises(ModelError, match="message_stop"):
        await collect(model, ASK)


# --- structured output -----------------------------------------------------------------------------------


async def test_structured_output_forces_an_answer_tool_and_returns_its_input_as_json(
    model: AnthropicChat, server: FakeAnthropicServer
) -> None:
    # Given a request for an answer following a schema, and a model that answers through the forced tool
    schema = CityWeather.model_json_schema()
    server.enqueue(ToolUseReply([FakeToolUse("City_weather", {"city": "Oslo", "celsius": 12.5})]))

    # When it is sent
    response = await model.request(ASK, ModelRequest(output_schema=schema, output_name="City weather"))

    # Then the schema went out as a tool the model had to call, and its input came back as the JSON answer
    sent = server.last_request.body
    assert sent["tools"] == [
        {"name": "City_weather", "input_schema": schema, "description": sent["tools"][0]["description"]}
    ]
    assert sent["tool_choice"] == {"type": "tool", "name": "City_weather"}
    assert json.loads(response.content or "") == {"city": "Oslo", "celsius": 12.5}
    assert response.tool_calls == []
    assert response.finish_reason == "stop"


async def test_a_streamed_structured_answer_arrives_as_json_text(
    model: AnthropicChat, server: FakeAnthropicServer
) -> None:
    schema = CityWeather.model_json_schema()
    server.enqueue(ToolUseReply([FakeToolUse("CityWeather", {"city": "Oslo", "celsius": 12.5})], json_fragments=3))

    deltas = await collect(model, ASK, ModelRequest(output_schema=schema, output_name="CityWeather"))

    assert len([d for d in deltas if d.content]) == 3
    assert json.loads("".join(d.content or "" for d in deltas)) == {"city": "Oslo", "celsius": 12.5}
    assert deltas[-1].tool_calls is None
    assert deltas[-1].finish_reason == "stop"


async def test_structured_output_beside_tools_lets_the_model_call_them_first(
    model: AnthropicChat, server: FakeAnthropicServer
) -> None:
    # Given a request with a tool and an output schema whose name clashes with that tool's
    server.enqueue(ToolUseReply([FakeToolUse("add", {"a": 1, "b": 2}, id="toolu_1")]))

    response = await model.request(
        ASK, ModelRequest(tools=[add.definition()], output_schema=CityWeather.model_json_schema(), output_name="add")
    )

    # Then the model must call a tool, any of them, and the answer tool does not shadow the agent's
    sent = server.last_request.body
    assert sent["tool_choice"] == {"type": "any"}
    assert [t["name"] for t in sent["tools"]] == ["add", "add_answer"]
    assert [c.name for c in response.tool_calls] == ["add"]


async def test_an_agent_with_an_output_schema_gets_a_validated_object(
    model: AnthropicChat, server: FakeAnthropicServer
) -> None:
    agent = Agent(model=model, output_schema=CityWeather)
    server.enqueue(ToolUseReply([FakeToolUse("CityWeather", {"city": "Oslo", "celsius": 12.5})]))

    run = await agent.arun("Weather in Oslo?")

    assert run.status is RunStatus.COMPLETED, run.error
    assert run.content == CityWeather(city="Oslo", celsius=12.5)
    assert server.last_request.body["tool_choice"] == {"type": "tool", "name": "CityWeather"}
    # The schema is enforced by the API, so it is not also spelled out in the system prompt
    assert "JSON schema" not in server.last_request.body.get("system", "")


# --- whole agent runs ------------------------------------------------------------------------------------


def _counting_tools(calls: list[str]) -> list[Tool]:
    @tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        calls.append(f"add({a}, {b})")
        return a + b

    @tool
    def multiply(a: int, b: int) -> int:
        """Multiply two numbers."""
        calls.append(f"multiply({a}, {b})")
        return a * b

    return [add, multiply]


@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "streamed"])
async def test_an_agent_run_sends_both_tool_results_back_in_one_user_message(
    model: AnthropicChat, server: FakeAnthropicServer, stream: bool
) -> None:
    # Given an agent with two tools, and a server that calls both in one turn, then answers
    calls: list[str] = []
    agent = Agent(model=model, instructions="You do arithmetic.", tools=_counting_tools(calls))
    server.enqueue(
        ToolUseReply(
            [
                FakeToolUse("add", {"a": 2, "b": 3}, id="toolu_add"),
                FakeToolUse("multiply", {"a": 4, "b": 5}, id="toolu_mul"),
            ],
            usage=FakeUsage(20, 5),
        ),
        TextReply("2 + 3 = 5 and 4 * 5 = 20.", usage=FakeUsage(30, 9)),
    )

    # When the agent runs
    if stream:
        events = [event async for event in agent.arun("2 + 3 and 4 * 5?", stream=True)]
        final = events[-1]
        assert isinstance(final, RunCompleted), [e.event for e in events]
        run = final.output
        assert "".join(e.content for e in events if isinstance(e, RunContent)) == "2 + 3 = 5 and 4 * 5 = 20."
    else:
        run = await agent.arun("2 + 3 and 4 * 5?")

    # Then both tools ran, and the answer came back
    assert run.status is RunStatus.COMPLETED, run.error
    assert run.content == "2 + 3 = 5 and 4 * 5 = 20."
    assert sorted(calls) == ["add(2, 3)", "multiply(4, 5)"]
    # And on the wire: the instructions as `system`, both tools, and both results in one user message
    first, second = server.requests
    assert [r.stream for r in server.requests] == [stream, stream]
    assert first.body["system"] == second.body["system"] == "You do arithmetic."
    assert [t["name"] for t in first.tools] == ["add", "multiply"]
    assert [m["role"] for m in second.messages] == ["user", "assistant", "user"]
    assert [b["id"] for b in second.messages[1]["content"] if b["type"] == "tool_use"] == ["toolu_add", "toolu_mul"]
    assert second.messages[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_add", "content": "5"},
        {"type": "tool_result", "tool_use_id": "toolu_mul", "content": "20"},
    ]
    # And the run's usage sums both requests
    assert run.metrics.usage == Usage(input_tokens=50, output_tokens=14, total_tokens=64)
    assert run.model == MODEL_ID
    assert run.model_provider == "Anthropic"


async def test_an_invalid_request_ends_the_agent_run_with_run_error(
    make_model: MakeModel, server: FakeAnthropicServer
) -> None:
    # Given a server refusing the request as invalid (even a model allowed retries must not repeat it)
    agent = Agent(model=make_model(max_retries=3), tools=[add])
    server.enqueue(ErrorReply(400, "max_tokens: 100000 > 64000, the maximum for this model", "invalid_request_error"))

    # When the agent runs streamed
    events = [event async for event in agent.arun("What is 2 + 3?", stream=True)]

    # Then the run ends with RunError naming the cause, after exactly one request
    final = events[-1]
    assert isinstance(final, RunError)
    assert final.error_type == "ModelError"
    assert "HTTP 400 invalid_request_error" in final.content
    assert "the maximum for this model" in final.content
    assert final.output is not None
    assert final.output.status is RunStatus.ERROR
    assert len(server.requests) == 1


# --- retries and errors: the SDK's one retry layer -------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "wait"),
    [({"retry_after_ms": 300}, 0.3), ({"retry_after": 1}, 1.0)],
    ids=["retry-after-ms", "retry-after"],
)
async def test_a_rate_limit_is_waited_out_as_the_server_asks_then_succeeds(
    model: AnthropicChat, server: FakeAnthropicServer, header: dict[str, float], wait: float
) -> None:
    # Given a server that rate-limits the first request and says how long to wait
    server.enqueue(ErrorReply.rate_limited(**header), TextReply("Made it."))

    # When the provider asks
    response = await model.request(ASK, ModelRequest())

    # Then it waited about as long as asked (not its own backoff, at most 0.5 s on a first retry), then succeeded
    assert response.content == "Made it."
    first, second = server.requests
    gap = second.received_at - first.received_at
    assert wait <= gap < wait + 0.5, gap
    assert first.body == second.body
    assert second.headers["x-stainless-retry-count"] == "1"


@pytest.mark.parametrize(
    "failure",
    [ErrorReply(500, "Upstream is on fire", "api_error", retry_after_ms=10), ErrorReply.overloaded(retry_after_ms=10)],
    ids=["500", "529-overloaded"],
)
async def test_a_persistent_server_error_makes_max_retries_plus_one_requests(
    make_model: MakeModel, server: FakeAnthropicServer, failure: ErrorReply
) -> None:
    # Given a server that always fails, and a model allowed 2 retries
    model = make_model(max_retries=2)
    server.enqueue(*[failure] * 5)

    # When the provider asks
    with pytest.raises(ModelError) as caught:
        await model.request(ASK, ModelRequest())

    # Then it tried exactly 3 times, and the error is retryable and names the model, the status and the cause
    assert len(server.requests) == 3
    error = caught.value
    assert error.retryable is True
    assert error.status_code == failure.status
    message = str(error)
    assert MODEL_ID in message
    assert f"HTTP {failure.status} {failure.type}" in message
    assert "after 3 attempts" in message
    assert failure.message in message


async def test_a_streamed_request_is_retried_when_overloaded(model: AnthropicChat, server: FakeAnthropicServer) -> None:
    server.enqueue(ErrorReply.overloaded(retry_after_ms=10), TextReply("Streamed after all"))

    deltas = await collect(model, ASK)

    assert "".join(d.content or "" for d in deltas) == "Streamed after all"
    assert [r.stream for r in server.requests] == [True, True]


@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, "invalid_request_error"), (401, "authentication_error"), (404, "not_found_error")],
)
async def test_a_client_error_is_not_retried(
    model: AnthropicChat, server: FakeAnthropicServer, status: int, kind: str
) -> None:
    server.enqueue(ErrorReply(status, "Nope, not like this", kind), TextReply("unused"))

    with pytest.raises(ModelError) as caught:
        await model.request(ASK, ModelRequest())

    assert len(server.requests) == 1
    assert server.pending == 1
    assert caught.value.retryable is False
    assert caught.value.status_code == status
    assert f"HTTP {status} {kind}: Nope, not like this" in str(caught.value)


async def test_x_should_retry_false_is_obeyed(model: AnthropicChat, server: FakeAnthropicServer) -> None:
    # Given a 503 the server says not to retry
    server.enqueue(ErrorReply(503, "Down for maintenance", should_retry=False), TextReply("unused"))

    with pytest.raises(ModelError) as caught:
        await model.request(ASK, ModelRequest())

    assert len(server.requests) == 1
    assert caught.value.retryable is False
    assert caught.value.status_code == 503


async def test_a_dropped_connection_is_retried(model: AnthropicChat, server: FakeAnthropicServer) -> None:
    server.enqueue(DisconnectReply(), TextReply("Reconnected."))

    response = await model.request(ASK, ModelRequest())

    assert response.content == "Reconnected."
    assert len(server.requests) == 2


async def test_a_slow_server_times_out_on_every_attempt(make_model: MakeModel, server: FakeAnthropicServer) -> None:
    # Given a model that waits 0.5 s for bytes, and a server that holds its answers back far longer
    model = make_model(timeout=0.5, max_retries=1)
    server.enqueue(TextReply("too late", delay=60), TextReply("too late", delay=60))

    with pytest.raises(ModelTimeoutError, match="timed out") as caught:
        await model.request(ASK, ModelRequest())

    assert len(server.requests) == 2
    assert caught.value.retryable is True
    assert "after 2 attempts" in str(caught.value)


async def test_the_deadline_bounds_a_request_with_its_retries(
    make_model: MakeModel, server: FakeAnthropicServer
) -> None:
    # Given a server that asks to come back in a minute, and a model with a 0.5 s deadline
    model = make_model(deadline=0.5)
    server.enqueue(ErrorReply.rate_limited(retry_after=60), TextReply("unused"))

    started = time.monotonic()
    with pytest.raises(ModelTimeoutError, match="deadline"):
        await model.request(ASK, ModelRequest())

    assert time.monotonic() - started < 5
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "options",
    [{"max_retries": -1}, {"max_tokens": 0}, {"timeout": 0}, {"deadline": 0}],
    ids=["max_retries", "max_tokens", "timeout", "deadline"],
)
def test_invalid_settings_are_config_errors(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=next(iter(options))):
        AnthropicChat(**options)


# --- credentials, endpoint, registry ---------------------------------------------------------------------


async def test_the_key_comes_from_the_secret_and_the_endpoint_from_the_environment(
    make_model: MakeModel, server: FakeAnthropicServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given ANTHROPIC_API_KEY served by a secrets resolver (Secrets Manager on AWS), and ANTHROPIC_BASE_URL
    register_resolver(lambda name: "secret-key" if name == "ANTHROPIC_API_KEY" else None)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    model = make_model(api_key=None, base_url=None)

    response = await model.request(ASK, ModelRequest())

    assert response.content == "ECHO: What is 2 + 3?"
    assert server.last_request.api_key == "secret-key"


async def test_arguments_win_over_the_secret_and_the_environment(
    model: AnthropicChat, server: FakeAnthropicServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_resolver(lambda name: "secret-key" if name == "ANTHROPIC_API_KEY" else None)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")  # nothing listens there

    await model.request(ASK, ModelRequest())

    assert server.last_request.api_key == "test"


async def test_no_credentials_anywhere_is_a_config_error(make_model: MakeModel) -> None:
    model = make_model(api_key=None)

    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        await model.request(ASK, ModelRequest())


def test_an_anthropic_model_string_builds_an_anthropic_chat() -> None:
    named = infer_model(f"anthropic:{MODEL_ID}")
    default = infer_model("anthropic")

    assert isinstance(named, AnthropicChat)
    assert named.id == MODEL_ID
    assert isinstance(default, AnthropicChat)
    assert default.provider == "Anthropic"
    assert default.supports_structured_output


def test_importing_the_provider_does_not_import_the_sdk() -> None:
    code = "import sys, stratus.models.anthropic; print('anthropic' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "False"


def test_a_model_keeps_working_from_one_event_loop_to_the_next(server: FakeAnthropicServer) -> None:
    # Given a model used once in its own event loop (as `asyncio.run(agent.arun(...))` in a script does)
    model = AnthropicChat(api_key="test", base_url=server.url, max_retries=0)

    async def ask_then_close(model: AnthropicChat) -> str | None:
        try:
            return (await model.request(ASK, ModelRequest())).content
        finally:
            await model.aclose()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # the first loop's pooled socket dies with that loop
        first = asyncio.run(model.request(ASK, ModelRequest())).content
        # When it is used again in a new event loop, then it answers there too
        second = asyncio.run(ask_then_close(model))
        del model
        gc.collect()

    assert first == second == "ECHO: What is 2 + 3?"


# --- the fake itself holds requests to the API's rules ---------------------------------------------------


def _post(server: FakeAnthropicServer, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{server.url}/v1/messages",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "x-api-key": "test", "anthropic-version": "2023-06-01"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_fake_refuses_tool_results_split_across_messages(server: FakeAnthropicServer) -> None:
    # Given a turn with two tool_use blocks whose results come back in two user messages, not one
    uses = [
        {"type": "tool_use", "id": "toolu_1", "name": "add", "input": {}},
        {"type": "tool_use", "id": "toolu_2", "name": "add", "input": {}},
    ]
    body = {
        "model": MODEL_ID,
        "max_tokens": 16,
        "messages": [
            {"role": "user", "content": "Add twice."},
            {"role": "assistant", "content": uses},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "1"}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_2", "content": "2"}]},
        ],
    }

    status, answer = _post(server, body)

    # Then it answers as Anthropic does: a 400 invalid_request_error in Anthropic's error body
    assert status == 400
    assert answer["type"] == "error"
    assert answer["error"]["type"] == "invalid_request_error"
    assert "toolu_2" in answer["error"]["message"]
    assert server.pending == 0
