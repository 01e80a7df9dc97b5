"""`Workflow`: a plain declaration of steps. Running it is `_run.py`'s job."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from stratus._runnable import Runnable, RunOptions
from stratus._utils import slug
from stratus.agent import Agent
from stratus.exceptions import ConfigError
from stratus.team import Team
from stratus.workflow.steps import StepLike, WorkflowStep, as_step

if TYPE_CHECKING:
    from stratus.storage.base import Store
    from stratus.workflow._run import WorkflowRun

__all__ = ["Workflow"]


@dataclass(slots=True, kw_only=True, eq=False)
class Workflow(Runnable):
    """A workflow: steps run in order, each getting the previous one's output.

    A step is a `Step` (an agent, a team or a Python function; a bare Agent, Team or function is wrapped in
    one), or a step that holds steps: `Steps`, `Parallel`, `Condition`, `Loop`, `Router`. The workflow's run
    is stored in its session with every step's result (`step_results`), and after each top-level step (so a
    run that is cut off shows how far it got, and a background run redelivered to the worker resumes after
    the last step it finished); each agent's or team's run is stored in the same session as a child of the
    workflow's run. Steps share the session state. Streamed, a run yields `WorkflowStarted`, the steps' events
    (`StepStarted`, `StepOutput`, `StepCompleted`, `StepError`, `ParallelExecutionStarted`, ...) with their
    agents' and teams' events (naming the workflow's run and their step in `workflow_run_id`, `step_id`, ...),
    and `WorkflowCompleted`, `WorkflowError` or `WorkflowCancelled`: AgentOS' events, in its order.

    A top-level agent or team step whose tool call needs a person (human in the loop) pauses the run: it is
    stored PAUSED with AgentOS' `step_requirements` and its stream ends with `StepExecutorPaused` and
    `WorkflowPaused`; `/continue` with the decisions resumes the step's run, then the steps after it. (Inside
    a `Steps`, `Parallel`, `Condition`, `Loop` or `Router`, such a step fails instead.)

    Args:
        steps: The steps, in order.
        name: Display name.
        id: Stable identifier used in the API's routes; defaults to a slug of `name`.
        description: One line about the workflow.
        store: Where sessions and runs are kept; without one, runs are not persisted.
        session_state: Default state of a new session.
        metadata: Free-form data reported by the API.
        run_timeout: Seconds a run may take in all; a step's agent or team still running then ends with a
            `RunTimeoutError`, and so does the workflow (see `Agent.run_timeout`).
    """

    steps: Sequence[StepLike]
    name: str | None = None
    id: str | None = None
    description: str | None = None
    store: Store | None = None
    session_state: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    run_timeout: float | None = None

    def __post_init__(self) -> None:
        if self.id is None:
            self.id = slug(self.name, "workflow") if self.name else "workflow"
        if not self.steps:
            raise ConfigError(f"workflow {self.id!r} has no steps")
        self.steps = tuple(as_step(step) for step in self.steps)
        if self.run_timeout is not None and not self.run_timeout > 0:
            raise ConfigError(f"workflow {self.id!r}: run_timeout must be > 0 seconds (or None)")

    @property
    def workflow_id(self) -> str:
        return self.id or "workflow"

    def get_steps(self) -> list[WorkflowStep]:
        """The steps, each a `WorkflowStep`."""
        return [as_step(step) for step in self.steps]

    def all_agents(self) -> list[Agent]:
        """Every agent the workflow runs (inside teams too), each once."""
        found: dict[int, Agent] = {}
        for member in self._members(self.get_steps()):
            for agent in member.all_agents() if isinstance(member, Team) else [member]:
                found.setdefault(id(agent), agent)
        return list(found.values())

    def all_teams(self) -> list[Team]:
        """Every team the workflow runs (and the teams inside them), each once."""
        found: dict[int, Team] = {}
        for member in self._members(self.get_steps()):
            if isinstance(member, Team):
                for team in member.all_teams():
                    found.setdefault(id(team), team)
        return list(found.values())

    @classmethod
    def _members(cls, steps: Sequence[WorkflowStep]) -> list[Agent | Team]:
        found: list[Agent | Team] = []
        for step in steps:
            for attr in ("agent", "team"):
                value = getattr(step, attr, None)
                if isinstance(value, Agent | Team):
                    found.append(value)
            for attr in ("steps", "else_steps", "choices"):
                nested: Any = getattr(step, attr, None)
                if isinstance(nested, list):
                    inner = cast(list[Any], nested)
                    found.extend(cls._members([s for s in inner if isinstance(s, WorkflowStep)]))
        return found

    # --- running ----------------------------------------------------------------------------------------

    def execution(self, input: str, options: RunOptions | None = None) -> WorkflowRun:
        """A workflow run: the `RunOutput`'s `content` is the last step's, `step_results` every step's,
        `children` the agents' and teams' runs."""
        from stratus._lifecycle import Start
        from stratus.workflow._run import WorkflowRun

        return WorkflowRun(self, input, Start(options))
