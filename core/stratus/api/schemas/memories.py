"""`/memories` and `/user_memory_stats`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from stratus.api._paging import Listing
from stratus.api.schemas._common import OPTIONAL_ID, RECORD, IsoTime


class MemoryRequest(BaseModel):
    """`POST /memories` and `PATCH /memories/{id}` (AgentOS' `UserMemoryCreateSchema`)."""

    model_config = ConfigDict(extra="forbid")

    memory: str = Field(min_length=1, max_length=100_000)
    user_id: str | None = OPTIONAL_ID
    topics: list[str] | None = Field(default=None, max_length=100)
    agent_id: str | None = OPTIONAL_ID
    team_id: str | None = OPTIONAL_ID


MEMORIES_USER = "The user the memories belong to"
"""What the `user_id` query parameter of the memory routes says."""


class MemoryFilters(BaseModel):
    """The filters of `GET /memories`."""

    user_id: str | None = Field(default=None, description=MEMORIES_USER)
    agent_id: str | None = Field(default=None, description="Only memories made by this agent")
    team_id: str | None = Field(default=None, description="Only memories made by this team")
    search_content: str | None = Field(default=None, description="Only memories containing this text")
    topics: list[str] | None = Field(default=None, description="Only memories with any of these topics")


MemorySort = Literal["updated_at", "created_at", "memory"]


class MemoryListing(Listing[MemorySort]):
    """The page and sort of `GET /memories`."""

    sort_by: MemorySort = "updated_at"


class MemoryParams(MemoryListing, MemoryFilters):
    """The query parameters of `GET /memories`: its filters, then its page and sort."""


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
