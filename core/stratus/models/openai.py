"""OpenAI Chat Completions through the official `openai` SDK; also any OpenAI-compatible server via `base_url`."""

from __future__ import annotations

import asyncio
import math
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypedDict, TypeVar, Unpack, cast

from stratus._utils import not_none
from stratus.exceptions import ConfigError, ModelError, ModelTimeoutError
from stratus.messages import Message, ToolCall, Usage
from stratus.models._clients import SdkClientOwner
from stratus.models._replies import provider_errors, read_reply
from stratus.models.base import Model, ModelDelta, ModelRequest, ModelResponse
from stratus.secrets import get_secret

if TYPE_CHECKING:
    from openai import AsyncOpenAI
    from openai.types.chat import ChatCompletion
    from openai.types.completion_usage import CompletionUsage

__all__ = ["OpenAIChat", "OpenAIClientOwner", "OpenAIConnection"]

T = TypeVar("T")

_RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


class OpenAIConnection(TypedDict, total=False):
    """How an OpenAI model or embedder reaches the API (every key optional; `OpenAIClientOwner` has the
    defaults): credentials and endpoint, then the retry policy `OpenAIChat` describes."""

    api_key: str | None
    base_url: str | None
    organization: str | None
    timeout: float
    """Seconds for each attempt (60)."""
    max_retries: int
    """Attempts after the first (3)."""
    backoff: float
    max_backoff: float
    """The first wait between attempts (0.5 s), doubled up to this (8 s)."""
    client: AsyncOpenAI | None
    """An SDK client to use as it is (never closed here)."""
    deadline: float | None
    """Seconds for one request with its retries (60; None for none)."""


class OpenAIClientOwner(SdkClientOwner["AsyncOpenAI"]):
    """Owns an `AsyncOpenAI` client for an OpenAI model or embedder: resolves credentials (argument, then
    `OPENAI_API_KEY` through `stratus.secrets`, then the environment), builds the client on first use and again
    for each new event loop, never closes a client the caller handed in, and retries what is worth retrying."""

    organization: str | None
    backoff: float
    max_backoff: float

    def _init_client(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        organization: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        client: AsyncOpenAI | None = None,
        deadline: float | None = 60.0,
    ) -> None:
        self._own_client(
            client, api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries, deadline=deadline
        )
        self.organization = organization
        self.backoff = backoff
        self.max_backoff = max_backoff

    # --- client -----------------------------------------------------------------------------------------

    def _build_client(self) -> AsyncOpenAI:
        try:
            client_class = _client_class(self.backoff, self.max_backoff)
        except ImportError as exc:  # pragma: no cover - openai is a core dependency
            raise ConfigError(f"{type(self).__name__} needs the `openai` package: pip install openai") from exc
        base_url = self.base_url or os.environ.get("OPENAI_BASE_URL") or None
        api_key = self.api_key or get_secret("OPENAI_API_KEY")
        if not api_key:
            if not base_url:
                raise ConfigError(
                    f"{type(self).__name__} needs an API key: set OPENAI_API_KEY or pass api_key=..., "
                    "or point base_url at an OpenAI-compatible server"
                )
            api_key = "unused"  # local OpenAI-compatible servers often need no key, the SDK wants one
        # One retry layer, the SDK's: it honours Retry-After (seconds or a date), retry-after-ms and
        # x-should-retry, and does not retry at all when asked to wait longer than it would; only the wait
        # when the server names none is ours (`backoff`, `max_backoff`).
        return client_class(
            api_key=api_key,
            base_url=base_url,
            organization=self.organization,
            timeout=self.timeout,
            max_retries=self.max_retries,
        )

    async def _within_deadline(self, call: Callable[[], Awaitable[T]]) -> T:
        """`call`, which the SDK retries (up to `max_retries` times, waiting as the server asks), within
        `deadline`: it bounds the whole request, retries and waits included (for a stream, until it starts),
        so a server that accepts connections and never answers costs `deadline` seconds, not `timeout` times
        the attempts. `timeout` bounds each attempt (connect, first byte, the gap between two chunks)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.deadline if self.deadline is not None else None
        with provider_errors(lambda exc: _model_error(self.id, exc, retries=self.max_retries)):
            try:
                async with asyncio.timeout_at(deadline):
                    return await call()
            except TimeoutError as exc:
                raise ModelTimeoutError(
                    f"OpenAI model {self.id!r} gave no answer within its {self.deadline:g}s deadline (retries included)"
                ) from exc


_CLIENT_CLASSES: dict[tuple[float, float], type[Any]] = {}


def _client_class(backoff: float, max_backoff: float) -> type[AsyncOpenAI]:
    """`AsyncOpenAI` whose wait between retries, when the server asks for none, is `backoff` doubled each
    time up to `max_backoff` (the SDK's own: 0.5 s up to 8 s). Every wait the server asks for stays the SDK's."""
    from openai import AsyncOpenAI

    found = _CLIENT_CLASSES.get((backoff, max_backoff))
    if found is not None:
        return cast("type[AsyncOpenAI]", found)

    class _Client(AsyncOpenAI):
        def _calculate_retry_timeout(self, remaining_retries: int, options: Any, response_headers: Any = None) -> float:
            asked = self._parse_retry_after_header(response_headers)
            if asked is not None and math.isfinite(asked) and asked > 0:
                return super()._calculate_retry_timeout(remaining_retries, options, response_headers)
            done = options.get_max_retries(self.max_retries) - remaining_retries
            return min(backoff * 2 ** min(done, 60), max_backoff) * (1 - 0.25 * random.random())

    _CLIENT_CLASSES[(backoff, max_backoff)] = _Client
    return _Client


class OpenAIChat(OpenAIClientOwner, Model):
    """A chat model served over the OpenAI Chat Completions API.

    Credentials and endpoint resolve as: argument, then `OPENAI_API_KEY` / `OPENAI_BASE_URL`, then the SDK's
    default. Rate limits (429), server errors (5xx), timeouts and dropped connections are retried by the SDK
    up to `max_retries` times, waiting as the server asks (`Retry-After`, `retry-after-ms`; not at all when it
    says `x-should-retry: false` or asks for more than two minutes), else `backoff` doubled up to
    `max_backoff`; then `ModelError`.
    `timeout` bounds each attempt (connect, first byte, the gap between two chunks); `deadline` (60 s by
    default, None for none) bounds one request with its retries, then raises `ModelTimeoutError`. A reply
    that is malformed or empty (no content and no tool call) is a `ModelError`, never an empty answer.
    """

    provider: ClassVar[str] = "OpenAI"
    supports_structured_output: ClassVar[bool] = True
    supports_media: ClassVar[bool] = True
    """Images go as `image_url` parts (a URL or a `data:` URL), PDFs as `file` parts; other files as text."""

    def __init__(
        self,
        id: str = "gpt-4o-mini",
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        stream_usage: bool = True,
        extra_body: dict[str, Any] | None = None,
        **connection: Unpack[OpenAIConnection],
    ) -> None:
        self.id = id
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.stream_usage = stream_usage
        self.extra_body = extra_body
        self._init_client(**connection)

    # --- requests ---------------------------------------------------------------------------------------

    def _arguments(self, messages: Sequence[Message], params: ModelRequest) -> dict[str, Any]:
        args: dict[str, Any] = {"model": self.id, "messages": [_format_message(m) for m in messages]}
        if params.tools:
            args["tools"] = [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
                }
                for t in params.tools
            ]
            choice = params.tool_choice
            if choice is not None:
                named = choice not in ("auto", "none", "required")
                args["tool_choice"] = {"type": "function", "function": {"name": choice}} if named else choice
        if params.output_schema is not None:
            args["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": _schema_name(params.output_name),
                    "schema": params.output_schema,
                    "strict": False,
                },
            }
        args.update(not_none(temperature=self.temperature, max_tokens=self.max_tokens))
        if self.extra_body:
            args["extra_body"] = self.extra_body
        return args

    async def request(self, messages: Sequence[Message], params: ModelRequest) -> ModelResponse:
        args = self._arguments(messages, params)
        client = self.client
        completion: ChatCompletion = await self._within_deadline(
            lambda: client.chat.completions.create(**args, stream=False)
        )
        return read_reply(
            f"OpenAI model {self.id!r}",
            lambda: _parse_completion(completion),
            malformed=(AttributeError, TypeError, ValueError, IndexError),
            empty=lambda: "no choices, or no content and no tool call",
        )

    async def stream(self, messages: Sequence[Message], params: ModelRequest) -> AsyncIterator[ModelDelta]:
        args = self._arguments(messages, params)
        if self.stream_usage:
            args["stream_options"] = {"include_usage": True}
        client = self.client
        stream = await self._within_deadline(lambda: client.chat.completions.create(**args, stream=True))
        calls: dict[int, dict[str, str]] = {}
        said = False
        usage: Usage | None = None
        response_id: str | None = None
        finish_reason: str | None = None
        try:
            # a stream that broke midway is not retried
            with provider_errors(lambda exc: _model_error(self.id, exc, retries=0)):
                async for chunk in stream:
                    response_id = chunk.id or response_id
                    if chunk.usage is not None:
                        usage = _usage(chunk.usage)
                    for choice in chunk.choices:
                        finish_reason = choice.finish_reason or finish_reason
                        delta = choice.delta
                        for part in delta.tool_calls or []:
                            # Some compatible servers leave out `index`; a new id then starts a new call.
                            given = cast(int | None, part.index)  # typed int, but the SDK does not enforce it
                            index = given if given is not None else _index_for(calls, part.id)
                            slot = calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
                            if part.id:
                                slot["id"] = part.id
                            if part.function is not None:
                                name = part.function.name
                                if name and name != slot["name"]:  # some servers repeat the name in every chunk
                                    slot["name"] += name
                                if part.function.arguments:
                                    slot["arguments"] += part.function.arguments
                        if not isinstance(cast(object, delta.content), str | None):
                            raise ModelError(f"OpenAI model {self.id!r} sent a malformed stream: content is not text")
                        if delta.content:
                            said = True
                            yield ModelDelta(content=delta.content, provider_data={"id": response_id})
        finally:
            await stream.close()
        tool_calls = [
            ToolCall(id=c["id"] or f"call_{i}", name=c["name"], arguments=c["arguments"] or "{}")
            for i, c in sorted(calls.items())
        ]
        if not said and not tool_calls:
            raise ModelError(f"OpenAI model {self.id!r} sent an empty stream (no content and no tool call)")
        yield ModelDelta(
            tool_calls=tool_calls or None,
            usage=usage or Usage(),
            provider_data={"id": response_id} if response_id else None,
            finish_reason=finish_reason,
        )


def _parse_completion(completion: ChatCompletion) -> ModelResponse | None:
    """The answer a completion carries, or None when it carries none."""
    if not completion.choices:
        return None
    choice = completion.choices[0]
    message = choice.message
    calls = [
        ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments or "{}")
        for c in (message.tool_calls or [])
        if c.type == "function"
    ]
    content = cast(object, message.content)  # typed str | None, but a lenient reply may hold anything
    if content is not None and not isinstance(content, str):
        raise TypeError(f"content is a {type(content).__name__}, not text")
    if not message.content and not calls:
        return None
    return ModelResponse(
        content=message.content,
        tool_calls=calls,
        usage=_usage(completion.usage),
        provider_data={"id": completion.id},
        finish_reason=choice.finish_reason,
    )


def _format_message(message: Message) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content or ""}
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.role == "user" and (message.images or message.files):
        out["content"] = _media_content(message)
    if message.role == "assistant" and message.tool_calls:
        out["tool_calls"] = [c.to_dict() for c in message.tool_calls]
    elif out["content"] is None:
        out["content"] = ""
    return out


def _media_content(message: Message) -> list[dict[str, Any]]:
    """A user message's content parts: its text, then its images and files in OpenAI's forms."""
    from stratus.media import media_parts, unavailable

    images, files = media_parts(message)
    parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}] if message.content else []
    for image in images:
        url = image.url or image.data_url()
        if url is None:
            parts.append({"type": "text", "text": unavailable(image)})
        else:
            parts.append({"type": "image_url", "image_url": {"url": url}})
    for file in files:
        data = file.data_url() if file.mime_type == "application/pdf" else None
        if data is not None:  # the API takes PDFs as files, and only inline
            parts.append({"type": "file", "file": {"filename": file.filename or f"{file.id}.pdf", "file_data": data}})
        else:
            parts.append({"type": "text", "text": f'<file name="{file.label}">\n{file.text()}\n</file>'})
    return parts


def _index_for(calls: dict[int, dict[str, str]], call_id: str | None) -> int:
    if not calls:
        return 0
    last = max(calls)
    if call_id and calls[last]["id"] and calls[last]["id"] != call_id:
        return last + 1
    return last


def _schema_name(name: str | None) -> str:
    cleaned = "".join(c if c.isalnum() or c in "_-" else "_" for c in (name or "output"))
    return cleaned[:64] or "output"


def _usage(usage: CompletionUsage | None) -> Usage:
    if usage is None:
        return Usage()
    cached = usage.prompt_tokens_details.cached_tokens if usage.prompt_tokens_details else None
    reasoning = usage.completion_tokens_details.reasoning_tokens if usage.completion_tokens_details else None
    return Usage(
        input_tokens=usage.prompt_tokens,
        output_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
        reasoning_tokens=reasoning or 0,
        cache_read_tokens=cached or 0,
    )


def _model_error(model_id: str, exc: Exception, *, retries: int) -> ModelError:
    import openai

    tries = f" (retried up to {retries} time{'s' if retries != 1 else ''})" if retries else ""
    if isinstance(exc, openai.APIStatusError):
        message = exc.message or str(exc)
        return ModelError(
            f"OpenAI model {model_id!r} failed{tries}: HTTP {exc.status_code}: {message}",
            retryable=exc.status_code in _RETRYABLE_STATUS or exc.status_code >= 500,
            status_code=exc.status_code,
        )
    if isinstance(exc, openai.APITimeoutError):
        return ModelTimeoutError(f"OpenAI model {model_id!r} timed out{tries}", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return ModelError(f"OpenAI model {model_id!r}: connection failed{tries}: {exc}", retryable=True)
    return ModelError(f"OpenAI model {model_id!r} failed{tries}: {type(exc).__name__}: {exc}")
