"""The events of teams and workflows: a team's own run speaks the agent's events under AgentOS' team names;
a workflow's run opens and closes with workflow events and reports each step. Agents' events, and the run
itself, are in `stratus.run`."""

from __future__ import annotations

from dataclasses import field
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
    "TEAM_TWINS",
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

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        TEAM_TWINS[cls.__bases__[1]] = cast(type[RunEvent], cls)  # (the slotted class `dataclass` makes wins)


TEAM_TWINS: dict[type[RunEvent], type[RunEvent]] = {}
"""The team's class of each agent's event a team's run speaks, by the agent's (the leader's turns are renamed by
it); each twin derives from the agent's, so `isinstance(event, RunCompleted)` holds for `TeamRunCompleted` too."""


class TeamRunStarted(_TeamEvent, RunStarted):
    """The team's run began; names the leader's model."""


class TeamModelRequestStarted(_TeamEvent, ModelRequestStarted):
    """A request to the leader's model is about to be sent."""


class TeamModelRequestCompleted(_TeamEvent, ModelRequestCompleted):
    """The leader's model answered one request."""


class TeamToolCallStarted(_TeamEvent, ToolCallStarted):
    """The leader calls a tool (delegating to a member is one)."""


class TeamToolCallCompleted(_TeamEvent, ToolCallCompleted):
    """A tool call of the leader finished, with its result or its error."""


class TeamRunContentCompleted(_TeamEvent, RunContentCompleted):
    """The team's answer is complete."""


class TeamRunContinued(_TeamEvent, RunContinued):
    """A follow-up to the team's completed run began (where `TeamRunStarted` would)."""


class TeamRunPaused(_TeamEvent, RunPaused):
    """The team's run stopped because a member's did (a tool call that needs a person): `requirements` are the
    member's, naming it (`member_agent_id`, `member_run_id`); the team's `/continue` resumes both."""


class TeamRunError(_TeamEvent, RunError):
    """The team's run failed (a member that fails does not fail the team: its own RunError says so)."""


class TeamRunCancelled(_TeamEvent, RunCancelled):
    """The team's run was cancelled before it finished."""


class TeamRunContent(_TeamEvent, RunContent):
    """A piece of the team's answer (AgentOS' team twin has no `workflow_agent`)."""

    def _fields(self) -> dict[str, Any]:
        fields = RunContent._fields(self)
        del fields["workflow_agent"]
        return fields


class TeamRunCompleted(_TeamEvent, RunCompleted):
    """The team's run finished with its answer; `member_responses` are its members' runs (when any ran)."""

    def _fields(self) -> dict[str, Any]:
        fields = RunCompleted._fields(self)
        members = self.output.children
        if members:  # before `metrics`, where AgentOS puts them
            metrics = fields.pop("metrics")
            fields["member_responses"] = [member.to_dict() for member in members]
            fields["metrics"] = metrics
        return fields


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

    __slots__ = ()


class WorkflowCompleted(_WorkflowEvent, RunCompleted):
    """The workflow's run finished: the last step's content, its metrics (per step), every step's result and
    the runs of its steps' agents and teams (when any ran)."""

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


class WorkflowPaused(_WorkflowEvent, RunEvent):
    """The workflow's run stopped because a step's agent or team did (a tool call that needs a person): it is
    stored PAUSED with `step_requirements` (AgentOS' `StepRequirement`s); `/continue` with them resumes it."""

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

    __slots__ = ()

    def _fields(self) -> dict[str, Any]:
        fields = RunError._fields(self)
        return {"error": fields.pop("content"), **fields}  # AgentOS' name for the agent's `content`


class WorkflowCancelled(_WorkflowEvent, RunCancelled):
    __slots__ = ()


class StepEvent(_WorkflowEvent, RunEvent):
    """Base of the events of one step of a workflow's run. `step_index` is the step's position: an int at the
    top level, a tuple (a list in JSON) inside Steps, Parallel, Condition and Loop, the Router's own for a
    Router's steps (as AgentOS has it). `step_id` names this run of the step (the same in each round of a
    loop); a step inside another has its `parent_step_id`."""

    step_name: str | None = None
    step_index: int | tuple[int, ...] | None = None
    step_id: str | None = None
    parent_step_id: str | None = None

    def _fields(self) -> dict[str, Any]:
        fields = RunEvent._fields(self)
        del fields["step_id"], fields["parent_step_id"]  # written with the ids, before `nested_depth`
        return fields


class StepExecutorPaused(StepEvent):
    """A step's agent or team paused (a tool call that needs a person); `WorkflowPaused` follows."""

    executor_id: str | None = None
    executor_name: str | None = None
    executor_run_id: str | None = None
    executor_type: str | None = None
    executor_requirements: list[dict[str, Any]] | None = None


class StepStarted(StepEvent):
    __slots__ = ()


class StepCompleted(StepEvent):
    """A step finished; `step_response` is its `StepOutput` as a dict."""

    content: Any = None
    content_type: str = "str"
    step_response: dict[str, Any] | None = None


class StepOutputEvent(StepEvent):
    """A function step at the top level produced its output (`StepOutput` as a dict); sent before its
    `StepCompleted` (or `StepError`). AgentOS sends none for agents and teams (their events carry their answer)
    nor inside other steps."""

    kind: ClassVar[str] = "StepOutput"
    step_output: dict[str, Any] | None = None


class StepError(StepEvent):
    """A step failed: its function raised, or its agent's or team's run ended in error."""

    error: str | None = None


class StepsExecutionStarted(StepEvent):
    steps_count: int | None = None


class StepsExecutionCompleted(StepEvent):
    steps_count: int | None = None
    executed_steps: int | None = None
    step_results: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])


class ParallelExecutionStarted(StepEvent):
    parallel_step_count: int | None = None


class ParallelExecutionCompleted(StepEvent):
    parallel_step_count: int | None = None
    step_results: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])


class ConditionExecutionStarted(StepEvent):
    condition_result: bool | None = None


class ConditionExecutionCompleted(StepEvent):
    """`branch` is "if", "else", or None when the condition was false and there is no else branch."""

    condition_result: bool | None = None
    executed_steps: int | None = None
    branch: str | None = None
    step_results: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])


class LoopExecutionStarted(StepEvent):
    max_iterations: int | None = None


class LoopIterationStarted(StepEvent):
    iteration: int = 0
    max_iterations: int | None = None


class LoopIterationCompleted(StepEvent):
    iteration: int = 0
    max_iterations: int | None = None
    iteration_results: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    should_continue: bool = True


class LoopExecutionCompleted(StepEvent):
    total_iterations: int = 0
    max_iterations: int | None = None
    all_results: list[list[dict[str, Any]]] = field(default_factory=list[list[dict[str, Any]]])


class RouterExecutionStarted(StepEvent):
    selected_steps: list[str] = field(default_factory=list[str])


class RouterExecutionCompleted(StepEvent):
    selected_steps: list[str] = field(default_factory=list[str])
    executed_steps: int | None = None
    step_results: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
