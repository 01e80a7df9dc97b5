"""`MCPTools`: the tools of a Model Context Protocol server, over stdio, SSE or streamable HTTP.

    from stratus.tools.mcp import MCPTools

    time = MCPTools("uvx mcp-server-time")                       # a local server, started as a subprocess
    docs = MCPTools(url="http://127.0.0.1:8931/mcp", include=["search"])
    agent = Agent(model=..., tools=[time, docs])

The toolkit connects lazily, when a run first asks for its tools, within `connect_timeout`. A server that is
down or too slow is skipped for that run (the run's events carry a `ToolkitUnavailable` and the log says
why), so one broken server never takes the agent or the app down; the next run tries again. A call on a
connection that dropped reconnects once. Each call is bounded by `call_timeout`: a tool that hangs becomes
an error the model reads, not a stuck run. `aclose()` ends the session and the server's process.

Needs the `mcp` extra: `pip install 'stratus[mcp]'`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import shlex
import time
import weakref
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self, TextIO, Unpack, cast
from urllib.parse import urlsplit

from stratus._checks import positive
from stratus._optional import installed, missing_message
from stratus._utils import running_loop
from stratus.exceptions import ConfigError, ToolError
from stratus.run import RunContext
from stratus.tools._tool import Tool, ToolArgumentsError
from stratus.tools._toolkit import Toolkit, ToolkitOptions

if TYPE_CHECKING:
    from mcp import Client
    from mcp.client._transport import ReadStream, TransportStreams
    from mcp.shared.message import SessionMessage
    from mcp.types import CallToolResult
    from mcp.types import Tool as MCPToolSpec

__all__ = ["MCPTool", "MCPTools", "MCPUnavailableError", "Transport"]

logger = logging.getLogger("stratus.tools.mcp")

Transport = Literal["stdio", "sse", "streamable-http"]
"""How to reach an MCP server: a subprocess over stdin/stdout, or HTTP (SSE or streamable HTTP)."""

_CLOSE_TIMEOUT = 10.0  # the SDK bounds a stdio shutdown at about 6s (grace, SIGTERM, SIGKILL)
_CANCEL_TIMEOUT = 2.0
_MAX_TOOL_PAGES = 50
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict,),
    "null": (type(None),),
}


class MCPUnavailableError(ToolError):
    """The MCP server could not be reached, or stopped answering; its message says which and why."""


class _ConnectionLost(Exception):
    """The session ended while a call was in flight."""


def _require_mcp() -> None:
    if not installed("mcp"):
        raise ImportError(missing_message("MCPTools", "the MCP SDK", "mcp"))


class MCPTools(Toolkit):
    """The tools of one MCP server, offered to an agent as a toolkit.

    Give either `command` (the server runs as a subprocess and speaks over stdio) or `url` (an HTTP
    server; streamable HTTP unless the path ends in `/sse` or `transport="sse"`).

    Args:
        command: The command that starts a stdio server, as one string (split like a shell would) or a
            list of arguments, e.g. `"uvx mcp-server-time"`.
        url: The endpoint of an HTTP server, e.g. `"http://127.0.0.1:8000/mcp"`.
        transport: Force a transport; inferred from `command`/`url` when omitted.
        env: Extra environment variables for a stdio server (on top of a safe default set).
        cwd: Working directory of a stdio server.
        headers: HTTP headers sent to an HTTP server (e.g. an `Authorization` header).
        name: The toolkit's name in events and logs; defaults to the command or the URL.
        instructions: Text added to the agent's instructions when this toolkit is in use.
        include: Only expose the server tools with these names.
        exclude: Never expose the server tools with these names.
        tool_name_prefix: Prepended to every tool name, to keep two servers' tools apart.
        connect_timeout: Seconds to start, connect to and list the tools of the server.
        call_timeout: Seconds one tool call may take before the model is told it timed out; None waits.
        connect_on_start: Connect when the toolkit is started (`astart()` or `async with`) rather than
            on first use.
        retry_after: After a failed connection attempt, runs within this many seconds skip the server at
            once instead of waiting on it again.
        errlog: Where a stdio server's stderr goes (default: this process's stderr).
    """

    def __init__(
        self,
        command: str | Sequence[str] | None = None,
        *,
        url: str | None = None,
        transport: Transport | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        headers: Mapping[str, str] | None = None,
        tool_name_prefix: str | None = None,
        connect_timeout: float = 15.0,
        call_timeout: float | None = 60.0,
        connect_on_start: bool = False,
        retry_after: float = 5.0,
        errlog: TextIO | None = None,
        **options: Unpack[ToolkitOptions],
    ) -> None:
        _require_mcp()
        if (command is None) == (url is None):
            raise ConfigError("MCPTools needs exactly one of `command` (a stdio server) or `url` (an HTTP server)")
        argv: list[str] = []
        if command is not None:
            argv = shlex.split(command) if isinstance(command, str) else [str(part) for part in command]
            if not argv:
                raise ConfigError("MCPTools(command=...) is empty")
            transport = transport or "stdio"
            if transport != "stdio":
                raise ConfigError(f"a `command` runs a stdio server; transport={transport!r} needs a `url`")
        else:
            assert url is not None
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ConfigError(f"MCPTools(url=...) must be an http(s) URL, got {url!r}")
            transport = transport or ("sse" if parts.path.rstrip("/").endswith("/sse") else "streamable-http")
            if transport == "stdio":
                raise ConfigError("transport='stdio' needs a `command`, not a `url`")
        positive(connect_timeout=connect_timeout, call_timeout=call_timeout)  # call_timeout None: as long as it takes
        options["name"] = options.get("name") or (shlex.join(argv) if argv else _display_url(url or ""))[:80]
        super().__init__(**options)
        self.transport: Transport = transport
        self.argv = argv
        self.url = url
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.headers = dict(headers) if headers is not None else None
        self.tool_name_prefix = tool_name_prefix or ""
        self.connect_timeout = connect_timeout
        self.call_timeout = call_timeout
        self.connect_on_start = connect_on_start
        self.retry_after = retry_after
        self.errlog = errlog
        self._conn: _Connection | None = None
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()
        self._failed_at: float | None = None
        self._last_error = ""
        self._closing: set[asyncio.Task[None]] = set()

    # --- the Toolkit contract ---------------------------------------------------------------------------

    async def aget_tools(self) -> list[Tool]:
        """The server's tools, connecting first if needed. Raises `MCPUnavailableError` when the server
        cannot be reached in time; the agent then runs without these tools and reports why."""
        conn = await self._connection()
        return list(conn.tools)

    def get_tools(self) -> list[Tool]:
        """The tools of the live connection, if there is one (never connects: this is called outside runs,
        to describe the agent)."""
        conn = self._conn
        return list(conn.tools) if conn is not None and conn.alive else []

    async def aclose(self) -> None:
        """End the session (and the server's process, over stdio). The next run would connect again."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await _close_connection(conn)
        loop = running_loop()
        pending = [task for task in self._closing if task.get_loop() is loop]
        if pending:
            await asyncio.wait(pending)

    # --- lifecycle --------------------------------------------------------------------------------------

    async def aconnect(self) -> None:
        """Connect now (a no-op when already connected). Raises `MCPUnavailableError` on failure."""
        await self._connection()

    async def astart(self) -> None:
        """Connect if `connect_on_start` is set. A failure is logged, not raised: runs retry later."""
        if not self.connect_on_start:
            return
        try:
            await self._connection()
        except MCPUnavailableError as exc:
            logger.warning("MCP server %s unavailable at start: %s", self.name, exc)

    async def __aenter__(self) -> Self:
        await self.astart()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    @property
    def connected(self) -> bool:
        """Whether a live session with the server exists in this event loop."""
        conn = self._conn
        return conn is not None and conn.alive and conn.loop is running_loop()

    # --- calls ------------------------------------------------------------------------------------------

    async def call_tool(self, name: str, arguments: Mapping[str, Any] | None = None) -> str:
        """Call the server's tool `name` (its own name, before any prefix) and return its text.

        A connection found dead reconnects once. Raises `ToolError` when the tool reports an error, times
        out or the server cannot be reached; the message says which, for the model to read.
        """
        args = dict(arguments or {})
        for attempt in (1, 2):
            conn = await self._connection()
            try:
                result = await conn.call(name, args, self.call_timeout)
            except TimeoutError:
                raise ToolError(
                    f"MCP tool {name!r} on server {self.name!r} did not answer within {self.call_timeout:g}s; "
                    "try again later or differently"
                ) from None
            except Exception as exc:
                if not (isinstance(exc, _ConnectionLost) or _is_connection_error(exc)):
                    raise ToolError(f"MCP tool {name!r} on server {self.name!r} failed: {_describe(exc)}") from exc
                await self._discard(conn)
                if attempt == 2:
                    raise MCPUnavailableError(
                        f"MCP server {self.name!r} dropped the connection again while calling {name!r}: "
                        f"{_describe(exc)}"
                    ) from exc
                logger.info("MCP server %s: connection lost (%s); reconnecting", self.name, _describe(exc))
                continue
            return _result_text(name, result)
        raise AssertionError("unreachable")  # pragma: no cover

    # --- the connection ---------------------------------------------------------------------------------

    async def _connection(self) -> _Connection:
        loop = asyncio.get_running_loop()
        conn = self._conn
        if conn is not None and conn.loop is loop and conn.alive:
            return conn
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        async with lock:
            conn = self._conn
            if conn is not None and conn.loop is loop and conn.alive:
                return conn
            if conn is not None:
                await self._discard(conn)
            if self._failed_at is not None:
                waited = time.monotonic() - self._failed_at
                if waited < self.retry_after:
                    raise MCPUnavailableError(
                        f"{self._last_error} (not retried for another {self.retry_after - waited:.1f}s)"
                    )
            conn = _Connection(self)
            try:
                await conn.open()
            except MCPUnavailableError as exc:
                self._failed_at, self._last_error = time.monotonic(), str(exc)
                # Stopping a server that does not answer takes a few seconds (the SDK's grace period, then
                # SIGTERM): do it in the background so the run goes on now; `aclose()` waits for it.
                closing = asyncio.create_task(conn.close(force=True), name=f"mcp-close:{self.name}")
                self._closing.add(closing)
                closing.add_done_callback(self._closing.discard)
                raise
            self._failed_at = None
            self._conn = conn
            logger.info("MCP server %s connected: %d tools", self.name, len(conn.tools))
            return conn

    async def _discard(self, conn: _Connection) -> None:
        if self._conn is conn:
            self._conn = None
        await _close_connection(conn)

    @contextlib.asynccontextmanager
    async def _transport(self, on_close: Callable[[], None]) -> AsyncGenerator[TransportStreams]:
        """The SDK transport for this server, its read side watched so a dead session is noticed."""
        async with contextlib.AsyncExitStack() as stack:
            if self.transport == "stdio":
                from mcp.client.stdio import StdioServerParameters, stdio_client

                params = StdioServerParameters(command=self.argv[0], args=self.argv[1:], env=self.env, cwd=self.cwd)
                if self.errlog is not None:
                    streams = await stack.enter_async_context(stdio_client(params, errlog=self.errlog))
                else:
                    streams = await stack.enter_async_context(stdio_client(params))
            elif self.transport == "sse":
                from mcp.client.sse import sse_client

                streams = await stack.enter_async_context(
                    sse_client(cast(str, self.url), headers=self.headers, timeout=self.connect_timeout)
                )
            else:
                import httpx2
                from mcp.client.streamable_http import streamable_http_client

                http = await stack.enter_async_context(
                    httpx2.AsyncClient(headers=self.headers, timeout=httpx2.Timeout(self.connect_timeout, read=300.0))
                )
                streams = await stack.enter_async_context(streamable_http_client(cast(str, self.url), http_client=http))
            read, write = streams
            yield _WatchedReadStream(read, on_close), write

    def _build_tools(self, specs: Sequence[MCPToolSpec]) -> list[Tool]:
        tools: list[Tool] = []
        names: set[str] = set()
        offered = {spec.name for spec in specs}
        if self._include is not None:
            missing = self._include - offered - {self.tool_name_prefix + _safe_name(n) for n in offered}
            if missing:
                logger.warning("MCP server %s has no tools named %s", self.name, sorted(missing))
        for spec in specs:
            exposed = (self.tool_name_prefix + _safe_name(spec.name))[:64]
            chosen = {spec.name, exposed}
            if self._include is not None and not chosen & self._include:
                continue
            if chosen & self._exclude:
                continue
            if exposed in names:
                logger.warning("MCP server %s: two tools map to the name %r; keeping the first", self.name, exposed)
                continue
            names.add(exposed)
            tools.append(MCPTool(self, spec, name=exposed))
        return tools


class MCPTool(Tool):
    """One tool of an MCP server. Its JSON schema is the server's; calling it calls the server."""

    def __init__(self, toolkit: MCPTools, spec: MCPToolSpec, *, name: str) -> None:
        mcp_name = spec.name

        async def call_mcp_tool(**arguments: Any) -> str:
            return await toolkit.call_tool(mcp_name, arguments)

        description = spec.description or spec.title or f"The {mcp_name!r} tool of the MCP server {toolkit.name!r}."
        super().__init__(call_mcp_tool, name=name, description=description)
        self.toolkit = toolkit
        self.mcp_name = mcp_name
        self._parameters = _object_schema(spec.input_schema)

    def validate_arguments(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """A light check against the server's schema (required names and top-level types) so the model
        hears of a slip at once; the server validates in full."""
        schema = self.parameters
        properties = cast(dict[str, Any], schema.get("properties") or {})
        problems: list[str] = []
        for required in cast(list[str], schema.get("required") or []):
            if required not in arguments:
                problems.append(f"{required}: Field required")
        for key, value in arguments.items():
            prop = properties.get(key)
            if not isinstance(prop, dict):
                if properties and schema.get("additionalProperties") is False:
                    problems.append(f"{key}: unexpected argument (known: {', '.join(sorted(properties))})")
                continue
            expected = cast(dict[str, Any], prop).get("type")
            if isinstance(expected, str) and not _has_type(value, [expected]):
                problems.append(f"{key}: expected {expected}, got {type(value).__name__}")
            elif isinstance(expected, list) and not _has_type(value, cast(list[str], expected)):
                problems.append(f"{key}: expected one of {expected}, got {type(value).__name__}")
        if problems:
            raise ToolArgumentsError(f"invalid arguments for tool {self.name!r}: {'; '.join(problems)}")
        return dict(arguments)

    async def execute(self, arguments: dict[str, Any], context: RunContext | None = None) -> str:
        """Validate the arguments and call the tool on the server."""
        return await self.toolkit.call_tool(self.mcp_name, self.validate_arguments(arguments))


class _Connection:
    """One session with the server. A background task owns it from open to close, because the SDK's
    (anyio) scopes must be entered and left by the same task, and runs come and go in tasks of their own."""

    def __init__(self, kit: MCPTools) -> None:
        self.kit = kit
        self.loop = asyncio.get_running_loop()
        self.client: Client | None = None
        self.tools: list[Tool] = []
        self.lost = False
        self._stop = asyncio.Event()
        self._owner: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return not self.lost and self._owner is not None and not self._owner.done()

    def _mark_lost(self) -> None:
        self.lost = True

    async def open(self) -> None:
        kit = self.kit
        ready: asyncio.Future[Client] = self.loop.create_future()
        self._owner = asyncio.create_task(self._own(ready), name=f"mcp-session:{kit.name}")
        try:
            async with asyncio.timeout(kit.connect_timeout):
                client = await asyncio.shield(ready)
                self.client = client
                specs: list[MCPToolSpec] = []
                cursor: str | None = None
                for _ in range(_MAX_TOOL_PAGES):
                    page = await client.list_tools(cursor=cursor)
                    specs.extend(page.tools)
                    cursor = page.next_cursor
                    if not cursor:
                        break
            self.tools = kit._build_tools(specs)  # pyright: ignore[reportPrivateUsage]
        except BaseException as exc:
            ready.cancel()
            if not isinstance(exc, Exception):
                await asyncio.shield(self.close(force=True))
                raise
            if isinstance(exc, TimeoutError):
                raise MCPUnavailableError(
                    f"MCP server {kit.name!r} did not answer within {kit.connect_timeout:g}s"
                ) from None
            raise MCPUnavailableError(f"cannot connect to MCP server {kit.name!r}: {_describe(exc)}") from exc

    async def _own(self, ready: asyncio.Future[Client]) -> None:
        from mcp import Client

        try:
            async with Client(self.kit._transport(self._mark_lost)) as client:  # pyright: ignore[reportPrivateUsage]
                if not ready.done():
                    ready.set_result(client)
                await self._stop.wait()
        except Exception as exc:
            if not ready.done():
                ready.set_exception(exc)
            elif not self._stop.is_set():
                logger.warning("MCP server %s: connection lost: %s", self.kit.name, _describe(exc))
        finally:
            self.lost = True

    async def call(self, name: str, arguments: dict[str, Any], limit: float | None) -> CallToolResult:
        client, owner = self.client, self._owner
        if client is None or owner is None or not self.alive:
            raise _ConnectionLost("the session is closed")
        call = asyncio.ensure_future(client.call_tool(name, arguments))
        try:
            done, _ = await asyncio.wait((call, owner), timeout=limit, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await _cancel(call, _CANCEL_TIMEOUT)
        if call in done:
            return call.result()
        if owner in done:
            raise _ConnectionLost("the session ended during the call")
        raise TimeoutError

    async def close(self, *, force: bool = False) -> None:
        """End the session: politely (the SDK closes the transport and stops the process), or at once."""
        self._stop.set()
        owner = self._owner
        if owner is None or owner.done():
            return
        if force:
            owner.cancel()
        await asyncio.wait({owner}, timeout=_CLOSE_TIMEOUT)
        await _cancel(owner, _CLOSE_TIMEOUT)


async def _cancel(task: asyncio.Future[Any], grace: float) -> None:
    """Cancel `task` if it is still running and give it `grace` seconds to wind down."""
    if not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=grace)
    if task.done() and not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it as never retrieved


async def _close_connection(conn: _Connection) -> None:
    loop = running_loop()
    if conn.loop is loop:
        try:
            await conn.close()
        except Exception:  # pragma: no cover - best effort
            logger.warning("closing the MCP session of %s failed", conn.kit.name, exc_info=True)
    elif not conn.loop.is_closed() and conn.loop.is_running():
        # A session from another event loop (another thread) is closed there.
        asyncio.run_coroutine_threadsafe(conn.close(), conn.loop)


class _WatchedReadStream:
    """The transport's read stream, reporting when it ends (the server went away)."""

    def __init__(self, inner: ReadStream[SessionMessage | Exception], on_close: Callable[[], None]) -> None:
        self._inner = inner
        self._on_close = on_close

    @property
    def last_context(self) -> Any:
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> SessionMessage | Exception:
        import anyio

        try:
            return await self._inner.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._on_close()
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        import anyio

        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc_val: BaseException | None, exc_tb: TracebackType | None
    ) -> bool | None:
        await self.aclose()
        return None


# --- helpers -------------------------------------------------------------------------------------------


def _safe_name(name: str) -> str:
    """A name the model providers accept: letters, digits, `_` and `-`."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name) or "tool"


def _display_url(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"  # no credentials or query in logs and events


def _object_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in schema.items() if k not in ("title", "$schema")}
    out["type"] = "object"
    out.setdefault("properties", {})
    return out


def _has_type(value: Any, names: Sequence[str]) -> bool:
    for type_name in names:
        kinds = _TYPES.get(type_name)
        if kinds is None:
            return True  # a type we do not check
        if isinstance(value, bool) and type_name in ("integer", "number"):
            continue
        if isinstance(value, kinds):
            return True
    return False


def _describe(exc: BaseException) -> str:
    """The innermost useful message of an error (the SDK wraps transport failures in exception groups)."""
    if isinstance(exc, BaseExceptionGroup):
        group = cast(BaseExceptionGroup[BaseException], exc)
        return "; ".join(_describe(e) for e in group.exceptions)
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _is_connection_error(exc: BaseException) -> bool:
    import anyio
    import httpx2
    from mcp.shared.exceptions import MCPError
    from mcp.types import CONNECTION_CLOSED

    if isinstance(exc, BaseExceptionGroup):
        group = cast(BaseExceptionGroup[BaseException], exc)
        return any(_is_connection_error(e) for e in group.exceptions)
    if isinstance(exc, MCPError):
        return exc.code == CONNECTION_CLOSED
    return isinstance(
        exc,
        anyio.EndOfStream | anyio.ClosedResourceError | anyio.BrokenResourceError | OSError | httpx2.TransportError,
    )


def _result_text(name: str, result: CallToolResult) -> str:
    from mcp.types import EmbeddedResource, ResourceLink, TextContent

    parts: list[str] = []
    for block in result.content:
        if isinstance(block, TextContent):
            parts.append(block.text)
        elif isinstance(block, EmbeddedResource):
            text = getattr(block.resource, "text", None)
            parts.append(text if isinstance(text, str) else f"[resource {block.resource.uri}]")
        elif isinstance(block, ResourceLink):
            parts.append(f"[resource link {block.uri}]")
        else:
            parts.append(f"[{block.type} ({block.mime_type}) not shown]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False, default=str))
    text = "\n".join(parts)
    if result.is_error:
        raise ToolError(text or f"MCP tool {name!r} failed without a message")
    return text
