"""Runs: the request that starts one, and a run as the run routes and `/sessions/{id}/runs` answer it."""

from __future__ import annotations

import json
from typing import Annotated, Any, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from stratus.api._limits import FiltersField, StateField
from stratus.api.schemas._common import ComponentIds, Object, RanBy, iso
from stratus.run import RunOutput, RunStatus


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


class RunErrorInfo(BaseModel):
    """Why a run did not complete."""

    model_config = ConfigDict(extra="allow")

    type: str | None = Field(default=None, description="The error's type (`ModelError`, `RunCancelledError`, ...)")
    message: str


class RunResponse(RanBy):
    """A run, as `RunOutput.to_dict()` gives it (AgentOS' run output): an agent's names its agent, a team's its
    team (`team_id`, `team_name`, its members' runs in `member_responses`), a workflow's its workflow
    (`workflow_id`, `workflow_name`, `step_results`, its agents' and teams' runs in `step_executor_runs`)."""

    model_config = ConfigDict(extra="allow")

    run_id: str
    agent_name: str | None = None
    team_name: str | None = None
    workflow_name: str | None = None
    session_id: str
    parent_run_id: str | None = Field(default=None, description="The team's or workflow's run that started it")
    status: RunStatus
    content: Any = Field(default=None, description="The answer: text, or the output schema's object")
    content_type: str = "str"
    model: str | None = None
    model_provider: str | None = None
    model_provider_data: Object = None
    session_state: Object = None
    created_at: int = Field(description="Unix seconds")
    metrics: dict[str, Any] = Field(default_factory=dict[str, Any], description="Tokens, duration, ...")
    messages: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]])
    tools: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]], description="The tool calls it made")
    input: Object | str = Field(
        default=None, description="`{input_content, files}`: what the caller sent (a workflow's: the text, as AgentOS')"
    )
    references: list[dict[str, Any]] | None = Field(default=None, description="What the knowledge base gave")
    error: RunErrorInfo | None = None
    step_results: list[dict[str, Any]] | None = None
    member_responses: list[RunResponse] | None = None
    step_executor_runs: list[RunResponse] | None = None


class RunAccepted(ComponentIds):
    """The 202 of `background=true`: the run is queued (PENDING); poll `GET .../runs/{run_id}` for it."""

    run_id: str
    session_id: str
    status: RunStatus = Field(description="PENDING: it starts when a worker (or this process) takes it")


class CancelResponse(BaseModel):
    """A cancelled run: its status is CANCELLED (what it had finished stays stored as it ended)."""

    run_id: str
    session_id: str
    status: RunStatus


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
        "files": _files(run),
        "session_state": run.session_state,
        "error": {"type": run.error_type, "message": run.error} if run.error is not None else None,
        "step_results": run.step_results or [],
        "step_executor_runs": [child.to_dict() for child in run.children],
        "events": run.events or ([] if run.workflow_id is not None else None),  # (AgentOS' [] for a workflow's)
        "forked_from_run_id": run.forked_from_run_id,
        "created_at": iso(run.created_at),
        **_paused_fields(run),
    }


def _files(run: RunOutput) -> list[dict[str, Any]]:
    """The files sent with the run: its documents as AgentOS' dicts, and the text files whose text was inlined
    in the message, by name (their text is in the run's user message)."""
    if run.input is None:
        return []
    inlined = [{"name": name, "filename": name, "inlined": True} for name in run.input.files or ()]
    return [*(m.to_dict() for m in run.input.file_media or ()), *inlined]


def _paused_fields(run: RunOutput) -> dict[str, Any]:
    """What a paused run waits on, under its kind's AgentOS names: `requirements` for an agent's or a team's,
    `step_requirements` with the paused step for a workflow's (so a listed run can be continued, as a read of
    the one run can)."""
    if not run.requirements:
        return {}
    if run.workflow_id is None:
        return {"requirements": run.requirements}
    first = run.requirements[0]  # one step pauses a workflow run at a time
    return {
        "step_requirements": run.requirements,
        "pause_kind": "executor",
        "paused_step_name": first.get("step_name"),
        "paused_step_index": first.get("step_index"),
    }


class _RunBase(BaseModel):
    run_id: str
    user_id: str | None = None
    status: str | None = Field(default=None, description="PENDING, RUNNING, PAUSED, COMPLETED, CANCELLED or ERROR")
    run_input: str | None = Field(default=None, description="What the caller sent")
    content: Any = Field(default=None, description="The answer: text, or the output schema's object")
    metrics: Object = None
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
    citations: Object = None
    response_audio: Object = None

    @classmethod
    def from_run(cls, run: RunOutput) -> Self:
        return cls.model_validate(_run_fields(run))


class _ChatRun(_RunBase):
    parent_run_id: str = Field(default="", description="The team's or workflow's run that started it; empty if none")
    run_response_format: str | None = Field(default=None, description="text or json")
    messages: list[dict[str, Any]] | None = None
    tools: list[dict[str, Any]] | None = Field(default=None, description="The tool calls it made")
    session_state: Object = None
    input_media: Object = None
    followups: list[str] | None = None
    forked_from_run_id: str | None = Field(default=None, description="The run this one continues, if any")
    forked_from_message_index: int | None = None
    forked_from_session_id: str | None = None
    regenerated_from: str | None = None
    last_checkpoint_at_message_index: int | None = None
    requirements: list[dict[str, Any]] | None = Field(
        default=None, description="A paused run's: the tool calls it waits on, to send back to its `/continue`"
    )

    @field_validator("parent_run_id", mode="before")
    @classmethod
    def _no_parent(cls, value: str | None) -> str:
        return value or ""


class RunSchema(_ChatRun):
    """AgentOS' `RunSchema`: an agent's run as `GET /sessions/{id}/runs` lists it."""

    agent_id: str | None = None
    metadata: Object = None


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


class SessionRunPreviewSchema(RanBy):
    """AgentOS' `SessionRunPreviewSchema`: a run without its messages, its input and answer cut short."""

    run_id: str
    parent_run_id: str | None = None
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
