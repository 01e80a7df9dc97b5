"""`/sessions`: the requests that create and change sessions, and a session as a listing and its detail show it."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from stratus.api._limits import MetadataField, StateField
from stratus.api._paging import Listing
from stratus.api.schemas._common import OPTIONAL_ID, Object, iso
from stratus.run import RunOutput
from stratus.storage.records import SessionRecord, SessionType


class CreateSessionRequest(BaseModel):
    """`POST /sessions`: a new, empty session (its id is generated when not given)."""

    model_config = ConfigDict(extra="forbid")

    session_id: str | None = OPTIONAL_ID
    session_name: str | None = Field(default=None, max_length=1000)
    session_state: StateField = None
    metadata: MetadataField = None
    user_id: str | None = OPTIONAL_ID
    agent_id: str | None = OPTIONAL_ID
    team_id: str | None = OPTIONAL_ID
    workflow_id: str | None = OPTIONAL_ID


class UpdateSessionRequest(BaseModel):
    """`PATCH /sessions/{id}`: the fields given are replaced; the others stay."""

    model_config = ConfigDict(extra="forbid")

    session_name: str | None = Field(default=None, min_length=1, max_length=1000)
    session_state: StateField = None
    metadata: MetadataField = None
    summary: MetadataField = None


class RenameSessionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_name: str = Field(min_length=1, max_length=1000)


SESSION_TYPE = "agent, team or workflow; any if absent"
"""What the `type` query parameter of the session routes says."""


class SessionFilters(BaseModel):
    """The filters of `GET /sessions`."""

    session_type: SessionType | None = Field(default=None, alias="type", description=SESSION_TYPE)
    component_id: str | None = Field(default=None, description="Only sessions of this agent, team or workflow")
    user_id: str | None = Field(default=None, description="Only sessions of this user")
    session_name: str | None = Field(default=None, description="Only sessions whose name contains this")


SessionSort = Literal["created_at", "updated_at", "session_name"]


class SessionListing(Listing[SessionSort]):
    """The page and sort of `GET /sessions`."""

    limit: int = Field(default=20, ge=1, le=1000, description="Sessions per page")
    sort_by: SessionSort = "created_at"


class SessionParams(SessionListing, SessionFilters):
    """The query parameters of `GET /sessions`: its filters, then its page and sort."""


class DeleteSessionsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_ids: list[str] = Field(max_length=1000)
    session_types: list[SessionType] | None = None


# AgentOS' `SessionSchema`, `*SessionDetailSchema`, `*RunSchema` and `SessionRunPreviewSchema`. Each is built by
# validating the one mapping of a record onto AgentOS' vocabulary (`_session_fields`, `_run_fields`): a model
# keeps the fields it declares.


def _session_fields(session: SessionRecord) -> dict[str, Any]:
    """A session under AgentOS' names, for every session schema to take its fields from."""
    u = session.usage
    kind = session.session_type.value
    metrics = {"input_tokens": u.input_tokens, "output_tokens": u.output_tokens, "total_tokens": u.total_tokens}
    return {
        "session_id": session.session_id,
        f"{kind}_session_id": session.session_id,
        "session_name": session.session_name or "",
        "session_state": session.session_state,
        "session_type": kind,
        "user_id": session.user_id,
        f"{kind}_id": session.component_id,
        f"{kind}_data": session.component_data,
        "workflow_name": (session.component_data or {}).get("name"),
        "session_summary": session.summary,
        "session_data": {"session_state": session.session_state, "session_metrics": metrics},
        "metrics": metrics,
        "total_tokens": u.total_tokens,
        "metadata": session.metadata,
        "created_at": iso(session.created_at),
        "updated_at": iso(session.updated_at),
    }


class _SessionBase(BaseModel):
    session_id: str
    session_name: str = Field(description="The session's name; empty when it has none")
    user_id: str | None = None
    session_state: Object = None
    metadata: Object = None
    created_at: str | None = Field(default=None, description="ISO 8601, UTC")
    updated_at: str | None = Field(default=None, description="ISO 8601, UTC")

    @classmethod
    def from_session(cls, session: SessionRecord) -> Self:
        return cls.model_validate(_session_fields(session))


class SessionSchema(_SessionBase):
    """AgentOS' `SessionSchema`: one row of `GET /sessions`."""

    session_type: str | None = Field(default=None, description="agent, team or workflow")
    agent_id: str | None = None
    team_id: str | None = None
    workflow_id: str | None = None
    session_summary: Object = None
    metrics: Object = None
    total_tokens: int | None = None


class _ChatSession(_SessionBase):
    session_summary: Object = None
    total_tokens: int | None = None
    metrics: Object = None
    chat_history: list[dict[str, Any]] | None = Field(
        default=None, description="The messages of its top-level runs (a team's member runs are not the conversation)"
    )

    @classmethod
    def with_history(cls, session: SessionRecord, runs: list[RunOutput]) -> Self:
        # A follow-up keeps a copy of the conversation it continued (`from_history`): listed once, where it was said.
        history = [
            m.to_dict()
            for run in runs
            if run.parent_run_id is None
            for m in run.messages
            if m.role != "system" and not m.from_history
        ]
        return cls.model_validate({**_session_fields(session), "chat_history": history})


class AgentSessionDetailSchema(_ChatSession):
    """AgentOS' `AgentSessionDetailSchema`: an agent's session and its history."""

    agent_session_id: str
    agent_id: str | None = None
    agent_data: Object = None


class TeamSessionDetailSchema(_ChatSession):
    """AgentOS' `TeamSessionDetailSchema`: a team's session and its history."""

    team_id: str | None = None
    team_data: Object = None


class WorkflowSessionDetailSchema(_SessionBase):
    """AgentOS' `WorkflowSessionDetailSchema`: a workflow's session."""

    workflow_id: str | None = None
    workflow_name: str | None = None
    session_data: Object = Field(default=None, description="`{session_state, session_metrics}`")
    workflow_data: Object = None


SessionDetail = AgentSessionDetailSchema | TeamSessionDetailSchema | WorkflowSessionDetailSchema


def session_detail(session: SessionRecord, runs: list[RunOutput]) -> SessionDetail:
    """The session in the detail schema of its type (agents' and teams' with the history of `runs`)."""
    if session.session_type is SessionType.WORKFLOW:
        return WorkflowSessionDetailSchema.from_session(session)
    model = AgentSessionDetailSchema if session.session_type is SessionType.AGENT else TeamSessionDetailSchema
    return model.with_history(session, runs)
