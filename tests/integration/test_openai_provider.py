"""`OpenAIChat` through the real `openai` SDK, over real HTTP, against a fake Chat Completions server.

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
import urllib.request
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from stratus import Agent, Team, Tool, tool
from stratus.exceptions import ConfigError, ModelError, ModelTimeoutError
from stratus.messages import Message, ToolCall, Usage
from stratus.models.base import ModelDelta, ModelRequest
from stratus.models.openai import OpenAIChat
from stratus.run import RunCompleted, RunContent, RunStatus
from tests.fakes.openai_server import (
    DisconnectReply,
    ErrorReply,
    FakeOpenAIServer,
    FakeToolCall,
    FakeUsage,
    RawStreamReply,
    TextReply,
    ToolCallsReply,
)
from tests.fakes.tools import add

ROOT = Path(__file__).resolve().parents[2]

MakeModel = Callable[..., OpenAIChat]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    """A running fake OpenAI server; its script starts empty (unscripted requests are echoed)."""
    with FakeOpenAIServer() as running:
        yield running


@pytest.fixture
async def make_model(server: FakeOpenAIServer) -> AsyncIterator[MakeModel]:
    """Builds `OpenAIChat`s pointed at the fake server, with fast retries; closes them after the test."""
    made: list[OpenAIChat] = []

    def make(**overrides: Any) -> OpenAIChat:
        options: dict[str, Any] = {
            "api_key": "test-key",
            "base_url": server.base_url,
            "backoff": 0.01,
            "max_backoff": 0.05,
        }
        options.update(overrides)
        model = OpenAIChat(id="gpt-4o-mini", **options)
        made.append(model)
        return model

    yield make
    for model in made:
        await model.aclose()


@pytest.fixture
def model(make_model: MakeModel) -> OpenAIChat:
    return make_model()


ASK = [Message(role="user", content="What is 2 + 3?")]


async def collect(
    model: OpenAIChat,
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


# --- plain JSON answers ----------------------------------------------------------------------------------


async def test_a_json_answer_maps_content_usage_and_response_id(model: OpenAIChat, server: FakeOpenAIServer) -> None:
    # Given a server that answers with text and reports cached and reasoning tokens
    server.enqueue(
        TextReply(
            "2 + 3 = 5.", usage=FakeUsage(prompt_tokens=42, completion_tokens=7, cached_tokens=30, reasoning_tokens=2)
        )
    )

    # When the provider sends one non-streamed request
    response = await model.request(ASK, ModelRequest())

    # Then the answer, its usage and the response id come back in stratus' types
    assert response.content == "2 + 3 = 5."
    assert response.tool_calls == []
    assert response.finish_reason == "stop"
    assert response.usage == Usage(
        input_tokens=42, output_tokens=7, total_tokens=49, reasoning_tokens=2, cache_read_tokens=30
    )
    assert response.provider_data is not None
    assert response.provider_data["id"].startswith("chatcmpl-")
    sent = server.last_request
    assert sent.path == "/v1/chat/completions"
    assert sent.body["model"] == "gpt-4o-mini"
    assert not sent.stream
    assert "stream_options" not in sent.body


async def test_the_request_carries_the_conversation_tools_and_key_in_openai_format(
    model: OpenAIChat, server: FakeOpenAIServer
) -> None:
    # Given a conversation that already went through one tool call
    call = ToolCall(id="call_add_1", name="add", arguments='{"a": 2, "b": 3}')
    conversation = [
        Message(role="system", content="You add numbers."),
        Message(role="user", content="What is 2 + 3?"),
        Message(role="assistant", content=None, tool_calls=[call]),
        Message(role="tool", content="5", tool_call_id="call_add_1", tool_name="add", tool_args={"a": 2, "b": 3}),
    ]
    server.enqueue(TextReply("2 + 3 = 5."))

    # When it is sent with the `add` tool
    await model.request(conversation, ModelRequest(tools=[add.definition()]))

    # Then the server received OpenAI's message and tool shapes, and the key as a bearer token
    sent = server.last_request
    assert sent.messages == [
        {"role": "system", "content": "You add numbers."},
        {"role": "user", "content": "What is 2 + 3?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_add_1", "type": "function", "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_add_1", "content": "5"},
    ]
    assert sent.body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "add",
                "description": "Add two numbers.",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "a": {"type": "integer", "description": "The first number."},
                        "b": {"type": "integer", "description": "The second number."},
                    },
                    "required": ["a", "b"],
                },
            },
        }
    ]
    assert sent.authorization == "Bearer test-key"


async def test_model_settings_and_extra_body_reach_the_server(make_model: MakeModel, server: FakeOpenAIServer) -> None:
    # Given a model with sampling settings, an organization and provider-specific extras
    model = make_model(temperature=0.2, max_tokens=64, organization="org-test", extra_body={"seed": 7})

    # When it sends a request
    await model.request(ASK, ModelRequest())

    # Then every setting is in the request
    sent = server.last_request
    assert sent.body["temperature"] == 0.2
    assert sent.body["max_tokens"] == 64
    assert sent.body["seed"] == 7
    assert sent.headers["openai-organization"] == "org-test"


async def test_a_json_answer_with_tool_calls_returns_them_whole(model: OpenAIChat, server: FakeOpenAIServer) -> None:
    # Given a server that answers with two tool calls at once
    server.enqueue(
        ToolCallsReply(
            [
                FakeToolCall("add", {"a": 2, "b": 3}, id="call_1"),
                FakeToolCall("get_weather", {"city": "Oslo"}, id="call_2"),
            ]
        )
    )

    # When the provider asks
    response = await model.request(ASK, ModelRequest(tools=[add.definition()]))

    # Then both calls come back with their ids, names and JSON arguments
    assert response.content is None
    assert response.finish_reason == "tool_calls"
    assert [(c.id, c.name, c.parsed_arguments()) for c in response.tool_calls] == [
        ("call_1", "add", {"a": 2, "b": 3}),
        ("call_2", "get_weather", {"city": "Oslo"}),
    ]


async def test_structured_output_sends_the_schema_as_a_json_schema_response_format(
    model: OpenAIChat, server: FakeOpenAIServer
) -> None:
    # Given a request that asks for an answer following a JSON schema
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "celsius": {"type": "number"}},
        "required": ["city", "celsius"],
    }
    server.enqueue(TextReply('{"city": "Oslo", "celsius": 12.5}'))

    # When it is sent
    response = await model.request(ASK, ModelRequest(output_schema=schema, output_name="Weather report"))

    # Then the server was asked for that schema (under a name OpenAI accepts) and the JSON text comes back
    assert server.last_request.body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "Weather_report", "schema": schema, "strict": False},
    }
    assert json.loads(response.content or "") == {"city": "Oslo", "celsius": 12.5}


async def test_without_an_output_schema_no_response_format_is_sent(model: OpenAIChat, server: FakeOpenAIServer) -> None:
    await model.request(ASK, ModelRequest())

    assert "response_format" not in server.last_request.body
    assert "tools" not in server.last_request.body


# --- streaming -------------------------------------------------------------------------------------------


async def test_a_streamed_answer_arrives_in_deltas_and_ends_with_usage(
    model: OpenAIChat, server: FakeOpenAIServer
) -> None:
    # Given a server that streams its text in three pieces and reports usage in a last chunk
    server.enqueue(TextReply("Hello there, world!", chunks=["Hello", " there,", " world!"], usage=FakeUsage(12, 3)))

    # When the provider streams the answer
    deltas = await collect(model, ASK)

    # Then each piece is a delta, in order, and the final delta carries usage and the finish reason
    assert [d.content for d in deltas if d.content] == ["Hello", " there,", " world!"]
    final = deltas[-1]
    assert final.usage == Usage(input_tokens=12, output_tokens=3, total_tokens=15)
    assert final.finish_reason == "stop"
    assert final.tool_calls is None
    assert final.provider_data is not None
    assert final.provider_data["id"].startswith("chatcmpl-")
    # And the provider asked for a stream that includes usage
    sent = server.last_request
    assert sent.stream
    assert sent.body["stream_options"] == {"include_usage": True}


async def test_streaming_without_stream_usage_asks_for_no_usage_chunk(
    make_model: MakeModel, server: FakeOpenAIServer
) -> None:
    # Given a model told not to ask for usage (some compatible servers reject `stream_options`)
    model = make_model(stream_usage=False)
    server.enqueue(TextReply("Hi there"))

    # When it streams
    deltas = await collect(model, ASK)

    # Then the option was not sent, the text still arrives, and usage is reported as zero
    assert "stream_options" not in server.last_request.body
    assert "".join(d.content or "" for d in deltas) == "Hi there"
    assert deltas[-1].usage == Usage()


async def test_streamed_tool_calls_are_assembled_from_argument_fragments(
    model: OpenAIChat, server: FakeOpenAIServer
) -> None:
    # Given a server that streams two tool calls, each one's arguments split in four fragments
    weather_args = {"city": "Oslo", "unit": "celsius", "days": [1, 2, 3]}
    server.enqueue(
        ToolCallsReply(
            [
                FakeToolCall("add", {"a": 2, "b": 3}, id="call_add"),
                FakeToolCall("get_weather", weather_args, id="call_weather"),
            ],
            argument_fragments=4,
            usage=FakeUsage(50, 20),
        )
    )

    # When the provider streams the answer
    deltas = await collect(model, ASK, ModelRequest(tools=[add.definition()]))

    # Then no text arrives, and the final delta holds both complete calls, in order, with their usage
    assert [d.content for d in deltas if d.content] == []
    final = deltas[-1]
    assert final.tool_calls == [
        ToolCall(id="call_add", name="add", arguments=json.dumps({"a": 2, "b": 3})),
        ToolCall(id="call_weather", name="get_weather", arguments=json.dumps(weather_args)),
    ]
    assert final.tool_calls is not None
    assert final.tool_calls[1].parsed_arguments() == weather_args
    assert final.finish_reason == "tool_calls"
    assert final.usage == Usage(input_tokens=50, output_tokens=20, total_tokens=70)


async def test_text_before_streamed_tool_calls_is_kept(model: OpenAIChat, server: FakeOpenAIServer) -> None:
    server.enqueue(ToolCallsReply([FakeToolCall("add", {"a": 1, "b": 1}, id="call_1")], content="Let me add that up."))

    deltas = await collect(model, ASK)

    assert "".join(d.content or "" for d in deltas) == "Let me add that up."
    assert deltas[-1].tool_calls == [ToolCall(id="call_1", name="add", arguments='{"a": 1, "b": 1}')]


async def test_a_stream_cut_off_midway_raises_model_error(model: OpenAIChat, server: FakeOpenAIServer) -> None:
    # Given a server that drops the connection after two text deltas
    server.enqueue(TextReply("one two three four", drop_after=2))

    # When the provider streams, then the caller gets the first deltas and a ModelError, not an SDK error
    received: list[ModelDelta] = []
    with pytest.raises(ModelError, match="gpt-4o-mini") as caught:
        await collect(model, ASK, into=received)
    assert [d.content for d in received] == ["one ", "two "]
    assert "connection" in str(caught.value).lower()


# --- retries and errors ----------------------------------------------------------------------------------


async def test_a_rate_limit_is_retried_then_succeeds(model: OpenAIChat, server: FakeOpenAIServer) -> None:
    # Given a server that rate-limits the first request
    server.enqueue(
        ErrorReply(429, "Rate limit reached for gpt-4o-mini", type="requests", code="rate_limit_exceeded"),
        TextReply("Made it."),
    )

    # When the provider asks
    response = await model.request(ASK, ModelRequest())

    # Then it retried once, with the same request, and got the answer
    assert response.content == "Made it."
    first, second = server.requests
    assert first.body == second.body


async def test_retry_after_is_honoured(make_model: MakeModel, server: FakeOpenAIServer) -> None:
    # Given a tiny backoff, and a server asking to wait 0.3 s before retrying
    model = make_model(backoff=0.001, max_backoff=2.0)
    server.enqueue(ErrorReply(429, "Slow down", type="requests", retry_after=0.3), TextReply("ok"))

    # When the provider asks
    response = await model.request(ASK, ModelRequest())

    # Then it waited at least as long as the server said before the second attempt
    assert response.content == "ok"
    first, second = server.requests
    assert second.received_at - first.received_at >= 0.3


async def test_a_wait_the_server_asks_for_is_never_cut_short_by_max_backoff(
    make_model: MakeModel, server: FakeOpenAIServer
) -> None:
    # Given a model whose own waits are capped at 0.05 s, and servers asking for longer, in each header form
    model = make_model(backoff=0.001, max_backoff=0.05)
    server.enqueue(
        ErrorReply(429, "Slow down", type="requests", retry_after=1),
        ErrorReply(429, "Slow down", type="requests", headers={"retry-after-ms": "400"}),
        TextReply("ok"),
    )

    # When the provider asks
    response = await model.request(ASK, ModelRequest())

    # Then it waited as long as each server said, not the cap
    assert response.content == "ok"
    first, second, third = server.requests
    assert second.received_at - first.received_at >= 0.95
    assert 0.38 <= third.received_at - second.received_at < 2


async def test_a_server_asking_for_too_long_a_wait_or_for_no_retry_is_not_retried(
    model: OpenAIChat, server: FakeOpenAIServer
) -> None:
    # A wait longer than two minutes is not cut short: the request is not retried at all
    server.enqueue(ErrorReply(429, "Come back tomorrow", type="requests", retry_after=86_400))
    with pytest.raises(ModelError) as caught:
        await model.request(ASK, ModelRequest())
    assert (caught.value.status_code, caught.value.retryable, len(server.requests)) == (429, True, 1)

    # x-should-retry: false is obeyed, even on a 5xx
    server.reset()
    server.enqueue(ErrorReply(503, "Down for good", headers={"x-should-retry": "false"}))
    with pytest.raises(ModelError):
        await model.request(ASK, ModelRequest())
    assert len(server.requests) == 1


async def test_a_streamed_request_is_retried_when_rate_limited(model: OpenAIChat, server: FakeOpenAIServer) -> None:
    server.enqueue(ErrorReply(429, "Slow down", type="requests"), TextReply("Streamed after all"))

    deltas = await collect(model, ASK)

    assert "".join(d.content or "" for d in deltas) == "Streamed after all"
    assert [r.stream for r in server.requests] == [True, True]


async def test_server_errors_are_retried_until_an_answer_comes(make_model: MakeModel, server: FakeOpenAIServer) -> None:
    # Given a server failing twice with 500, and a model allowed 3 retries
    model = make_model(max_retries=3)
    server.enqueue(ErrorReply(500), ErrorReply(500), TextReply("Third time lucky."))

    # When the provider asks
    response = await model.request(ASK, ModelRequest())

    # Then the third request succeeds
    assert response.content == "Third time lucky."
    assert len(server.requests) == 3


async def test_a_dropped_connection_is_retried(model: OpenAIChat, server: FakeOpenAIServer) -> None:
    server.enqueue(DisconnectReply(), TextReply("Reconnected."))

    response = await model.request(ASK, ModelRequest())

    assert response.content == "Reconnected."
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    ("status", "error_type"),
    [(500, "server_error"), (503, "server_error"), (429, "requests")],
)
async def test_a_persistent_retryable_error_raises_model_error_after_every_attempt(
    make_model: MakeModel, server: FakeOpenAIServer, status: int, error_type: str
) -> None:
    # Given a server that always fails, and a model allowed 2 retries
    model = make_model(max_retries=2)
    server.enqueue(*[ErrorReply(status, "Upstream is on fire", type=error_type)] * 5)

    # When the provider asks
    with pytest.raises(ModelError) as caught:
        await model.request(ASK, ModelRequest())

    # Then it tried 3 times, and the error is retryable and names the model, the status and the cause
    assert len(server.requests) == 3
    error = caught.value
    assert error.retryable is True
    assert error.status_code == status
    message = str(error)
    assert "gpt-4o-mini" in message
    assert f"HTTP {status}" in message
    assert "retried up to 2 times" in message
    assert "Upstream is on fire" in message


@pytest.mark.parametrize(
    ("status", "error_type", "code"),
    [
        (400, "invalid_request_error", "context_length_exceeded"),
        (401, "invalid_request_error", "invalid_api_key"),
        (403, "invalid_request_error", "unsupported_country_region_territory"),
        (404, "invalid_request_error", "model_not_found"),
    ],
)
async def test_a_client_error_is_not_retried(
    model: OpenAIChat, server: FakeOpenAIServer, status: int, error_type: str, code: str
) -> None:
    # Given a server that refuses the request
    server.enqueue(ErrorReply(status, "Nope, not like this", type=error_type, code=code), TextReply("unused"))

    # When the provider asks
    with pytest.raises(ModelError) as caught:
        await model.request(ASK, ModelRequest())

    # Then exactly one request was made, and the error says it will not get better by retrying
    assert len(server.requests) == 1
    assert server.pending == 1
    error = caught.value
    assert error.retryable is False
    assert error.status_code == status
    assert f"HTTP {status}" in str(error)
    assert "Nope, not like this" in str(error)


async def test_a_client_error_on_a_streamed_request_is_not_retried(model: OpenAIChat, server: FakeOpenAIServer) -> None:
    server.enqueue(ErrorReply(401, "Incorrect API key provided", type="invalid_request_error"))

    with pytest.raises(ModelError) as caught:
        await collect(model, ASK)

    assert len(server.requests) == 1
    assert caught.value.retryable is False
    assert caught.value.status_code == 401


async def test_a_slow_server_times_out_is_retried_then_raises(make_model: MakeModel, server: FakeOpenAIServer) -> None:
    # Given a model that waits 1 s at most, and a server that holds its answers back far longer, every time
    model = make_model(timeout=1.0, max_retries=1)
    server.enqueue(TextReply("too late", delay=60), TextReply("too late", delay=60))

    # When the provider asks
    with pytest.raises(ModelError, match="timed out") as caught:
        await model.request(ASK, ModelRequest())

    # Then it tried twice and reports a retryable timeout
    assert len(server.requests) == 2
    assert caught.value.retryable is True
    assert "gpt-4o-mini" in str(caught.value)
    assert "retried up to 1 time" in str(caught.value)


async def test_a_timeout_then_a_fast_answer_succeeds(make_model: MakeModel, server: FakeOpenAIServer) -> None:
    # the timeout leaves a prompt answer ample time on a loaded machine; the held-back one is woken at teardown
    model = make_model(timeout=1.0, max_retries=1)
    server.enqueue(TextReply("too late", delay=60), TextReply("in time"))

    response = await model.request(ASK, ModelRequest())

    assert response.content == "in time"
    assert len(server.requests) == 2


async def test_max_retries_zero_makes_a_single_attempt(make_model: MakeModel, server: FakeOpenAIServer) -> None:
    model = make_model(max_retries=0)
    server.enqueue(ErrorReply(503), TextReply("unused"))

    with pytest.raises(ModelError) as caught:
        await model.request(ASK, ModelRequest())

    assert len(server.requests) == 1
    assert caught.value.retryable is True
    assert "attempts" not in str(caught.value)


def test_negative_max_retries_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="max_retries"):
        OpenAIChat(max_retries=-1)


# --- configuration from the environment ------------------------------------------------------------------


async def test_key_and_base_url_come_from_the_environment(
    make_model: MakeModel, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given OPENAI_API_KEY and OPENAI_BASE_URL, and a model built with neither
    monkeypatch.setenv("OPENAI_API_KEY", "env-key")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    model = make_model(api_key=None, base_url=None)

    # When it sends a request
    response = await model.request(ASK, ModelRequest())

    # Then it went to that server with that key
    assert response.content == "ECHO: What is 2 + 3?"
    assert server.last_request.authorization == "Bearer env-key"


async def test_arguments_win_over_the_environment(
    model: OpenAIChat, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "env-key")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens there

    await model.request(ASK, ModelRequest())

    assert server.last_request.authorization == "Bearer test-key"


async def test_a_base_url_alone_needs_no_key(
    make_model: MakeModel, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a local OpenAI-compatible server named by OPENAI_BASE_URL, and no key anywhere
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    model = make_model(api_key=None, base_url=None)

    # When the model is used, then it answers
    response = await model.request(ASK, ModelRequest())
    assert response.content == "ECHO: What is 2 + 3?"


async def test_no_key_and_no_base_url_is_a_config_error(make_model: MakeModel) -> None:
    model = make_model(api_key=None, base_url=None)

    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        await model.request(ASK, ModelRequest())


# --- the client's lifecycle -----------------------------------------------------------------------------


async def test_a_model_given_a_client_keeps_using_it_after_aclose(
    server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a model built on the caller's own client, and an environment naming another endpoint and key
    from openai import AsyncOpenAI

    client = AsyncOpenAI(api_key="caller-key", base_url=server.base_url, max_retries=0)
    with FakeOpenAIServer() as elsewhere:
        monkeypatch.setenv("OPENAI_API_KEY", "env-key")
        monkeypatch.setenv("OPENAI_BASE_URL", elsewhere.base_url)
        model = OpenAIChat(client=client)
        try:
            # When the model is closed (as an app's shutdown does) and then used again
            await model.request(ASK, ModelRequest())
            await model.aclose()
            await model.request(ASK, ModelRequest())
        finally:
            await model.aclose()
            await client.close()

        # Then every request still went through the caller's client, never to the environment's endpoint
        assert elsewhere.requests == []
        assert [r.authorization for r in server.requests] == ["Bearer caller-key"] * 2


def test_a_model_keeps_working_from_one_event_loop_to_the_next(server: FakeOpenAIServer) -> None:
    # Given a model used once in its own event loop (as `asyncio.run(agent.arun(...))` in a script does)
    model = OpenAIChat(api_key="test-key", base_url=server.base_url, max_retries=0)

    async def ask_then_close(model: OpenAIChat) -> str | None:
        try:
            return (await model.request(ASK, ModelRequest())).content
        finally:
            await model.aclose()

    error: str | None = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # the first loop's pooled socket dies with that loop
        first = asyncio.run(model.request(ASK, ModelRequest())).content
        # When it is used again in a new event loop
        try:
            second = asyncio.run(ask_then_close(model))
        except ModelError as exc:
            second, error = None, str(exc)
        del model
        gc.collect()

    # Then it answers there too
    assert error is None, error
    assert first == second == "ECHO: What is 2 + 3?"


# --- whole agent runs through the provider ---------------------------------------------------------------


def _script_tool_round(server: FakeOpenAIServer) -> None:
    server.enqueue(
        ToolCallsReply([FakeToolCall("add", {"a": 2, "b": 3}, id="call_add")], usage=FakeUsage(20, 5)),
        TextReply("2 + 3 = 5.", usage=FakeUsage(30, 7)),
    )


def _counting_add(calls: list[tuple[int, int]]) -> Tool:
    @tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        calls.append((a, b))
        return a + b

    return add


def _assert_tool_round_on_the_wire(server: FakeOpenAIServer, *, stream: bool) -> None:
    first, second = server.requests
    assert [r.stream for r in server.requests] == [stream, stream]
    assert [t["function"]["name"] for t in first.body["tools"]] == ["add"]
    assert [m["role"] for m in second.messages] == ["system", "user", "assistant", "tool"]
    assert second.messages[2]["tool_calls"][0]["id"] == "call_add"
    assert second.messages[3] == {"role": "tool", "tool_call_id": "call_add", "content": "5"}


async def test_an_agent_run_calls_the_tool_and_answers(model: OpenAIChat, server: FakeOpenAIServer) -> None:
    # Given an agent with a tool, and a server that first calls it, then answers
    calls: list[tuple[int, int]] = []
    agent = Agent(model=model, instructions="You add numbers.", tools=[_counting_add(calls)])
    _script_tool_round(server)

    # When the agent runs
    run = await agent.arun("What is 2 + 3?")

    # Then the tool ran with the model's arguments, its result went back, and the run answered
    assert run.status is RunStatus.COMPLETED, run.error
    assert run.content == "2 + 3 = 5."
    assert calls == [(2, 3)]
    assert [(t.tool_name, t.tool_args, t.result) for t in run.tools] == [("add", {"a": 2, "b": 3}, "5")]
    _assert_tool_round_on_the_wire(server, stream=False)
    # And the run's usage sums both requests
    assert run.metrics.usage == Usage(input_tokens=50, output_tokens=12, total_tokens=62)
    assert run.model == "gpt-4o-mini"
    assert run.model_provider == "OpenAI"


async def test_a_streamed_agent_run_calls_the_tool_and_streams_the_answer(
    model: OpenAIChat, server: FakeOpenAIServer
) -> None:
    # Given the same agent and script
    calls: list[tuple[int, int]] = []
    agent = Agent(model=model, instructions="You add numbers.", tools=[_counting_add(calls)])
    _script_tool_round(server)

    # When the agent runs streamed
    events = [event async for event in agent.arun("What is 2 + 3?", stream=True)]

    # Then the events run from RunStarted to RunCompleted, the tool call before the answer's text
    kinds = [e.event for e in events]
    assert kinds[0] == "RunStarted"
    assert kinds[-1] == "RunCompleted"
    assert "RunError" not in kinds
    started, completed = kinds.index("ToolCallStarted"), kinds.index("ToolCallCompleted")
    first_content = kinds.index("RunContent")
    assert started < completed < first_content
    pieces = [e.content for e in events if isinstance(e, RunContent)]
    assert len(pieces) > 1
    assert "".join(pieces) == "2 + 3 = 5."
    assert kinds.count("ModelRequestCompleted") == 2
    assert calls == [(2, 3)]
    _assert_tool_round_on_the_wire(server, stream=True)
    # And the streamed usage of both requests is summed in the final output
    assert [r.body["stream_options"] for r in server.requests] == [{"include_usage": True}] * 2
    final = events[-1]
    assert isinstance(final, RunCompleted)
    assert final.output.content == "2 + 3 = 5."
    assert final.output.metrics.usage == Usage(input_tokens=50, output_tokens=12, total_tokens=62)


class CityWeather(BaseModel):
    city: str
    celsius: float


async def test_an_agent_with_an_output_schema_gets_a_validated_object(
    model: OpenAIChat, server: FakeOpenAIServer
) -> None:
    # Given an agent that must answer a CityWeather, and a server answering with matching JSON
    agent = Agent(model=model, output_schema=CityWeather)
    server.enqueue(TextReply('{"city": "Oslo", "celsius": 12.5}'))

    # When it runs
    run = await agent.arun("Weather in Oslo?")

    # Then the schema went to the server natively and the run's content is the validated object
    assert run.status is RunStatus.COMPLETED, run.error
    assert run.content == CityWeather(city="Oslo", celsius=12.5)
    response_format = server.last_request.body["response_format"]
    assert response_format["json_schema"]["name"] == "CityWeather"
    assert response_format["json_schema"]["schema"] == CityWeather.model_json_schema()


async def test_a_model_error_ends_the_agent_run_with_status_error(
    make_model: MakeModel, server: FakeOpenAIServer
) -> None:
    agent = Agent(model=make_model(max_retries=1), tools=[add])
    server.enqueue(ErrorReply(500, "Upstream is on fire"), ErrorReply(500, "Upstream is on fire"))

    run = await agent.arun("What is 2 + 3?")

    assert run.status is RunStatus.ERROR
    assert run.error_type == "ModelError"
    assert "HTTP 500" in (run.error or "")
    with pytest.raises(ModelError):
        run.raise_for_status()


# --- the fake itself speaks OpenAI's wire format ---------------------------------------------------------


def _post(url: str, body: dict[str, Any]) -> tuple[str, bytes]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.headers["Content-Type"], response.read()


def test_the_fake_streams_tool_calls_the_way_openai_does(server: FakeOpenAIServer) -> None:
    # Given a scripted tool call, requested as a stream with usage, on the path without /v1
    server.enqueue(ToolCallsReply([FakeToolCall("add", '{"a": 2, "b": 3}', id="call_1")]))
    body = {"model": "m", "stream": True, "stream_options": {"include_usage": True}, "messages": []}

    content_type, raw = _post(f"{server.url}/chat/completions", body)

    # Then it is SSE: the call's first chunk names it with empty arguments, the rest carry fragments only
    assert content_type.startswith("text/event-stream")
    lines = [line for line in raw.decode().split("\n\n") if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    parts = [p for c in chunks if c["choices"] for p in c["choices"][0]["delta"].get("tool_calls", [])]
    assert parts[0] == {"index": 0, "id": "call_1", "type": "function", "function": {"name": "add", "arguments": ""}}
    fragments = [p["function"]["arguments"] for p in parts[1:]]
    assert len(fragments) > 1
    assert all(set(p) == {"index", "function"} for p in parts[1:])
    assert "".join(fragments) == '{"a": 2, "b": 3}'
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == []
    assert set(chunks[-1]["usage"]) >= {"prompt_tokens", "completion_tokens", "total_tokens"}


def test_the_fake_runs_as_a_script_and_echoes_once_its_replies_are_used() -> None:
    command = [sys.executable, "-m", "tests.fakes.openai_server", "--reply", "Scripted hello"]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            base_url = process.stdout.readline().strip()
            assert base_url.startswith("http://127.0.0.1:"), "the script did not print its base URL"
            body = {"model": "m", "messages": [{"role": "user", "content": "ping"}]}
            answers = [json.loads(_post(f"{base_url}/chat/completions", body)[1]) for _ in range(2)]
        finally:
            process.terminate()
        assert process.wait(timeout=10) == 0
    assert [a["choices"][0]["message"]["content"] for a in answers] == ["Scripted hello", "ECHO: ping"]
    assert answers[0]["object"] == "chat.completion"
    assert answers[0]["usage"]["total_tokens"] == answers[0]["usage"]["prompt_tokens"] + 2


def _chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-compat",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "compat",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


async def test_a_compatible_server_that_repeats_tool_names_in_every_chunk(
    server: FakeOpenAIServer, model: OpenAIChat
) -> None:
    # given a server that sends the function name again with each argument fragment
    server.enqueue(
        RawStreamReply(
            [
                _chunk({"tool_calls": [{"index": 0, "id": "c1", "type": "function", "function": {"name": "add"}}]}),
                _chunk({"tool_calls": [{"index": 0, "function": {"name": "add", "arguments": '{"a": 2, '}}]}),
                _chunk({"tool_calls": [{"index": 0, "function": {"name": "add", "arguments": '"b": 3}'}}]}),
                _chunk({}, "tool_calls"),
            ]
        )
    )

    deltas = [d async for d in model.stream([Message(role="user", content="add")], ModelRequest())]

    calls = [c for d in deltas for c in d.tool_calls or []]
    assert [(c.id, c.name, c.parsed_arguments()) for c in calls] == [("c1", "add", {"a": 2, "b": 3})]


async def test_a_compatible_server_that_leaves_out_tool_call_indexes(
    server: FakeOpenAIServer, model: OpenAIChat
) -> None:
    # given a server that sends no `index`: each new id starts a new call, fragments join the last one
    server.enqueue(
        RawStreamReply(
            [
                _chunk(
                    {"tool_calls": [{"id": "c1", "type": "function", "function": {"name": "add", "arguments": ""}}]}
                ),
                _chunk({"tool_calls": [{"function": {"arguments": '{"a": 1, "b": 1}'}}]}),
                _chunk(
                    {"tool_calls": [{"id": "c2", "type": "function", "function": {"name": "add", "arguments": ""}}]}
                ),
                _chunk({"tool_calls": [{"function": {"arguments": '{"a": 2, "b": 2}'}}]}),
                _chunk({}, "tool_calls"),
            ]
        )
    )

    deltas = [d async for d in model.stream([Message(role="user", content="add twice")], ModelRequest())]

    calls = [c for d in deltas for c in d.tool_calls or []]
    assert [(c.id, c.parsed_arguments()) for c in calls] == [("c1", {"a": 1, "b": 1}), ("c2", {"a": 2, "b": 2})]


async def test_a_server_that_never_answers_costs_the_deadline_not_the_attempts(
    make_model: MakeModel, server: FakeOpenAIServer
) -> None:
    # given attempts of 30 s each, three retries, and a request deadline of 2 s
    model = make_model(timeout=30.0, max_retries=3, deadline=2.0)
    server.enqueue(*[TextReply("too late", delay=60) for _ in range(4)])
    started = time.monotonic()

    with pytest.raises(ModelTimeoutError, match=r"within its 2s deadline"):
        await model.request(ASK, ModelRequest())

    assert time.monotonic() - started < 15  # generous: the point is 2 s, not 4 x 30 s
    assert len(server.requests) == 1


async def test_a_stream_that_never_starts_ends_at_the_deadline(make_model: MakeModel, server: FakeOpenAIServer) -> None:
    model = make_model(timeout=30.0, deadline=2.0)
    server.enqueue(TextReply("too late", delay=60))

    with pytest.raises(ModelTimeoutError):
        _ = [d async for d in model.stream(ASK, ModelRequest())]


@pytest.mark.parametrize(
    "chunks",
    [
        [],  # an empty stream
        [_chunk({}, "stop")],  # only a finish reason
        [{"id": "x", "object": "chat.completion.chunk", "choices": "not a list"}],
        [{"id": "x", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": "text"}]}],
        [{"id": "x", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": 42}}]}],
    ],
    ids=["empty", "finish-only", "choices-not-a-list", "delta-not-an-object", "content-not-text"],
)
async def test_a_malformed_or_empty_stream_is_a_model_error(
    make_model: MakeModel, server: FakeOpenAIServer, chunks: list[dict[str, Any]]
) -> None:
    model = make_model(max_retries=0)
    server.enqueue(RawStreamReply(chunks))

    with pytest.raises(ModelError):
        _ = [d async for d in model.stream(ASK, ModelRequest())]


async def test_an_empty_answer_is_a_model_error_and_the_run_an_error(
    make_model: MakeModel, server: FakeOpenAIServer
) -> None:
    model = make_model(max_retries=0)
    server.enqueue(TextReply(""), TextReply(""))

    with pytest.raises(ModelError, match="empty"):
        await model.request(ASK, ModelRequest())
    out = await Agent(model=model).arun("hi")
    assert out.status is RunStatus.ERROR
    assert "empty" in (out.error or "")


# --- one retry layer, and fallbacks ------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
async def test_a_failing_request_is_tried_max_retries_plus_one_times_whatever_layers_run_it(
    make_model: MakeModel, server: FakeOpenAIServer, stream: bool
) -> None:
    # Given a server that always fails, and a model allowed 2 retries, asked by an agent and by a team leader
    server.enqueue(*[ErrorReply(500, "Upstream is on fire")] * 20)
    agent = Agent(id="solo", model=make_model(max_retries=2))
    team = Team(
        id="crew", members=[Agent(id="member", model=make_model(max_retries=0))], model=make_model(max_retries=2)
    )

    # When each runs once
    for runnable in (agent, team):
        before = len(server.requests)
        if stream:
            events = [e async for e in runnable.arun("hi", stream=True)]
            output = events[-1].output  # type: ignore[union-attr]
        else:
            output = await runnable.arun("hi")

        # Then the request went out exactly 3 times: the SDK's retries, and no layer above multiplies them
        assert output is not None
        assert output.status is RunStatus.ERROR
        assert len(server.requests) - before == 3


async def test_a_fallback_model_takes_over_after_the_primary_keeps_failing(make_model: MakeModel) -> None:
    with FakeOpenAIServer() as primary_server, FakeOpenAIServer() as backup_server:
        primary_server.enqueue(*[ErrorReply(503, "Overloaded")] * 5)
        backup_server.enqueue(TextReply("Backup here."))
        primary = make_model(base_url=primary_server.base_url, max_retries=1)
        backup = OpenAIChat(id="gpt-backup", api_key="k", base_url=backup_server.base_url)
        try:
            output = await Agent(model=primary, fallback_models=[backup]).arun("hello")
        finally:
            await backup.aclose()

    assert (output.status, output.content, output.model) == (RunStatus.COMPLETED, "Backup here.", "gpt-backup")
    assert (len(primary_server.requests), len(backup_server.requests)) == (2, 1)
