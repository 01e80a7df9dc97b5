"""Request models and response shapes of the HTTP API, following AgentOS' (shared/reference/)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Self, cast

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from stratus.agent import Agent
from stratus.api._limits import FiltersField, MetadataField, StateField
from stratus.exceptions import StratusError
from stratus.run import RunOutput, RunStatus
from stratus.storage.records import ContentStatus, SessionRecord, SessionType
from stratus.team import Team
from stratus.tools import Tool, Toolkit
from stratus.workflow import Step, Workflow, WorkflowStep

__all__ = [
    "AgentResponse",
    "AgentSessionDetailSchema",
    "AnyRunSchema",
    "CancelResponse",
    "ChunkerSchema",
    "ConfigResponse",
    "ContentResponseSchema",
    "ContentStatusResponse",
    "CreateSessionRequest",
    "DeleteMemoriesRequest",
    "DeleteSessionsRequest",
    "ErrorDetail",
    "FieldError",
    "HealthResponse",
    "KnowledgeConfigResponse",
    "LearningResponse",
    "LearningUserStats",
    "MemoryRequest",
    "ModelResponse",
    "ReaderSchema",
    "RenameSessionRequest",
    "RunAccepted",
    "RunErrorDetail",
    "RunRequest",
    "RunResponse",
    "RunSchema",
    "SessionDetail",
    "SessionRunPreviewSchema",
    "SessionSchema",
    "TeamResponse",
    "TeamRunSchema",
    "TeamSessionDetailSchema",
    "UpdateSessionRequest",
    "UserMemorySchema",
    "UserStatsSchema",
    "ValidationErrorDetail",
    "VectorDbSchema",
    "VectorSearchResult",
    "WorkflowResponse",
    "WorkflowRunSchema",
    "WorkflowSessionDetailSchema",
    "WorkflowSummaryResponse",
    "agent_response",
    "iso",
    "run_schema",
    "session_detail",
    "team_response",
    "workflow_response",
    "workflow_summary",
]


def iso(timestamp: float | None) -> str | None:
    """Unix seconds as AgentOS' ISO-8601 UTC text (`2026-11-24T14:19:24Z`)."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class HealthResponse(BaseModel):
    status: str = Field(description="Health status of the service")
    instantiated_at: str = Field(description="When the service was instantiated (ISO 8601)")


class ConfigResponse(BaseModel):
    """AgentOS' `ConfigResponse` of `GET /config`: what this deployment serves, its agents, models and
    databases (a section it adds is kept)."""

    model_config = ConfigDict(extra="allow")

    os_id: str
    name: str | None = None
    description: str | None = None
    available_models: list[dict[str, Any]] = Field(
        default_factory=list[dict[str, Any]], description="`{id, provider}` of each model in use"
    )
    databases: list[str] = Field(description="The ids of the stores the components use")
    session: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    memory: dict[str, Any] | None = None
    knowledge: dict[str, Any] | None = None
    agents: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]], description="`{id, name, db_id}`")
    teams: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]], description="`{id, name, db_id}`")
    workflows: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]], description="`{id, name, db_id}`")
    interfaces: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]])


class ErrorDetail(BaseModel):
    """The body of an error answer: what went wrong, and for a stratus error its type."""

    detail: str = Field(description="What went wrong")
    error_type: str | None = Field(default=None, description="The stratus error behind it, when one is")


class RunErrorDetail(BaseModel):
    """The body of a buffered run that did not complete: the error, and which run it was."""

    detail: str = Field(description="What went wrong (`Internal server error` when it is about the server)")
    error_type: str | None = Field(default=None, description="The error that ended the run")
    run_id: str = Field(description="The run, stored with its status")
    session_id: str = Field(description="The session the run belongs to")
    status: str = Field(description="The run's status: ERROR or CANCELLED")


class FieldError(BaseModel):
    """One invalid part of a request."""

    type: str = Field(description="The kind of error (`missing`, `int_parsing`, `json_too_deep`, ...)")
    loc: list[str | int] = Field(description="Where: `body`, `query`, `path`, then the field")
    msg: str = Field(description="What is wrong with it")


class ValidationErrorDetail(BaseModel):
    """The body of a 422 for invalid fields: the list of what is wrong, and where."""

    detail: list[FieldError]


class RunRequest(BaseModel):
    """The body of `POST /agents/{agent_id}/runs`, as multipart form, urlencoded form or JSON."""

    model_config = ConfigDict(extra="ignore")

    message: str = Field(min_length=1, max_length=1_000_000, description="The input message or prompt")
    stream: bool = Field(default=True, description="Stream events as Server-Sent Events")
    session_id: str | None = Field(
        default=None, min_length=1, max_length=256, description="Session to continue; a new one if absent"
    )
    user_id: str | None = Field(default=None, min_length=1, max_length=256, description="The user")
    session_state: StateField = Field(default=None, description="State to merge into the session")
    knowledge_filters: FiltersField = Field(
        default=None, description="Metadata filters for this run's knowledge searches"
    )
    background: bool = Field(default=False, description="Answer 202 at once and run in the background")
    dependencies: StateField = Field(
        default=None, description="Dependencies for this run, over the agent's own (a key both name is this run's)"
    )


_ID = Field(default=None, min_length=1, max_length=256)


class CreateSessionRequest(BaseModel):
    """`POST /sessions`: a new, empty session (its id is generated when not given)."""

    model_config = ConfigDict(extra="forbid")

    session_id: str | None = _ID
    session_name: str | None = Field(default=None, max_length=1000)
    session_state: StateField = None
    metadata: MetadataField = None
    user_id: str | None = _ID
    agent_id: str | None = _ID
    team_id: str | None = _ID
    workflow_id: str | None = _ID


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


class DeleteSessionsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_ids: list[str] = Field(max_length=1000)
    session_types: list[SessionType] | None = None


class MemoryRequest(BaseModel):
    """`POST /memories` and `PATCH /memories/{id}` (AgentOS' `UserMemoryCreateSchema`)."""

    model_config = ConfigDict(extra="forbid")

    memory: str = Field(min_length=1, max_length=100_000)
    user_id: str | None = _ID
    topics: list[str] | None = Field(default=None, max_length=100)
    agent_id: str | None = _ID
    team_id: str | None = _ID


class DeleteMemoriesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    memory_ids: list[str] = Field(max_length=1000)
    user_id: str | None = _ID


# --- agents, teams and workflows, and their runs ---------------------------------------------------------------
# AgentOS' shapes, under AgentOS' names and fields (shared/reference/agentos-openapi.json), so /docs and the
# clients generated from it see what these routes answer. The routes answer with
# `response_model_exclude_unset=True`: a key `agent_response` (or `RunOutput.to_dict`) leaves out stays out,
# and `extra="allow"` keeps a key a model does not declare rather than drop it.

_Object = dict[str, Any] | None


class ModelResponse(BaseModel):
    """The model an agent, or a team's leader, runs on."""

    model_config = ConfigDict(extra="allow")

    name: str | None = Field(default=None, description="The model class (`OpenAIChat`, `Claude`, ...)")
    model: str | None = Field(default=None, description="The provider's model id")
    provider: str | None = None


class _ComponentResponse(BaseModel):
    """What AgentOS says of any agent, team or workflow."""

    model_config = ConfigDict(extra="allow")

    id: str | None = None
    name: str | None = None
    db_id: str | None = Field(default=None, description="The store its sessions are kept in")
    description: str | None = None
    is_factory: bool = False
    factory_input_schema: _Object = None
    is_component: bool = False
    current_version: int | None = None
    stage: str | None = None
    sandboxed: bool = False


class _RunnerResponse(_ComponentResponse):
    """What AgentOS says of an agent and of a team: its model, tools, sessions and settings."""

    role: str | None = None
    model: ModelResponse | None = None
    tools: _Object = Field(default=None, description="`{tools: [{name, description, parameters}]}`")
    sessions: _Object = None
    knowledge: _Object = None
    memory: _Object = None
    reasoning: _Object = None
    default_tools: _Object = None
    system_message: _Object = None
    response_settings: _Object = None
    introduction: str | None = None
    streaming: _Object = None
    metadata: _Object = None
    input_schema: _Object = None


class AgentResponse(_RunnerResponse):
    """AgentOS' `AgentResponse`: one row of `GET /agents`, and `GET /agents/{agent_id}`."""

    filesystem: bool = False
    extra_messages: _Object = None


class TeamResponse(_RunnerResponse):
    """AgentOS' `TeamResponse`: one row of `GET /teams`, and `GET /teams/{team_id}`, with its members."""

    mode: str | None = Field(default=None, description="`coordinate`, `route` or `broadcast`")
    members: list[AgentResponse | TeamResponse] | None = None


class WorkflowSummaryResponse(_ComponentResponse):
    """AgentOS' `WorkflowSummaryResponse`: one row of `GET /workflows`."""


class WorkflowResponse(_ComponentResponse):
    """AgentOS' `WorkflowResponse`: `GET /workflows/{workflow_id}`, with its steps (their agents and teams in
    full)."""

    input_schema: _Object = None
    steps: list[dict[str, Any]] | None = None
    agent: AgentResponse | None = None
    team: TeamResponse | None = None
    metadata: _Object = None
    workflow_agent: bool = False


class RunErrorInfo(BaseModel):
    """Why a run did not complete."""

    model_config = ConfigDict(extra="allow")

    type: str | None = Field(default=None, description="The error's type (`ModelError`, `RunCancelledError`, ...)")
    message: str


class RunResponse(BaseModel):
    """A run, as `RunOutput.to_dict()` gives it (AgentOS' run output): an agent's names its agent, a team's its
    team (`team_id`, `team_name`, its members' runs in `member_responses`), a workflow's its workflow
    (`workflow_id`, `workflow_name`, `step_results`, its agents' and teams' runs in `step_executor_runs`)."""

    model_config = ConfigDict(extra="allow")

    run_id: str
    agent_id: str | None = None
    agent_name: str | None = None
    team_id: str | None = None
    team_name: str | None = None
    workflow_id: str | None = None
    workflow_name: str | None = None
    session_id: str
    user_id: str | None = None
    parent_run_id: str | None = Field(default=None, description="The team's or workflow's run that started it")
    status: RunStatus
    content: Any = Field(default=None, description="The answer: text, or the output schema's object")
    content_type: str = "str"
    model: str | None = None
    model_provider: str | None = None
    model_provider_data: _Object = None
    session_state: _Object = None
    created_at: int = Field(description="Unix seconds")
    metrics: dict[str, Any] = Field(default_factory=dict[str, Any], description="Tokens, duration, ...")
    messages: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]])
    tools: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]], description="The tool calls it made")
    input: _Object | str = Field(
        default=None, description="`{input_content, files}`: what the caller sent (a workflow's: the text, as AgentOS')"
    )
    references: list[dict[str, Any]] | None = Field(default=None, description="What the knowledge base gave")
    error: RunErrorInfo | None = None
    step_results: list[dict[str, Any]] | None = None
    member_responses: list[RunResponse] | None = None
    step_executor_runs: list[RunResponse] | None = None


class RunAccepted(BaseModel):
    """The 202 of `background=true`: the run is queued (PENDING); poll `GET .../runs/{run_id}` for it."""

    run_id: str
    session_id: str
    agent_id: str | None = None
    team_id: str | None = None
    workflow_id: str | None = None
    status: RunStatus = Field(description="PENDING: it starts when a worker (or this process) takes it")


class CancelResponse(BaseModel):
    """A cancelled run: its status is CANCELLED (what it had finished stays stored as it ended)."""

    run_id: str
    session_id: str
    status: RunStatus


def _model_info(agent: Agent | Team) -> dict[str, Any] | None:
    try:
        model = agent.get_model()
    except StratusError:
        return {"name": None, "model": str(agent.model), "provider": None} if agent.model else None
    return {"name": model.name, "model": model.id, "provider": model.provider}


def _system_message(component: Agent | Team) -> dict[str, Any]:
    """`system_message` of an agent's or a team's response: its prompt settings, description and instructions
    (instructions given as a function are the function's business)."""
    instructions = component.instructions
    out: dict[str, Any] = {"markdown": component.markdown, "add_datetime_to_context": component.add_datetime_to_context}
    if component.description:
        out["description"] = component.description
    if isinstance(instructions, str):
        out["instructions"] = instructions
    elif instructions is not None and not callable(instructions):
        out["instructions"] = list(instructions)
    return out


def agent_response(agent: Agent, db_id: str | None) -> dict[str, Any]:
    """AgentOS' `AgentResponse`: what an agent is made of, as a client needs to show it."""
    out: dict[str, Any] = {
        "id": agent.agent_id,
        "name": agent.name,
        "db_id": db_id,
        "description": agent.description,
        "filesystem": False,
        "is_factory": False,
        "model": _model_info(agent),
        "tools": {
            "tools": [
                {"name": t.name, "description": t.description, "parameters": t.parameters}
                for t in agent.get_tools().values()
            ]
        },
        "sessions": {
            "session_table": "sessions",
            "add_history_to_context": agent.add_history_to_context,
            "num_history_runs": agent.num_history_runs,
        },
        "reasoning": {"reasoning": False},
        "system_message": _system_message(agent),
        "is_component": False,
        "sandboxed": False,
    }
    if agent.output_schema is not None:
        out["response_settings"] = {"output_schema_name": agent.output_schema.__name__}
    if agent.input_schema is not None:
        out["input_schema"] = agent.input_schema.model_json_schema()
    if agent.metadata:
        out["metadata"] = agent.metadata
    return {k: v for k, v in out.items() if v is not None or k in ("name", "db_id")}


def team_response(team: Team, db_id: str | None) -> dict[str, Any]:
    """AgentOS' `TeamResponse`: the team's mode, leader model and tools, and its members (agents as
    `AgentResponse`, teams as `TeamResponse`)."""
    from stratus.team._run import TeamRun

    tools: list[Any] = []
    for item in team.tools:
        tools.extend(item.get_tools() if isinstance(item, Toolkit) else [Tool.ensure(item)])
    tools.extend(TeamRun(team, "").leader_tools())
    out: dict[str, Any] = {
        "id": team.team_id,
        "name": team.name,
        "db_id": db_id,
        "description": team.description,
        "mode": team.mode,
        "model": _model_info(team),
        "tools": {"tools": [{"name": t.name, "description": t.description, "parameters": t.parameters} for t in tools]},
        "sessions": {
            "session_table": "sessions",
            "add_history_to_context": team.add_history_to_context,
            "num_history_runs": team.num_history_runs,
        },
        "system_message": _system_message(team),
        "members": [team_response(m, db_id) if isinstance(m, Team) else agent_response(m, db_id) for m in team.members],
        "input_schema": team.input_schema.model_json_schema() if team.input_schema is not None else None,
        "metadata": team.metadata,
        "is_factory": False,
        "is_component": False,
        "sandboxed": False,
    }
    return {k: v for k, v in out.items() if v is not None or k in ("name", "db_id")}


def workflow_summary(workflow: Workflow, db_id: str | None) -> dict[str, Any]:
    """AgentOS' `WorkflowSummaryResponse`: one row of `GET /workflows`."""
    return {
        "id": workflow.workflow_id,
        "name": workflow.name,
        "description": workflow.description,
        "db_id": db_id,
        "is_factory": False,
        "is_component": False,
        "sandboxed": False,
    }


def _step_document(step: WorkflowStep, db_id: str | None) -> dict[str, Any]:
    """A step as `WorkflowResponse.steps` lists it, its agent or team described in full."""
    out = step.to_dict()
    if isinstance(step, Step):
        if step.agent is not None:
            out["agent"] = agent_response(step.agent, db_id)
        if step.team is not None:
            out["team"] = team_response(step.team, db_id)
    for attr, key in (("steps", "steps"), ("else_steps", "else_steps"), ("choices", "steps")):
        nested = getattr(step, attr, None)
        if isinstance(nested, list) and nested:
            out[key] = [_step_document(s, db_id) for s in cast(list[WorkflowStep], nested)]
    return out


def workflow_response(workflow: Workflow, db_id: str | None) -> dict[str, Any]:
    """AgentOS' `WorkflowResponse`: the workflow and its steps."""
    out: dict[str, Any] = {
        **workflow_summary(workflow, db_id),
        "input_schema": None,
        "steps": [_step_document(step, db_id) for step in workflow.get_steps()],
        "metadata": workflow.metadata,
        "workflow_agent": False,
    }
    return {k: v for k, v in out.items() if v is not None or k in ("name", "db_id")}


# --- sessions and their runs --------------------------------------------------------------------------------
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
    session_state: _Object = None
    metadata: _Object = None
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
    session_summary: _Object = None
    metrics: _Object = None
    total_tokens: int | None = None


class _ChatSession(_SessionBase):
    session_summary: _Object = None
    total_tokens: int | None = None
    metrics: _Object = None
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
    agent_data: _Object = None


class TeamSessionDetailSchema(_ChatSession):
    """AgentOS' `TeamSessionDetailSchema`: a team's session and its history."""

    team_id: str | None = None
    team_data: _Object = None


class WorkflowSessionDetailSchema(_SessionBase):
    """AgentOS' `WorkflowSessionDetailSchema`: a workflow's session."""

    workflow_id: str | None = None
    workflow_name: str | None = None
    session_data: _Object = Field(default=None, description="`{session_state, session_metrics}`")
    workflow_data: _Object = None


SessionDetail = AgentSessionDetailSchema | TeamSessionDetailSchema | WorkflowSessionDetailSchema


def session_detail(session: SessionRecord, runs: list[RunOutput]) -> SessionDetail:
    """The session in the detail schema of its type (agents' and teams' with the history of `runs`)."""
    if session.session_type is SessionType.WORKFLOW:
        return WorkflowSessionDetailSchema.from_session(session)
    model = AgentSessionDetailSchema if session.session_type is SessionType.AGENT else TeamSessionDetailSchema
    return model.with_history(session, runs)


def _run_fields(run: RunOutput) -> dict[str, Any]:
    """A run under AgentOS' names, for every run schema to take its fields from."""
    content = run.content_dict()
    return {
        "run_id": run.run_id,
        "parent_run_id": run.parent_run_id,
        "agent_id": run.agent_id,
        "team_id": run.team_id,
        "workflow_id": run.workflow_id,
        "user_id": run.user_id,
        "status": run.status.value,
        "run_input": run.input.input_content if run.input else None,
        "content": content,
        "content_type": run.content_type,
        "run_response_format": "text" if isinstance(content, str) or content is None else "json",
        "metrics": run.metrics.to_dict(),
        "messages": [m.to_dict() for m in run.messages],
        "tools": [t.to_dict() for t in run.tools],
        "references": run.references or [],
        "images": [m.to_dict() for m in run.input.images or ()] if run.input else [],
        "files": [m.to_dict() for m in run.input.file_media or ()] if run.input else [],
        "session_state": run.session_state,
        "error": {"type": run.error_type, "message": run.error} if run.error is not None else None,
        "step_results": run.step_results or [],
        "step_executor_runs": [child.to_dict() for child in run.children],
        "events": run.events or ([] if run.workflow_id is not None else None),  # (AgentOS' [] for a workflow's)
        "forked_from_run_id": run.forked_from_run_id,
        "created_at": iso(run.created_at),
    }


class _RunBase(BaseModel):
    run_id: str
    user_id: str | None = None
    status: str | None = Field(default=None, description="PENDING, RUNNING, PAUSED, COMPLETED, CANCELLED or ERROR")
    run_input: str | None = Field(default=None, description="What the caller sent")
    content: Any = Field(default=None, description="The answer: text, or the output schema's object")
    metrics: _Object = None
    reasoning_content: str = ""
    reasoning_steps: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]])
    references: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]], description="What knowledge gave")
    reasoning_messages: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]])
    images: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]])
    videos: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]])
    audio: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]])
    files: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]])
    error: RunErrorInfo | None = Field(
        default=None, exclude_if=lambda v: v is None, description="Why the run did not complete (absent if it did)"
    )
    created_at: str | None = Field(default=None, description="ISO 8601, UTC")
    cancellation_stage: str | None = None
    events: list[dict[str, Any]] | None = None
    citations: _Object = None
    response_audio: _Object = None

    @classmethod
    def from_run(cls, run: RunOutput) -> Self:
        return cls.model_validate(_run_fields(run))


class _ChatRun(_RunBase):
    parent_run_id: str = Field(default="", description="The team's or workflow's run that started it; empty if none")
    run_response_format: str | None = Field(default=None, description="text or json")
    messages: list[dict[str, Any]] | None = None
    tools: list[dict[str, Any]] | None = Field(default=None, description="The tool calls it made")
    session_state: _Object = None
    input_media: _Object = None
    followups: list[str] | None = None
    forked_from_run_id: str | None = Field(default=None, description="The run this one continues, if any")
    forked_from_message_index: int | None = None
    forked_from_session_id: str | None = None
    regenerated_from: str | None = None
    last_checkpoint_at_message_index: int | None = None

    @field_validator("parent_run_id", mode="before")
    @classmethod
    def _no_parent(cls, value: str | None) -> str:
        return value or ""


class RunSchema(_ChatRun):
    """AgentOS' `RunSchema`: an agent's run as `GET /sessions/{id}/runs` lists it."""

    agent_id: str | None = None
    metadata: _Object = None


class TeamRunSchema(_ChatRun):
    """AgentOS' `TeamRunSchema`: a team's run as `GET /sessions/{id}/runs` lists it."""

    team_id: str | None = None


class WorkflowRunSchema(_RunBase):
    """AgentOS' `WorkflowRunSchema`: a workflow's run, its steps' agents' and teams' runs in
    `step_executor_runs`."""

    workflow_id: str | None = None
    content_type: str | None = None
    step_results: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]])
    step_executor_runs: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]])
    step_requirements: list[dict[str, Any]] | None = None
    pause_kind: str | None = None
    paused_step_name: str | None = None
    paused_step_index: int | None = None


AnyRunSchema = RunSchema | TeamRunSchema | WorkflowRunSchema


def run_schema(run: RunOutput) -> AnyRunSchema:
    """The run in the schema of its kind: a workflow's, a team's or an agent's."""
    if run.workflow_id is not None:
        return WorkflowRunSchema.from_run(run)
    return (TeamRunSchema if run.team_id is not None else RunSchema).from_run(run)


_PREVIEW_CHARS = 280


def _preview(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:_PREVIEW_CHARS]


class SessionRunPreviewSchema(BaseModel):
    """AgentOS' `SessionRunPreviewSchema`: a run without its messages, its input and answer cut short."""

    run_id: str
    parent_run_id: str | None = None
    agent_id: str | None = None
    team_id: str | None = None
    workflow_id: str | None = None
    user_id: str | None = None
    status: str | None = None
    run_input: Annotated[str | None, BeforeValidator(_preview)] = Field(
        default=None, description=f"The input's first {_PREVIEW_CHARS} characters"
    )
    content_preview: Annotated[str | None, BeforeValidator(_preview)] = Field(
        default=None, description=f"The answer's first {_PREVIEW_CHARS} characters (an object as JSON)"
    )
    created_at: str | None = Field(default=None, description="ISO 8601, UTC")

    @classmethod
    def from_run(cls, run: RunOutput) -> Self:
        fields = _run_fields(run)
        return cls.model_validate({**fields, "content_preview": fields["content"]})


# --- memories, knowledge, learnings ------------------------------------------------------------------------


def _iso_time(value: Any) -> Any:
    return iso(value) if isinstance(value, int | float) else value


def _unix_seconds(value: Any) -> Any:
    return int(value) if isinstance(value, int | float) and value else value or None


IsoTime = Annotated[str | None, BeforeValidator(_iso_time), Field(description="ISO 8601, UTC")]
"""A record's Unix seconds, answered as AgentOS' ISO 8601 text."""
UnixSeconds = Annotated[int | None, BeforeValidator(_unix_seconds), Field(description="Unix seconds")]
"""A record's Unix seconds, whole (none for 0)."""

_RECORD = ConfigDict(from_attributes=True, populate_by_name=True)


class UserMemorySchema(BaseModel):
    """AgentOS' `UserMemorySchema`."""

    model_config = _RECORD

    memory_id: str
    memory: str
    topics: list[str] | None = None
    agent_id: str | None = None
    team_id: str | None = None
    user_id: str | None = None
    updated_at: IsoTime = None


class UserStatsSchema(BaseModel):
    """AgentOS' `UserStatsSchema`: a user's count of memories, and when the newest changed."""

    model_config = _RECORD

    user_id: str
    total_memories: int
    last_memory_updated_at: IsoTime = None


class ContentResponseSchema(BaseModel):
    """AgentOS' `ContentResponseSchema`: a piece of content in a knowledge base, and where its ingestion is."""

    model_config = _RECORD

    id: str = Field(validation_alias="content_id")
    name: str | None = None
    description: str | None = None
    type: str | None = Field(default=None, validation_alias="content_type", description="Its media type")
    size: Annotated[str | None, BeforeValidator(lambda v: None if v is None else str(v))] = Field(
        default=None, description="Bytes"
    )
    linked_to: str | None = Field(default=None, validation_alias="knowledge_id", description="The knowledge base")
    metadata: _Object = None
    access_count: int | None = None
    status: ContentStatus | None = None
    status_message: str | None = None
    created_at: IsoTime = None
    updated_at: IsoTime = None


class ContentStatusResponse(BaseModel):
    """AgentOS' `ContentStatusResponse`."""

    model_config = _RECORD

    id: str | None = Field(default=None, validation_alias="content_id")
    status: ContentStatus
    status_message: Annotated[str, BeforeValidator(lambda v: v or "")] = ""


class LearningResponse(BaseModel):
    """AgentOS' `LearningResponse`."""

    model_config = _RECORD

    learning_id: str
    learning_type: str
    namespace: str | None = None
    user_id: str | None = None
    agent_id: str | None = None
    team_id: str | None = None
    session_id: str | None = None
    entity_id: str | None = None
    entity_type: str | None = None
    content: _Object = None
    metadata: _Object = None
    created_at: UnixSeconds = None
    updated_at: UnixSeconds = None


class LearningUserStats(BaseModel):
    """AgentOS' `LearningUserStats`: a user that owns learning records, and their latest update."""

    user_id: str
    last_learning_updated_at: UnixSeconds = None


class VectorSearchResult(BaseModel):
    """AgentOS' `VectorSearchResult`: a passage a search found."""

    id: str | None = None
    content: str
    name: str | None = None
    meta_data: _Object = None
    usage: _Object = None
    reranking_score: float | None = Field(default=None, description="How well it answers the query")
    content_id: str | None = Field(default=None, description="The content it was cut from")
    content_origin: str | None = None
    size: int | None = Field(default=None, description="Characters")


class ReaderSchema(BaseModel):
    """AgentOS' `ReaderSchema`: a reader, and the content types it reads."""

    id: str
    name: str | None = None
    description: str | None = None
    chunkers: list[str] | None = None
    content_types: list[str] | None = None
    unavailable_content_types: dict[str, list[str]] | None = None


class ChunkerSchema(BaseModel):
    """AgentOS' `ChunkerSchema`."""

    key: str
    name: str | None = None
    description: str | None = None
    metadata: _Object = None


class VectorDbSchema(BaseModel):
    """AgentOS' `VectorDbSchema`: a knowledge base's vector store, and the searches it runs."""

    id: str
    name: str | None = None
    description: str | None = None
    search_types: list[str] | None = None


class RemoteContentSourceSchema(BaseModel):
    """AgentOS' `RemoteContentSourceSchema`: a store content can be added from."""

    id: str
    name: str
    type: str = Field(description="s3, gcs, sharepoint, github, azureblob")
    metadata: _Object = None
    prefix: str | None = None


class KnowledgeConfigResponse(BaseModel):
    """AgentOS' `ConfigResponseSchema` of `GET /knowledge/config`: the readers, chunkers and vector stores."""

    readers: dict[str, ReaderSchema] | None = None
    readersForType: dict[str, list[str]] | None = Field(default=None, description="Content type to reader ids")
    chunkers: dict[str, ChunkerSchema] | None = None
    filters: list[str] | None = Field(default=None, description="The metadata keys a search can filter on")
    vector_dbs: list[VectorDbSchema] | None = None
    remote_content_sources: list[RemoteContentSourceSchema] | None = None
    unavailable_readers: dict[str, dict[str, Any]] | None = None
    unavailable_chunkers: dict[str, dict[str, Any]] | None = None
