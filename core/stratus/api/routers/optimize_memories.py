"""`/optimize-memories` (AgentOS' route): a model consolidates a user's memories into fewer. A group of its
own, apart from `/memories`, because it asks a model: on AWS the function that serves it holds the model
grants, and the memories function does not.

Scoped like the memories: to the verified user with authentication on.
"""

from __future__ import annotations

from fastapi import HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from stratus.api._deps import AppDep, resolve_user_id
from stratus.api._openapi import Router
from stratus.api.schemas import UserMemorySchema
from stratus.exceptions import ConfigError
from stratus.learning._optimize import optimize_memories as _optimize
from stratus.models import requested_model
from stratus.models.base import Model

__all__ = ["router"]

router = Router(tags=["Memory"])


class OptimizeMemoriesRequest(BaseModel):
    """AgentOS' `OptimizeMemoriesRequest`."""

    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(min_length=1, max_length=256, description="User ID to optimize memories for")
    model: str | None = Field(
        default=None,
        max_length=256,
        description="The model to optimize with, as 'provider:model_id' (e.g. 'openai:gpt-4o-mini'); by "
        "default the one the learning machine extracts memories with",
    )
    apply: bool = Field(default=True, description="Replace the memories with the result; false: a preview only")


class OptimizeMemoriesResponse(BaseModel):
    """AgentOS' `OptimizeMemoriesResponse`."""

    memories: list[UserMemorySchema]
    memories_before: int = Field(ge=0)
    memories_after: int = Field(ge=0)
    tokens_before: int = Field(ge=0)
    tokens_after: int = Field(ge=0)
    tokens_saved: int = Field(ge=0)
    reduction_percentage: float = Field(ge=0.0, le=100.0)


def _request_model(spec: str) -> Model:
    """The model a request names; a bad 'provider:model_id' is a 422 (AgentOS answers 400)."""
    provider, sep, model_id = spec.partition(":")
    if not sep:
        raise HTTPException(
            status_code=422,
            detail=f"Invalid model string format: {spec!r}. Model strings should be in format "
            "'<provider>:<model_id>' e.g. 'openai:gpt-4o'",
        )
    try:
        return requested_model(provider, model_id)
    except ConfigError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None


@router.operation("POST", "/optimize-memories", "Optimize User Memories", "optimize_memories", 404, 422, 502, 504)
async def optimize_memories(body: OptimizeMemoriesRequest, request: Request, app: AppDep) -> OptimizeMemoriesResponse:
    """Consolidate a user's memories into fewer, shorter ones with a model (the learning machine's unless
    `model` names one); with `apply` (the default) they replace the user's memories, else nothing changes. A
    user without memories is a 404; a model that fails or answers no consolidation a 502, nothing changed."""
    user_id = resolve_user_id(request, body.user_id) or body.user_id
    model = _request_model(body.model) if body.model is not None else None
    found = await _optimize(app.store, user_id, model, agents=app.all_agents(), apply=body.apply)
    return OptimizeMemoriesResponse(
        memories=[UserMemorySchema.model_validate(m) for m in found.memories],
        memories_before=found.memories_before,
        memories_after=found.memories_after,
        tokens_before=found.tokens_before,
        tokens_after=found.tokens_after,
        tokens_saved=found.tokens_saved,
        reduction_percentage=found.reduction_percentage,
    )
