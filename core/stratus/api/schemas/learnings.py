"""`/learnings`."""

from __future__ import annotations

from pydantic import BaseModel

from stratus.api.schemas._common import RECORD, Object, UnixSeconds

__all__ = ["LearningResponse", "LearningUserStats"]


class LearningResponse(BaseModel):
    """AgentOS' `LearningResponse`."""

    model_config = RECORD

    learning_id: str
    learning_type: str
    namespace: str | None = None
    user_id: str | None = None
    agent_id: str | None = None
    team_id: str | None = None
    session_id: str | None = None
    entity_id: str | None = None
    entity_type: str | None = None
    content: Object = None
    metadata: Object = None
    created_at: UnixSeconds = None
    updated_at: UnixSeconds = None


class LearningUserStats(BaseModel):
    """AgentOS' `LearningUserStats`: a user that owns learning records, and their latest update."""

    user_id: str
    last_learning_updated_at: UnixSeconds = None
