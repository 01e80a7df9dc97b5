"""Request models and response shapes of the HTTP API, following AgentOS' (shared/reference/)."""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field

from stratus.agent import Agent
from stratus.api._limits import FiltersField, MetadataField, StateField
from stratus.exceptions import StratusError
from stratus.run import RunOutput, RunStatus
from stratus.storage.records import SessionRecord, SessionType, UserMemory
from stratus.team import Team
from stratus.tools import Tool, Toolkit
from stratus.workflow import Step, Workflow, WorkflowStep

__all__ = [
    "AgentResponse",
    "CancelResponse",
    "CreateSessionRequest",
    "DeleteMemoriesRequest",
    "DeleteSessionsRequest",
    "ErrorDetail",
    "FieldError",
    "HealthResponse",
    "MemoryRequest",
    "ModelResponse",
    "PaginationInfo",
    "RenameSessionRequest",
    "RunAccepted",
    "RunErrorDetail",
    "RunRequest",
    "RunResponse",
    "TeamResponse",
    "UpdateSessionRequest",
    "ValidationErrorDetail",
    "WorkflowResponse",
    "WorkflowSummaryResponse",
    "agent_response",
    "iso",
    "memory_schema",
    "paginated",
    "run_preview",
    "run_schema",
    "session_detail",
    "session_schema",
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


class PaginationInfo(BaseModel):
    page: int = 1
    limit: int = 20
    total_pages: int = 0
    total_count: int = 0
    search_time_ms: float = 0.0


def paginated(data: list[dict[str, Any]], *, page: int, limit: int, total: int, started: float) -> dict[str, Any]:
    """AgentOS' paginated envelope: `{data, meta}`."""
    return {
        "data": data,
        "meta": {
            "page": page,
            "limit": limit,
            "total_pages": math.ceil(total / limit) if total else 0,
            "total_count": total,
            "search_time_ms": round((time.perf_counter() - started) * 1000, 3),
        },
    }


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


def memory_schema(memory: UserMemory) -> dict[str, Any]:
    """AgentOS' `UserMemorySchema`."""
    return {
        "memory_id": memory.memory_id,
        "memory": memory.memory,
        "topics": memory.topics,
        "agent_id": memory.agent_id,
        "team_id": memory.team_id,
        "user_id": memory.user_id,
        "updated_at": iso(memory.updated_at),
    }


def run_preview(run: RunOutput) -> dict[str, Any]:
    """AgentOS' `SessionRunPreviewSchema`: a run without its messages, content cut short."""
    content = run.content_dict()
    text = content if isinstance(content, str) else json.dumps(content, default=str) if content is not None else None
    return {
        "run_id": run.run_id,
        "parent_run_id": run.parent_run_id,
        "agent_id": run.agent_id,
        "team_id": run.team_id,
        "workflow_id": run.workflow_id,
        "user_id": run.user_id,
        "status": run.status.value,
        "run_input": run.input.input_content if run.input else None,
        "content_preview": text if text is None or len(text) <= 200 else text[:200] + "…",
        "created_at": iso(run.created_at),
    }


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
    input: _Object = Field(default=None, description="`{input_content, files}`: what the caller sent")
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


def _session_metrics(session: SessionRecord) -> dict[str, Any]:
    u = session.usage
    return {"input_tokens": u.input_tokens, "output_tokens": u.output_tokens, "total_tokens": u.total_tokens}


def _component_key(session: SessionRecord) -> str:
    return {
        SessionType.AGENT: "agent_id",
        SessionType.TEAM: "team_id",
        SessionType.WORKFLOW: "workflow_id",
    }[session.session_type]


def session_schema(session: SessionRecord) -> dict[str, Any]:
    """AgentOS' `SessionSchema`: one row of `GET /sessions`."""
    out: dict[str, Any] = {
        "session_id": session.session_id,
        "session_name": session.session_name or "",
        "session_state": session.session_state,
        "created_at": iso(session.created_at),
        "updated_at": iso(session.updated_at),
        "session_type": session.session_type.value,
        "user_id": session.user_id,
        _component_key(session): session.component_id,
        "session_summary": session.summary,
        "metrics": _session_metrics(session),
        "total_tokens": session.usage.total_tokens,
        "metadata": session.metadata,
    }
    return {k: v for k, v in out.items() if v is not None or k == "user_id"}


def session_detail(session: SessionRecord, runs: list[RunOutput]) -> dict[str, Any]:
    """AgentOS' `AgentSessionDetailSchema` (and its team and workflow twins): the session and its history
    (the messages of its top-level runs: a team's member runs are not the conversation)."""
    kind = session.session_type.value
    if session.session_type is SessionType.WORKFLOW:
        return _workflow_session_detail(session)
    top = [run for run in runs if run.parent_run_id is None]
    chat_history = [m.to_dict() for run in top for m in run.messages if m.role != "system"]
    out: dict[str, Any] = {
        "user_id": session.user_id,
        f"{kind}_session_id": session.session_id,
        "session_id": session.session_id,
        "session_name": session.session_name or "",
        "session_summary": session.summary,
        "session_state": session.session_state,
        _component_key(session): session.component_id,
        "total_tokens": session.usage.total_tokens,
        f"{kind}_data": session.component_data,
        "metrics": _session_metrics(session),
        "metadata": session.metadata,
        "chat_history": chat_history,
        "created_at": iso(session.created_at),
        "updated_at": iso(session.updated_at),
    }
    if session.session_type is not SessionType.AGENT:
        del out[f"{kind}_session_id"]  # only AgentOS' agent sessions carry one
    return out


def _workflow_session_detail(session: SessionRecord) -> dict[str, Any]:
    """AgentOS' `WorkflowSessionDetailSchema`."""
    data = session.component_data or {}
    return {
        "user_id": session.user_id,
        "workflow_id": session.component_id,
        "workflow_name": data.get("name"),
        "session_id": session.session_id,
        "session_name": session.session_name or "",
        "session_data": {"session_state": session.session_state, "session_metrics": _session_metrics(session)},
        "session_state": session.session_state,
        "workflow_data": session.component_data,
        "metadata": session.metadata,
        "created_at": iso(session.created_at),
        "updated_at": iso(session.updated_at),
    }


def _workflow_run_schema(run: RunOutput) -> dict[str, Any]:
    """AgentOS' `WorkflowRunSchema`."""
    return {
        "run_id": run.run_id,
        "run_input": run.input.input_content if run.input else None,
        "workflow_id": run.workflow_id,
        "user_id": run.user_id,
        "content": run.content_dict(),
        "content_type": run.content_type,
        "status": run.status.value,
        "step_results": run.step_results or [],
        "metrics": run.metrics.to_dict(),
        "created_at": iso(run.created_at),
    }


def run_schema(run: RunOutput) -> dict[str, Any]:
    """AgentOS' `RunSchema` (`TeamRunSchema` for a team's run, `WorkflowRunSchema` for a workflow's): one run
    as `GET /sessions/{id}/runs` lists it."""
    if run.workflow_id is not None:
        return _workflow_run_schema(run)
    content = run.content_dict()
    identity = {"team_id": run.team_id} if run.team_id is not None else {"agent_id": run.agent_id}
    out: dict[str, Any] = {
        "run_id": run.run_id,
        "parent_run_id": run.parent_run_id or "",
        **identity,
        "user_id": run.user_id,
        "status": run.status.value,
        "run_input": run.input.input_content if run.input else None,
        "content": content,
        "run_response_format": "text" if isinstance(content, str) or content is None else "json",
        "reasoning_content": "",
        "reasoning_steps": [],
        "metrics": run.metrics.to_dict(),
        "messages": [m.to_dict() for m in run.messages],
        "tools": [t.to_dict() for t in run.tools],
        "created_at": iso(run.created_at),
        "session_state": run.session_state,
    }
    if run.error is not None:
        out["error"] = {"type": run.error_type, "message": run.error}
    return out
