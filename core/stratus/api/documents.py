"""Response documents that need neither FastAPI nor pydantic, so the lightest Lambda function (health and
config) can answer them without importing either."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from stratus.app import App
from stratus.exceptions import StratusError

__all__ = ["config_document", "health_document"]


def health_document(instantiated_at: str) -> dict[str, str]:
    """AgentOS' `HealthResponse`."""
    return {"status": "ok", "instantiated_at": instantiated_at}


def utc_now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def config_document(app: App) -> dict[str, Any]:
    """AgentOS' `/config`: what this deployment serves, its agents, models and databases."""
    db_id = app.store.id
    models: dict[tuple[str, str], dict[str, str]] = {}
    for agent in [*app.agents.values(), *app.teams.values()]:
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
        "memory": domain("Memory", ["memories"]),
        "knowledge": {
            "dbs": domain("Knowledge", ["contents"])["dbs"] if app.knowledge else [],
            "knowledge_instances": [
                {"id": k.id, "name": k.id, "description": k.description, "db_id": db_id, "table": "contents"}
                for k in app.knowledge.values()
            ],
        },
        "agents": [{"id": a.agent_id, "name": a.name, "db_id": db_id} for a in app.agents.values()],
        "teams": [{"id": t.team_id, "name": t.name, "db_id": db_id} for t in app.teams.values()],
        "workflows": [{"id": w.workflow_id, "name": w.name, "db_id": db_id} for w in app.workflows.values()],
        "interfaces": [],
    }
