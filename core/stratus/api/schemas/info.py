"""`GET /health` and `GET /config`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class HealthResponse(BaseModel):
    status: str = Field(description="Health status of the service")
    instantiated_at: str = Field(description="When the service was instantiated (ISO 8601)")


class ConfigResponse(BaseModel):
    """AgentOS' `ConfigResponse` of `GET /config`: what this deployment serves, its agents, models and
    databases (a section it adds is kept)."""

    model_config = ConfigDict(extra="allow")

    os_id: str
    name: str | None = None
    description: str | None = None
    available_models: list[dict[str, Any]] = Field(
        default_factory=list[dict[str, Any]], description="`{id, provider}` of each model in use"
    )
    databases: list[str] = Field(description="The ids of the stores the components use")
    session: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    memory: dict[str, Any] | None = None
    knowledge: dict[str, Any] | None = None
    agents: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]], description="`{id, name, db_id}`")
    teams: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]], description="`{id, name, db_id}`")
    workflows: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]], description="`{id, name, db_id}`")
    interfaces: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]])
