"""Tools an agent can call: `@tool` on a typed function, grouped in a `Toolkit` when they belong together."""

from typing import TYPE_CHECKING, Any

from stratus._optional import load_lazily
from stratus.tools._tool import Tool, ToolArgumentsError, ToolDefinition, tool
from stratus.tools._toolkit import Toolkit

if TYPE_CHECKING:
    from stratus.tools.files import FileTools
    from stratus.tools.mcp import MCPTools
    from stratus.tools.sql import SQLTools

__all__ = ["FileTools", "MCPTools", "SQLTools", "Tool", "ToolArgumentsError", "ToolDefinition", "Toolkit", "tool"]


# The ready-made toolkits load their libraries (sqlalchemy, sqlglot, mcp) only when first used.
_LAZY = {"FileTools": "stratus.tools.files", "MCPTools": "stratus.tools.mcp", "SQLTools": "stratus.tools.sql"}


def __getattr__(name: str) -> Any:
    return load_lazily(__name__, _LAZY, name)
