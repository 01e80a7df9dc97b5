"""Test doubles for your own tests: a model that plays a script, and one that calls your function.

from stratus.models.testing import ScriptedModel, call

model = ScriptedModel(call("get_weather", city="Oslo"), "It is sunny in Oslo.")
agent = Agent(model=model, tools=[get_weather])
assert agent.run("Weather in Oslo?").content == "It is sunny in Oslo."
assert model.requests[1][-1].content == "sunny"   # what the model saw on its second request
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, ClassVar

from stratus._utils import dumps
from stratus.exceptions import ModelError
from stratus.messages import Message, ToolCall, Usage
from stratus.models.base import Model, ModelDelta, ModelRequest, ModelResponse

__all__ = ["FunctionModel", "ModelFunction", "Reply", "ScriptedModel", "call"]

_ids = itertools.count(1)

Reply = str | ToolCall | Sequence[ToolCall] | ModelResponse | BaseException
"""What a test model answers with: text, a tool call, several tool calls, a full response, or an error."""


def call(name: str, /, **arguments: Any) -> ToolCall:
    """A scripted tool call: `call("get_weather", city="Oslo")`."""
    return ToolCall(id=f"call_{next(_ids)}", name=name, arguments=dumps(arguments))


def _count_tokens(text: str | None) -> int:
    return len(text.split()) if text else 0


def _estimate_usage(messages: Sequence[Message], content: str | None, calls: Sequence[ToolCall]) -> Usage:
    # Words stand in for tokens so usage and metrics are non-zero and predictable in tests.
    input_tokens = sum(_count_tokens(m.content) for m in messages)
    output_tokens = _count_tokens(content) + sum(_count_tokens(c.arguments) for c in calls)
    return Usage(input_tokens=input_tokens, output_tokens=output_tokens, total_tokens=input_tokens + output_tokens)


def _as_response(reply: Reply, messages: Sequence[Message]) -> ModelResponse:
    if isinstance(reply, BaseException):
        raise reply
    if isinstance(reply, ModelResponse):
        if reply.usage.total_tokens == 0:
            reply.usage = _estimate_usage(messages, reply.content, reply.tool_calls)
        return reply
    if isinstance(reply, str):
        return ModelResponse(content=reply, usage=_estimate_usage(messages, reply, ()), finish_reason="stop")
    calls = [reply] if isinstance(reply, ToolCall) else list(reply)
    return ModelResponse(tool_calls=calls, usage=_estimate_usage(messages, None, calls), finish_reason="tool_calls")


async def _stream_response(response: ModelResponse, chunk_delay: float) -> AsyncIterator[ModelDelta]:
    if response.content:
        words = response.content.split(" ")
        for i, word in enumerate(words):
            if chunk_delay:
                await asyncio.sleep(chunk_delay)
            yield ModelDelta(content=word if i == len(words) - 1 else word + " ")
    yield ModelDelta(
        tool_calls=response.tool_calls or None,
        usage=response.usage,
        provider_data=response.provider_data,
        finish_reason=response.finish_reason,
    )


class ScriptedModel(Model):
    """Answers each request with the next scripted reply.

    A reply is text, a `call(...)` (or a list of them, called in one turn), a full `ModelResponse`, or an
    exception to raise. Streaming splits text into words. Every request's messages are recorded in
    `requests`, and each request's tool definitions in `tool_names`. Running out of replies raises
    `ModelError`, so a test that expects fewer model calls fails loudly.
    """

    provider: ClassVar[str] = "Test"

    def __init__(self, *replies: Reply, id: str = "scripted", delay: float = 0.0, chunk_delay: float = 0.0) -> None:
        self.id = id
        self.replies: list[Reply] = list(replies)
        self.delay = delay
        self.chunk_delay = chunk_delay
        self.requests: list[list[Message]] = []
        self.params: list[ModelRequest] = []

    @property
    def tool_names(self) -> list[list[str]]:
        return [[t.name for t in p.tools] for p in self.params]

    def _next(self, messages: Sequence[Message], params: ModelRequest) -> ModelResponse:
        self.requests.append(list(messages))
        self.params.append(params)
        if not self.replies:
            raise ModelError(f"ScriptedModel ran out of replies at request #{len(self.requests)}")
        return _as_response(self.replies.pop(0), messages)

    async def request(self, messages: Sequence[Message], params: ModelRequest) -> ModelResponse:
        if self.delay:
            await asyncio.sleep(self.delay)
        return self._next(messages, params)

    async def stream(self, messages: Sequence[Message], params: ModelRequest) -> AsyncIterator[ModelDelta]:
        if self.delay:
            await asyncio.sleep(self.delay)
        response = self._next(messages, params)
        async for delta in _stream_response(response, self.chunk_delay):
            yield delta


ModelFunction = Callable[[list[Message], ModelRequest], Reply | Awaitable[Reply]]


class FunctionModel(Model):
    """Answers by calling `function(messages, params)`, sync or async, which returns a reply as
    `ScriptedModel` understands it. Handy when the answer depends on what the model was sent."""

    provider: ClassVar[str] = "Test"

    def __init__(self, function: ModelFunction, *, id: str = "function", chunk_delay: float = 0.0) -> None:
        self.id = id
        self.function = function
        self.chunk_delay = chunk_delay
        self.requests: list[list[Message]] = []

    async def request(self, messages: Sequence[Message], params: ModelRequest) -> ModelResponse:
        sent = list(messages)
        self.requests.append(sent)
        reply = self.function(sent, params)
        if inspect.isawaitable(reply):
            reply = await reply
        return _as_response(reply, sent)

    async def stream(self, messages: Sequence[Message], params: ModelRequest) -> AsyncIterator[ModelDelta]:
        response = await self.request(messages, params)
        async for delta in _stream_response(response, self.chunk_delay):
            yield delta
