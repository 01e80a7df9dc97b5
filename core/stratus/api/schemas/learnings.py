"""`/learnings`: the records a client adds or changes, a record as the routes answer it, and the listings'
filters and pages (AgentOS' `db_id` and `table` among them, taken and not used)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from stratus.api._limits import PAGE, ContentField, MetadataField
from stratus.api._paging import CURSOR
from stratus.api.schemas._common import RECORD, Object, UnixSeconds

_ID = Field(default=None, max_length=256)


class LearningCreate(BaseModel):
    """AgentOS' `LearningCreate`."""

    model_config = ConfigDict(extra="forbid")

    learning_type: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
    content: ContentField
    namespace: str | None = _ID
    user_id: str | None = _ID
    agent_id: str | None = _ID
    team_id: str | None = _ID
    session_id: str | None = _ID
    entity_id: str | None = _ID
    entity_type: str | None = _ID
    metadata: MetadataField = None


class LearningUpdate(BaseModel):
    """AgentOS' `LearningUpdate`: identity fields cannot change."""

    model_config = ConfigDict(extra="forbid")

    content: ContentField | None = None
    metadata: MetadataField = None


class _LearningIds(BaseModel):
    """Whose a learning is and what it is about: the fields a record is listed by."""

    user_id: str | None = None
    agent_id: str | None = None
    team_id: str | None = None
    session_id: str | None = None
    namespace: str | None = None
    entity_id: str | None = None
    entity_type: str | None = None


class LearningResponse(_LearningIds):
    """AgentOS' `LearningResponse`."""

    model_config = RECORD

    learning_id: str
    learning_type: str
    content: Object = None
    metadata: Object = None
    created_at: UnixSeconds = None
    updated_at: UnixSeconds = None


class LearningUserStats(BaseModel):
    """AgentOS' `LearningUserStats`: a user that owns learning records, and their latest update."""

    user_id: str
    last_learning_updated_at: UnixSeconds = None


class LearningUserFilters(BaseModel):
    """The filters of `GET /learnings/users`."""

    learning_type: str | None = None
    user_id: str | None = None


class LearningFilters(LearningUserFilters, _LearningIds):
    """The filters of `GET /learnings`, named as `LearningQuery` names them."""


class LearningPage(BaseModel):
    """The page and sort of `GET /learnings/users` (AgentOS' `sort_by` is any text here)."""

    limit: int = Field(default=20, ge=1, le=1000)
    page: int = Field(default=1, **PAGE)
    sort_by: str | None = None
    sort_order: Literal["asc", "desc"] | None = "desc"
    db_id: str | None = None
    table: str | None = None


class LearningListing(LearningPage):
    """The page and sort of `GET /learnings`, and the cursor that continues it."""

    limit: int = Field(default=100, ge=1, le=1000)
    cursor: str | None = Field(default=None, **CURSOR)


class LearningParams(LearningListing, LearningFilters):
    """The query parameters of `GET /learnings`: its filters, then its page and sort."""


class LearningUserParams(LearningPage, LearningUserFilters):
    """The query parameters of `GET /learnings/users`: its filters, then its page and sort."""
