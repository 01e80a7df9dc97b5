"""How `LlamaCpp` reads a small local model's tool calls: calls written as a JSON block, held back while
streamed, and a repeated call turned into a request for the answer. The llama.cpp server is replaced by the
fake OpenAI wire server (the real `OpenAIChat` and `openai` SDK run above it); the real model runs in
tests/integration/test_llama_cpp.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from stratus.messages import Message, ToolCall
from stratus.models.base import ModelRequest
from stratus.models.llama_cpp import LlamaCpp
from stratus.tools import ToolDefinition
from tests.fakes.openai_server import FakeOpenAIServer, FakeToolCall, TextReply, ToolCallsReply, openai_server

__all__ = ["openai_server"]  # the fixture

CALC = ToolDefinition(
    name="calculate",
    description="Evaluate arithmetic exactly.",
    parameters={"type": "object", "properties": {"expression": {"type": "string"}}},
)
TOOLS = ModelRequest(tools=[CALC])
ASKED = [Message(role="system", content="Be brief."), Message(role="user", content="What is 17 * 23?")]
CALL = '```json\n{"name": "calculate", "arguments": {"expression": "17 * 23"}}\n```'
ANSWERED = [
    *ASKED,
    Message(role="assistant", tool_calls=[ToolCall(id="c1", name="calculate", arguments='{"expression": "17 * 23"}')]),
    Message(role="tool", content="391", tool_call_id="c1"),
]


@dataclass
class _Server:
    """Stands in for the llama.cpp process: always up, at the fake's address."""

    url: str
    api_key: str = "local-key"
    pid: int | None = None

    def ensure(self) -> str:
        return self.url

    def exit_reason(self, wait: float = 0.0) -> str | None:
        return None

    def restart(self) -> None:
        pass


@pytest.fixture(params=["native", "text"])
async def model(
    request: pytest.FixtureRequest, openai_server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[LlamaCpp]:
    server = _Server(openai_server.url)
    monkeypatch.setattr(LlamaCpp, "server", property(lambda self: server))
    model = LlamaCpp("smollm2-135m", tool_format=request.param)
    yield model
    await model.aclose()


async def test_a_reply_that_is_a_json_call_becomes_a_tool_call(
    model: LlamaCpp, openai_server: FakeOpenAIServer
) -> None:
    openai_server.enqueue(TextReply(CALL))

    response = await model.request(ASKED, TOOLS)

    assert [(c.name, c.parsed_arguments()) for c in response.tool_calls] == [("calculate", {"expression": "17 * 23"})]
    assert response.content is None
    assert response.finish_reason == "tool_calls"
    sent = openai_server.bodies[0]
    if model.tool_format == "native":  # the tools go as OpenAI tools, for the model's own template
        assert [t["function"]["name"] for t in sent["tools"]] == ["calculate"]
    else:  # described in the system message
        assert "tools" not in sent
        assert "calculate(expression: string)" in sent["messages"][0]["content"]


async def test_a_streamed_json_call_is_held_back_and_comes_as_a_tool_call(
    model: LlamaCpp, openai_server: FakeOpenAIServer
) -> None:
    openai_server.enqueue(TextReply(CALL))

    deltas = [d async for d in model.stream(ASKED, TOOLS)]

    assert [d.content for d in deltas if d.content] == []  # nothing of the call was shown as text
    calls = [c for d in deltas for c in d.tool_calls or []]
    assert [(c.name, c.parsed_arguments()) for c in calls] == [("calculate", {"expression": "17 * 23"})]
    assert deltas[-1].finish_reason == "tool_calls"


async def test_a_streamed_answer_streams_as_it_comes(model: LlamaCpp, openai_server: FakeOpenAIServer) -> None:
    openai_server.enqueue(TextReply("17 * 23 is 391."))

    deltas = [d async for d in model.stream(ASKED, TOOLS)]

    assert len([d for d in deltas if d.content]) > 1
    assert "".join(d.content or "" for d in deltas) == "17 * 23 is 391."
    assert not any(d.tool_calls for d in deltas)


async def test_a_call_repeated_after_its_result_asks_for_the_answer_with_tools_off(
    model: LlamaCpp, openai_server: FakeOpenAIServer
) -> None:
    openai_server.enqueue(TextReply(CALL), TextReply("17 * 23 = 391."))

    response = await model.request(ANSWERED, TOOLS)

    assert response.content == "17 * 23 = 391."
    assert response.tool_calls == []
    again = openai_server.bodies[1]
    assert "tools" not in again
    roles = [m["role"] for m in again["messages"]]
    assert roles == ["system", "user", "assistant", "user"]  # the call and its result as text, any template reads
    assert "<tool_response>391</tool_response>" in again["messages"][-1]["content"]
    assert "Do not call a tool" in again["messages"][0]["content"]
    assert "calculate(expression" not in again["messages"][0]["content"]
    assert response.usage.input_tokens > 0


async def test_a_streamed_repeated_call_streams_the_answer_instead(
    model: LlamaCpp, openai_server: FakeOpenAIServer
) -> None:
    openai_server.enqueue(TextReply(CALL), TextReply("It is 391."))

    deltas = [d async for d in model.stream(ANSWERED, TOOLS)]

    assert "".join(d.content or "" for d in deltas) == "It is 391."
    assert not any(d.tool_calls for d in deltas)
    assert len(openai_server.requests) == 2


async def test_a_repeated_native_call_is_caught_too(model: LlamaCpp, openai_server: FakeOpenAIServer) -> None:
    openai_server.enqueue(
        ToolCallsReply([FakeToolCall("calculate", {"expression": "17 * 23"})]), TextReply("That is 391.")
    )
    assert (await model.request(ANSWERED, TOOLS)).content == "That is 391."


async def test_a_new_call_after_a_result_is_made(model: LlamaCpp, openai_server: FakeOpenAIServer) -> None:
    openai_server.enqueue(TextReply('{"name": "calculate", "arguments": {"expression": "391 * 2"}}'))

    response = await model.request(ANSWERED, TOOLS)

    assert [c.parsed_arguments() for c in response.tool_calls] == [{"expression": "391 * 2"}]
    assert len(openai_server.requests) == 1


async def test_a_call_made_before_the_user_spoke_again_may_be_made_again(
    model: LlamaCpp, openai_server: FakeOpenAIServer
) -> None:
    openai_server.enqueue(TextReply(CALL))
    later = [*ANSWERED, Message(role="assistant", content="391."), Message(role="user", content="And again?")]

    response = await model.request(later, TOOLS)

    assert [c.name for c in response.tool_calls] == ["calculate"]


async def test_an_empty_reply_to_a_request_with_tools_asks_for_the_answer(
    model: LlamaCpp, openai_server: FakeOpenAIServer
) -> None:
    # llama.cpp answers nothing when the model began a call its parser could not read
    openai_server.enqueue(TextReply(""), TextReply("391."), TextReply(""), TextReply("It is 391."))

    assert (await model.request(ANSWERED, TOOLS)).content == "391."
    assert "tools" not in openai_server.bodies[1]
    deltas = [d async for d in model.stream(ANSWERED, TOOLS)]
    assert "".join(d.content or "" for d in deltas) == "It is 391."


async def test_when_the_model_gives_no_answer_at_all_its_results_are_the_answer(
    model: LlamaCpp, openai_server: FakeOpenAIServer
) -> None:
    openai_server.enqueue(TextReply(""), TextReply(""), TextReply(""), TextReply(""))

    assert (await model.request(ANSWERED, TOOLS)).content == "391"
    deltas = [d async for d in model.stream(ANSWERED, TOOLS)]
    assert "".join(d.content or "" for d in deltas) == "391"
    assert deltas[-1].finish_reason == "stop"
