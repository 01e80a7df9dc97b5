"""The events of teams and workflows: a team's own run speaks the agent's events under AgentOS' team names;
a workflow's run opens and closes with workflow events and reports each step. Agents' events, and the run
itself, are in `stratus.run`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

from stratus.run import (
    ModelRequestCompleted,
    ModelRequestStarted,
    RunCancelled,
    RunCompleted,
    RunContent,
    RunContentCompleted,
    RunContinued,
    RunError,
    RunEvent,
    RunOutput,
    RunPaused,
    RunStarted,
    ToolCallCompleted,
    ToolCallStarted,
)

__all__ = [
    "ConditionExecutionCompleted",
    "ConditionExecutionStarted",
    "LoopExecutionCompleted",
    "LoopExecutionStarted",
    "LoopIterationCompleted",
    "LoopIterationStarted",
    "ParallelExecutionCompleted",
    "ParallelExecutionStarted",
    "RouterExecutionCompleted",
    "RouterExecutionStarted",
    "StepCompleted",
    "StepError",
    "StepEvent",
    "StepExecutorPaused",
    "StepOutputEvent",
    "StepStarted",
    "StepsExecutionCompleted",
    "StepsExecutionStarted",
    "TeamModelRequestCompleted",
    "TeamModelRequestStarted",
    "TeamRunCancelled",
    "TeamRunCompleted",
    "TeamRunContent",
    "TeamRunContentCompleted",
    "TeamRunContinued",
    "TeamRunError",
    "TeamRunPaused",
    "TeamRunStarted",
    "TeamToolCallCompleted",
    "TeamToolCallStarted",
    "WorkflowCancelled",
    "WorkflowCompleted",
    "WorkflowError",
    "WorkflowPaused",
    "WorkflowStarted",
]


# --- team events ------------------------------------------------------------------------------------------
# A team's own run (its leader) speaks the agent's events under AgentOS' team names; each class derives from
# its agent twin, so `isinstance(event, RunCompleted)` holds for `TeamRunCompleted` too. The members' events
# come in the same stream unchanged, with `parent_run_id` naming the team's run (`nested_depth` stays 0: AgentOS
# counts nested workflows only).


class _TeamEvent:
    """Mixin of a team's own events: their id keys are `team_id` and `team_name`."""

    __slots__ = ()
    component: ClassVar[str] = "team"
    agent_id: str | None
    agent_name: str | None

    @property
    def team_id(self) -> str | None:
        return self.agent_id

    @property
    def team_name(self) -> str | None:
        return self.agent_name


class TeamRunStarted(_TeamEvent, RunStarted):
    """The team's run began; names the leader's model."""

    kind: ClassVar[str] = "TeamRunStarted"
    __slots__ = ()


class TeamModelRequestStarted(_TeamEvent, ModelRequestStarted):
    kind: ClassVar[str] = "TeamModelRequestStarted"
    __slots__ = ()


class TeamModelRequestCompleted(_TeamEvent, ModelRequestCompleted):
    kind: ClassVar[str] = "TeamModelRequestCompleted"
    __slots__ = ()


class TeamRunContent(_TeamEvent, RunContent):
    """A piece of the team's answer (AgentOS' team twin has no `workflow_agent`)."""

    kind: ClassVar[str] = "TeamRunContent"
    __slots__ = ()

    def _fields(self) -> dict[str, Any]:
        fields = RunContent._fields(self)
        del fields["workflow_agent"]
        return fields


class TeamToolCallStarted(_TeamEvent, ToolCallStarted):
    """The leader calls a tool (delegating to a member is one)."""

    kind: ClassVar[str] = "TeamToolCallStarted"
    __slots__ = ()


class TeamToolCallCompleted(_TeamEvent, ToolCallCompleted):
    kind: ClassVar[str] = "TeamToolCallCompleted"
    __slots__ = ()


class TeamRunContentCompleted(_TeamEvent, RunContentCompleted):
    kind: ClassVar[str] = "TeamRunContentCompleted"
    __slots__ = ()


class TeamRunCompleted(_TeamEvent, RunCompleted):
    """The team's run finished with its answer; `member_responses` are its members' runs (when any ran)."""

    kind: ClassVar[str] = "TeamRunCompleted"
    __slots__ = ()

    def _fields(self) -> dict[str, Any]:
        fields = RunCompleted._fields(self)
        members = self.output.children
        if members:  # before `metrics`, where AgentOS puts them
            metrics = fields.pop("metrics")
            fields["member_responses"] = [member.to_dict() for member in members]
            fields["metrics"] = metrics
        return fields


class TeamRunContinued(_TeamEvent, RunContinued):
    """A follow-up to the team's completed run began (where `TeamRunStarted` would)."""

    kind: ClassVar[str] = "TeamRunContinued"
    __slots__ = ()


class TeamRunPaused(_TeamEvent, RunPaused):
    """The team's run stopped because a member's did (a tool call that needs a person): `requirements` are the
    member's, naming it (`member_agent_id`, `member_run_id`); the team's `/continue` resumes both."""

    kind: ClassVar[str] = "TeamRunPaused"
    __slots__ = ()


class TeamRunError(_TeamEvent, RunError):
    """The team's run failed (a member that fails does not fail the team: its own RunError says so)."""

    kind: ClassVar[str] = "TeamRunError"
    __slots__ = ()


class TeamRunCancelled(_TeamEvent, RunCancelled):
    kind: ClassVar[str] = "TeamRunCancelled"
    __slots__ = ()


# --- workflow events --------------------------------------------------------------------------------------
# AgentOS writes a workflow's own events with their step's ids next to the run's, and leaves out what is None.
# The events of a step's agent or team come in the same stream as they are, with `workflow_context` set.


class _WorkflowEvent:
    """Mixin of a workflow's own events: their id keys are `workflow_id` and `workflow_name`."""

    __slots__ = ()
    component: ClassVar[str] = "workflow"
    agent_id: str | None
    agent_name: str | None

    @property
    def workflow_id(self) -> str | None:
        return self.agent_id

    @property
    def workflow_name(self) -> str | None:
        return self.agent_name

    def to_dict(self) -> dict[str, Any]:
        """AgentOS' payload of a workflow event, keys in its order, None values left out."""
        event = cast(RunEvent, self)
        out: dict[str, Any] = {
            "created_at": event.created_at,
            "event": event.kind,
            "workflow_id": event.agent_id,
            "workflow_name": event.agent_name,
            "session_id": event.session_id,
            "run_id": event.run_id,
        }
        if isinstance(event, StepEvent):
            out["step_id"] = event.step_id
            out["parent_step_id"] = event.parent_step_id
        out["nested_depth"] = event.nested_depth
        out.update(event._fields())  # pyright: ignore[reportPrivateUsage]
        return {key: value for key, value in out.items() if value is not None}


class WorkflowStarted(_WorkflowEvent, RunEvent):
    """The workflow's run began."""

    kind: ClassVar[str] = "WorkflowStarted"
    __slots__ = ()


class WorkflowCompleted(_WorkflowEvent, RunCompleted):
    """The workflow's run finished: the last step's content, its metrics (per step), every step's result and
    the runs of its steps' agents and teams (when any ran)."""

    kind: ClassVar[str] = "WorkflowCompleted"
    __slots__ = ()

    def _fields(self) -> dict[str, Any]:
        o = self.output
        fields: dict[str, Any] = {
            "content": o.content_dict(),
            "content_type": o.content_type,
            "metrics": o.metrics.to_dict(),
            "step_results": o.step_results or [],
        }
        if o.children:
            fields["step_executor_runs"] = [child.to_dict() for child in o.children]
        return fields


@dataclass(slots=True, kw_only=True)
class WorkflowPaused(_WorkflowEvent, RunEvent):
    """The workflow's run stopped because a step's agent or team did (a tool call that needs a person): it is
    stored PAUSED with `step_requirements` (AgentOS' `StepRequirement`s); `/continue` with them resumes it."""

    kind: ClassVar[str] = "WorkflowPaused"
    output: RunOutput

    def _fields(self) -> dict[str, Any]:
        o = self.output
        requirements = o.requirements or []
        first = requirements[0] if requirements else {}
        fields: dict[str, Any] = {
            "status": o.status.value,
            "paused_step_index": first.get("step_index"),
            "paused_step_name": first.get("step_name"),
            "pause_kind": "executor" if requirements else None,
            "step_requirements": requirements,
            "step_results": o.step_results or [],
        }
        if o.children:
            fields["step_executor_runs"] = [child.to_dict() for child in o.children]
        fields["content"] = o.content_dict()
        return fields


class WorkflowError(_WorkflowEvent, RunError):
    """The workflow's run failed; `error` says why (which step, and its error)."""

    kind: ClassVar[str] = "WorkflowError"
    __slots__ = ()

    def _fields(self) -> dict[str, Any]:
        return {
            "error": self.content,
            "error_type": self.error_type,
            "error_id": self.error_id,
            "additional_data": self.additional_data,
        }


class WorkflowCancelled(_WorkflowEvent, RunCancelled):
    kind: ClassVar[str] = "WorkflowCancelled"
    __slots__ = ()


@dataclass(slots=True, kw_only=True)
class StepEvent(_WorkflowEvent, RunEvent):
    """Base of the events of one step of a workflow's run. `step_index` is the step's position: an int at the
    top level, a tuple (a list in JSON) inside Steps, Parallel, Condition and Loop, the Router's own for a
    Router's steps (as AgentOS has it). `step_id` names this run of the step (the same in each round of a
    loop); a step inside another has its `parent_step_id`."""

    kind: ClassVar[str] = "StepEvent"
    step_name: str | None = None
    step_index: int | tuple[int, ...] | None = None
    step_id: str | None = None
    parent_step_id: str | None = None

    def _fields(self) -> dict[str, Any]:
        fields = RunEvent._fields(self)
        del fields["step_id"], fields["parent_step_id"]  # written with the ids, before `nested_depth`
        return fields


@dataclass(slots=True, kw_only=True)
class StepExecutorPaused(StepEvent):
    """A step's agent or team paused (a tool call that needs a person); `WorkflowPaused` follows."""

    kind: ClassVar[str] = "StepExecutorPaused"
    executor_id: str | None = None
    executor_name: str | None = None
    executor_run_id: str | None = None
    executor_type: str | None = None
    executor_requirements: list[dict[str, Any]] | None = None


class StepStarted(StepEvent):
    kind: ClassVar[str] = "StepStarted"
    __slots__ = ()


@dataclass(slots=True, kw_only=True)
class StepCompleted(StepEvent):
    """A step finished; `step_response` is its `StepOutput` as a dict."""

    kind: ClassVar[str] = "StepCompleted"
    content: Any = None
    content_type: str = "str"
    step_response: dict[str, Any] | None = None


@dataclass(slots=True, kw_only=True)
class StepOutputEvent(StepEvent):
    """A function step at the top level produced its output (`StepOutput` as a dict); sent before its
    `StepCompleted` (or `StepError`). AgentOS sends none for agents and teams (their events carry their answer)
    nor inside other steps."""

    kind: ClassVar[str] = "StepOutput"
    step_output: dict[str, Any] | None = None


@dataclass(slots=True, kw_only=True)
class StepError(StepEvent):
    """A step failed: its function raised, or its agent's or team's run ended in error."""

    kind: ClassVar[str] = "StepError"
    error: str | None = None


@dataclass(slots=True, kw_only=True)
class StepsExecutionStarted(StepEvent):
    kind: ClassVar[str] = "StepsExecutionStarted"
    steps_count: int | None = None


@dataclass(slots=True, kw_only=True)
class StepsExecutionCompleted(StepEvent):
    kind: ClassVar[str] = "StepsExecutionCompleted"
    steps_count: int | None = None
    executed_steps: int | None = None
    step_results: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])


@dataclass(slots=True, kw_only=True)
class ParallelExecutionStarted(StepEvent):
    kind: ClassVar[str] = "ParallelExecutionStarted"
    parallel_step_count: int | None = None


@dataclass(slots=True, kw_only=True)
class ParallelExecutionCompleted(StepEvent):
    kind: ClassVar[str] = "ParallelExecutionCompleted"
    parallel_step_count: int | None = None
    step_results: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])


@dataclass(slots=True, kw_only=True)
class ConditionExecutionStarted(StepEvent):
    kind: ClassVar[str] = "ConditionExecutionStarted"
    condition_result: bool | None = None


@dataclass(slots=True, kw_only=True)
class ConditionExecutionCompleted(StepEvent):
    """`branch` is "if", "else", or None when the condition was false and there is no else branch."""

    kind: ClassVar[str] = "ConditionExecutionCompleted"
    condition_result: bool | None = None
    executed_steps: int | None = None
    branch: str | None = None
    step_results: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])


@dataclass(slots=True, kw_only=True)
class LoopExecutionStarted(StepEvent):
    kind: ClassVar[str] = "LoopExecutionStarted"
    max_iterations: int | None = None


@dataclass(slots=True, kw_only=True)
class LoopIterationStarted(StepEvent):
    kind: ClassVar[str] = "LoopIterationStarted"
    iteration: int = 0
    max_iterations: int | None = None


@dataclass(slots=True, kw_only=True)
class LoopIterationCompleted(StepEvent):
    kind: ClassVar[str] = "LoopIterationCompleted"
    iteration: int = 0
    max_iterations: int | None = None
    iteration_results: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    should_continue: bool = True


@dataclass(slots=True, kw_only=True)
class LoopExecutionCompleted(StepEvent):
    kind: ClassVar[str] = "LoopExecutionCompleted"
    total_iterations: int = 0
    max_iterations: int | None = None
    all_results: list[list[dict[str, Any]]] = field(default_factory=list[list[dict[str, Any]]])


@dataclass(slots=True, kw_only=True)
class RouterExecutionStarted(StepEvent):
    kind: ClassVar[str] = "RouterExecutionStarted"
    selected_steps: list[str] = field(default_factory=list[str])


@dataclass(slots=True, kw_only=True)
class RouterExecutionCompleted(StepEvent):
    kind: ClassVar[str] = "RouterExecutionCompleted"
    selected_steps: list[str] = field(default_factory=list[str])
    executed_steps: int | None = None
    step_results: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
