"""`GET /health` and `GET /config`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from stratus.api._deps import AppDep
from stratus.api.schemas import HealthResponse
from stratus.exceptions import StratusError

__all__ = ["router"]

router = APIRouter(tags=["Core"])


@router.get("/health", response_model=HealthResponse, summary="Health Check", operation_id="health_check")
async def health(request: Request) -> dict[str, str]:
    """Whether the API is up. Always open, even when authentication is on."""
    return {"status": "ok", "instantiated_at": request.app.state.instantiated_at}


@router.get("/config", summary="Get OS Configuration", operation_id="get_config")
async def config(app: AppDep) -> dict[str, Any]:
    """What this deployment serves: its agents, models and databases."""
    db_id = app.store.id
    models: dict[tuple[str, str], dict[str, str]] = {}
    for agent in app.agents.values():
        try:
            model = agent.get_model()
        except StratusError:
            continue
        models[(model.id, model.provider)] = {"id": model.id, "provider": model.provider}

    def domain(name: str, tables: list[str] | None = None) -> dict[str, Any]:
        entry: dict[str, Any] = {"db_id": db_id, "domain_config": {"display_name": name}}
        if tables is not None:
            entry["tables"] = tables
        return {"dbs": [entry]}

    return {
        "os_id": app.id,
        "name": app.name,
        "description": app.description,
        "available_models": list(models.values()),
        "databases": [db_id],
        "session": domain("Sessions", ["sessions"]),
        "metrics": domain("Metrics"),
        "knowledge": {"dbs": [], "knowledge_instances": []},
        "agents": [{"id": a.agent_id, "name": a.name, "db_id": db_id} for a in app.agents.values()],
        "teams": [],
        "workflows": [],
        "interfaces": [],
    }
