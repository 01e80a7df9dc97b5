"""Tools an agent can call: `@tool` on a typed function, grouped in a `Toolkit` when they belong together."""

from typing import TYPE_CHECKING, Any

from stratus.tools._tool import Tool, ToolArgumentsError, ToolDefinition, tool
from stratus.tools._toolkit import Toolkit

if TYPE_CHECKING:
    from stratus.tools.files import FileTools
    from stratus.tools.mcp import MCPTools
    from stratus.tools.sql import SQLTools

__all__ = ["FileTools", "MCPTools", "SQLTools", "Tool", "ToolArgumentsError", "ToolDefinition", "Toolkit", "tool"]


def __getattr__(name: str) -> Any:
    # The ready-made toolkits load their libraries (sqlalchemy, sqlglot, mcp) only when first used.
    if name == "FileTools":
        from stratus.tools.files import FileTools

        return FileTools
    if name == "MCPTools":
        from stratus.tools.mcp import MCPTools

        return MCPTools
    if name == "SQLTools":
        from stratus.tools.sql import SQLTools

        return SQLTools
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
