"""Tool hooks around the tools of a real MCP server (tests/fakes/mcp_server.py over stdio, in a subprocess):
the hook sees the call and changes its arguments, and the server's own tool runs with them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from stratus import Agent, RunStatus
from stratus.models.testing import ScriptedModel, call
from stratus.tools.mcp import MCPTools

SERVER = Path(__file__).parents[1] / "fakes" / "mcp_server.py"


async def test_a_tool_hook_wraps_an_mcp_servers_tool() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    def double_b(function_name: str, function_call: Any, arguments: dict[str, Any]) -> Any:
        seen.append((function_name, dict(arguments)))
        return function_call(**{**arguments, "b": arguments["b"] * 2})

    async with MCPTools([sys.executable, str(SERVER)], connect_on_start=True) as kit:
        model = ScriptedModel(call("add", a=2, b=3), call("add", a="x", b=1), "done")
        out = await Agent(model=model, tools=[kit], tool_hooks=[double_b]).arun("add")

    assert out.status is RunStatus.COMPLETED, out.error
    assert out.tools[0].result == "8"  # 2 + 3*2, computed by the server
    assert out.tools[1].tool_call_error  # the MCP tool's own check refused "x" before the hook
    assert seen == [("add", {"a": 2, "b": 3})]
