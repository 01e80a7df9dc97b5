"""The events of teams and workflows: a team's own run speaks the agent's events under AgentOS' team names;
a workflow's run opens and closes with workflow events and reports each step. Agents' events, and the run
itself, are in `stratus.run`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

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
    "TeamRunStarted",
    "TeamToolCallCompleted",
    "TeamToolCallStarted",
    "WorkflowCancelled",
    "WorkflowCompleted",
    "WorkflowError",
    "WorkflowStarted",
]


# --- team events ------------------------------------------------------------------------------------------
# A team's own run (its leader) speaks the agent's events under AgentOS' team names; each class derives from
# its agent twin, so `isinstance(event, RunCompleted)` holds for `TeamRunCompleted` too. The members' events
# come in the same stream unchanged, one `nested_depth` deeper and with `parent_run_id` naming the team's run.


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
    """A piece of the team's answer."""

    kind: ClassVar[str] = "TeamRunContent"
    __slots__ = ()


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
    """The team's run finished with its answer."""

    kind: ClassVar[str] = "TeamRunCompleted"
    __slots__ = ()


class TeamRunContinued(_TeamEvent, RunContinued):
    """A follow-up to the team's completed run began (where `TeamRunStarted` would)."""

    kind: ClassVar[str] = "TeamRunContinued"
    __slots__ = ()


class TeamRunError(_TeamEvent, RunError):
    """The team's run failed (a member that fails does not fail the team: its own RunError says so)."""

    kind: ClassVar[str] = "TeamRunError"
    __slots__ = ()


class TeamRunCancelled(_TeamEvent, RunCancelled):
    kind: ClassVar[str] = "TeamRunCancelled"
    __slots__ = ()


# --- workflow events --------------------------------------------------------------------------------------


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


class WorkflowStarted(_WorkflowEvent, RunEvent):
    """The workflow's run began."""

    kind: ClassVar[str] = "WorkflowStarted"
    __slots__ = ()


class WorkflowCompleted(_WorkflowEvent, RunCompleted):
    """The workflow's run finished: the last step's content and every step's result."""

    kind: ClassVar[str] = "WorkflowCompleted"
    __slots__ = ()

    def _fields(self) -> dict[str, Any]:
        o = self.output
        return {
            "content": o.content_dict(),
            "content_type": o.content_type,
            "step_results": o.step_results or [],
            "session_state": o.session_state,
            "metrics": o.metrics.to_dict(),
        }


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
    top level, a tuple (a list in JSON) inside Steps, Parallel, Condition, Loop and Router."""

    kind: ClassVar[str] = "StepEvent"
    step_name: str | None = None
    step_index: int | tuple[int, ...] | None = None


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
