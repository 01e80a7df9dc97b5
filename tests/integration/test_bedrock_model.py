"""`BedrockChat` through a real boto3 `bedrock-runtime` client, over real HTTP, against a fake Bedrock runtime.

Nothing is mocked between the provider and the socket: boto3 signs, URL-encodes the model id, parses JSON and
AWS event-stream frames and runs its own retries, exactly as it would against AWS. Each test scripts the
fake's replies, drives the provider (or a whole agent run), then checks what the caller got and what crossed
the wire.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from pydantic import BaseModel

from stratus import Agent, tool
from stratus.exceptions import ConfigError, ModelError, ModelTimeoutError, ToolError
from stratus.messages import Message, ToolCall, Usage
from stratus.models import infer_model
from stratus.models.base import ModelDelta, ModelRequest
from stratus.models.bedrock import BedrockChat
from stratus.run import RunCompleted, RunContent, RunError, RunStatus
from stratus.tools import ToolDefinition
from tests.fakes.bedrock_server import (
    ErrorReply,
    FakeBedrockServer,
    FakeToolUse,
    FakeUsage,
    RawBodyReply,
    StreamErrorReply,
    TextReply,
    ToolUseReply,
    encode_frame,
    event_frame,
    exception_frame,
)
from tests.fakes.tools import add

ROOT = Path(__file__).resolve().parents[2]
MODEL_ID = "us.amazon.nova-lite-v1:0"

MakeModel = Callable[..., BedrockChat]


@pytest.fixture(autouse=True)
def _aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials, and nothing from this machine's AWS configuration (files, profile, endpoint, retries)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    for name in (
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
        "AWS_MAX_ATTEMPTS",
        "AWS_RETRY_MODE",
        "AWS_REGION",
        "STRATUS_MODEL_REGION",
        "AWS_DEFAULT_REGION",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[FakeBedrockServer]:
    """A running fake Bedrock runtime; its script starts empty (unscripted requests are echoed)."""
    with FakeBedrockServer() as running:
        yield running


@pytest.fixture
async def make_model(server: FakeBedrockServer) -> AsyncIterator[MakeModel]:
    """Builds `BedrockChat`s pointed at the fake server in us-east-1; closes them after the test."""
    made: list[BedrockChat] = []

    def make(id: str = MODEL_ID, **overrides: Any) -> BedrockChat:
        options: dict[str, Any] = {"endpoint_url": server.url, "region": "us-east-1"}
        options.update(overrides)
        model = BedrockChat(id, **options)
        made.append(model)
        return model

    yield make
    for model in made:
        await model.aclose()


@pytest.fixture
def model(make_model: MakeModel) -> BedrockChat:
    return make_model()


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two numbers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a * b


ASK = [Message(role="system", content="You are terse."), Message(role="user", content="Say hello.")]
TOOLS = [
    ToolDefinition("add", "Add two numbers.", {"type": "object", "properties": {"a": {"type": "integer"}}}),
    ToolDefinition("multiply", "Multiply two numbers.", {"type": "object", "properties": {"b": {"type": "integer"}}}),
]


async def collect(
    model: BedrockChat,
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


async def ask(model: BedrockChat, stream: bool, messages: list[Message], params: ModelRequest) -> Any:
    """One answer, streamed or not: the response, or (for a stream) the list of its deltas."""
    if stream:
        return await collect(model, messages, params)
    return await model.request(messages, params)


# --- the fake's framing is AWS event-stream framing --------------------------------------------------------


def test_the_fake_encoder_round_trips_through_botocores_decoder() -> None:
    from botocore.eventstream import ChecksumMismatch, EventStreamBuffer

    # Given frames of each kind the fake sends, one with non-ASCII text and one with an empty payload
    frames = [
        event_frame("messageStart", {"role": "assistant"}),
        event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Grüße, 世界 "}}),
        exception_frame("throttlingException", "Too many requests"),
        encode_frame({":event-type": "ping", ":message-type": "event"}, b""),
    ]

    # When botocore's own decoder reads them back, fed in awkward 7-byte pieces
    buffer = EventStreamBuffer()
    decoded = []
    data = b"".join(frames)
    for start in range(0, len(data), 7):
        buffer.add_data(data[start : start + 7])
        decoded.extend(buffer)

    # Then every frame decodes, with its headers, payload and message type intact
    assert len(decoded) == 4
    assert decoded[0].headers == {
        ":event-type": "messageStart",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    assert json.loads(decoded[1].payload) == {"contentBlockIndex": 0, "delta": {"text": "Grüße, 世界 "}}
    assert decoded[2].headers[":exception-type"] == "throttlingException"
    assert decoded[2].to_response_dict()["status_code"] == 400
    assert decoded[0].to_response_dict()["status_code"] == 200
    assert decoded[3].payload == b""

    # And the checksums are real: one flipped payload byte is refused
    broken = bytearray(frames[1])
    broken[20] ^= 0xFF
    corrupt = EventStreamBuffer()
    corrupt.add_data(bytes(broken))
    with pytest.raises(ChecksumMismatch):
        list(corrupt)


# --- plain answers -----------------------------------------------------------------------------------------


async def test_a_plain_answer_maps_text_usage_and_finish_reason(model: BedrockChat, server: FakeBedrockServer) -> None:
    # Given a server that answers with text and reports cached tokens
    server.enqueue(
        TextReply(
            "Hello there.",
            usage=FakeUsage(input_tokens=12, output_tokens=3, cache_read_tokens=100, cache_write_tokens=5),
        )
    )

    # When the provider sends one request
    response = await model.request(ASK, ModelRequest())

    # Then the answer, its usage (cached tokens counted in the input, as OpenAI counts them) and its finish reason
    assert response.content == "Hello there."
    assert response.tool_calls == []
    assert response.finish_reason == "stop"
    assert response.usage == Usage(
        input_tokens=117, output_tokens=3, total_tokens=120, cache_read_tokens=100, cache_write_tokens=5
    )
    assert response.provider_data is not None
    assert response.provider_data["stop_reason"] == "end_turn"
    assert response.provider_data["request_id"]
    # And on the wire: Converse on the URL-encoded model id, signed for us-east-1, system apart from messages
    request = server.last_request
    assert request.path == "/model/us.amazon.nova-lite-v1%3A0/converse"
    assert request.model_id == MODEL_ID
    assert not request.stream
    assert request.authorization is not None
    assert request.authorization.startswith("AWS4-HMAC-SHA256 Credential=testing/")
    assert "/us-east-1/bedrock/aws4_request" in request.authorization
    assert request.body["system"] == [{"text": "You are terse."}]
    assert request.body["messages"] == [{"role": "user", "content": [{"text": "Say hello."}]}]
    assert "toolConfig" not in request.body
    assert "inferenceConfig" not in request.body


async def test_max_tokens_and_temperature_go_in_the_inference_config(
    make_model: MakeModel, server: FakeBedrockServer
) -> None:
    model = make_model(max_tokens=256, temperature=0.2)
    server.enqueue(TextReply("Cut off here", stop_reason="max_tokens"))

    response = await model.request(ASK, ModelRequest())

    assert server.last_request.body["inferenceConfig"] == {"maxTokens": 256, "temperature": 0.2}
    assert response.finish_reason == "length"


@pytest.mark.parametrize(
    "model_id",
    [
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "eu.amazon.nova-pro-v1:0",
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0",
    ],
)
async def test_inference_profiles_and_arns_are_sent_unchanged(
    make_model: MakeModel, server: FakeBedrockServer, model_id: str
) -> None:
    server.enqueue(TextReply("hi"))

    await make_model(model_id).request(ASK, ModelRequest())

    assert server.last_request.model_id == model_id


async def test_a_bedrock_model_string_builds_a_bedrock_chat() -> None:
    model = infer_model("bedrock:us.amazon.nova-lite-v1:0")

    assert isinstance(model, BedrockChat)
    assert model.id == MODEL_ID
    assert model.provider == "AwsBedrock"
    assert model.supports_structured_output


# --- streaming ---------------------------------------------------------------------------------------------


async def test_streamed_deltas_reach_the_caller_as_the_server_sends_them(
    model: BedrockChat, server: FakeBedrockServer
) -> None:
    # Given a server that drips five words, 0.15 s apart
    server.enqueue(TextReply("one two three four five", event_delay=0.15, usage=FakeUsage(7, 5)))

    # When the caller streams the answer, noting when each delta arrives
    arrivals: list[tuple[ModelDelta, float]] = []
    async for delta in model.stream(ASK, ModelRequest()):
        arrivals.append((delta, time.monotonic()))

    # Then the first delta arrived before the server had even sent its last frame: nothing waited for the end
    sent = server.last_request.sent
    first_text_at = next(at for delta, at in arrivals if delta.content)
    assert first_text_at < sent[-1][1]
    assert first_text_at < [at for kind, at in sent if kind == "contentBlockDelta"][-1]
    # And each word is its own delta, in order, and the last delta closes with usage and the finish reason
    deltas = [delta for delta, _ in arrivals]
    assert [d.content for d in deltas if d.content] == ["one ", "two ", "three ", "four ", "five"]
    last = deltas[-1]
    assert last.usage == Usage(input_tokens=7, output_tokens=5, total_tokens=12)
    assert last.finish_reason == "stop"
    assert server.last_request.path == "/model/us.amazon.nova-lite-v1%3A0/converse-stream"
    assert server.last_request.stream


async def test_a_stream_closed_early_stops_reading_and_drops_the_connection(
    model: BedrockChat, server: FakeBedrockServer
) -> None:
    # Given a long, slow stream
    words = " ".join(f"w{i}" for i in range(40))
    server.enqueue(TextReply(words, event_delay=0.05))

    # When the caller takes the first delta and then stops
    deltas = cast(AsyncGenerator[ModelDelta, None], model.stream(ASK, ModelRequest()))
    first = await anext(deltas)
    await deltas.aclose()
    assert first.content == "w0 "

    # Then the connection goes: the server cannot send the rest (the model would stop generating)
    await asyncio.sleep(0.6)
    sent_now = len(server.last_request.sent)
    await asyncio.sleep(0.3)
    assert len(server.last_request.sent) == sent_now
    assert sent_now < 40


async def test_an_exception_inside_a_stream_is_a_retryable_model_error(
    model: BedrockChat, server: FakeBedrockServer
) -> None:
    server.enqueue(StreamErrorReply("throttlingException", "Too many tokens", text="Partial answer here", after=2))

    received: list[ModelDelta] = []
    with pytest.raises(ModelError) as caught:
        await collect(model, ASK, into=received)

    assert [d.content for d in received] == ["Partial ", "answer "]
    assert caught.value.retryable
    assert caught.value.status_code == 429
    assert "Too many tokens" in str(caught.value)


# --- tool use ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["converse", "converse-stream"])
async def test_two_tool_uses_in_one_turn_become_two_tool_calls(
    model: BedrockChat, server: FakeBedrockServer, stream: bool
) -> None:
    # Given a server that says a few words, then uses two tools (streamed, each input in 4 pieces)
    server.enqueue(
        ToolUseReply(
            [FakeToolUse("add", {"a": 2, "b": 3}, id="tu_add"), FakeToolUse("multiply", {"a": 4, "b": 5}, id="tu_mul")],
            text="Computing both.",
            input_fragments=4,
        )
    )

    # When the provider asks with two tools
    answer = await ask(model, stream, [Message(role="user", content="2+3 and 4*5?")], ModelRequest(tools=TOOLS))

    # Then both calls come back, each with its whole input, in order
    if stream:
        calls = [c for d in answer for c in d.tool_calls or []]
        text = "".join(d.content or "" for d in answer)
        finish = answer[-1].finish_reason
    else:
        calls, text, finish = answer.tool_calls, answer.content, answer.finish_reason
    assert [(c.id, c.name, c.parsed_arguments()) for c in calls] == [
        ("tu_add", "add", {"a": 2, "b": 3}),
        ("tu_mul", "multiply", {"a": 4, "b": 5}),
    ]
    assert text == "Computing both."
    assert finish == "tool_calls"
    # And the tools went as toolSpecs with their JSON schema, the model left free to choose
    config = server.last_request.body["toolConfig"]
    assert config["tools"] == [
        {"toolSpec": {"name": t.name, "description": t.description, "inputSchema": {"json": t.parameters}}}
        for t in TOOLS
    ]
    assert "toolChoice" not in config


def _script_two_tool_round(server: FakeBedrockServer) -> None:
    server.enqueue(
        ToolUseReply(
            [FakeToolUse("add", {"a": 2, "b": 3}, id="tu_add"), FakeToolUse("multiply", {"a": 4, "b": 5}, id="tu_mul")],
            text="Let me compute both.",
            usage=FakeUsage(input_tokens=40, output_tokens=10),
        ),
        TextReply("2 + 3 = 5 and 4 * 5 = 20.", usage=FakeUsage(input_tokens=60, output_tokens=12)),
    )


@pytest.mark.parametrize("stream", [False, True], ids=["converse", "converse-stream"])
async def test_an_agent_runs_both_tools_and_sends_the_results_back_in_one_user_message(
    model: BedrockChat, server: FakeBedrockServer, stream: bool
) -> None:
    # Given an agent with two tools, and a server that uses both in one turn, then answers
    agent = Agent(model=model, instructions="You do arithmetic.", tools=[add, multiply])
    _script_two_tool_round(server)

    # When the agent runs (the fake refuses what Bedrock would refuse, e.g. roles that do not alternate)
    if stream:
        events = [event async for event in agent.arun("What are 2 + 3 and 4 * 5?", stream=True)]
        final = events[-1]
        assert isinstance(final, RunCompleted), events
        run = final.output
        pieces = [e.content for e in events if isinstance(e, RunContent)]
        assert "".join(pieces).endswith("2 + 3 = 5 and 4 * 5 = 20.")
    else:
        run = await agent.arun("What are 2 + 3 and 4 * 5?")

    # Then both tools ran and the run answered
    assert run.status is RunStatus.COMPLETED, run.error
    assert run.content == "2 + 3 = 5 and 4 * 5 = 20."
    assert sorted((t.tool_name, t.result) for t in run.tools) == [("add", "5"), ("multiply", "20")]
    # And the second request carried the assistant's tool uses, then ONE user message with both results
    first, second = server.requests
    assert first.tool_names == second.tool_names == ["add", "multiply"]
    assert second.body["system"] == [{"text": "You do arithmetic."}]
    assert [m["role"] for m in second.messages] == ["user", "assistant", "user"]
    assistant = second.messages[1]["content"]
    assert assistant[0] == {"text": "Let me compute both."}
    assert [b["toolUse"] for b in assistant[1:]] == [
        {"toolUseId": "tu_add", "name": "add", "input": {"a": 2, "b": 3}},
        {"toolUseId": "tu_mul", "name": "multiply", "input": {"a": 4, "b": 5}},
    ]
    assert sorted(
        (b["toolResult"]["toolUseId"], b["toolResult"]["content"]) for b in second.messages[2]["content"]
    ) == [
        ("tu_add", [{"text": "5"}]),
        ("tu_mul", [{"text": "20"}]),
    ]
    # And the run's usage sums both requests
    assert run.metrics.usage == Usage(input_tokens=100, output_tokens=22, total_tokens=122)
    assert run.model == MODEL_ID
    assert run.model_provider == "AwsBedrock"


async def test_a_failing_tool_goes_back_as_an_error_tool_result(model: BedrockChat, server: FakeBedrockServer) -> None:
    @tool
    def lookup(city: str) -> str:
        """Look a city up.

        Args:
            city: The city.
        """
        raise ToolError(f"no data for {city}")

    agent = Agent(model=model, tools=[lookup])
    server.enqueue(ToolUseReply([FakeToolUse("lookup", {"city": "Atlantis"}, id="tu_1")]), TextReply("No data."))

    run = await agent.arun("Weather in Atlantis?")

    assert run.status is RunStatus.COMPLETED, run.error
    result = server.last_request.messages[-1]["content"][0]["toolResult"]
    assert result["toolUseId"] == "tu_1"
    assert result["status"] == "error"
    assert "no data for Atlantis" in result["content"][0]["text"]


async def test_tool_turns_in_the_history_become_text_when_the_request_has_no_tools(
    model: BedrockChat, server: FakeBedrockServer
) -> None:
    # Given a conversation with an earlier tool round, asked again without tools (Converse then refuses tool
    # blocks, and the fake with it)
    history = [
        Message(role="user", content="2 + 3?"),
        Message(role="assistant", tool_calls=[ToolCall(id="tu_1", name="add", arguments='{"a": 2, "b": 3}')]),
        Message(role="tool", content="5", tool_call_id="tu_1", tool_name="add"),
        Message(role="assistant", content="5."),
        Message(role="user", content="And doubled?"),
    ]
    server.enqueue(TextReply("10."))

    # When the provider asks
    response = await model.request(history, ModelRequest())

    # Then the request was accepted: the tool round went as text, roles alternating
    assert response.content == "10."
    messages = server.last_request.messages
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant", "user"]
    assert all("text" in block for m in messages for block in m["content"])
    assert "add" in messages[1]["content"][0]["text"]
    assert "5" in messages[2]["content"][0]["text"]


# --- structured output -------------------------------------------------------------------------------------


class CityWeather(BaseModel):
    city: str
    celsius: float


@pytest.mark.parametrize("stream", [False, True], ids=["converse", "converse-stream"])
async def test_structured_output_is_a_forced_tool_whose_input_is_the_answer(
    model: BedrockChat, server: FakeBedrockServer, stream: bool
) -> None:
    # Given an agent that must answer a CityWeather, and a server that answers through the output tool
    agent = Agent(model=model, output_schema=CityWeather)
    server.enqueue(ToolUseReply([FakeToolUse("final_result", {"city": "Oslo", "celsius": 12.5})], text="Here:"))

    # When it runs
    if stream:
        events = [event async for event in agent.arun("Weather in Oslo?", stream=True)]
        final = events[-1]
        assert isinstance(final, RunCompleted), events
        run = final.output
    else:
        run = await agent.arun("Weather in Oslo?")

    # Then the run's content is the validated object (the preamble text is not part of it)
    assert run.status is RunStatus.COMPLETED, run.error
    assert run.content == CityWeather(city="Oslo", celsius=12.5)
    assert run.tools == []
    # And the schema went as the only tool, forced
    config = server.last_request.body["toolConfig"]
    assert config["toolChoice"] == {"tool": {"name": "final_result"}}
    assert [t["toolSpec"]["name"] for t in config["tools"]] == ["final_result"]
    assert config["tools"][0]["toolSpec"]["inputSchema"] == {"json": CityWeather.model_json_schema()}


async def test_structured_output_beside_other_tools_requires_some_tool(
    model: BedrockChat, server: FakeBedrockServer
) -> None:
    # Given a request with tools and an output schema, one of the tools named like the output tool
    tools = [*TOOLS, ToolDefinition("final_result", "A user tool that happens to have this name.", {"type": "object"})]
    params = ModelRequest(tools=tools, output_schema=CityWeather.model_json_schema(), output_name="CityWeather")
    server.enqueue(ToolUseReply([FakeToolUse("final_result_1", {"city": "Oslo", "celsius": 3})]))

    # When the provider asks
    response = await model.request([Message(role="user", content="Weather?")], params)

    # Then the model may call any tool (but must call one), and the output tool's input is the answer
    config = server.last_request.body["toolConfig"]
    assert config["toolChoice"] == {"any": {}}
    assert server.last_request.tool_names == ["add", "multiply", "final_result", "final_result_1"]
    assert json.loads(response.content or "") == {"city": "Oslo", "celsius": 3}
    assert response.tool_calls == []
    assert response.finish_reason == "stop"


# --- errors and retries (botocore's, and only botocore's) --------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["converse", "converse-stream"])
async def test_throttling_is_retried_by_botocore_then_succeeds(
    model: BedrockChat, server: FakeBedrockServer, stream: bool
) -> None:
    server.enqueue(ErrorReply(429, "ThrottlingException", "Too many requests, please wait."), TextReply("Finally."))

    answer = await ask(model, stream, list(ASK), ModelRequest())

    text = "".join(d.content or "" for d in answer) if stream else answer.content
    assert text == "Finally."
    assert len(server.requests) == 2


@pytest.mark.parametrize("stream", [False, True], ids=["converse", "converse-stream"])
@pytest.mark.parametrize("max_retries", [0, 2])
async def test_persistent_throttling_costs_max_retries_plus_one_requests_then_a_retryable_error(
    make_model: MakeModel, server: FakeBedrockServer, stream: bool, max_retries: int
) -> None:
    # Given a server that always throttles
    server.enqueue(*[ErrorReply(429, "ThrottlingException", "Too many requests, please wait.")] * 10)
    model = make_model(max_retries=max_retries)

    # When the provider asks
    with pytest.raises(ModelError) as caught:
        await ask(model, stream, list(ASK), ModelRequest())

    # Then botocore tried exactly max_retries + 1 times, and the error says it may succeed later
    assert len(server.requests) == max_retries + 1
    error = caught.value
    assert error.retryable
    assert error.status_code == 429
    assert "ThrottlingException" in str(error)
    assert "Too many requests" in str(error)
    if max_retries:
        assert f"after {max_retries + 1} attempts" in str(error)


async def test_a_500_is_retried_then_surfaces_as_a_retryable_error(
    make_model: MakeModel, server: FakeBedrockServer
) -> None:
    server.enqueue(*[ErrorReply(500, "InternalServerException", "Internal failure")] * 2)

    with pytest.raises(ModelError) as caught:
        await make_model(max_retries=1).request(ASK, ModelRequest())

    assert len(server.requests) == 2
    assert caught.value.retryable
    assert caught.value.status_code == 500


@pytest.mark.parametrize("stream", [False, True], ids=["converse", "converse-stream"])
async def test_a_validation_exception_ends_the_agent_run_with_run_error(
    model: BedrockChat, server: FakeBedrockServer, stream: bool
) -> None:
    # Given a server that refuses the request as invalid
    agent = Agent(model=model, tools=[add])
    server.enqueue(ErrorReply(400, "ValidationException", "The provided model identifier is invalid."))

    # When the agent runs
    if stream:
        events = [event async for event in agent.arun("What is 2 + 3?", stream=True)]
        final = events[-1]
        assert isinstance(final, RunError), events
        assert final.error_type == "ModelError"
        assert "ValidationException" in final.content
        assert final.output is not None
        run = final.output
    else:
        run = await agent.arun("What is 2 + 3?")

    # Then the run ends in error, not retried (a 400 will not get better), and the typed error is kept
    assert run.status is RunStatus.ERROR
    assert run.error_type == "ModelError"
    assert "The provided model identifier is invalid." in (run.error or "")
    assert len(server.requests) == 1
    with pytest.raises(ModelError) as caught:
        run.raise_for_status()
    assert not caught.value.retryable
    assert caught.value.status_code == 400


async def test_a_read_timeout_is_retried_by_botocore_then_a_model_timeout_error(
    make_model: MakeModel, server: FakeBedrockServer
) -> None:
    server.enqueue(TextReply("too late", delay=2.0), TextReply("too late", delay=2.0))

    with pytest.raises(ModelTimeoutError) as caught:
        await make_model(timeout=0.3, max_retries=1).request(ASK, ModelRequest())

    assert caught.value.retryable
    assert len(server.requests) == 2


async def test_a_refused_connection_is_a_retryable_model_error(make_model: MakeModel) -> None:
    import socket

    with socket.socket() as probe:  # a free loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(ModelError) as caught:
        await make_model(endpoint_url=f"http://127.0.0.1:{port}", max_retries=0).request(ASK, ModelRequest())

    assert caught.value.retryable
    assert "connection failed" in str(caught.value)


@pytest.mark.parametrize("stream", [False, True], ids=["converse", "converse-stream"])
async def test_an_empty_answer_is_a_model_error(model: BedrockChat, server: FakeBedrockServer, stream: bool) -> None:
    server.enqueue(TextReply("", stop_reason="content_filtered"))

    with pytest.raises(ModelError, match="empty") as caught:
        await ask(model, stream, list(ASK), ModelRequest())

    assert not caught.value.retryable
    assert "content_filtered" in str(caught.value)


@pytest.mark.parametrize(
    "body", [b'{"stopReason": "end_turn"}', b'{"output": {"message": {"content": [{"text": 7}]}}}']
)
async def test_a_malformed_answer_is_a_model_error(model: BedrockChat, server: FakeBedrockServer, body: bytes) -> None:
    server.enqueue(RawBodyReply(200, body))

    with pytest.raises(ModelError, match=r"malformed|empty"):
        await model.request(ASK, ModelRequest())


# --- client, region and configuration ----------------------------------------------------------------------


def test_the_client_carries_botocores_retry_and_timeout_configuration() -> None:
    model = BedrockChat(MODEL_ID, region="eu-west-1", max_retries=5, retry_mode="adaptive", timeout=12)

    config = model.client.meta.config

    assert config.retries == {"mode": "adaptive", "total_max_attempts": 6}
    assert config.read_timeout == 12
    assert config.connect_timeout == 12


def test_the_region_resolves_argument_then_aws_region_then_aws_default_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    assert BedrockChat(MODEL_ID).client.meta.region_name == "ap-south-1"
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    assert BedrockChat(MODEL_ID).client.meta.region_name == "eu-central-1"
    assert BedrockChat(MODEL_ID, region="us-west-2").client.meta.region_name == "us-west-2"
    # the stack's `model_region` (STRATUS_MODEL_REGION) wins over the function's own region
    monkeypatch.setenv("STRATUS_MODEL_REGION", "us-east-2")
    assert BedrockChat(MODEL_ID).client.meta.region_name == "us-east-2"
    assert BedrockChat(MODEL_ID, region="us-west-2").client.meta.region_name == "us-west-2"


def test_no_region_anywhere_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="region"):
        _ = BedrockChat(MODEL_ID).client


@pytest.mark.parametrize(
    "options",
    [{"max_retries": -1}, {"retry_mode": "legacy"}, {"timeout": 0}],
)
def test_invalid_settings_are_config_errors(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        BedrockChat(MODEL_ID, **options)


async def test_a_client_handed_in_is_used_and_never_closed(server: FakeBedrockServer) -> None:
    import boto3
    from botocore.config import Config

    client: Any = boto3.session.Session().client(
        "bedrock-runtime", region_name="us-east-1", endpoint_url=server.url, config=Config(retries={"max_attempts": 0})
    )
    server.enqueue(TextReply("one"), TextReply("two"))

    model = BedrockChat(MODEL_ID, client=client)
    assert (await model.request(ASK, ModelRequest())).content == "one"
    await model.aclose()

    again = BedrockChat(MODEL_ID, client=client)
    assert (await again.request(ASK, ModelRequest())).content == "two"
    assert len(server.requests) == 2


def test_importing_the_provider_does_not_import_boto3() -> None:
    code = "import sys, stratus.models.bedrock; sys.exit(1 if {'boto3', 'botocore'} & set(sys.modules) else 0)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
