"""The run contract every layer speaks: what goes in (`RunInput`), what comes out (`RunOutput`), and the
events a streamed run yields (`RunEvent` and its kinds).

Event names and field names follow agno's AgentOS (see shared/reference/agentos-sse-sample.txt), so a client
written for AgentOS reads our streams unchanged.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Final, cast, dataclass_transform

from stratus._utils import now
from stratus.exceptions import SchemaVersionError
from stratus.messages import Message, Usage

if TYPE_CHECKING:
    from stratus.media import File, Image
    from stratus.models.base import Model

__all__ = [
    "RUN_SCHEMA_VERSION",
    "MemoryUpdateCompleted",
    "MemoryUpdateStarted",
    "ModelRequestCompleted",
    "ModelRequestStarted",
    "RunCancelled",
    "RunCompleted",
    "RunContent",
    "RunContentCompleted",
    "RunContext",
    "RunContinued",
    "RunError",
    "RunEvent",
    "RunInput",
    "RunMetrics",
    "RunOutput",
    "RunPaused",
    "RunStarted",
    "RunStatus",
    "ToolCallCompleted",
    "ToolCallStarted",
    "ToolExecution",
    "ToolkitUnavailable",
    "cancelled_event",
    "run_tree",
]

RUN_SCHEMA_VERSION = 1
"""Version of the stored run shape; a stored run with another version is refused, never guessed at."""


class RunStatus(StrEnum):
    """Where a run is in its life. The values are AgentOS' strings."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    """Waiting (for a person's decision, say) with nothing held in memory; only the store keeps it."""
    COMPLETED = "COMPLETED"
    ERROR = "ERROR"
    CANCELLED = "CANCELLED"


@dataclass(slots=True)
class RunInput:
    """What the caller sent: the message, the names of any text files inlined in it, and its images and files
    (references: the bytes are in the media store)."""

    input_content: str
    files: list[str] | None = None
    images: list[Image] | None = None
    file_media: list[File] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"input_content": self.input_content}
        if self.images:
            out["images"] = [m.to_dict() for m in self.images]
        listed: list[Any] = [*(self.files or ()), *(m.to_dict() for m in self.file_media or ())]
        if listed:
            out["files"] = listed  # inlined text files by name, media files as AgentOS' dicts
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunInput:
        listed = cast(list[Any], data.get("files") or [])
        names = [str(f) for f in listed if isinstance(f, str)]
        images, media = (
            cast(list[dict[str, Any]], data.get("images") or []),
            [cast(dict[str, Any], f) for f in listed if isinstance(f, dict)],
        )
        found = RunInput(input_content=str(data.get("input_content", "")), files=names or None)
        if images or media:
            from stratus.media import File, Image

            found.images = [Image.from_dict(m) for m in images] or None
            found.file_media = [File.from_dict(m) for m in media] or None
        return found


def _as_stored(data: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The fields a record keeps under their own names, as it keeps them (None where it has none)."""
    return {name: data.get(name) for name in names}


_TOOL_AS_STORED: Final = (
    "result",
    "tool_call_error",
    "child_run_id",
    "requires_confirmation",
    "confirmed",
    "confirmation_note",
    "requires_user_input",
    "user_input_schema",
    "answered",
    "external_execution_required",
)
_RUN_AS_STORED: Final = (
    "agent_id",
    "agent_name",
    "user_id",
    "parent_run_id",
    "content",
    "model",
    "model_provider",
    "model_provider_data",
    "session_state",
    "references",
    "team_id",
    "team_name",
    "workflow_id",
    "workflow_name",
    "step_results",
    "spans",
    "forked_from_run_id",
    "workflow_step_id",
    "events",
)


@dataclass(slots=True)
class ToolExecution:
    """One tool call as it ran: arguments, result or error, and timing."""

    tool_call_id: str
    tool_name: str
    tool_args: dict[str, Any]
    result: str | None = None
    tool_call_error: bool | None = None
    start_time: float | None = None
    end_time: float | None = None
    created_at: int = field(default_factory=now)
    child_run_id: str | None = None
    """The run this call started: a team member's, for the leader's delegation tools."""
    requires_confirmation: bool | None = None
    """Human in the loop (AgentOS' fields): the call waits for a person's yes or no (`confirmed`), ..."""
    confirmed: bool | None = None
    confirmation_note: str | None = None
    requires_user_input: bool | None = None
    """... for values a person gives (`user_input_schema`: `[{name, field_type, description, value}]`), ..."""
    user_input_schema: list[dict[str, Any]] | None = None
    answered: bool | None = None
    external_execution_required: bool | None = None
    """... or for its result, from whoever runs it outside the run (sent back as `result`)."""

    @property
    def is_paused(self) -> bool:
        """Whether the call still waits for a decision, input or result (AgentOS' `is_paused`)."""
        return bool(self.requires_confirmation or self.requires_user_input or self.external_execution_required)

    @property
    def duration(self) -> float | None:
        if self.start_time is None or self.end_time is None:
            return None
        return self.end_time - self.start_time

    def to_dict(self) -> dict[str, Any]:
        metrics = None
        if self.start_time is not None and self.end_time is not None:
            metrics = {"start_time": self.start_time, "end_time": self.end_time, "duration": self.duration}
        # Every key AgentOS sends, in its order, so strict clients find what they expect.
        return {
            "tool_call_id": self.tool_call_id,
            "tool_name": self.tool_name,
            "tool_args": self.tool_args,
            "tool_call_error": self.tool_call_error,
            "result": self.result,
            "metrics": metrics,
            "child_run_id": self.child_run_id,
            "stop_after_tool_call": False,
            "created_at": self.created_at,
            "requires_confirmation": self.requires_confirmation,
            "confirmed": self.confirmed,
            "confirmation_note": self.confirmation_note,
            "requires_user_input": self.requires_user_input,
            "user_input_schema": self.user_input_schema,
            "user_feedback_schema": None,
            "answered": self.answered,
            "external_execution_required": self.external_execution_required,
            "external_execution_silent": None,
            "approval_type": None,
            "approval_id": None,
            "parent_tool_call_id": None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ToolExecution:
        metrics = cast(dict[str, Any], data.get("metrics") or {})
        return cls(
            tool_call_id=str(data["tool_call_id"]),
            tool_name=str(data["tool_name"]),
            tool_args=cast(dict[str, Any], data.get("tool_args") or {}),
            start_time=metrics.get("start_time"),
            end_time=metrics.get("end_time"),
            created_at=int(data.get("created_at") or now()),
            **_as_stored(data, _TOOL_AS_STORED),
        )


@dataclass(slots=True)
class RunMetrics:
    """Tokens and timings of a run. `time_to_first_token` and `duration` are seconds."""

    usage: Usage = field(default_factory=Usage)
    time_to_first_token: float | None = None
    duration: float | None = None
    model_id: str | None = None
    model_provider: str | None = None
    steps: dict[str, dict[str, Any]] | None = None
    """A workflow run's: per step name, the step's executor and its run's metrics (AgentOS' `WorkflowMetrics`,
    whose wire form is only these and `duration`)."""

    def to_dict(self) -> dict[str, Any]:
        if self.steps is not None:
            return {"steps": self.steps, "duration": self.duration}
        u = self.usage
        out: dict[str, Any] = {
            "input_tokens": u.input_tokens,
            "output_tokens": u.output_tokens,
            "total_tokens": u.total_tokens,
        }
        for key in ("reasoning_tokens", "cache_read_tokens", "cache_write_tokens"):  # only when there are some
            if count := getattr(u, key):
                out[key] = count
        if self.time_to_first_token is not None:
            out["time_to_first_token"] = self.time_to_first_token
        if self.duration is not None:
            out["duration"] = self.duration
        if self.model_id is not None:
            out["details"] = {
                "model": [
                    {
                        "input_tokens": u.input_tokens,
                        "output_tokens": u.output_tokens,
                        "total_tokens": u.total_tokens,
                        "id": self.model_id,
                        "provider": self.model_provider,
                    }
                ]
            }
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunMetrics:
        detail_map = cast(dict[str, Any], data.get("details") or {})
        details = cast(list[dict[str, Any]], detail_map.get("model") or [{}])
        return cls(
            usage=Usage.from_dict(data),
            time_to_first_token=data.get("time_to_first_token"),
            duration=data.get("duration"),
            model_id=details[0].get("id"),
            model_provider=details[0].get("provider"),
            steps=data.get("steps"),
        )


@dataclass(slots=True, kw_only=True)
class RunOutput:
    """The result of one run: its content, the messages it exchanged, the tools it called, its metrics.

    `content` is a string, or the validated `output_schema` object when the agent has one (a plain dict once
    read back from a store, which does not know the schema class). A run that failed has `status` ERROR and
    `error` set; `raise_for_status()` turns that into the typed exception.
    """

    run_id: str
    session_id: str
    agent_id: str | None = None
    agent_name: str | None = None
    user_id: str | None = None
    parent_run_id: str | None = None
    status: RunStatus = RunStatus.RUNNING
    input: RunInput | None = None
    content: Any = None
    content_type: str = "str"
    model: str | None = None
    model_provider: str | None = None
    model_provider_data: dict[str, Any] | None = None
    messages: list[Message] = field(default_factory=list[Message])
    tools: list[ToolExecution] = field(default_factory=list[ToolExecution])
    metrics: RunMetrics = field(default_factory=RunMetrics)
    session_state: dict[str, Any] | None = None
    error_type: str | None = None
    error: str | None = None
    created_at: int = field(default_factory=now)
    exception: BaseException | None = field(default=None, repr=False, compare=False)
    references: list[dict[str, Any]] | None = None
    """What the knowledge base contributed: `[{"query", "references": [chunks with scores], "time"}]`."""
    team_id: str | None = None
    """Set on a team's run (then `agent_id` is None)."""
    team_name: str | None = None
    workflow_id: str | None = None
    """Set on a workflow's run (then `agent_id` is None)."""
    workflow_name: str | None = None
    step_results: list[dict[str, Any]] | None = None
    """A workflow run's step outputs (`StepOutput.to_dict()`), in the order its top-level steps ran."""
    spans: list[dict[str, Any]] | None = field(default=None, repr=False, compare=False)
    """A top-level run's trace: the spans of it and of the runs it started (`stratus.tracing.Span.to_dict()`),
    stored with it (not part of AgentOS' run shape: `/traces` serves them)."""
    children: list[RunOutput] = field(default_factory=lambda: list[RunOutput](), repr=False, compare=False)
    """The runs this one started (a team's member runs, a workflow's step runs), while it is in memory. Stores
    keep each as a run of its own whose `parent_run_id` is this run's id."""
    forked_from_run_id: str | None = None
    """Set on a follow-up to a completed run (`RunOptions.continues`): the run whose conversation it goes on
    with (AgentOS' name for it); that run stays as it was."""
    workflow_step_id: str | None = None
    """Set on the run of a workflow step's agent or team: that step's `step_id` in the workflow's run."""
    events: list[dict[str, Any]] | None = field(default=None, repr=False, compare=False)
    """The events a streamed top-level team or workflow run sent, as sent (AgentOS stores them with the run)."""
    requirements: list[dict[str, Any]] | None = None
    """A paused run's: what it waits for, one AgentOS `RunRequirement` (its `to_dict()` shape) per tool call."""

    def raise_for_status(self) -> RunOutput:
        """Raise the run's error if it failed or was cancelled; return the run otherwise."""
        if self.status is RunStatus.COMPLETED:
            return self
        if self.exception is not None:
            raise self.exception
        from stratus.exceptions import RunCancelledError, StratusError

        if self.status is RunStatus.CANCELLED:
            raise RunCancelledError(self.error or "run was cancelled")
        raise StratusError(self.error or f"run ended with status {self.status}")

    def answered_by(self, model: Model) -> None:
        """Record the model that answers (the first one, or a fallback after a failure)."""
        self.model = self.metrics.model_id = model.id
        self.model_provider = self.metrics.model_provider = model.provider

    def content_dict(self) -> Any:
        """`content` in JSON form: a structured output becomes a dict."""
        dump = getattr(self.content, "model_dump", None)
        if callable(dump):
            return dump(mode="json")
        return self.content

    def to_dict(self) -> dict[str, Any]:
        """The AgentOS shape of a run (also what stores persist, plus `schema_version`). A team's run names its
        team (`team_id`, `team_name`, `member_responses`), a workflow's its workflow (`workflow_id`,
        `workflow_name`, `step_results`, `step_executor_runs`: see `stratus.workflow.types.workflow_run_dict`),
        where an agent's names its agent."""
        if self.workflow_id is not None:
            from stratus.workflow.types import workflow_run_dict

            return workflow_run_dict(self)
        if self.team_id is not None:
            identity: dict[str, Any] = {"team_id": self.team_id, "team_name": self.team_name}
        else:
            identity = {"agent_id": self.agent_id, "agent_name": self.agent_name}
        out: dict[str, Any] = {
            "run_id": self.run_id,
            **identity,
            "session_id": self.session_id,
            "user_id": self.user_id,
            "content": self.content_dict(),
            "content_type": self.content_type,
            "model_provider_data": self.model_provider_data,
            "model": self.model,
            "model_provider": self.model_provider,
            "session_state": self.session_state,
            "created_at": self.created_at,
            "status": self.status.value,
            "metrics": self.metrics.to_dict(),
            "messages": [m.to_dict() for m in self.messages],
            "tools": [t.to_dict() for t in self.tools],
            "input": self.input.to_dict() if self.input else None,
        }
        if self.parent_run_id is not None:
            out["parent_run_id"] = self.parent_run_id
        if self.forked_from_run_id is not None:
            out["forked_from_run_id"] = self.forked_from_run_id
        if self.workflow_step_id is not None:
            out["workflow_step_id"] = self.workflow_step_id
        if self.references:
            out["references"] = self.references
        if self.input is not None and self.input.images:
            out["images"] = [m.to_dict() for m in self.input.images]
        if self.input is not None and self.input.file_media:
            out["files"] = [m.to_dict() for m in self.input.file_media]
        if self.error is not None:
            out["error"] = {"type": self.error_type, "message": self.error}
        if self.team_id is not None and self.children:
            out["member_responses"] = [child.to_dict() for child in self.children]
        if self.events is not None:
            out["events"] = self.events
        if self.requirements is not None:
            out["requirements"] = self.requirements
        return out

    def to_record(self) -> dict[str, Any]:
        """`to_dict()` plus the schema version: what a store writes (child runs are stored on their own)."""
        record = self.to_dict()
        record.pop("member_responses", None)
        record.pop("step_executor_runs", None)
        record["schema_version"] = RUN_SCHEMA_VERSION
        if self.spans:
            record["spans"] = self.spans
        return record

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> RunOutput:
        """Read a stored run; refuses a schema version this code does not know."""
        version = data.get("schema_version")
        if version != RUN_SCHEMA_VERSION:
            raise SchemaVersionError(
                f"stored run {data.get('run_id')!r} has schema_version {version!r}; "
                f"this stratus reads version {RUN_SCHEMA_VERSION}"
            )
        error = cast(dict[str, Any], data.get("error") or {})
        input_data = data.get("input")
        if isinstance(input_data, str):  # a workflow's run keeps its input as the text it was (AgentOS')
            input_data = {"input_content": input_data}
        return cls(
            run_id=str(data["run_id"]),
            session_id=str(data["session_id"]),
            status=RunStatus(data.get("status", RunStatus.COMPLETED)),
            input=RunInput.from_dict(cast(dict[str, Any], input_data)) if input_data else None,
            content_type=str(data.get("content_type") or "str"),
            messages=[Message.from_dict(m) for m in cast(list[dict[str, Any]], data.get("messages") or [])],
            tools=[ToolExecution.from_dict(t) for t in cast(list[dict[str, Any]], data.get("tools") or [])],
            metrics=RunMetrics.from_dict(cast(dict[str, Any], data.get("metrics") or {})),
            error_type=error.get("type"),
            error=error.get("message"),
            created_at=int(data.get("created_at") or now()),
            **_as_stored(data, _RUN_AS_STORED),
            requirements=data.get("requirements") or data.get("step_requirements"),  # a workflow's: its steps'
        )


@dataclass(slots=True, kw_only=True)
class RunContext:
    """What a tool or a callable `instructions` may know about the run it serves.

    A tool declares a parameter annotated `RunContext` to receive it; the parameter stays out of the
    schema the model sees. Changes a tool makes to `session_state` are saved with the session.
    `dependencies` are the agent's, resolved for this run (`Agent.dependencies`).
    """

    run_id: str
    session_id: str
    user_id: str | None = None
    agent_id: str | None = None
    session_state: dict[str, Any] = field(default_factory=dict[str, Any])
    dependencies: dict[str, Any] = field(default_factory=dict[str, Any])


# --- events ---------------------------------------------------------------------------------------------

_ENVELOPE: Final = frozenset(
    {"run_id", "session_id", "agent_id", "agent_name", "nested_depth", "created_at", "parent_run_id"}
    | {"workflow_context"}
)
"""The fields every event has; `RunEvent.to_dict` writes them under the component's names."""

_PAYLOAD: dict[type[Any], tuple[str, ...]] = {}
"""Per event class, the names of its payload fields (found once)."""


def _plain(value: Any) -> Any:
    return list(cast(tuple[Any, ...], value)) if isinstance(value, tuple) else value


@dataclass_transform(kw_only_default=True, field_specifiers=(field,))
class _EventClass(type):
    """The class of every event class: each is a kw-only, slotted dataclass (declaring one is declaring its
    fields), and its `kind` is its name unless it says otherwise."""

    def __new__(mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> _EventClass:
        namespace.setdefault("kind", name)
        cls = super().__new__(mcs, name, bases, namespace)
        if "__slots__" in namespace:  # the slotted class `dataclass` makes of this one, or one adding no fields
            return cls
        return cast(_EventClass, dataclass(slots=True, kw_only=True)(cls))


class RunEvent(metaclass=_EventClass):
    """Base of every streamed event. `event` (the class' `kind`) is the SSE event name. Each kind is a dataclass
    of its own payload's fields, declared as a subclass (see `_EventClass`)."""

    kind: ClassVar[str] = "RunEvent"
    component: ClassVar[str] = "agent"
    """What emitted it: `agent`, `team` or `workflow`; names its id keys (`agent_id`, `team_id`, ...). For a
    team's or a workflow's own events, `agent_id` and `agent_name` hold the team's or workflow's."""

    run_id: str
    session_id: str
    agent_id: str | None = None
    agent_name: str | None = None
    nested_depth: int = 0
    """0, as AgentOS sends it for a team's members and a workflow's steps too (it counts nested workflows only):
    `parent_run_id` and `workflow_context` tell a member's or step's events apart."""
    created_at: int = field(default_factory=now)
    parent_run_id: str | None = None
    """For a member's event, the run of the team that started it."""
    workflow_context: dict[str, Any] | None = None
    """For the event of a run inside a workflow's step: `workflow_id`, `workflow_run_id`, `step_id`,
    `step_name`, `step_index` (AgentOS' names, written beside the envelope's)."""

    @property
    def event(self) -> str:
        return self.kind

    def _fields(self) -> dict[str, Any]:
        """The event's own payload: its dataclass fields past the base ones, in the order they are declared
        (AgentOS' order), an in-memory `output` left out. An event whose wire form differs says so itself."""
        names = _PAYLOAD.get(type(self))
        if names is None:
            names = _PAYLOAD[type(self)] = tuple(
                f.name for f in dataclasses.fields(self) if f.name not in _ENVELOPE and f.name != "output"
            )
        return {name: _plain(getattr(self, name)) for name in names}

    def to_dict(self) -> dict[str, Any]:
        """The AgentOS payload of this event, keys in AgentOS' order."""
        out: dict[str, Any] = {
            "created_at": self.created_at,
            "event": self.kind,
            f"{self.component}_id": self.agent_id,
            f"{self.component}_name": self.agent_name,
            "run_id": self.run_id,
        }
        if self.parent_run_id is not None:
            out["parent_run_id"] = self.parent_run_id
        out["session_id"] = self.session_id
        if self.workflow_context:
            out.update(self.workflow_context)
        out["nested_depth"] = self.nested_depth
        out.update(self._fields())
        return out


class RunStarted(RunEvent):
    """The run began; names the model that will answer."""

    model: str | None = None
    model_provider: str | None = None


class RunContinued(RunEvent):
    """A run that goes on from a stored one began: it opens the stream where `RunStarted` would (a follow-up to
    a completed run, under its own new `run_id`; a paused run resumed, under its own)."""


class ModelRequestStarted(RunEvent):
    """A request to the model is about to be sent."""

    model: str | None = None
    model_provider: str | None = None


class RunContent(RunEvent):
    """A piece of the answer as the model produces it."""

    content: Any = ""
    content_type: str = "str"
    reasoning_content: str = ""
    model_provider_data: dict[str, Any] | None = None

    def _fields(self) -> dict[str, Any]:
        dump = getattr(self.content, "model_dump", None)
        return {
            "content": dump(mode="json") if callable(dump) else self.content,
            "workflow_agent": False,
            "content_type": self.content_type,
            "reasoning_content": self.reasoning_content,
            "model_provider_data": self.model_provider_data,
        }


class ModelRequestCompleted(RunEvent):
    """The model answered one request; carries that request's token usage and time to first token."""

    model: str | None = None
    model_provider: str | None = None
    usage: Usage = field(default_factory=Usage)
    time_to_first_token: float | None = None

    def _fields(self) -> dict[str, Any]:
        u = self.usage
        return {
            "model": self.model,
            "model_provider": self.model_provider,
            "input_tokens": u.input_tokens,
            "output_tokens": u.output_tokens,
            "total_tokens": u.total_tokens,
            "time_to_first_token": self.time_to_first_token,
            "reasoning_tokens": u.reasoning_tokens,
            "cache_read_tokens": u.cache_read_tokens,
            "cache_write_tokens": u.cache_write_tokens,
        }


class ToolCallStarted(RunEvent):
    """A tool call is starting."""

    tool: ToolExecution

    def _fields(self) -> dict[str, Any]:
        return {"tool": self.tool.to_dict()}


class ToolCallCompleted(RunEvent):
    """A tool call finished, with its result or its error."""

    tool: ToolExecution

    def _fields(self) -> dict[str, Any]:
        t = self.tool
        args = ", ".join(f"{k}={v}" for k, v in t.tool_args.items())
        verb = "failed" if t.tool_call_error else "completed"
        summary = f"{t.tool_name}({args}) {verb} in {t.duration or 0.0:.4f}s. "
        return {"content": summary, "tool": t.to_dict()}


class ToolkitUnavailable(RunEvent):
    """A toolkit could not provide its tools (an MCP server down or too slow); the run goes on without them.
    stratus' own event: AgentOS clients skip event names they do not know."""

    toolkit: str
    content: str


class RunContentCompleted(RunEvent):
    """The answer's content is complete."""


class MemoryUpdateStarted(RunEvent):
    """The stored run is being handed to the agent's learning machine (its memories and learnings are
    extracted from it asynchronously, by the learning worker). Only an agent that learns sends it."""


class MemoryUpdateCompleted(RunEvent):
    """The hand-over is done: the run is in the learning queue (or, if the queue refused it or was too slow,
    that was logged and counted; the answer stands either way). It does not mean memories were extracted:
    the learning worker does that later, so `memories` is None (AgentOS sends the user's memories here)."""

    memories: list[dict[str, Any]] | None = None


class RunCompleted(RunEvent):
    """The run finished; carries the whole content, the session state and the run's metrics."""

    output: RunOutput

    def _fields(self) -> dict[str, Any]:
        o = self.output
        return {
            "content": o.content_dict(),
            "content_type": o.content_type,
            "model_provider_data": o.model_provider_data,
            "session_state": o.session_state,
            "metrics": o.metrics.to_dict(),
        }


class RunPaused(RunEvent):
    """The run stopped to wait for a person (or an outside executor): it is stored PAUSED, nothing held in
    memory, until `/continue` resumes it. `tools` are the calls that wait, `requirements` AgentOS' view of them."""

    tools: list[ToolExecution] = field(default_factory=lambda: list[ToolExecution]())
    requirements: list[dict[str, Any]] = field(default_factory=lambda: list[dict[str, Any]]())

    def _fields(self) -> dict[str, Any]:
        return {"tools": [t.to_dict() for t in self.tools], "requirements": self.requirements}


class RunError(RunEvent):
    """The run failed; `content` says why, `error_type` names the kind of error."""

    content: str
    error_type: str | None = None
    error_id: str | None = None
    additional_data: dict[str, Any] | None = None
    output: RunOutput | None = None


class RunCancelled(RunEvent):
    """The run was cancelled before it finished."""

    reason: str | None = None
    output: RunOutput | None = None


def cancelled_event(output: RunOutput, reason: str) -> RunCancelled:
    """The event that ends the stream of a run cancelled from outside (an agent's, a team's or a workflow's)."""
    from stratus.component_events import TeamRunCancelled, WorkflowCancelled

    cls = WorkflowCancelled if output.workflow_id else TeamRunCancelled if output.team_id else RunCancelled
    return cls(
        run_id=output.run_id,
        session_id=output.session_id,
        agent_id=output.workflow_id or output.team_id or output.agent_id,
        agent_name=output.workflow_name or output.team_name or output.agent_name,
        parent_run_id=output.parent_run_id,
        reason=reason,
        output=output,
    )


def run_tree(output: RunOutput) -> list[RunOutput]:
    """The run and every run it started (a team's members', a workflow's steps', theirs), parents first."""
    found = [output]
    for child in output.children:
        found.extend(run_tree(child))
    return found


def __getattr__(name: str) -> Any:
    # Teams' and workflows' events live in `stratus.component_events`; they load when first asked for here.
    if name[:1].isupper():
        from stratus import component_events

        if name in component_events.__all__:
            return getattr(component_events, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
