"""Anthropic's Claude models through the official `anthropic` SDK (the Messages API).

    from stratus.models.anthropic import AnthropicChat

    agent = Agent(model=AnthropicChat("claude-haiku-4-5"), tools=[...])   # or model="anthropic:claude-haiku-4-5"

The SDK is imported on first use, so importing this module costs nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from stratus._optional import requires_extra
from stratus.exceptions import ConfigError, ModelError, ModelTimeoutError
from stratus.messages import Message, ToolCall, Usage
from stratus.models._clients import SdkClientOwner
from stratus.models._replies import provider_errors, read_reply
from stratus.models.base import Model, ModelDelta, ModelRequest, ModelResponse
from stratus.secrets import get_secret
from stratus.settings import ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL

if TYPE_CHECKING:
    from anthropic import AsyncAnthropic
    from anthropic.types import Message as AnthropicMessage
    from anthropic.types import MessageDeltaUsage
    from anthropic.types import Usage as AnthropicUsage

__all__ = ["ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "AnthropicChat"]


T = TypeVar("T")

# Anthropic's stop reasons in the words the rest of stratus (and AgentOS' clients) use; the raw one stays in
# `provider_data["stop_reason"]`.
_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# The status an error type stands for, for errors sent inside a stream (whose HTTP status is 200).
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}

_OUTPUT_TOOL_DESCRIPTION = (
    "Give your final answer by calling this tool: its input is the answer, following the schema exactly."
)


class AnthropicChat(SdkClientOwner["AsyncAnthropic"], Model):
    """A Claude model served over Anthropic's Messages API.

    Credentials resolve as: `api_key`, then the `ANTHROPIC_API_KEY` secret (`stratus.secrets`: Secrets
    Manager on AWS, else the environment), then the SDK's own chain (`ANTHROPIC_AUTH_TOKEN`, profiles,
    workload identity). The endpoint: `base_url`, then `ANTHROPIC_BASE_URL`, then Anthropic's.

    Retries are the SDK's alone: rate limits (429), overload (529), server errors (5xx), timeouts and dropped
    connections are tried again up to `max_retries` times with its backoff, honouring `retry-after-ms`,
    `retry-after` and `x-should-retry`; then a `ModelError` (`retryable`, `status_code`) is raised.
    `timeout` bounds each attempt's wait for the next bytes; `deadline` (None for none) bounds one request with
    all its retries and waits (for a stream, until it starts), then raises `ModelTimeoutError`, so even a
    server asking to retry in an hour costs at most `deadline` seconds.

    Structured output goes through a tool the model must call, whose input is the answer (returned as JSON
    text). `max_tokens` is required by the API; `extra_body` adds any other field of the request (e.g.
    `{"temperature": 0.2}` or `{"thinking": {...}}`). A reply that is malformed or empty is a `ModelError`.
    """

    provider: ClassVar[str] = "Anthropic"
    supports_structured_output: ClassVar[bool] = True
    supports_media: ClassVar[bool] = True
    """Images go as `image` blocks and PDFs as `document` blocks (by URL or base64); other files as text."""

    def __init__(
        self,
        id: str = "claude-haiku-4-5",
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        max_tokens: int = 4096,
        timeout: float = 60.0,
        max_retries: int = 2,
        deadline: float | None = 120.0,
        extra_body: dict[str, Any] | None = None,
        client: AsyncAnthropic | None = None,
    ) -> None:
        if max_tokens < 1:
            raise ConfigError("max_tokens must be >= 1 (the Messages API requires it)")
        self.id = id
        self.max_tokens = max_tokens
        self.extra_body = extra_body
        self._own_client(
            client, api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries, deadline=deadline
        )

    # --- client -----------------------------------------------------------------------------------------

    def _build_client(self) -> AsyncAnthropic:
        with requires_extra("AnthropicChat", "anthropic", what="the `anthropic` package"):
            import anthropic
        api_key = self.api_key or get_secret(ANTHROPIC_API_KEY)
        base_url = self.base_url or os.environ.get(ANTHROPIC_BASE_URL) or None
        try:
            client = anthropic.AsyncAnthropic(
                api_key=api_key,  # None lets the SDK's own chain look (auth token, profiles, workload identity)
                base_url=base_url,
                timeout=self.timeout,
                max_retries=self.max_retries,  # the one retry layer: the SDK honours retry-after(-ms)
            )
        except (anthropic.AnthropicError, ValueError) as exc:
            raise ConfigError(f"AnthropicChat could not set up its client: {exc}") from exc
        if client.api_key is None and client.auth_token is None and client.credentials is None:
            raise ConfigError(
                f"AnthropicChat needs an API key: set the {ANTHROPIC_API_KEY} secret (or environment variable) "
                "or pass api_key=..."
            )
        return client

    async def _within_deadline(self, call: Awaitable[T]) -> T:
        if self.deadline is None:
            return await call
        try:
            async with asyncio.timeout(self.deadline):
                return await call
        except TimeoutError as exc:
            raise ModelTimeoutError(
                f"Anthropic model {self.id!r} gave no answer within its {self.deadline:g}s deadline"
            ) from exc

    # --- requests ---------------------------------------------------------------------------------------

    def _arguments(self, messages: Sequence[Message], params: ModelRequest) -> tuple[dict[str, Any], str | None]:
        """The request's fields, and the name of the tool that carries a structured answer (if one is asked)."""
        system, conversation = _format_messages(messages)
        args: dict[str, Any] = {"model": self.id, "max_tokens": self.max_tokens, "messages": conversation}
        if system:
            args["system"] = system
        tools: list[dict[str, Any]] = [_format_tool(t.name, t.description, t.parameters) for t in params.tools]
        output_tool: str | None = None
        if params.output_schema is not None:
            output_tool = _output_tool_name(params.output_name, {t.name for t in params.tools})
            tools.append(_format_tool(output_tool, _OUTPUT_TOOL_DESCRIPTION, params.output_schema))
            # Alone, the answer tool is forced; beside other tools the model must call one of them, so it can
            # still use its tools before it answers.
            args["tool_choice"] = {"type": "any"} if params.tools else {"type": "tool", "name": output_tool}
        args.update(_tool_choice(params, output_tool))
        if tools:
            args["tools"] = tools
        if self.extra_body:
            args["extra_body"] = self.extra_body
        return args, output_tool

    async def request(self, messages: Sequence[Message], params: ModelRequest) -> ModelResponse:
        args, output_tool = self._arguments(messages, params)
        client = self.client
        with provider_errors(lambda exc: _model_error(self.id, exc)):
            message: AnthropicMessage = await self._within_deadline(client.messages.create(**args, stream=False))
        return read_reply(
            f"Anthropic model {self.id!r}",
            lambda: _parse_message(message, output_tool),
            malformed=(AttributeError, TypeError, ValueError, KeyError),
            empty=lambda: f"no text and no tool call; stop_reason={message.stop_reason!r}",
        )

    async def stream(self, messages: Sequence[Message], params: ModelRequest) -> AsyncIterator[ModelDelta]:
        args, output_tool = self._arguments(messages, params)
        client = self.client
        with provider_errors(lambda exc: _model_error(self.id, exc)):
            events = await self._within_deadline(client.messages.create(**args, stream=True))
        blocks: dict[int, _Block] = {}
        usage = Usage()
        response_id: str | None = None
        stop_reason: str | None = None
        said = False
        finished = False
        try:
            with provider_errors(lambda exc: _model_error(self.id, exc, streaming=True)):
                async for event in events:
                    if event.type == "message_start":
                        response_id = event.message.id
                        usage = _usage(event.message.usage)
                    elif event.type == "content_block_start":
                        block = event.content_block
                        if block.type == "tool_use":
                            blocks[event.index] = _Block(
                                block.id, block.name, json.dumps(block.input) if block.input else ""
                            )
                        elif block.type == "text" and block.text:
                            said = True
                            yield ModelDelta(content=block.text, provider_data={"id": response_id})
                    elif event.type == "content_block_delta":
                        delta = event.delta
                        if delta.type == "text_delta":
                            if delta.text:
                                said = True
                                yield ModelDelta(content=delta.text, provider_data={"id": response_id})
                        elif delta.type == "input_json_delta":
                            slot = blocks.get(event.index)
                            if slot is None:
                                raise ModelError(
                                    f"Anthropic model {self.id!r} sent a malformed stream: input for block "
                                    f"{event.index}, which is not a tool call"
                                )
                            if not slot.streamed:  # the fragments replace the (empty) input the block opened with
                                slot.arguments, slot.streamed = "", True
                            slot.arguments += delta.partial_json
                            if slot.name == output_tool and delta.partial_json:
                                said = True  # the structured answer is text to the caller, so it streams as text
                                yield ModelDelta(content=delta.partial_json, provider_data={"id": response_id})
                        elif delta.type == "thinking_delta" and delta.thinking:
                            yield ModelDelta(reasoning_content=delta.thinking, provider_data={"id": response_id})
                    elif event.type == "message_delta":
                        stop_reason = event.delta.stop_reason or stop_reason
                        usage = _merge_usage(usage, event.usage)
                    elif event.type == "message_stop":
                        finished = True
        finally:
            await events.close()
        if not finished:
            raise ModelError(
                f"Anthropic model {self.id!r} sent a stream that ended before message_stop", retryable=True
            )
        answer = [b for b in blocks.values() if b.name == output_tool]
        calls = [
            ToolCall(id=b.id, name=b.name, arguments=b.arguments or "{}")
            for _, b in sorted(blocks.items())
            if b.name != output_tool
        ]
        if answer and not calls and not answer[0].streamed:  # the whole input came in the opening block
            said = True
            yield ModelDelta(content=answer[0].arguments or "{}", provider_data={"id": response_id})
        if not said and not calls:
            raise ModelError(
                f"Anthropic model {self.id!r} sent an empty stream (no text and no tool call; "
                f"stop_reason={stop_reason!r})"
            )
        yield ModelDelta(
            tool_calls=calls or None,
            usage=usage,
            provider_data=_provider_data(response_id, stop_reason),
            finish_reason=_finish_reason(stop_reason, has_calls=bool(calls)),
        )


class _Block:
    """A tool_use block being streamed: its input arrives as JSON fragments."""

    __slots__ = ("arguments", "id", "name", "streamed")

    def __init__(self, id: str, name: str, arguments: str) -> None:
        self.id = id
        self.name = name
        self.arguments = arguments
        self.streamed = False


# --- the request -----------------------------------------------------------------------------------------


def _format_messages(messages: Sequence[Message]) -> tuple[str, list[dict[str, Any]]]:
    """System text (the API takes it apart from the conversation), and the conversation in content blocks.

    Consecutive messages of one role become one message, so the results of one turn's tool calls go back as
    `tool_result` blocks of a single user message, right after the assistant message that asked for them.
    """
    system: list[str] = []
    out: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return  # the API refuses empty messages and empty text blocks
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})

    for message in messages:
        if message.role == "system":
            if message.content:
                system.append(message.content)
        elif message.role == "tool":
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.tool_call_id or ""}
            if message.content:
                result["content"] = message.content
            if message.tool_call_error:
                result["is_error"] = True
            add("user", [result])
        elif message.role == "assistant":
            blocks: list[dict[str, Any]] = [{"type": "text", "text": message.content}] if message.content else []
            blocks.extend(
                {"type": "tool_use", "id": call.id, "name": call.name, "input": _tool_input(call)}
                for call in message.tool_calls or ()
            )
            add("assistant", blocks)
        elif message.images or message.files:
            text = [{"type": "text", "text": message.content}] if message.content else []
            add("user", text + _media_blocks(message))
        elif message.content:
            add("user", [{"type": "text", "text": message.content}])
    for item in out:  # a lone text block reads better (and is smaller) as a plain string
        blocks = item["content"]
        if len(blocks) == 1 and blocks[0]["type"] == "text":
            item["content"] = blocks[0]["text"]
    return "\n\n".join(system), out


def _media_blocks(message: Message) -> list[dict[str, Any]]:
    """A user message's images and PDFs as Anthropic blocks (other files, and what is gone, as text)."""
    from stratus.media import Media, media_parts, unavailable

    def source(media: Media) -> dict[str, Any] | None:
        if media.url is not None:
            return {"type": "url", "url": media.url}
        data = media.base64()
        return None if data is None else {"type": "base64", "media_type": media.mime_type, "data": data}

    images, files = media_parts(message)
    blocks: list[dict[str, Any]] = []
    for image in images:
        found = source(image)
        blocks.append({"type": "image", "source": found} if found else {"type": "text", "text": unavailable(image)})
    for file in files:
        found = source(file) if file.mime_type == "application/pdf" else None
        if found is not None:
            blocks.append({"type": "document", "source": found})
        else:
            blocks.append({"type": "text", "text": f'<file name="{file.label}">\n{file.text()}\n</file>'})
    return blocks


def _tool_input(call: ToolCall) -> dict[str, Any]:
    try:
        return call.parsed_arguments()
    except ValueError:
        return {}  # the model wrote arguments that are not a JSON object; its tool result says so


def _format_tool(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    tool: dict[str, Any] = {"name": name, "input_schema": schema}
    if description:
        tool["description"] = description
    return tool


def _tool_choice(params: ModelRequest, output_tool: str | None) -> dict[str, Any]:
    """The request's `tool_choice` for the agent's (`ModelRequest.tool_choice`), if it asks for one. With an
    answer tool, "none" forces the answer tool (the answer is a call to it)."""
    choice = params.tool_choice
    if choice is None or choice == "auto" or not params.tools:
        return {}
    if choice == "none":
        return {"tool_choice": {"type": "tool", "name": output_tool} if output_tool else {"type": "none"}}
    if choice == "required":
        return {"tool_choice": {"type": "any"}}
    return {"tool_choice": {"type": "tool", "name": choice}}


def _output_tool_name(name: str | None, taken: set[str]) -> str:
    cleaned = "".join(c if c.isalnum() or c in "_-" else "_" for c in (name or "final_result"))[:64] or "final_result"
    while cleaned in taken:  # never shadow one of the agent's own tools
        cleaned = f"{cleaned[:56]}_answer"
    return cleaned


# --- the answer ------------------------------------------------------------------------------------------


def _parse_message(message: AnthropicMessage, output_tool: str | None) -> ModelResponse | None:
    """The answer a message carries, or None when it carries none."""
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[ToolCall] = []
    answer: str | None = None
    for block in message.content:
        if block.type == "text":
            text = cast(object, block.text)  # typed str, but the SDK does not enforce it
            if not isinstance(text, str):
                raise TypeError(f"text is a {type(text).__name__}, not text")
            texts.append(text)
        elif block.type == "thinking":
            thoughts.append(block.thinking)
        elif block.type == "tool_use":
            arguments = json.dumps(block.input)
            if block.name == output_tool:
                answer = arguments
            else:
                calls.append(ToolCall(id=block.id, name=block.name, arguments=arguments))
    content = "".join(texts) or None
    if answer is not None and not calls:
        content = answer  # the structured answer is the content; text around it is the model thinking aloud
    if not content and not calls:
        return None
    return ModelResponse(
        content=content,
        tool_calls=calls,
        usage=_usage(message.usage),
        provider_data=_provider_data(message.id, message.stop_reason),
        finish_reason=_finish_reason(message.stop_reason, has_calls=bool(calls)),
        reasoning_content="".join(thoughts) or None,
    )


def _finish_reason(stop_reason: str | None, *, has_calls: bool) -> str | None:
    if stop_reason == "tool_use" and not has_calls:
        return "stop"  # the only tool called was the answer tool: the model answered
    if stop_reason is None:
        return None
    return _FINISH_REASONS.get(stop_reason, stop_reason)


def _provider_data(response_id: str | None, stop_reason: str | None) -> dict[str, Any] | None:
    data: dict[str, Any] = {}
    if response_id:
        data["id"] = response_id
    if stop_reason:
        data["stop_reason"] = stop_reason
    return data or None


def _usage(usage: AnthropicUsage | None) -> Usage:
    """Anthropic counts cached input apart; stratus' `input_tokens` is all the input, as OpenAI counts it."""
    if usage is None:
        return Usage()
    return Usage.counting_cache(
        usage.input_tokens or 0,
        usage.output_tokens or 0,
        cache_read=usage.cache_read_input_tokens or 0,
        cache_write=usage.cache_creation_input_tokens or 0,
    )


def _merge_usage(start: Usage, delta: MessageDeltaUsage) -> Usage:
    """Usage from `message_start`, updated by `message_delta` (cumulative: the final output count, and the
    input counts when the API repeats them)."""
    read = delta.cache_read_input_tokens if delta.cache_read_input_tokens is not None else start.cache_read_tokens
    written = (
        delta.cache_creation_input_tokens if delta.cache_creation_input_tokens is not None else start.cache_write_tokens
    )
    if delta.input_tokens is not None:
        uncached = delta.input_tokens
    else:
        uncached = start.input_tokens - start.cache_read_tokens - start.cache_write_tokens
    output = delta.output_tokens or start.output_tokens
    return Usage.counting_cache(uncached, output, cache_read=read, cache_write=written)


# --- errors ----------------------------------------------------------------------------------------------


def _model_error(model_id: str, exc: Exception, *, streaming: bool = False) -> ModelError:
    """An SDK failure as a `ModelError`: retryable when the SDK's own policy would have tried again.
    `streaming` says the failure came while reading a stream that had started (an error event, a cut)."""
    import anthropic

    attempts = 1 if streaming else _attempts(exc)  # a stream that broke off was not retried
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    if isinstance(exc, anthropic.APITimeoutError):
        return ModelTimeoutError(f"Anthropic model {model_id!r} timed out{tries}", retryable=True)
    if isinstance(exc, anthropic.APIConnectionError):
        return ModelError(f"Anthropic model {model_id!r}: connection failed{tries}: {exc}", retryable=True)
    if isinstance(exc, anthropic.APIStatusError):
        kind = exc.type
        status = exc.status_code
        if status < 400:  # an error event inside a stream that had started well
            status = _ERROR_STATUS.get(str(kind), 500)
        should_retry = exc.response.headers.get("x-should-retry")
        if should_retry in ("true", "false"):
            retryable = should_retry == "true"
        else:
            retryable = status in (408, 409, 429) or status >= 500
        detail = exc.api_message or exc.message or str(exc)
        label = f"HTTP {status} {kind}" if kind else f"HTTP {status}"
        return ModelError(
            f"Anthropic model {model_id!r} failed{tries}: {label}: {detail}",
            retryable=retryable,
            status_code=status,
        )
    if streaming and _is_transport_error(exc):
        return ModelError(f"Anthropic model {model_id!r}: the stream broke off: {exc}", retryable=True)
    return ModelError(f"Anthropic model {model_id!r} failed: {type(exc).__name__}: {exc}")


def _attempts(exc: Exception) -> int:
    """How many attempts the SDK made: the last attempt's request carries the count of retries before it."""
    request = getattr(exc, "request", None)
    headers = getattr(request, "headers", None)
    raw = headers.get("x-stainless-retry-count") if headers is not None else None
    try:
        return int(raw) + 1 if raw is not None else 1
    except ValueError:
        return 1


def _is_transport_error(exc: Exception) -> bool:
    try:
        import httpx2
    except ImportError:  # pragma: no cover - the SDK depends on it
        return False
    return isinstance(exc, httpx2.TransportError)
