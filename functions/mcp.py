"""Lambda: `/mcp`, the app's agents, teams and workflows as MCP tools (streamable HTTP, stateless)."""

from stratus.aws.handlers import api_handler

handler = api_handler("mcp")
