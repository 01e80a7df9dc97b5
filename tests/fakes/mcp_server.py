"""A real MCP server, written with the `mcp` SDK, for testing `MCPTools` against the wire.

It serves a few tools over stdio, streamable HTTP or SSE:

- `add(a, b)`: the sum of two integers;
- `echo(text)`: the text back;
- `whoami()`: the server's process id (a reconnect shows as a new pid over stdio);
- `fail(message)`: raises, so the result comes back with `isError`;
- `hang(seconds)`: sleeps (an hour by default), to trip a caller's timeout;
- `crash()`: ends the process at once, mid-call, as a dropped connection does;
- `math.multiply(a, b)`: a name with a dot, which providers do not accept as a tool name.

Run it as a script (stdio by default):

    python tests/fakes/mcp_server.py
    python tests/fakes/mcp_server.py --transport streamable-http --port 0
    python tests/fakes/mcp_server.py --hang-on-start       # never answers, not even `initialize`

Over HTTP it prints its endpoint URL on the first line of stdout once it accepts connections, then serves
until interrupted. The module imports nothing from the project, so it runs from any working directory.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from collections.abc import Sequence

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

__all__ = ["build_server", "main"]

HANG_SECONDS = 3600.0


def build_server() -> MCPServer:
    """The test server and its tools."""
    server = MCPServer("stratus-test-server", instructions="A server for stratus' tests.", log_level="WARNING")

    @server.tool()
    def add(a: int, b: int) -> int:  # pyright: ignore[reportUnusedFunction]
        """Add two integers."""
        return a + b

    @server.tool()
    def echo(text: str) -> str:  # pyright: ignore[reportUnusedFunction]
        """Return the text unchanged."""
        return text

    @server.tool()
    def whoami() -> str:  # pyright: ignore[reportUnusedFunction]
        """The server's process id."""
        return str(os.getpid())

    @server.tool()
    def fail(message: str) -> str:  # pyright: ignore[reportUnusedFunction]
        """Always fails with the given message."""
        raise ToolError(message)

    @server.tool()
    async def hang(seconds: float = HANG_SECONDS) -> str:  # pyright: ignore[reportUnusedFunction]
        """Sleep for `seconds` (an hour by default), then answer."""
        await anyio.sleep(seconds)
        return "woke up"

    @server.tool()
    def crash() -> str:  # pyright: ignore[reportUnusedFunction]
        """End the server process at once, without answering."""
        sys.stdout.flush()
        os._exit(3)

    @server.tool(name="math.multiply")
    def multiply(a: int, b: int) -> int:  # pyright: ignore[reportUnusedFunction]
        """Multiply two integers."""
        return a * b

    return server


async def _serve_http(server: MCPServer, transport: str, host: str, port: int) -> None:
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)  # connections wait in the backlog until uvicorn accepts them
    bound_port = sock.getsockname()[1]
    if transport == "sse":
        app = server.sse_app(host=host)
        path = "/sse"
    else:
        app = server.streamable_http_app(host=host)
        path = "/mcp"
    web = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    print(f"http://{host}:{bound_port}{path}", flush=True)
    await web.serve(sockets=[sock])


def _hang(transport: str, host: str, port: int) -> None:
    """Never answer: over stdio ignore stdin; over HTTP accept TCP connections (the backlog) but never read."""
    if transport == "stdio":
        time.sleep(HANG_SECONDS)
        return
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, port))
    sock.listen(128)
    print(f"http://{host}:{sock.getsockname()[1]}/{'sse' if transport == 'sse' else 'mcp'}", flush=True)
    time.sleep(HANG_SECONDS)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the test MCP server until interrupted or its stdin closes (stdio)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--transport", choices=["stdio", "streamable-http", "sse"], default="stdio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="port to bind over HTTP (default: a free one)")
    parser.add_argument("--hang-on-start", action="store_true", help="never answer anything")
    args = parser.parse_args(argv)
    if args.hang_on_start:
        _hang(args.transport, args.host, args.port)
        return 0
    server = build_server()
    if args.transport == "stdio":
        server.run("stdio")
    else:
        anyio.run(_serve_http, server, args.transport, args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
