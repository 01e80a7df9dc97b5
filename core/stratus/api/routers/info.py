"""`GET /info`: lightweight metadata about this deployment, as AgentOS serves it (agno 3.1.10's `get_info`)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from stratus import __version__
from stratus.api._deps import AppDep
from stratus.api.auth import ApiKeyAuth, AuthMiddleware

__all__ = ["AGENTOS_VERSION", "router"]

AGENTOS_VERSION = "3.1.10"
"""The agno AgentOS version whose API stratus serves (what `agno_version` reports)."""

router = APIRouter(tags=["Core"])


class McpOAuthInfo(BaseModel):
    authorization_servers: list[str] | None = None
    resource: str | None = None


class McpInfo(BaseModel):
    """Whether this deployment serves an MCP server (stratus serves none: its agents use MCP servers)."""

    enabled: bool = False
    path: str | None = None
    oauth: McpOAuthInfo | None = None
    tool_run_endpoint: bool = False


class InfoResponse(BaseModel):
    """AgentOS' `InfoResponse`."""

    os_id: str = Field(..., description="The deployment's id (the App's)")
    name: str | None = None
    os_version: str = Field(..., description="The stratus version serving it")
    agno_version: str = Field(..., description="The AgentOS API version it is compatible with")
    agent_count: int = 0
    team_count: int = 0
    workflow_count: int = 0
    mcp: McpInfo = Field(default_factory=McpInfo)
    auth_mode: Literal["none", "security_key", "jwt"] = Field(
        "none", description="none, security_key (bearer API keys) or jwt (claims of a verified token)"
    )
    user_isolation: bool = Field(
        False, description="Whether every call is scoped to the verified user (true whenever authentication is on)"
    )


def _auth_mode(request: Request) -> Literal["none", "security_key", "jwt"]:
    for middleware in request.app.user_middleware:
        if middleware.cls is AuthMiddleware:
            authenticator = middleware.kwargs.get("authenticator")
            return "security_key" if isinstance(authenticator, ApiKeyAuth) else "jwt"
    return "none"


@router.get("/info", response_model=InfoResponse, summary="Get OS Info", operation_id="get_info")
async def info(request: Request, app: AppDep) -> InfoResponse:
    """The deployment's id, name, versions, how many agents, teams and workflows it serves, and how callers
    are authenticated."""
    mode = _auth_mode(request)
    return InfoResponse(
        os_id=app.id,
        name=app.name,
        os_version=__version__,
        agno_version=AGENTOS_VERSION,
        agent_count=len(app.agents),
        team_count=len(app.teams),
        workflow_count=len(app.workflows),
        auth_mode=mode,
        user_isolation=mode != "none",
    )
