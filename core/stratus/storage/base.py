"""The storage contract: sessions and the runs inside them.

A session's metadata and each of its runs are separate records, so appending a run never rewrites a
growing blob, and loading a session's history reads only the last N runs in one query.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from stratus.exceptions import SchemaVersionError
from stratus.messages import Usage
from stratus.run import RunOutput, RunStatus

__all__ = ["SESSION_SCHEMA_VERSION", "SessionQuery", "SessionRecord", "SessionType", "Store"]

SESSION_SCHEMA_VERSION = 1


class SessionType(StrEnum):
    AGENT = "agent"
    TEAM = "team"
    WORKFLOW = "workflow"


@dataclass(slots=True, kw_only=True)
class SessionRecord:
    """A session's metadata: who owns it, which component it talks to, its state and running totals."""

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
    created_at: float = 0.0
    updated_at: float = 0.0
    version: int = 0
    schema_version: int = SESSION_SCHEMA_VERSION

    def check_version(self) -> SessionRecord:
        if self.schema_version != SESSION_SCHEMA_VERSION:
            raise SchemaVersionError(
                f"stored session {self.session_id!r} has schema_version {self.schema_version}; "
                f"this stratus reads version {SESSION_SCHEMA_VERSION}"
            )
        return self


@dataclass(slots=True, kw_only=True)
class SessionQuery:
    """Filters, sorting and paging for listing sessions. `page` counts from 1."""

    session_type: SessionType | None = None
    component_id: str | None = None
    user_id: str | None = None
    session_name: str | None = None
    sort_by: Literal["created_at", "updated_at", "session_name"] = "created_at"
    sort_order: Literal["asc", "desc"] = "desc"
    page: int = 1
    limit: int = 20


class Store(ABC):
    """Where sessions and runs live. Every method is async; `user_id`, when given, scopes the call to that
    user's records, and a record of another user reads as absent, never as forbidden."""

    @property
    @abstractmethod
    def id(self) -> str:
        """A stable identifier of this database (AgentOS' `db_id`)."""

    @abstractmethod
    async def get_session(self, session_id: str, *, user_id: str | None = None) -> SessionRecord | None:
        """The session's metadata, or None if it does not exist or belongs to another user."""

    @abstractmethod
    async def save_run(self, session: SessionRecord, run: RunOutput) -> SessionRecord:
        """Store `run` and the session's new metadata (state, name, totals) in one atomic write.

        Saving a run id that already exists replaces that run without counting its tokens twice.
        Returns the session as stored.
        """

    @abstractmethod
    async def get_runs(
        self,
        session_id: str,
        *,
        last: int | None = None,
        statuses: Collection[RunStatus] | None = None,
        user_id: str | None = None,
    ) -> list[RunOutput]:
        """The session's runs, oldest first; with `last`, only the newest `last` of them (one query)."""

    @abstractmethod
    async def get_run(
        self, run_id: str, *, session_id: str | None = None, user_id: str | None = None
    ) -> RunOutput | None:
        """One run by id, optionally checked against its session and owner."""

    @abstractmethod
    async def list_sessions(self, query: SessionQuery) -> tuple[list[SessionRecord], int]:
        """One page of sessions matching `query`, and the total count of matches."""

    @abstractmethod
    async def delete_session(self, session_id: str, *, user_id: str | None = None) -> bool:
        """Delete the session and all its runs; False when there was nothing (visible) to delete."""

    async def close(self) -> None:
        """Release connections."""
        return
