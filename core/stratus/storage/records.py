"""What a `Store` keeps: sessions, user memories, learnings, knowledge content records, eval runs and the
daily metrics (runs are `RunOutput`s), and the queries that list them. Every record carries a schema
version; reading a version this code does not know fails, it is never guessed at."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, Literal, TypeVar

from stratus.exceptions import SchemaVersionError
from stratus.messages import Usage

__all__ = [
    "SCHEMA_VERSION",
    "ContentQuery",
    "ContentRecord",
    "ContentStatus",
    "DailyMetrics",
    "EvalQuery",
    "EvalRecord",
    "EvalType",
    "LearningQuery",
    "LearningRecord",
    "ListingQuery",
    "MemoryQuery",
    "MetricsRefresh",
    "Page",
    "SessionQuery",
    "SessionRecord",
    "SessionType",
    "UserMemory",
    "UserMemoryStats",
    "check_schema_version",
]

SCHEMA_VERSION = 1
"""The version of every stored record's shape written by this code."""

R = TypeVar("R")


def check_schema_version(kind: str, record_id: str, version: Any) -> None:
    """Refuse a stored record whose schema version this code does not read."""
    if version != SCHEMA_VERSION:
        raise SchemaVersionError(
            f"stored {kind} {record_id!r} has schema_version {version!r}; this stratus reads version {SCHEMA_VERSION}"
        )


@dataclass(slots=True, kw_only=True)
class _Stored:
    """What every stored record carries: when it was first and last written, when it expires (Unix seconds;
    None: never) and the version of its shape."""

    created_at: float = 0.0
    updated_at: float = 0.0
    expires_at: int | None = None
    schema_version: int = SCHEMA_VERSION


class SessionType(StrEnum):
    AGENT = "agent"
    TEAM = "team"
    WORKFLOW = "workflow"


@dataclass(slots=True, kw_only=True)
class SessionRecord(_Stored):
    """A session's metadata: who owns it, which component it talks to, its state and running totals.

    `version` counts changes to the session's name, state, metadata and summary; a writer that read version
    N may only write if it is still N (optimistic locking), so concurrent writers never lose each other's work.
    """

    session_id: str
    session_type: SessionType = SessionType.AGENT
    component_id: str | None = None
    user_id: str | None = None
    session_name: str | None = None
    session_state: dict[str, Any] = field(default_factory=dict[str, Any])
    metadata: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    component_data: dict[str, Any] | None = None
    usage: Usage = field(default_factory=Usage)
    version: int = 0

    def check_version(self) -> SessionRecord:
        check_schema_version("session", self.session_id, self.schema_version)
        return self


@dataclass(slots=True, kw_only=True)
class ListingQuery:
    """The sort direction and paging every listing query takes.

    Paging: `cursor`, when given, continues a listing where the page that returned it ended
    (`Page.next_cursor`), and `page` is ignored; without it, `page` counts from 1. Cursors are opaque and
    bound to the filters and sort that made them (another listing's cursor is an `InvalidCursorError`); a
    cursor costs the same at any depth, a page number is served by reading through the pages before it."""

    sort_order: Literal["asc", "desc"] = "desc"
    page: int = 1
    limit: int = 20
    cursor: str | None = None


@dataclass(slots=True, kw_only=True)
class SessionQuery(ListingQuery):
    """Filters, sorting and paging for listing sessions. `session_name` matches a case-insensitive substring.
    Paged as every query here is (see `ListingQuery`)."""

    session_type: SessionType | None = None
    component_id: str | None = None
    user_id: str | None = None
    session_name: str | None = None
    sort_by: Literal["created_at", "updated_at", "session_name"] = "created_at"


@dataclass(slots=True, kw_only=True)
class UserMemory(_Stored):
    """Something worth remembering about a user: a fact or a preference, with topics."""

    memory_id: str
    memory: str
    user_id: str | None = None
    topics: list[str] = field(default_factory=list[str])
    agent_id: str | None = None
    team_id: str | None = None
    source_run_id: str | None = None
    embedding: list[float] | None = None
    """Its vector, from the learning machine's embedder (to find near-duplicates and relevant memories)."""
    uses: int = 0
    """How many runs had it recalled into their context."""
    last_used: float | None = None


@dataclass(slots=True, kw_only=True)
class MemoryQuery(ListingQuery):
    """Filters, sorting and paging for listing memories. `topics` matches memories with any of them;
    `search_content` matches a case-insensitive substring of the memory."""

    user_id: str | None = None
    agent_id: str | None = None
    team_id: str | None = None
    topics: list[str] | None = None
    search_content: str | None = None
    sort_by: Literal["updated_at", "created_at", "memory"] = "updated_at"


@dataclass(slots=True, kw_only=True)
class UserMemoryStats:
    """How many memories a user has, and when the newest changed."""

    user_id: str
    total_memories: int
    last_memory_updated_at: float | None


@dataclass(slots=True, kw_only=True)
class LearningRecord(_Stored):
    """An insight the learning machine keeps: about one user (`user_id`) or shared by every user of an agent
    (`agent_id` alone). `uses` and `last_used` drive eviction of what is never recalled."""

    learning_id: str
    learning_type: str
    content: dict[str, Any]
    user_id: str | None = None
    agent_id: str | None = None
    team_id: str | None = None
    session_id: str | None = None
    namespace: str | None = None
    entity_id: str | None = None
    entity_type: str | None = None
    metadata: dict[str, Any] | None = None
    uses: int = 0
    last_used: float | None = None


@dataclass(slots=True, kw_only=True)
class LearningQuery(ListingQuery):
    """Filters, sorting and paging for listing learnings. Internal records (types starting with `_`) are
    left out unless `learning_type` names one."""

    user_id: str | None = None
    agent_id: str | None = None
    shared: bool = False
    """Only the learnings no user owns (an agent's insights for every user)."""
    learning_type: str | None = None
    namespace: str | None = None
    session_id: str | None = None
    team_id: str | None = None
    entity_id: str | None = None
    entity_type: str | None = None
    sort_by: Literal["updated_at", "created_at"] = "updated_at"


class ContentStatus(StrEnum):
    PROCESSING = "processing"
    COMPLETED = "completed"
    PARTIAL = "partial"
    FAILED = "failed"


@dataclass(slots=True, kw_only=True)
class ContentRecord(_Stored):
    """A document added to a knowledge base, and how its ingestion went."""

    content_id: str
    knowledge_id: str
    name: str | None = None
    description: str | None = None
    content_type: str | None = None
    size: int | None = None
    content_hash: str | None = None
    metadata: dict[str, Any] | None = None
    status: ContentStatus = ContentStatus.PROCESSING
    status_message: str | None = None
    chunk_count: int = 0
    access_count: int = 0
    user_id: str | None = None
    """Who added it; with a per-user knowledge base, only they see it."""
    source_url: str | None = None
    """Where it was fetched from, when added from a URL."""
    embedders: list[str] | None = None
    """The embedders whose vectors of this content are indexed (`<embedder id>@<dimensions>`), each in its own
    collection, so the knowledge base knows what to embed again when its embedder changes; `""` names the
    collection of content indexed before stratus kept this list (None), named after the knowledge base alone."""


@dataclass(slots=True, kw_only=True)
class ContentQuery(ListingQuery):
    """Filters, sorting and paging for listing a knowledge base's content records."""

    knowledge_id: str
    user_id: str | None = None
    """Only this user's content (None: everyone's)."""
    status: ContentStatus | None = None
    content_hash: str | None = None
    sort_by: Literal["created_at", "updated_at", "name"] = "created_at"


class EvalType(StrEnum):
    """What an eval measures (AgentOS' `EvalType`)."""

    ACCURACY = "accuracy"
    AGENT_AS_JUDGE = "agent_as_judge"
    PERFORMANCE = "performance"
    RELIABILITY = "reliability"


@dataclass(slots=True, kw_only=True)
class EvalRecord(_Stored):
    """One eval run of an agent or a team and its result (`eval_data`, in AgentOS' shape per `eval_type`)."""

    eval_id: str
    eval_type: EvalType
    eval_data: dict[str, Any]
    eval_input: dict[str, Any] | None = None
    name: str | None = None
    agent_id: str | None = None
    team_id: str | None = None
    workflow_id: str | None = None
    model_id: str | None = None
    model_provider: str | None = None
    evaluated_component_name: str | None = None
    user_id: str | None = None
    """Who ran it; with a user given, only they see it."""


@dataclass(slots=True, kw_only=True)
class EvalQuery(ListingQuery):
    """Filters, sorting and paging for listing eval runs. `component_type` keeps the evals of that kind of
    component (AgentOS' `type` filter); `eval_types` those of any of the types."""

    user_id: str | None = None
    agent_id: str | None = None
    team_id: str | None = None
    workflow_id: str | None = None
    model_id: str | None = None
    component_type: SessionType | None = None
    eval_types: list[EvalType] | None = None
    sort_by: Literal["created_at", "updated_at"] = "created_at"


@dataclass(slots=True, kw_only=True)
class DailyMetrics:
    """One UTC day's aggregate of the stored runs (AgentOS' `DayAggregatedMetrics`): of one user's runs
    (`user_id`; `""` for the runs no user owns), or of everyone's (`user_id` None).

    Run counts are of top-level runs (a team's member runs and a workflow's step runs are part of theirs);
    tokens and `model_metrics` count every run, members and steps included, since each made its own model
    requests."""

    day: str
    """`YYYY-MM-DD`, UTC."""
    user_id: str | None = None
    agent_runs_count: int = 0
    agent_sessions_count: int = 0
    team_runs_count: int = 0
    team_sessions_count: int = 0
    workflow_runs_count: int = 0
    workflow_sessions_count: int = 0
    users_count: int = 0
    token_metrics: dict[str, int] = field(default_factory=dict[str, int])
    model_metrics: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    """`[{"model_id", "model_provider", "count"}]`: runs per model."""
    completed: bool = False
    """The day was over when this was computed (it is computed again only in the hour after it ends, for
    runs saved late)."""
    created_at: float = 0.0
    updated_at: float = 0.0
    schema_version: int = SCHEMA_VERSION


@dataclass(slots=True, kw_only=True)
class MetricsRefresh:
    """Where the daily metrics stand: the last refresh's outcome, and the first day still to compute."""

    status: Literal["idle", "running", "completed", "failed"] = "idle"
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    next_day: str | None = None
    """The first day a refresh computes again (None: from the first stored run)."""
    schema_version: int = SCHEMA_VERSION


@dataclass(slots=True, kw_only=True)
class Page(Generic[R]):
    """One page of a listing.

    `next_cursor` continues the listing (None: this page is its last). `total` counts every match when the
    store can count cheaply, else None: `SqliteStore` always counts; `DynamoStore` knows the total only on a
    listing's last page (everything before it plus this page). `offset` is how many matches came before
    this page."""

    items: list[R]
    next_cursor: str | None = None
    total: int | None = None
    offset: int = 0
