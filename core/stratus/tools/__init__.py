"""Tools an agent can call: `@tool` on a typed function, grouped in a `Toolkit` when they belong together."""

from stratus.tools._tool import Tool, ToolArgumentsError, ToolDefinition, tool
from stratus.tools._toolkit import Toolkit

__all__ = ["Tool", "ToolArgumentsError", "ToolDefinition", "Toolkit", "tool"]
