"""What a workflow's steps take (`StepInput`) and give (`StepOutput`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Final, cast

from stratus._utils import to_text

if TYPE_CHECKING:
    from stratus.run import RunOutput

__all__ = ["StepInput", "StepOutput", "content_type_of", "json_content", "step_metrics", "workflow_run_dict"]


def json_content(value: Any) -> Any:
    """`value` in JSON form: a pydantic model becomes a dict."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    return value


def content_type_of(value: Any) -> str:
    """AgentOS' `content_type`: `str` for text, the class name of anything else."""
    return "str" if value is None or isinstance(value, str) else type(value).__name__


_AS_STORED: Final = (
    "content",
    "step_name",
    "step_id",
    "executor_type",
    "executor_name",
    "step_run_id",
    "metrics",
    "error",
)
"""The fields of a `StepOutput` its dict keeps under their own names, as they are."""


@dataclass(slots=True, kw_only=True)
class StepOutput:
    """What one step produced: its content (anything: text, a dict, a pydantic object), or why it failed.

    A function step may return one to set `stop=True`, which ends the workflow after this step (successfully).
    `steps` holds the outputs of the steps inside a Steps, Parallel, Condition, Loop or Router.
    """

    content: Any = None
    step_name: str | None = None
    step_id: str | None = None
    """Names the step in its workflow's run (AgentOS' `step_id`; its events carry it too)."""
    step_type: str = "Step"
    executor_type: str | None = None
    """`agent`, `team` or `function` for a Step; None for the containers."""
    executor_name: str | None = None
    step_run_id: str | None = None
    """The run of the step's agent or team (stored in the workflow's session, as a child of its run)."""
    metrics: dict[str, Any] | None = None
    success: bool = True
    error: str | None = None
    stop: bool = False
    paused: bool = False
    """The step's agent or team paused (a tool call that needs a person): the workflow's run pauses with it."""
    steps: list[StepOutput] | None = None

    def to_dict(self) -> dict[str, Any]:
        """AgentOS' `StepOutput` shape: content other than text, a dict, a list or a pydantic object as text."""
        content = json_content(self.content)
        if content is not None and not isinstance(content, str | dict | list):
            content = str(content)
        out: dict[str, Any] = {
            "content": content,
            "step_name": self.step_name,
            "step_id": self.step_id,
            "step_type": self.step_type,
            "executor_type": self.executor_type,
            "executor_name": self.executor_name,
            "step_run_id": self.step_run_id,
            "images": None,
            "videos": None,
            "audio": None,
            "files": None,
            "metrics": self.metrics,
            "success": self.success,
            "error": self.error,
            "stop": self.stop,
            "is_paused": self.paused,
        }
        if self.steps:
            out["steps"] = [step.to_dict() for step in self.steps]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepOutput:
        nested = cast(list[dict[str, Any]] | None, data.get("steps"))
        return cls(
            **{name: data.get(name) for name in _AS_STORED},
            step_type=str(data.get("step_type") or "Step"),
            success=bool(data.get("success", True)),
            stop=bool(data.get("stop", False)),
            paused=bool(data.get("is_paused", False)),
            steps=[cls.from_dict(step) for step in nested] if nested else None,
        )

    def find(self, name: str) -> StepOutput | None:
        """This output or the one of a step inside it with that name (the last one, for a loop's)."""
        found = self if self.step_name == name else None
        for step in self.steps or []:
            inner = step.find(name)
            if inner is not None:
                found = inner
        return found


@dataclass(slots=True, kw_only=True)
class StepInput:
    """What a step gets: the workflow's input, the previous step's content, every earlier step's output by
    name, and the session state (one dict for the whole run: changes are saved with the session).

    An agent or team step is sent `previous_step_content` as its message (the workflow's input for the
    first step); a function step gets this object and reads what it needs.
    """

    input: str
    previous_step_content: Any = None
    previous_step_outputs: dict[str, StepOutput] = field(default_factory=dict[str, StepOutput])
    session_state: dict[str, Any] = field(default_factory=dict[str, Any])
    run_id: str | None = None
    session_id: str | None = None
    user_id: str | None = None

    def get_step_output(self, name: str) -> StepOutput | None:
        """The output of the earlier step called `name` (also one inside a Parallel, Steps, ...)."""
        found = self.previous_step_outputs.get(name)
        if found is not None:
            return found
        for output in reversed(list(self.previous_step_outputs.values())):
            inner = output.find(name)
            if inner is not None:
                return inner
        return None

    def get_step_content(self, name: str) -> Any:
        """The content of the earlier step called `name`, or None."""
        output = self.get_step_output(name)
        return output.content if output is not None else None

    def message(self) -> str:
        """What an agent or a team step is asked: the previous step's content as text, else the input."""
        if self.previous_step_content is None:
            return self.input
        return to_text(json_content(self.previous_step_content))

    def after(self, content: Any, outputs: dict[str, StepOutput]) -> StepInput:
        """The input of the next step."""
        return replace(self, previous_step_content=content, previous_step_outputs=dict(outputs))


def step_metrics(outputs: Iterable[StepOutput]) -> dict[str, dict[str, Any]]:
    """AgentOS' `WorkflowMetrics.steps`: per step name, the executor and metrics of each agent's or team's step
    (inside other steps too; a name that ran twice keeps its last run's)."""
    found: dict[str, dict[str, Any]] = {}
    for output in outputs:
        found.update(step_metrics(output.steps or []))
        if output.step_name and output.metrics and output.executor_type in ("agent", "team"):
            found[output.step_name] = {
                "step_name": output.step_name,
                "executor_type": output.executor_type,
                "executor_name": output.executor_name or "unknown",
                "metrics": output.metrics,
            }
    return found


def workflow_run_dict(run: RunOutput) -> dict[str, Any]:
    """A workflow's run in AgentOS' `WorkflowRunOutput.to_dict()` shape: the input as the text it was, no
    messages or tools of its own (its steps' runs have theirs, in `step_executor_runs`), empty media lists,
    the per-step metrics; None values left out. Plus, for a run that failed, stratus' `error`."""
    out: dict[str, Any] = {
        "input": run.input.input_content if run.input is not None else None,
        "content": run.content_dict(),
        "content_type": run.content_type,
        "workflow_id": run.workflow_id,
        "workflow_name": run.workflow_name,
        "run_id": run.run_id,
        "session_id": run.session_id,
        "user_id": run.user_id,
        "parent_run_id": run.parent_run_id,
        "created_at": run.created_at,
        "status": run.status.value,
        "images": [],
        "videos": [],
        "audio": [],
        "files": [],
        "step_results": run.step_results or [],
    }
    if run.children:
        out["step_executor_runs"] = [child.to_dict() for child in run.children]
    out["metrics"] = run.metrics.to_dict()
    out["events"] = run.events
    if run.requirements:  # a paused run: what its step waits for (AgentOS' `StepRequirement`s)
        first = run.requirements[0]
        out["step_requirements"] = run.requirements
        out["paused_step_index"], out["paused_step_name"] = first.get("step_index"), first.get("step_name")
        out["pause_kind"] = "executor"
    if run.error is not None:
        out["error"] = {"type": run.error_type, "message": run.error}
    return {key: value for key, value in out.items() if value is not None}
