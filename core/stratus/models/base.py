"""The model contract: one required async method that sends messages and tools and returns a response, and
an optional streaming one. A provider class owns its credentials and SDK client."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from stratus.messages import Message, ToolCall, Usage
from stratus.tools import ToolDefinition

__all__ = ["Model", "ModelDelta", "ModelRequest", "ModelResponse"]


@dataclass(slots=True)
class ModelRequest:
    """What a request asks of the model besides the messages: the tools it may call (and whether it must),
    and, for structured output, the JSON schema its answer must follow.

    `tool_choice`: None or `"auto"`, the model decides; `"none"`, it calls no tool (a provider that cannot
    say so is sent no tools); `"required"`, it calls some tool; any other value names the one tool it must
    call. A provider that cannot force a call treats a forced one as `"auto"`."""

    tools: Sequence[ToolDefinition] = ()
    output_schema: dict[str, Any] | None = None
    output_name: str | None = None
    tool_choice: str | None = None


@dataclass(slots=True)
class ModelResponse:
    """A complete answer: text, tool calls, or both."""

    content: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list[ToolCall])
    usage: Usage = field(default_factory=Usage)
    provider_data: dict[str, Any] | None = None
    finish_reason: str | None = None
    reasoning_content: str | None = None


@dataclass(slots=True)
class ModelDelta:
    """A piece of a streamed answer. Text arrives in many deltas; tool calls arrive complete, once the
    provider has assembled their arguments; usage arrives when the provider reports it (usually last)."""

    content: str | None = None
    reasoning_content: str | None = None
    tool_calls: list[ToolCall] | None = None
    usage: Usage | None = None
    provider_data: dict[str, Any] | None = None
    finish_reason: str | None = None


class Model(ABC):
    """A language model. Subclasses implement `request`; `stream` defaults to one delta holding the answer.

    `id` names the model at its provider (`gpt-4o-mini`); `provider` names the provider (`OpenAI`).
    `supports_structured_output` says whether the provider constrains output to a JSON schema natively;
    when it does not, the agent describes the schema in the system message instead.
    """

    provider: ClassVar[str] = "Custom"
    supports_structured_output: ClassVar[bool] = False
    supports_tools: ClassVar[bool] = True

    id: str

    @property
    def name(self) -> str:
        """The class name, as AgentOS reports it in `model.name`."""
        return type(self).__name__

    @abstractmethod
    async def request(self, messages: Sequence[Message], params: ModelRequest) -> ModelResponse:
        """Send `messages` and return the model's complete answer. Failures raise `ModelError`."""

    async def stream(self, messages: Sequence[Message], params: ModelRequest) -> AsyncIterator[ModelDelta]:
        """Stream the answer as deltas. The default sends one `request` and yields it as a single delta."""
        response = await self.request(messages, params)
        yield ModelDelta(
            content=response.content,
            reasoning_content=response.reasoning_content,
            tool_calls=response.tool_calls or None,
            usage=response.usage,
            provider_data=response.provider_data,
            finish_reason=response.finish_reason,
        )

    def warm_up(self) -> None:
        """Get ready to answer, e.g. start a local model's server. The API server calls it at startup, in a
        thread and off the request path, so the first request does not pay for it; a failure there is only
        logged (the first request then tries again and reports it). Nothing to do by default."""
        return

    async def aclose(self) -> None:
        """Release the provider's client, if it holds one."""
        return

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r})"
