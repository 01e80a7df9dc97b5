"""AWS Bedrock chat models through the Converse API (boto3's `bedrock-runtime`: `converse`, `converse_stream`).

boto3 is imported on first use, not with this module, so naming a Bedrock model costs a cold start nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, ClassVar, Literal, cast

from stratus._checks import non_negative, positive
from stratus._utils import not_none
from stratus.exceptions import ConfigError, ModelError, ModelTimeoutError, StratusError
from stratus.messages import Message, ToolCall, Usage
from stratus.models._clients import BlockingClient, boto3_client
from stratus.models._replies import provider_errors, read_reply
from stratus.models.base import Model, ModelDelta, ModelRequest, ModelResponse
from stratus.settings import STRATUS_MODEL_REGION

__all__ = ["BedrockChat", "RetryMode"]

RetryMode = Literal["standard", "adaptive"]
"""botocore's retry modes: `standard` (exponential backoff with jitter) or `adaptive` (that, plus client-side
rate limiting once the service throttles)."""

OUTPUT_TOOL = "final_result"
"""The tool whose input is the answer, when a request asks for structured output."""

# Error codes worth trying again, lower-cased: an event stream names its exceptions in camelCase
# (`throttlingException`), an HTTP error in PascalCase (`ThrottlingException`).
_RETRYABLE_CODES = frozenset(
    {
        "throttlingexception",
        "serviceunavailableexception",
        "internalserverexception",
        "modelnotreadyexception",
        "modeltimeoutexception",
        "modelstreamerrorexception",
    }
)

# The HTTP status of each exception a ConverseStream event may carry (an event has no status of its own).
_STREAM_EXCEPTION_STATUS = {
    "throttlingexception": 429,
    "validationexception": 400,
    "internalserverexception": 500,
    "serviceunavailableexception": 503,
    "modelstreamerrorexception": 424,
}

# Converse's stop reasons in the vocabulary the rest of stratus uses (OpenAI's).
_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}


class BedrockChat(Model):
    """A chat model on AWS Bedrock, through the Converse API.

    `id` is a model id (`amazon.nova-lite-v1:0`), a cross-region inference profile id (`us.`, `eu.`, `apac.`,
    `global.` prefixes) or an ARN; it is sent unchanged. The region resolves as: `region`, then
    `STRATUS_MODEL_REGION`, then `AWS_REGION`, then `AWS_DEFAULT_REGION`, then boto3's own resolution;
    credentials come from boto3's usual chain.

    Retries are botocore's own and nobody else's: `retry_mode` (`standard` or `adaptive`) with at most
    `max_retries` retries of throttling, 5xx, model-not-ready and timed-out or dropped connections. `timeout`
    bounds connecting and each read (the first byte, and the wait between two events of a stream). A handed-in
    `client` (any boto3 `bedrock-runtime` client) is used as it is: its own configuration applies, and it is
    never closed here.

    Failures raise `ModelError`, with `retryable` and the HTTP `status_code`; timeouts raise `ModelTimeoutError`;
    a reply that is malformed or empty (no text and no tool call) is a `ModelError`, never an empty answer.
    Structured output is a forced tool (`final_result`) whose input is the answer, returned as JSON text.
    """

    provider: ClassVar[str] = "AwsBedrock"
    supports_structured_output: ClassVar[bool] = True
    supports_media: ClassVar[bool] = True
    """Images go as `image` blocks and documents as `document` blocks, with their bytes (Converse takes no URL)."""

    def __init__(
        self,
        id: str,
        *,
        region: str | None = None,
        client: Any | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        max_retries: int = 3,
        retry_mode: RetryMode = "standard",
        timeout: float = 60.0,
        endpoint_url: str | None = None,
    ) -> None:
        if not id or not id.strip():
            raise ConfigError("BedrockChat needs a model id, e.g. us.amazon.nova-lite-v1:0")
        non_negative(max_retries=max_retries)
        positive(timeout=timeout)
        if retry_mode not in ("standard", "adaptive"):
            raise ConfigError(f"retry_mode must be 'standard' or 'adaptive', not {retry_mode!r}")
        self.id = id
        self.region = region
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.max_retries = max_retries
        self.retry_mode: RetryMode = retry_mode
        self.timeout = timeout
        self.endpoint_url = endpoint_url
        self._client = BlockingClient[Any](client)

    # --- client -----------------------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The boto3 `bedrock-runtime` client, built on first use. Building one blocks (it loads the service
        model), so the requests below build it in their worker thread, never on the event loop."""
        return self._client.get(self._build_client)

    def _build_client(self) -> Any:
        region = (
            self.region
            or os.environ.get(STRATUS_MODEL_REGION)  # the stack's `model_region`, when it differs from its own
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or None
        )
        return boto3_client(
            f"BedrockChat {self.id!r}",
            "bedrock-runtime",
            region=region,
            endpoint_url=self.endpoint_url,
            retries={"mode": self.retry_mode, "max_attempts": self.max_retries},  # botocore: retries, not attempts
            connect_timeout=self.timeout,
            read_timeout=self.timeout,
        )

    def warm_up(self) -> None:
        """Build the client now (importing boto3 and loading the service model), off the request path."""
        _ = self.client

    async def aclose(self) -> None:
        """Close the client's connections, if the client is ours."""
        client = self._client.release()
        if client is not None:
            client.close()

    # --- requests ---------------------------------------------------------------------------------------

    def _arguments(self, messages: Sequence[Message], params: ModelRequest) -> tuple[dict[str, Any], str | None]:
        """The Converse request, and the name of the output tool when the answer must follow a schema."""
        choice = params.tool_choice
        offered = () if choice == "none" else params.tools  # Converse has no "none": the tools are left out
        tools: list[dict[str, Any]] = [_tool_spec(t.name, t.description, t.parameters) for t in offered]
        output_tool: str | None = None
        if params.output_schema is not None:
            output_tool = _free_name(OUTPUT_TOOL, {t.name for t in params.tools})
            what = f" ({params.output_name})" if params.output_name else ""
            tools.append(
                _tool_spec(
                    output_tool,
                    f"Give your final answer{what}: call this tool once, with the answer as its input.",
                    params.output_schema,
                )
            )
        system, turns = _format_messages(messages, native_tools=bool(tools))
        args: dict[str, Any] = {"modelId": self.id, "messages": turns}
        if system:
            args["system"] = [{"text": text} for text in system]
        inference = not_none(maxTokens=self.max_tokens, temperature=self.temperature)
        if inference:
            args["inferenceConfig"] = inference
        if tools:
            config: dict[str, Any] = {"tools": tools}
            if output_tool is not None:
                # Alone, the output tool is forced; beside the agent's tools, some tool must be called, so the
                # model may still use those first and give its answer through the output tool after.
                only = len(tools) == 1
                config["toolChoice"] = {"tool": {"name": output_tool}} if only else {"any": {}}
            if choice == "required":
                config["toolChoice"] = {"any": {}}
            elif choice not in (None, "auto", "none"):
                config["toolChoice"] = {"tool": {"name": choice}}
            args["toolConfig"] = config
        return args, output_tool

    async def request(self, messages: Sequence[Message], params: ModelRequest) -> ModelResponse:
        await _load_images(messages)
        args, output_tool = self._arguments(messages, params)
        with provider_errors(lambda exc: _model_error(self.id, exc)):
            reply = cast(Mapping[str, Any], await asyncio.to_thread(lambda: self.client.converse(**args)))
        return read_reply(
            f"Bedrock model {self.id!r}",
            lambda: _parse_reply(reply, output_tool),
            malformed=(KeyError, TypeError, ValueError, AttributeError),
            empty=lambda: f"no text and no tool call; stop={reply.get('stopReason')!r}",
        )

    async def stream(self, messages: Sequence[Message], params: ModelRequest) -> AsyncIterator[ModelDelta]:
        await _load_images(messages)
        args, output_tool = self._arguments(messages, params)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        stop = threading.Event()
        opened: list[Any] = []  # the EventStream, once open, so an early exit can close it

        def put(item: tuple[str, Any]) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop has closed: nobody is listening any more
                stop.set()

        def produce() -> None:
            # boto3 blocks: the EventStream is read here, in a worker thread, and each event is handed over
            # the moment it is decoded, so the caller sees every delta as it arrives.
            try:
                reply = self.client.converse_stream(**args)
                events = reply["stream"]
                opened.append(events)
                put(("open", reply.get("ResponseMetadata")))
                try:
                    for event in events:
                        if stop.is_set():
                            return
                        put(("event", event))
                finally:
                    events.close()
            except Exception as exc:
                put(("error", exc))
            else:
                put(("end", None))

        worker = asyncio.ensure_future(asyncio.to_thread(produce))
        state = _StreamState(output_tool)
        try:
            while True:
                kind, value = await queue.get()
                if kind == "end":
                    break
                if kind == "error":
                    if isinstance(value, StratusError):
                        raise value
                    raise _model_error(self.id, cast(Exception, value)) from value
                if kind == "open":
                    state.open(value)
                    continue
                try:
                    delta = state.feed(value)
                except (KeyError, TypeError, ValueError, AttributeError) as exc:
                    raise ModelError(
                        f"Bedrock model {self.id!r} sent a malformed stream event: {type(exc).__name__}: {exc}"
                    ) from exc
                if delta is not None:
                    yield delta
            await worker
            last = state.finish()
            if last is None:
                raise ModelError(
                    f"Bedrock model {self.id!r} sent an empty stream (no text and no tool call; "
                    f"stop={state.stop_reason!r})"
                )
            yield last
        finally:
            if not worker.done():
                # The caller stopped early (or failed): close the connection so the model stops generating
                # and the worker thread stops reading, instead of draining the rest of the answer.
                stop.set()
                for events in opened:
                    # Closing from another thread may race the reader; it is ending either way.
                    with contextlib.suppress(Exception):
                        events.close()


class _StreamState:
    """What a ConverseStream has said so far: text (held back when it may be a preamble to a structured
    answer), tool uses whose input arrives in pieces, the stop reason and the usage."""

    def __init__(self, output_tool: str | None) -> None:
        self.output_tool = output_tool
        self.request_id: str | None = None
        self.said = False
        self.held: list[str] = []
        self.reasoning = False
        self.tools: dict[int, dict[str, str]] = {}
        self.stop_reason: str | None = None
        self.usage: Usage | None = None

    def open(self, metadata: Any) -> None:
        if isinstance(metadata, Mapping):
            request_id = cast(Mapping[str, Any], metadata).get("RequestId")
            self.request_id = str(request_id) if request_id else None

    def _data(self) -> dict[str, Any] | None:
        return {"request_id": self.request_id} if self.request_id else None

    def feed(self, event: Mapping[str, Any]) -> ModelDelta | None:
        """Take one event; return the delta to pass on now, if it makes one."""
        if "contentBlockStart" in event:
            start = event["contentBlockStart"]
            use = start.get("start", {}).get("toolUse")
            if use is not None:
                slot = self._slot(int(start["contentBlockIndex"]))
                slot["id"], slot["name"] = str(use["toolUseId"]), str(use["name"])
        elif "contentBlockDelta" in event:
            block = event["contentBlockDelta"]
            delta = block["delta"]
            if "text" in delta:
                text = delta["text"]
                if not isinstance(text, str):
                    raise TypeError(f"text is a {type(text).__name__}")
                if not text:
                    return None
                if self.output_tool is not None:
                    self.held.append(text)  # a structured answer is the output tool's input, not this text
                    return None
                self.said = True
                return ModelDelta(content=text, provider_data=self._data())
            if "toolUse" in delta:
                self._slot(int(block["contentBlockIndex"]))["input"] += str(delta["toolUse"].get("input") or "")
            elif "reasoningContent" in delta:
                text = delta["reasoningContent"].get("text")
                if text:
                    self.reasoning = True
                    return ModelDelta(reasoning_content=str(text))
        elif "messageStop" in event:
            self.stop_reason = str(event["messageStop"].get("stopReason") or "") or None
        elif "metadata" in event:
            self.usage = _usage(event["metadata"].get("usage"))
        return None

    def _slot(self, index: int) -> dict[str, str]:
        return self.tools.setdefault(index, {"id": "", "name": "", "input": ""})

    def finish(self) -> ModelDelta | None:
        """The closing delta (tool calls, usage, finish reason), or None when the stream said nothing."""
        calls = [
            ToolCall(id=slot["id"] or f"call_{index}", name=slot["name"], arguments=slot["input"] or "{}")
            for index, slot in sorted(self.tools.items())
        ]
        content, calls, finish_reason = _settle(self.output_tool, "".join(self.held) or None, calls, self.stop_reason)
        if not self.said and not content and not calls:
            return None
        data = self._data()
        if self.stop_reason:
            data = {**(data or {}), "stop_reason": self.stop_reason}
        return ModelDelta(
            content=content,
            tool_calls=calls or None,
            usage=self.usage or Usage(),
            provider_data=data,
            finish_reason=finish_reason,
        )


# --- mapping --------------------------------------------------------------------------------------------


def _tool_spec(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": name, "inputSchema": {"json": schema}}
    if description:  # Converse refuses an empty description
        spec["description"] = description
    return {"toolSpec": spec}


def _free_name(name: str, taken: set[str]) -> str:
    candidate, n = name, 1
    while candidate in taken:
        candidate, n = f"{name}_{n}", n + 1
    return candidate


def _format_messages(messages: Sequence[Message], *, native_tools: bool) -> tuple[list[str], list[dict[str, Any]]]:
    """System texts and Converse messages. Roles must alternate, so consecutive messages of one role (the
    tool results of one turn, a correction after them) share one message. Converse refuses tool blocks in a
    request without `toolConfig`, so without tools the calls and results of earlier turns become text."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            if message.content:
                system.append(message.content)
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message, native_tools=native_tools)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            cast(list[dict[str, Any]], turns[-1]["content"]).extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return system, turns


def _blocks(message: Message, *, native_tools: bool) -> list[dict[str, Any]]:
    if message.role == "tool":
        text = message.content if message.content and message.content.strip() else "(no output)"
        if not native_tools:
            return [{"text": f"(result of tool {message.tool_name or message.tool_call_id}: {text})"}]
        result: dict[str, Any] = {"toolUseId": message.tool_call_id or "", "content": [{"text": text}]}
        if message.tool_call_error:
            result["status"] = "error"
        return [{"toolResult": result}]
    blocks: list[dict[str, Any]] = []
    if message.content and message.content.strip():  # Converse refuses blank text blocks
        blocks.append({"text": message.content})
    if message.role == "user" and (message.images or message.files):
        blocks.extend(_media_blocks(message))
    if message.role == "assistant":
        for call in message.tool_calls or []:
            if not native_tools:
                blocks.append({"text": f"(called tool {call.name} with {call.arguments})"})
                continue
            try:
                arguments = call.parsed_arguments()
            except ValueError:
                arguments = {}  # the model wrote invalid JSON; the tool's error went back to it already
            blocks.append({"toolUse": {"toolUseId": call.id, "name": call.name, "input": arguments}})
    return blocks


_IMAGE_FORMATS = frozenset({"png", "jpeg", "gif", "webp"})
_DOCUMENT_FORMATS = frozenset({"pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md"})


async def _load_images(messages: Sequence[Message]) -> None:
    """Fetch the bytes of images given by URL only (Converse takes bytes)."""
    pending = [
        image for m in messages if m.role == "user" for image in m.images or () if image.url and not image.content
    ]
    if pending:
        await asyncio.gather(*(image.aload() for image in pending), return_exceptions=True)  # unfetched: as text


def _media_blocks(message: Message) -> list[dict[str, Any]]:
    """A user message's images and documents as Converse blocks (what Converse cannot take, as text)."""
    from stratus.media import media_parts, unavailable

    images, files = media_parts(message)
    blocks: list[dict[str, Any]] = []
    for image in images:
        data, kind = image.data(), "jpeg" if image.format == "jpg" else image.format
        if data is None or kind not in _IMAGE_FORMATS:
            blocks.append({"text": unavailable(image)})
        else:
            blocks.append({"image": {"format": kind, "source": {"bytes": data}}})
    for n, file in enumerate(files):
        data = file.data()
        if data is not None and file.format in _DOCUMENT_FORMATS:
            # Converse names a document with letters, digits, spaces, hyphens, parentheses and brackets only.
            stem = (file.filename or "document").rsplit(".", 1)[0]
            name = "".join(c if c.isalnum() or c in " -()[]" else "-" for c in stem).strip() or "document"
            blocks.append({"document": {"format": file.format, "name": f"{name} {n + 1}", "source": {"bytes": data}}})
        else:
            blocks.append({"text": f'<file name="{file.label}">\n{file.text()}\n</file>'})
    return blocks


def _parse_reply(reply: Mapping[str, Any], output_tool: str | None) -> ModelResponse | None:
    """The answer a Converse reply carries, or None when it carries none."""
    content = cast(list[Any], reply["output"]["message"]["content"])
    texts: list[str] = []
    reasoning: list[str] = []
    calls: list[ToolCall] = []
    for item in content:
        block = cast(Mapping[str, Any], item)
        if "text" in block:
            text = block["text"]
            if not isinstance(text, str):
                raise TypeError(f"text is a {type(text).__name__}, not text")
            texts.append(text)
        elif "toolUse" in block:
            use = block["toolUse"]
            arguments = json.dumps(use.get("input") or {}, ensure_ascii=False)
            calls.append(ToolCall(id=str(use["toolUseId"]), name=str(use["name"]), arguments=arguments))
        elif "reasoningContent" in block:
            reasoned = cast(Mapping[str, Any], block["reasoningContent"].get("reasoningText") or {})
            text = reasoned.get("text")
            if text:
                reasoning.append(str(text))
    stop_reason = cast(str | None, reply.get("stopReason"))
    text, calls, finish_reason = _settle(output_tool, "".join(texts) or None, calls, stop_reason)
    if not text and not calls:
        return None
    data: dict[str, Any] = {}
    request_id = cast(Mapping[str, Any], reply.get("ResponseMetadata") or {}).get("RequestId")
    if request_id:
        data["request_id"] = request_id
    if stop_reason:
        data["stop_reason"] = stop_reason
    return ModelResponse(
        content=text,
        tool_calls=calls,
        usage=_usage(reply.get("usage")),
        provider_data=data or None,
        finish_reason=finish_reason,
        reasoning_content="".join(reasoning) or None,
    )


def _settle(
    output_tool: str | None, text: str | None, calls: list[ToolCall], stop_reason: str | None
) -> tuple[str | None, list[ToolCall], str | None]:
    """Content, tool calls and finish reason of a finished answer. A call of the output tool is the answer:
    its input becomes the content, and other calls of that turn are dropped (the model is done)."""
    if output_tool is not None:
        for call in calls:
            if call.name == output_tool:
                return call.arguments, [], "stop"
    finish_reason = _FINISH_REASONS.get(stop_reason, stop_reason) if stop_reason else None
    return text, calls, finish_reason


def _usage(raw: Any) -> Usage:
    if not isinstance(raw, Mapping):
        return Usage()
    usage = cast(Mapping[str, Any], raw)
    # Bedrock leaves cached tokens out of inputTokens; stratus counts them in, as OpenAI does.
    return Usage.counting_cache(
        int(usage.get("inputTokens") or 0),
        int(usage.get("outputTokens") or 0),
        cache_read=int(usage.get("cacheReadInputTokens") or 0),
        cache_write=int(usage.get("cacheWriteInputTokens") or 0),
    )


def _model_error(model_id: str, exc: Exception) -> StratusError:
    """The stratus error for what boto3 (or the connection beneath it) raised."""
    from botocore import exceptions as boto
    from urllib3 import exceptions as http

    if isinstance(exc, boto.ClientError):  # also EventStreamError: an exception event inside a stream
        response = cast(Mapping[str, Any], exc.response)
        error = cast(Mapping[str, Any], response.get("Error") or {})
        code = str(error.get("Code") or "")
        message = str(error.get("Message") or exc)
        metadata = cast(Mapping[str, Any], response.get("ResponseMetadata") or {})
        status = cast(int | None, metadata.get("HTTPStatusCode")) or _STREAM_EXCEPTION_STATUS.get(code.lower())
        attempts = int(metadata.get("RetryAttempts") or 0) + 1
        retryable = code.lower() in _RETRYABLE_CODES or (status is not None and (status == 429 or status >= 500))
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        kind = ModelTimeoutError if code.lower() == "modeltimeoutexception" else ModelError
        what = f"{code} (HTTP {status})" if status else code or "error"
        return kind(
            f"Bedrock model {model_id!r} failed{tries}: {what}: {message}", retryable=retryable, status_code=status
        )
    if isinstance(exc, boto.ReadTimeoutError | boto.ConnectTimeoutError | http.ReadTimeoutError):
        return ModelTimeoutError(f"Bedrock model {model_id!r} timed out: {exc}", retryable=True)
    if isinstance(exc, boto.ConnectionError | boto.HTTPClientError | http.ProtocolError | http.HTTPError):
        return ModelError(f"Bedrock model {model_id!r}: connection failed: {exc}", retryable=True)
    if isinstance(exc, boto.NoCredentialsError | boto.PartialCredentialsError):
        return ConfigError(f"Bedrock model {model_id!r}: no usable AWS credentials ({exc})")
    if isinstance(exc, boto.ParamValidationError):
        return ModelError(f"Bedrock model {model_id!r}: the request was invalid: {exc}")
    return ModelError(f"Bedrock model {model_id!r} failed: {type(exc).__name__}: {exc}")
