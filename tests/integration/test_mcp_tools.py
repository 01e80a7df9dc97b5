"""`MCPTools` against real MCP servers in subprocesses: the test server in tests/fakes/mcp_server.py (written
with the SDK, over stdio, streamable HTTP and SSE) and `mcp-server-time` from PyPI. Servers that are dead,
that hang, or that drop the connection must cost a run at most its timeout, never the app."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from stratus import Agent, ConfigError, ToolError
from stratus.models.testing import ScriptedModel, call
from stratus.run import RunEvent, ToolkitUnavailable
from stratus.tools import ToolArgumentsError
from stratus.tools.mcp import MCPTools, MCPUnavailableError

SERVER = Path(__file__).parents[1] / "fakes" / "mcp_server.py"
STDIO = [sys.executable, str(SERVER)]
TIME_SERVER = [sys.executable, "-m", "mcp_server_time", "--local-timezone", "UTC"]
SLACK = 10.0
"""Seconds a call may take on a loaded machine when it must stop at a short timeout (1 s at most here): well
below the long timeouts (60 s) a fast failure must not wait for, and the hour a hanging server holds a call."""


class HttpServer:
    """The test server over HTTP, in a subprocess; `stop()` and `start()` again on the same port."""

    def __init__(self, transport: str = "streamable-http", *, hang: bool = False) -> None:
        self.transport = transport
        self.hang = hang
        self.port = 0
        self.url = ""
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        args = [*STDIO, "--transport", self.transport, "--port", str(self.port)]
        if self.hang:
            args.append("--hang-on-start")
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        assert self.url.startswith("http://127.0.0.1:"), self.url
        self.port = int(self.url.split(":")[2].split("/")[0])

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        assert process.stdout is not None
        process.stdout.close()


@contextmanager
def http_server(transport: str = "streamable-http", *, hang: bool = False) -> Iterator[HttpServer]:
    server = HttpServer(transport, hang=hang)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def shared_http() -> Iterator[HttpServer]:
    """One streamable-HTTP test server for the tests that only call it."""
    with http_server() as server:
        yield server


@pytest.fixture
async def toolkits() -> AsyncIterator[Callable[..., MCPTools]]:
    """Build toolkits for a test and close them (and their server processes) after it."""
    made: list[MCPTools] = []

    def make(*args: Any, **kwargs: Any) -> MCPTools:
        kwargs.setdefault("connect_timeout", 10)
        made.append(MCPTools(*args, **kwargs))
        return made[-1]

    yield make
    for kit in made:
        await kit.aclose()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
            return True  # exited, waiting to be reaped by its parent
        time.sleep(0.05)
    return False


async def collect(agent: Agent, message: str) -> list[RunEvent]:
    return [event async for event in agent.arun(message, stream=True)]


# --- tools from real servers ---------------------------------------------------------------------------


async def test_a_stdio_server_offers_its_tools_with_their_schemas(toolkits: Callable[..., MCPTools]) -> None:
    kit = toolkits(STDIO)

    tools = {t.name: t for t in await kit.aget_tools()}

    assert sorted(tools) == ["add", "crash", "echo", "fail", "hang", "math_multiply", "whoami"]
    assert tools["add"].description == "Add two integers."
    assert tools["add"].parameters["required"] == ["a", "b"]
    assert tools["add"].parameters["properties"]["a"]["type"] == "integer"
    assert await tools["add"].execute({"a": 2, "b": 3}) == "5"
    assert await tools["math_multiply"].execute({"a": 6, "b": 7}) == "42"  # the dotted name, made safe


async def test_a_streamable_http_server_answers(toolkits: Callable[..., MCPTools], shared_http: HttpServer) -> None:
    kit = toolkits(url=shared_http.url)

    tools = {t.name: t for t in await kit.aget_tools()}

    assert kit.transport == "streamable-http"
    assert await tools["echo"].execute({"text": "over http"}) == "over http"


async def test_an_sse_server_answers(toolkits: Callable[..., MCPTools]) -> None:
    with http_server("sse") as server:
        kit = toolkits(url=server.url)

        tools = {t.name: t for t in await kit.aget_tools()}

        assert kit.transport == "sse"
        assert await tools["add"].execute({"a": 1, "b": 1}) == "2"
        await kit.aclose()


async def test_mcp_server_time_from_pypi(toolkits: Callable[..., MCPTools]) -> None:
    kit = toolkits(TIME_SERVER)

    tools = {t.name: t for t in await kit.aget_tools()}

    assert {"get_current_time", "convert_time"} <= set(tools)
    assert '"timezone": "UTC"' in await tools["get_current_time"].execute({"timezone": "UTC"})
    with pytest.raises(ToolError, match="Invalid timezone"):
        await tools["get_current_time"].execute({"timezone": "Mars/Olympus"})


async def test_an_is_error_result_becomes_a_tool_error_with_the_servers_message(
    toolkits: Callable[..., MCPTools], shared_http: HttpServer
) -> None:
    kit = toolkits(url=shared_http.url)

    with pytest.raises(ToolError, match=r"^Error executing tool fail: the disk is on fire$"):
        await kit.call_tool("fail", {"message": "the disk is on fire"})


async def test_arguments_are_checked_against_the_servers_schema_before_the_call(
    toolkits: Callable[..., MCPTools], shared_http: HttpServer
) -> None:
    tools = {t.name: t for t in await toolkits(url=shared_http.url).aget_tools()}

    with pytest.raises(ToolArgumentsError, match="b: Field required; a: expected integer, got str"):
        await tools["add"].execute({"a": "two"})


async def test_include_exclude_and_prefix_shape_the_tool_list(
    toolkits: Callable[..., MCPTools], shared_http: HttpServer
) -> None:
    only = toolkits(url=shared_http.url, include=["add", "math.multiply"])
    without = toolkits(url=shared_http.url, exclude=["crash", "hang", "fail"])
    prefixed = toolkits(url=shared_http.url, include=["echo"], tool_name_prefix="test_")

    assert sorted(t.name for t in await only.aget_tools()) == ["add", "math_multiply"]
    assert sorted(t.name for t in await without.aget_tools()) == ["add", "echo", "math_multiply", "whoami"]
    [echo] = await prefixed.aget_tools()
    assert echo.name == "test_echo"
    assert await echo.execute({"text": "hi"}) == "hi"


# --- failures the app survives ---------------------------------------------------------------------------


async def test_a_hanging_tool_times_out_and_the_session_stays_usable(toolkits: Callable[..., MCPTools]) -> None:
    kit = toolkits(STDIO, call_timeout=0.5)
    await kit.aconnect()

    started = time.perf_counter()
    with pytest.raises(ToolError, match=r"did not answer within 0.5s"):
        await kit.call_tool("hang")

    assert time.perf_counter() - started < SLACK  # the server would hold it an hour
    assert await kit.call_tool("add", {"a": 1, "b": 2}) == "3"


@pytest.mark.parametrize("kind", ["stdio exits at once", "stdio command missing", "http port closed"])
async def test_a_dead_server_fails_fast_with_a_clear_error(toolkits: Callable[..., MCPTools], kind: str) -> None:
    # a timeout long enough that waiting it out would show: as the error ("did not answer within 60s") and the time
    if kind == "stdio exits at once":
        kit = toolkits([sys.executable, "-c", "raise SystemExit(1)"], connect_timeout=60)
    elif kind == "stdio command missing":
        kit = toolkits(["/nonexistent/mcp-server"], connect_timeout=60)
    else:
        kit = toolkits(url=f"http://127.0.0.1:{closed_port()}/mcp", connect_timeout=60)

    started = time.perf_counter()
    with pytest.raises(MCPUnavailableError, match="cannot connect to MCP server"):
        await kit.aget_tools()

    assert time.perf_counter() - started < SLACK


async def assert_given_up_within_the_timeout(kit: MCPTools) -> None:
    started = time.perf_counter()
    with pytest.raises(MCPUnavailableError, match="did not answer within 1s"):
        await kit.aget_tools()
    assert time.perf_counter() - started < SLACK  # the server would hold it an hour
    await kit.aclose()  # and the hung process is stopped


async def test_a_hanging_stdio_server_is_given_up_on_within_the_timeout(toolkits: Callable[..., MCPTools]) -> None:
    await assert_given_up_within_the_timeout(toolkits([*STDIO, "--hang-on-start"], connect_timeout=1))


async def test_a_hanging_http_server_is_given_up_on_within_the_timeout(toolkits: Callable[..., MCPTools]) -> None:
    with http_server(hang=True) as server:
        await assert_given_up_within_the_timeout(toolkits(url=server.url, connect_timeout=1))


async def test_a_failed_server_is_not_retried_at_once(toolkits: Callable[..., MCPTools]) -> None:
    # given a port that refuses connections (bound, not listening), so the first attempt fails
    with socket.socket() as port:
        port.bind(("127.0.0.1", 0))
        kit = toolkits(url=f"http://127.0.0.1:{port.getsockname()[1]}/mcp", retry_after=60)
        with pytest.raises(MCPUnavailableError):
            await kit.aget_tools()

        # when the port now takes connections, and the next run asks within retry_after
        port.listen(8)
        port.setblocking(False)
        with pytest.raises(MCPUnavailableError, match=r"not retried for another \d+\.\ds"):
            await kit.aget_tools()

        # then it was refused from memory: nothing tried to connect
        with pytest.raises(BlockingIOError):
            port.accept()


async def test_a_call_on_a_dropped_stdio_session_reconnects_once(toolkits: Callable[..., MCPTools]) -> None:
    # given a live session, whose server process then dies
    kit = toolkits(STDIO)
    first = int(await kit.call_tool("whoami"))
    os.kill(first, signal.SIGKILL)

    # when the next call comes
    second = int(await kit.call_tool("whoami"))

    # then it reconnected to a new server process and answered
    assert second != first
    assert kit.connected


async def test_the_next_run_reconnects_after_the_http_server_comes_back(toolkits: Callable[..., MCPTools]) -> None:
    with http_server() as server:
        # given a connected toolkit, then the server goes away
        kit = toolkits(url=server.url, retry_after=0, connect_timeout=3)
        assert await kit.call_tool("echo", {"text": "one"}) == "one"
        server.stop()

        # when a run needs it while it is down, it is reported unavailable
        with pytest.raises(MCPUnavailableError):
            await kit.call_tool("echo", {"text": "two"})
        with pytest.raises(MCPUnavailableError):
            await kit.aget_tools()

        # then once it is back on the same port, the next run connects again
        server.start()
        assert "echo" in [t.name for t in await kit.aget_tools()]
        assert await kit.call_tool("echo", {"text": "three"}) == "three"


async def test_a_tool_that_kills_its_server_gets_one_retry_then_a_clear_error(
    toolkits: Callable[..., MCPTools],
) -> None:
    kit = toolkits(STDIO)

    with pytest.raises(MCPUnavailableError, match="dropped the connection again while calling 'crash'"):
        await kit.call_tool("crash")

    assert await kit.call_tool("add", {"a": 2, "b": 2}) == "4"  # and the toolkit recovers


async def test_aclose_stops_the_server_process(toolkits: Callable[..., MCPTools]) -> None:
    kit = toolkits(STDIO)
    pid = int(await kit.call_tool("whoami"))

    await kit.aclose()

    assert not kit.connected
    assert process_gone(pid)


async def test_connect_on_start_connects_when_the_toolkit_starts() -> None:
    async with MCPTools(STDIO, connect_on_start=True) as kit:
        assert kit.connected
        assert "add" in [t.name for t in kit.get_tools()]  # the sync view shows the live tools
    assert not kit.connected
    assert kit.get_tools() == []


def test_a_served_app_connects_its_toolkits_at_start_and_closes_them_at_shutdown() -> None:
    from fastapi.testclient import TestClient

    from stratus import App
    from stratus.api import create_app

    eager = MCPTools(STDIO, connect_on_start=True)
    down = MCPTools(url=f"http://127.0.0.1:{closed_port()}/mcp", connect_on_start=True, connect_timeout=1)
    agent = Agent(id="mcp", model=ScriptedModel("hi"), tools=[eager, down])

    async def connected(kit: MCPTools) -> bool:
        return kit.connected  # in the server's event loop, where the session lives

    with TestClient(create_app(App(agents=[agent]), auth=None)) as client:
        assert client.portal is not None
        assert client.portal.call(connected, eager)  # before any run
        assert not client.portal.call(connected, down)  # an unreachable server does not stop the app starting
        assert client.get("/health").status_code == 200
        pid = int(client.portal.call(eager.call_tool, "whoami"))
    assert process_gone(pid)  # closed at shutdown


async def test_lazy_connection_happens_on_first_use(toolkits: Callable[..., MCPTools]) -> None:
    kit = toolkits(STDIO)
    await kit.astart()  # connect_on_start is off: nothing happens

    assert not kit.connected
    assert kit.get_tools() == []
    await kit.aget_tools()
    assert kit.connected


# --- agent runs ------------------------------------------------------------------------------------------


async def test_an_agent_run_calls_an_mcp_tool(toolkits: Callable[..., MCPTools], shared_http: HttpServer) -> None:
    # given an agent with an MCP server's tools and a model that calls one
    model = ScriptedModel(call("add", a=20, b=22), "The answer is 42.")
    agent = Agent(model=model, tools=[toolkits(url=shared_http.url)])

    # when it runs
    out = await agent.arun("What is 20 + 22?")

    # then the MCP result went back to the model and the run completed
    assert out.content == "The answer is 42."
    assert model.requests[1][-1].content == "42"
    assert "add" in model.tool_names[0]


async def test_with_one_server_dead_the_run_uses_the_live_one_and_reports_the_other(
    toolkits: Callable[..., MCPTools],
) -> None:
    # given one live server and one that is not there
    alive = toolkits(TIME_SERVER, name="time")
    dead = toolkits(url=f"http://127.0.0.1:{closed_port()}/mcp", name="maps")
    model = ScriptedModel(call("get_current_time", timezone="UTC"), "It is late.")
    agent = Agent(model=model, tools=[alive, dead])

    # when a run starts
    events = await collect(agent, "What time is it?")

    # then the stream says which toolkit is missing and why, and the run completes with the other
    unavailable = [e for e in events if isinstance(e, ToolkitUnavailable)]
    assert [e.toolkit for e in unavailable] == ["maps"]
    assert "MCPUnavailableError: cannot connect to MCP server 'maps'" in unavailable[0].content
    assert events[-1].kind == "RunCompleted"
    assert sorted(model.tool_names[0]) == ["convert_time", "get_current_time"]
    assert '"timezone": "UTC"' in str(model.requests[1][-1].content)


async def test_a_hanging_tool_in_a_run_becomes_an_error_for_the_model(toolkits: Callable[..., MCPTools]) -> None:
    model = ScriptedModel(call("hang"), "It took too long.")
    agent = Agent(model=model, tools=[toolkits(STDIO, call_timeout=0.5)])

    started = time.perf_counter()
    out = await agent.arun("Wait for it.")

    assert out.content == "It took too long."
    assert out.tools[0].tool_call_error is True
    assert "did not answer within 0.5s" in str(out.tools[0].result)
    assert time.perf_counter() - started < SLACK  # the server would hold it an hour


async def test_runs_in_parallel_share_one_connection(toolkits: Callable[..., MCPTools]) -> None:
    kit = toolkits(STDIO)

    pids = await asyncio.gather(*(kit.call_tool("whoami") for _ in range(8)))

    assert len(set(pids)) == 1


# --- configuration ---------------------------------------------------------------------------------------


def test_a_toolkit_needs_exactly_one_way_to_reach_its_server() -> None:
    with pytest.raises(ConfigError, match="exactly one of"):
        MCPTools()
    with pytest.raises(ConfigError, match="exactly one of"):
        MCPTools("server", url="http://127.0.0.1:1/mcp")
    with pytest.raises(ConfigError, match="http"):
        MCPTools(url="ftp://example/mcp")
    assert MCPTools(url="https://user:secret@example.test/x/sse?token=t").name == "https://example.test/x/sse"


def test_without_the_sdk_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)

    with pytest.raises(ImportError, match=r"pip install 'stratus\[mcp\]'"):
        MCPTools(STDIO)
