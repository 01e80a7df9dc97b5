"""`GET /health` and `GET /config`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from stratus.api._deps import AppDep
from stratus.api.documents import config_document, health_document
from stratus.api.schemas import ConfigResponse, HealthResponse

__all__ = ["router"]

router = APIRouter(tags=["Core"])


@router.get("/health", response_model=HealthResponse, summary="Health Check", operation_id="health_check")
async def health(request: Request) -> dict[str, str]:
    """Whether the API is up. Always open, even when authentication is on."""
    return health_document(request.app.state.instantiated_at)


@router.get("/config", response_model=ConfigResponse, summary="Get OS Configuration", operation_id="get_config")
async def config(app: AppDep) -> dict[str, Any]:
    """What this deployment serves: its agents, models and databases."""
    return config_document(app)
