"""The steps of a workflow: `Step` (an agent, a team or a function), and the steps that hold steps: `Steps`
(in order), `Parallel` (at once), `Condition` (if / else), `Loop` (until an end condition, at most N times)
and `Router` (a function picks which).

A step never raises for a failure: it emits `StepError` and returns a `StepOutput` with `success=False`. The
sequence it is in then stops (and the failure goes up) unless the step has `skip_on_failure=True`, in which
case the next step gets the content from before the failed one. In a `Parallel`, every branch runs to its
end whatever the others do.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeAlias, cast

from stratus._lifecycle import Resumption
from stratus._nesting import Emit, RunScope
from stratus._utils import new_id, to_text
from stratus.agent import Agent
from stratus.component_events import (
    ConditionExecutionCompleted,
    ConditionExecutionStarted,
    LoopExecutionCompleted,
    LoopExecutionStarted,
    LoopIterationCompleted,
    LoopIterationStarted,
    ParallelExecutionCompleted,
    ParallelExecutionStarted,
    RouterExecutionCompleted,
    RouterExecutionStarted,
    StepCompleted,
    StepError,
    StepExecutorPaused,
    StepOutputEvent,
    StepsExecutionCompleted,
    StepsExecutionStarted,
    StepStarted,
)
from stratus.exceptions import ConfigError
from stratus.run import RunEvent, RunStatus
from stratus.team import Team
from stratus.workflow.types import StepInput, StepOutput, content_type_of, json_content

__all__ = [
    "Condition",
    "Loop",
    "Parallel",
    "Router",
    "Step",
    "StepContext",
    "StepFunction",
    "StepIndex",
    "StepLike",
    "StepResumption",
    "Steps",
    "WorkflowStep",
    "as_step",
    "run_sequence",
]

logger = logging.getLogger("stratus.workflow")

StepIndex: TypeAlias = int | tuple[int, ...]
StepFunction: TypeAlias = Callable[[StepInput], Any]
"""A function step: takes the `StepInput`, returns the step's content (or a `StepOutput`); sync or async."""


@dataclass(slots=True, eq=False)
class StepContext:
    """What executing steps needs from the workflow's run: the fields of its events, where they go, and how
    to run an agent or a team as a child of the run; inside a step that holds steps, that step's id."""

    base: dict[str, Any]
    emit: Emit
    children: RunScope
    parent_step_id: str | None = None
    step_ids: dict[int, str] = field(default_factory=dict[int, str])
    """Each step's id in this run (one per step object, the same in every round of a loop)."""
    resumption: StepResumption | None = None
    """A resumed run's: the paused step's executor run, going on with the decisions (taken by that step)."""

    def step_id(self, step: WorkflowStep) -> str:
        """The id of `step` in this run (AgentOS' `step_id`)."""
        found = self.step_ids.get(id(step))
        if found is None:
            found = self.step_ids[id(step)] = new_id()
        return found

    def inside(self, step: WorkflowStep) -> StepContext:
        """The context of the steps `step` holds."""
        return replace(self, parent_step_id=self.step_id(step))


@dataclass(frozen=True, slots=True)
class StepResumption:
    """A paused top-level step going on: its agent's or team's paused run with the decisions in it, as that
    agent's or team's own `/continue` resumes them."""

    step_name: str
    resumption: Resumption


class WorkflowStep(ABC):
    """Base of every step. `name` names it in events, in `StepInput.previous_step_outputs` and in results."""

    name: str
    description: str | None
    skip_on_failure: bool
    step_type: str = "Step"

    @abstractmethod
    async def execute(self, ctx: StepContext, step_input: StepInput, index: StepIndex) -> StepOutput:
        """Run the step; emit its events; never raise for a failure (return `success=False`)."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """The step as `GET /workflows/{id}` describes it."""

    def _describe(self, **extra: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.step_type, "name": self.name, "description": self.description}
        out.update(extra)
        if self.skip_on_failure:
            out["skip_on_failure"] = True
        return {k: v for k, v in out.items() if v is not None}

    def _fields(self, ctx: StepContext, index: StepIndex, **extra: Any) -> dict[str, Any]:
        """The fields of this step's events."""
        ids = {"step_id": ctx.step_id(self), "parent_step_id": ctx.parent_step_id}
        return {**ctx.base, "step_name": self.name, "step_index": index, **ids, **extra}

    def _output(self, ctx: StepContext, **fields: Any) -> StepOutput:
        """This step's output in this run."""
        return StepOutput(step_name=self.name, step_id=ctx.step_id(self), step_type=self.step_type, **fields)

    def _failed(self, ctx: StepContext, index: StepIndex, error: str) -> StepOutput:
        ctx.emit(StepError(**self._fields(ctx, index), error=error))
        return self._output(ctx, success=False, error=error)


StepLike: TypeAlias = WorkflowStep | Agent | Team | Callable[..., Any]
"""A step, or what `as_step` wraps into one: an Agent, a Team or a function."""


def as_step(value: StepLike) -> WorkflowStep:
    """`value` as a step: a step stays as it is; an Agent, a Team or a function becomes a `Step`."""
    if isinstance(value, WorkflowStep):
        return value
    if isinstance(value, Agent):
        return Step(agent=value)
    if isinstance(value, Team):
        return Step(team=value)
    if callable(value):
        return Step(executor=value)
    raise ConfigError(f"a workflow step is a Step, Agent, Team or function, not {type(value).__name__}")


def _index(parent: StepIndex, position: int) -> tuple[int, ...]:
    return (parent, position) if isinstance(parent, int) else (*parent, position)


async def _call(function: Callable[..., Any], *args: Any) -> Any:
    """Call a user's condition, end condition or selector (sync or async)."""
    value = function(*args)
    if inspect.isawaitable(value):
        value = await value
    return value


def _wraps(step: WorkflowStep, item: Any) -> bool:
    """Whether `step` is `item`, or the Step made from that agent, team or function."""
    if step is item:
        return True
    return isinstance(step, Step) and item is not None and item in (step.agent, step.team, step.executor)


def _names(step: WorkflowStep) -> set[str]:
    """What a router may call a step by: its name, or the id of its agent or team."""
    names = {step.name}
    if isinstance(step, Step):
        if step.agent is not None:
            names.add(step.agent.agent_id)
        if step.team is not None:
            names.add(step.team.team_id)
    return names


def _error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


class Step(WorkflowStep):
    """One unit of work: an agent's run, a team's run, or a function call.

    An agent or a team is asked the previous step's content (the workflow's input for the first step); its
    run is stored in the workflow's session as a child of the workflow's run. A function gets the
    `StepInput` and returns the content (or a `StepOutput`); sync functions run in a worker thread.
    `max_retries` runs a failed step again, up to that many times.
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        agent: Agent | None = None,
        team: Team | None = None,
        executor: StepFunction | None = None,
        description: str | None = None,
        max_retries: int = 0,
        skip_on_failure: bool = False,
    ) -> None:
        given = [x for x in (agent, team, executor) if x is not None]
        if len(given) != 1:
            raise ConfigError(f"step {name!r}: give exactly one of agent=, team= or executor=")
        if max_retries < 0:
            raise ConfigError(f"step {name!r}: max_retries must be >= 0")
        self.agent = agent
        self.team = team
        self.executor = executor
        if name is None:
            if agent is not None:
                name = agent.name or agent.agent_id
            elif team is not None:
                name = team.name or team.team_id
            else:
                name = str(getattr(executor, "__name__", "step"))
        self.name = name
        self.description = description
        self.max_retries = max_retries
        self.skip_on_failure = skip_on_failure

    @property
    def executor_type(self) -> str:
        return "agent" if self.agent is not None else "team" if self.team is not None else "function"

    def to_dict(self) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if self.agent is not None:
            extra["agent_id"] = self.agent.agent_id
        elif self.team is not None:
            extra["team_id"] = self.team.team_id
        else:
            extra["executor_ref"] = getattr(self.executor, "__name__", None)
        if self.max_retries:
            extra["max_retries"] = self.max_retries
        return self._describe(**extra)

    async def execute(self, ctx: StepContext, step_input: StepInput, index: StepIndex) -> StepOutput:
        fields = self._fields(ctx, index)
        ctx.emit(StepStarted(**fields))
        attempt = 0
        while True:
            output = await self._attempt(ctx, step_input, fields)
            if output.paused:  # the workflow's run pauses with it (see `WorkflowRun`)
                ctx.emit(StepExecutorPaused(**fields, **_executor_fields(ctx, output)))
                return output
            if output.success or attempt >= self.max_retries:
                break
            attempt += 1
            logger.info("step %s failed (%s); retry %d of %d", self.name, output.error, attempt, self.max_retries)
        if self.executor is not None and ctx.parent_step_id is None:  # AgentOS reports a top-level function's
            top = {k: v for k, v in fields.items() if k != "step_id"}  # (AgentOS' has no step_id of its own)
            ctx.emit(StepOutputEvent(**top, step_output=output.to_dict()))
        if output.success:
            ctx.emit(
                StepCompleted(
                    **fields,
                    content=json_content(output.content),
                    content_type=content_type_of(output.content),
                    step_response=output.to_dict(),
                )
            )
        else:
            ctx.emit(StepError(**fields, error=output.error))
        return output

    async def _attempt(self, ctx: StepContext, step_input: StepInput, fields: dict[str, Any]) -> StepOutput:
        kind = self.executor_type
        member = self.agent or self.team
        if member is not None:
            name = member.name or (member.agent_id if isinstance(member, Agent) else member.team_id)
            workflow_context = {
                "workflow_id": ctx.base["agent_id"],
                "workflow_run_id": ctx.base["run_id"],
                "step_id": fields["step_id"],
                "step_name": self.name,
                "step_index": _plain_index(fields["step_index"]),
            }
            paused = ctx.resumption if ctx.parent_step_id is None else None
            resume = None
            if paused is not None and paused.step_name == self.name:
                ctx.resumption, resume = None, paused.resumption
            child = await ctx.children.run(member, step_input.message(), workflow_context, resume=resume)
            output = self._output(
                ctx, executor_type=kind, executor_name=name, step_run_id=child.run_id, metrics=child.metrics.to_dict()
            )
            if child.status is RunStatus.COMPLETED:
                output.content = child.content
            elif child.status is RunStatus.PAUSED and ctx.parent_step_id is None:
                output.success, output.paused, output.error = False, True, f"{kind} {name!r} paused"
            else:
                output.success, output.error = False, f"{kind} {name!r} failed: {child.error or child.status.value}"
            return output
        function = self.executor
        assert function is not None
        try:
            if inspect.iscoroutinefunction(function):
                value = await function(step_input)
            else:
                value = await asyncio.to_thread(function, step_input)
                if inspect.isawaitable(value):
                    value = await value
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("step %s raised %s", self.name, _error(exc))
            return self._output(ctx, executor_type=kind, executor_name=self.name, success=False, error=_error(exc))
        if isinstance(value, StepOutput):
            value.step_name = value.step_name or self.name
            value.step_id = value.step_id or fields["step_id"]
            value.executor_type = value.executor_type or kind
            value.executor_name = value.executor_name or self.name
            return value
        return self._output(ctx, content=value, executor_type=kind, executor_name=self.name)


def _executor_fields(ctx: StepContext, output: StepOutput) -> dict[str, Any]:
    """What `StepExecutorPaused` says of the paused step's agent or team run."""
    child = next(c for c in reversed(ctx.children.parent.children) if c.run_id == output.step_run_id)
    return {
        "executor_id": child.team_id or child.agent_id,
        "executor_name": output.executor_name,
        "executor_run_id": child.run_id,
        "executor_type": output.executor_type,
        "executor_requirements": child.requirements or [],
    }


def _plain_index(index: StepIndex) -> int | list[int]:
    return index if isinstance(index, int) else list(index)


@dataclass(slots=True)
class SequenceResult:
    """How a sequence of steps went: every output, the content to pass on, the step that failed (if one did
    and was not to be skipped), and whether a step asked to stop the workflow."""

    outputs: list[StepOutput]
    content: Any
    failed: StepOutput | None
    stop: bool


async def run_sequence(
    ctx: StepContext, steps: Sequence[WorkflowStep], step_input: StepInput, index: StepIndex, *, flat: bool = False
) -> SequenceResult:
    """Run steps one after the other, each getting the previous one's content. Each is at its position under
    `index`; with `flat`, at `index` itself (AgentOS indexes a Router's steps so)."""
    content = step_input.previous_step_content
    earlier = dict(step_input.previous_step_outputs)
    outputs: list[StepOutput] = []
    for position, step in enumerate(steps):
        at = index if flat else _index(index, position)
        output = await step.execute(ctx, step_input.after(content, earlier), at)
        outputs.append(output)
        earlier[step.name] = output
        if output.success:
            content = output.content
        elif not step.skip_on_failure:
            return SequenceResult(outputs, content, output, False)
        if output.stop:
            return SequenceResult(outputs, content, None, True)
    return SequenceResult(outputs, content, None, False)


def _container_output(step: WorkflowStep, ctx: StepContext, result: SequenceResult) -> StepOutput:
    failed = result.failed
    return step._output(  # pyright: ignore[reportPrivateUsage]
        ctx,
        content=result.content,
        steps=result.outputs,
        success=failed is None,
        error=failed.error if failed is not None else None,
        stop=result.stop,
    )


def _held(step: WorkflowStep, steps: Sequence[StepLike], what: str = "steps") -> list[WorkflowStep]:
    """What a step that holds steps holds, as steps; holding none is a mistake."""
    if not steps:
        raise ConfigError(f"{step.step_type} {step.name!r} has no {what}")
    return [as_step(s) for s in steps]


async def _run_between(
    step: WorkflowStep,
    events: tuple[Callable[..., RunEvent], Callable[..., RunEvent]],
    fields: dict[str, Any],
    ctx: StepContext,
    steps: Sequence[WorkflowStep],
    step_input: StepInput,
    index: StepIndex,
    *,
    flat: bool = False,
    **completed: Any,
) -> StepOutput:
    """`steps` run in order between `step`'s started and completed events (the latter with their results and
    `completed`); the output is `step`'s."""
    started, done = events
    ctx.emit(started(**fields))
    result = await run_sequence(ctx.inside(step), steps, step_input, index, flat=flat)
    results = [o.to_dict() for o in result.outputs]
    ctx.emit(done(**fields, **completed, executed_steps=len(result.outputs), step_results=results))
    return _container_output(step, ctx, result)


class _Group(WorkflowStep):
    """Base of the steps that hold `steps`: named, described and skippable like any step."""

    def __init__(self, steps: Sequence[StepLike], *, name: str, description: str | None, skip_on_failure: bool) -> None:
        self.name = name
        self.description = description
        self.skip_on_failure = skip_on_failure
        self.steps = _held(self, steps)

    def to_dict(self) -> dict[str, Any]:
        return self._describe(steps=[s.to_dict() for s in self.steps], **self._details())

    def _details(self) -> dict[str, Any]:
        """What `to_dict` says beyond the steps."""
        return {}


class _Listed(_Group):
    """A group whose steps are its arguments (`Steps(a, b)`, `Parallel(a, b)`); named after its type unless named."""

    def __init__(
        self, *steps: StepLike, name: str | None = None, description: str | None = None, skip_on_failure: bool = False
    ) -> None:
        name = self.step_type.lower() if name is None else name
        super().__init__(steps, name=name, description=description, skip_on_failure=skip_on_failure)


class Steps(_Listed):
    """Steps run in order, as one step (to reuse a group, or to give it a name in a Condition or a Loop)."""

    step_type = "Steps"

    async def execute(self, ctx: StepContext, step_input: StepInput, index: StepIndex) -> StepOutput:
        events = (StepsExecutionStarted, StepsExecutionCompleted)
        fields = self._fields(ctx, index, steps_count=len(self.steps))
        return await _run_between(self, events, fields, ctx, self.steps, step_input, index)


class Parallel(_Listed):
    """Steps run at once, each with the same input. The content passed on joins the branches' contents under
    their names (`=== name ===`); each branch's output is also there by its name for later steps. A branch
    that fails does not stop the others; the Parallel fails once all have ended, unless the failed branches
    have `skip_on_failure=True`."""

    step_type = "Parallel"

    async def execute(self, ctx: StepContext, step_input: StepInput, index: StepIndex) -> StepOutput:
        common = self._fields(ctx, index, parallel_step_count=len(self.steps))
        ctx.emit(ParallelExecutionStarted(**common))
        outputs = list(
            await asyncio.gather(
                *(step.execute(ctx.inside(self), step_input, _index(index, i)) for i, step in enumerate(self.steps))
            )
        )
        ctx.emit(ParallelExecutionCompleted(**common, step_results=[o.to_dict() for o in outputs]))
        failed = [o for step, o in zip(self.steps, outputs, strict=True) if not o.success and not step.skip_on_failure]
        parts = [f"=== {o.step_name} ===\n{to_text(json_content(o.content))}" for o in outputs if o.success]
        return self._output(
            ctx,
            content="\n\n".join(parts),
            executor_type="parallel",  # as AgentOS' Parallel says (its other containers say None)
            executor_name=self.name,
            steps=outputs,
            success=not failed,
            error="; ".join(f"{o.step_name}: {o.error}" for o in failed) or None,
            stop=any(o.stop for o in outputs),
        )


Evaluator: TypeAlias = bool | Callable[[StepInput], Any]


class Condition(_Group):
    """`steps` if `evaluator` holds for the step's input, else `else_steps` (if any). The evaluator is a bool
    or a function (sync or async) of the `StepInput`. With nothing to run, the content passes through."""

    step_type = "Condition"

    def __init__(
        self,
        evaluator: Evaluator,
        steps: Sequence[StepLike],
        *,
        else_steps: Sequence[StepLike] = (),
        name: str = "condition",
        description: str | None = None,
        skip_on_failure: bool = False,
    ) -> None:
        super().__init__(steps, name=name, description=description, skip_on_failure=skip_on_failure)
        self.evaluator = evaluator
        self.else_steps = [as_step(s) for s in else_steps]

    def _details(self) -> dict[str, Any]:
        return {"else_steps": [s.to_dict() for s in self.else_steps]} if self.else_steps else {}

    async def execute(self, ctx: StepContext, step_input: StepInput, index: StepIndex) -> StepOutput:
        evaluator = self.evaluator
        try:
            holds = bool(evaluator if isinstance(evaluator, bool) else await _call(evaluator, step_input))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return self._failed(ctx, index, f"the condition raised {_error(exc)}")
        events = (ConditionExecutionStarted, ConditionExecutionCompleted)
        fields = self._fields(ctx, index, condition_result=holds)
        chosen = self.steps if holds else self.else_steps
        branch = "if" if holds else "else" if self.else_steps else None
        return await _run_between(self, events, fields, ctx, chosen, step_input, index, branch=branch)


EndCondition: TypeAlias = Callable[[list[StepOutput]], Any]


class Loop(_Group):
    """Steps run again and again, each round getting the previous round's content, until `end_condition`
    (a function, sync or async, of the round's outputs) holds or `max_iterations` rounds have run."""

    step_type = "Loop"

    def __init__(
        self,
        steps: Sequence[StepLike],
        *,
        end_condition: EndCondition | None = None,
        max_iterations: int = 3,
        name: str = "loop",
        description: str | None = None,
        skip_on_failure: bool = False,
    ) -> None:
        super().__init__(steps, name=name, description=description, skip_on_failure=skip_on_failure)
        if max_iterations < 1:
            raise ConfigError(f"Loop {name!r}: max_iterations must be at least 1")
        self.end_condition = end_condition
        self.max_iterations = max_iterations

    def _details(self) -> dict[str, Any]:
        return {"max_iterations": self.max_iterations}

    async def execute(self, ctx: StepContext, step_input: StepInput, index: StepIndex) -> StepOutput:
        common = self._fields(ctx, index, max_iterations=self.max_iterations)
        ctx.emit(LoopExecutionStarted(**common))
        rounds: list[list[StepOutput]] = []
        current = step_input
        result = SequenceResult([], step_input.previous_step_content, None, False)
        error: str | None = None
        for iteration in range(1, self.max_iterations + 1):
            ctx.emit(LoopIterationStarted(**common, iteration=iteration))
            result = await run_sequence(ctx.inside(self), self.steps, current, index)
            rounds.append(result.outputs)
            done = result.failed is not None or result.stop
            if not done and self.end_condition is not None:
                try:
                    done = bool(await _call(self.end_condition, result.outputs))
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    error = f"the end condition raised {_error(exc)}"
                    done = True
            ctx.emit(
                LoopIterationCompleted(
                    **common,
                    iteration=iteration,
                    iteration_results=[o.to_dict() for o in result.outputs],
                    should_continue=not done and iteration < self.max_iterations,
                )
            )
            if done:
                break
            earlier = dict(current.previous_step_outputs)
            earlier.update({o.step_name: o for o in result.outputs if o.step_name})
            current = current.after(result.content, earlier)
        ctx.emit(
            LoopExecutionCompleted(
                **common,
                total_iterations=len(rounds),
                all_results=[[o.to_dict() for o in outputs] for outputs in rounds],
            )
        )
        output = _container_output(self, ctx, result)
        output.steps = [o for outputs in rounds for o in outputs]
        if error is not None:
            ctx.emit(StepError(**self._fields(ctx, index), error=error))
            output.success, output.error = False, error
        return output


Selection: TypeAlias = Callable[[StepInput], Any]


class Router(WorkflowStep):
    """A function (sync or async) of the `StepInput` picks what runs next: one of `choices` (or its name), or
    a list of them, run in order. Picking nothing lets the content pass through."""

    step_type = "Router"

    def __init__(
        self,
        selector: Selection,
        choices: Sequence[StepLike],
        *,
        name: str = "router",
        description: str | None = None,
        skip_on_failure: bool = False,
    ) -> None:
        self.name = name
        self.description = description
        self.skip_on_failure = skip_on_failure
        self.selector = selector
        self.choices = _held(self, choices, "choices")

    def to_dict(self) -> dict[str, Any]:
        return self._describe(steps=[s.to_dict() for s in self.choices])

    def _resolve(self, picked: Any) -> list[WorkflowStep]:
        if picked is None:
            return []
        items: list[Any] = list(cast(Sequence[Any], picked)) if isinstance(picked, list | tuple) else [picked]
        steps: list[WorkflowStep] = []
        for item in items:
            if isinstance(item, str):
                matches = [s for s in self.choices if item in _names(s)]
                if not matches:
                    known = ", ".join(s.name for s in self.choices)
                    raise ConfigError(f"router {self.name!r} picked {item!r}, which is none of its choices ({known})")
                steps.append(matches[0])
            else:
                chosen = next((s for s in self.choices if _wraps(s, item)), None)
                steps.append(chosen or as_step(item))
        return steps

    async def execute(self, ctx: StepContext, step_input: StepInput, index: StepIndex) -> StepOutput:
        try:
            steps = self._resolve(await _call(self.selector, step_input))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return self._failed(ctx, index, f"the router's selector failed: {_error(exc)}")
        events = (RouterExecutionStarted, RouterExecutionCompleted)
        fields = self._fields(ctx, index, selected_steps=[s.name for s in steps])
        return await _run_between(self, events, fields, ctx, steps, step_input, index, flat=True)
