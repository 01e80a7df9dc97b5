"""`/memories` and `/user_memory_stats`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from stratus.api.schemas._common import OPTIONAL_ID, RECORD, IsoTime

__all__ = ["DeleteMemoriesRequest", "MemoryRequest", "UserMemorySchema", "UserStatsSchema"]


class MemoryRequest(BaseModel):
    """`POST /memories` and `PATCH /memories/{id}` (AgentOS' `UserMemoryCreateSchema`)."""

    model_config = ConfigDict(extra="forbid")

    memory: str = Field(min_length=1, max_length=100_000)
    user_id: str | None = OPTIONAL_ID
    topics: list[str] | None = Field(default=None, max_length=100)
    agent_id: str | None = OPTIONAL_ID
    team_id: str | None = OPTIONAL_ID


class DeleteMemoriesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    memory_ids: list[str] = Field(max_length=1000)
    user_id: str | None = OPTIONAL_ID


class UserMemorySchema(BaseModel):
    """AgentOS' `UserMemorySchema`."""

    model_config = RECORD

    memory_id: str
    memory: str
    topics: list[str] | None = None
    agent_id: str | None = None
    team_id: str | None = None
    user_id: str | None = None
    updated_at: IsoTime = None


class UserStatsSchema(BaseModel):
    """AgentOS' `UserStatsSchema`: a user's count of memories, and when the newest changed."""

    model_config = RECORD

    user_id: str
    total_memories: int
    last_memory_updated_at: IsoTime = None
