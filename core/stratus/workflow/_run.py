"""A workflow's run: the top-level steps in order, a checkpoint after each, one write at the end.

After each top-level step the run is stored with status RUNNING and the step results so far (one write per
step), so a run cut off mid-way shows how far it got, and a run given again with `resume=` (the stored run)
goes on after the last step it finished instead of starting over. With a `deadline` (the background run
worker passes the end of its Lambda invocation), a run that has not the time left for another step, judged
by its longest step so far, stops between two steps with its progress stored: `suspended` is then True and
the worker queues it again (see `stratus.background.execute_run`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from stratus._lifecycle import TOP_LEVEL, Component, ComponentRun, EventKinds, Start, begin
from stratus._nesting import Emit, RunScope, pump
from stratus.component_events import (
    StepOutputEvent,
    WorkflowCompleted,
    WorkflowError,
    WorkflowPaused,
    WorkflowStarted,
)
from stratus.exceptions import StratusError
from stratus.run import RunEvent, RunStatus
from stratus.storage.records import SessionType
from stratus.workflow.steps import StepContext, WorkflowStep
from stratus.workflow.types import StepInput, StepOutput, content_type_of, step_metrics
from stratus.workflow.workflow import Workflow

__all__ = ["MIN_STEP_BUDGET_SECONDS", "WORKFLOW_EVENTS", "StepFailedError", "WorkflowRun"]

logger = logging.getLogger("stratus.workflow")

WORKFLOW_EVENTS = EventKinds(
    started=lambda base, out: WorkflowStarted(**base),
    completed=lambda base, out: WorkflowCompleted(**base, output=out),
    error=lambda base, out, extra: WorkflowError(
        **base, content=out.error or "", error_type=out.error_type, additional_data=extra, output=out
    ),
)

MIN_STEP_BUDGET_SECONDS = 60.0
"""With a deadline, the least time left that another step may start in (more if a step took longer)."""


class StepFailedError(StratusError):
    """A step of a workflow failed (and was not marked `skip_on_failure`), so the workflow's run failed."""

    def __init__(self, message: str, *, step_name: str | None) -> None:
        super().__init__(message)
        self.step_name = step_name


class WorkflowRun(ComponentRun):
    """One execution of a workflow. `events()` drives it; `result()` drives it and returns the output.

    With `start.resume` a stored run goes on under its own id, after the last step it finished: one that ran
    out of time, or one that paused, whose paused step's agent or team run goes on with the decisions.
    `deadline` is a `time.monotonic()` instant: between steps, the run stops (suspended) rather than start one
    that would not finish by then."""

    def __init__(
        self, workflow: Workflow, input: str, start: Start = TOP_LEVEL, *, deadline: float | None = None
    ) -> None:
        self.workflow = workflow
        self.input = input
        self.deadline = deadline
        self.resumption = start.resume.step if start.resume is not None else None
        """A paused run's: its paused step's executor run, going on with the decisions (taken by that step)."""
        resume = self.resume = start.resume.run if start.resume is not None else None
        options = start.options
        if resume is not None and options is not None:
            options = replace(options, session_state=None)  # applied once, when it started
        # The workflow goes on from its stored run itself (its lifecycle is a new one under the same id).
        component = Component.of(SessionType.WORKFLOW, workflow.workflow_id, workflow, WORKFLOW_EVENTS)
        lifecycle = begin(
            component,
            input,
            Start(options),
            describe=self._component_data,
            settle=self.settle,
            exception_of=self._cause,
        )
        super().__init__(lifecycle)
        out = self.output
        self.run_deadline = lifecycle.deadline
        """The deadline of the steps' agent and team runs (`Workflow.run_timeout`, or an inherited one)."""
        out.step_results = []
        if resume is not None:
            out.created_at = resume.created_at
            out.input = resume.input or out.input
            out.spans = resume.spans  # its trace goes on where the earlier invocations left it
        self.session = lifecycle.place.writer

    @property
    def suspended(self) -> bool:
        """True when the run stopped between two steps for lack of time (its status stays RUNNING)."""
        return self.lifecycle.suspended

    def events(self, *, stream: bool) -> AsyncIterator[RunEvent]:
        """Run the workflow, yielding its events and its agents' and teams'. With `stream=False` the models are
        asked for whole answers; the result is in `self.output` when iteration ends."""
        keep = _kept if stream else None  # a streamed workflow run keeps its events, as AgentOS' does
        return self.lifecycle.drive(pump(lambda emit: self._body(emit, stream)), keep=keep)

    async def _body(self, emit: Emit, stream: bool) -> None:
        workflow, out, lifecycle = self.workflow, self.output, self.lifecycle
        state = await lifecycle.open()
        self.context.session_state = state
        if self.resume is not None and self.resume.events and out.events is not None:
            out.events[:0] = self.resume.events  # a streamed run's stored events go on after the earlier part's
        children = self.children = RunScope(
            session=self.session, state=state, parent=out, emit=emit, stream=stream, deadline=self.run_deadline
        )
        emit(lifecycle.started())
        ctx = StepContext(base=lifecycle.base, emit=emit, children=children, resumption=self.resumption)
        results = [StepOutput.from_dict(d) for d in (self.resume.step_results or [])] if self.resume else []
        earlier = {r.step_name: r for r in results if r.step_name}
        content = next((r.content for r in reversed(results) if r.success), None)
        out.step_results = [r.to_dict() for r in results]
        out.metrics.steps = step_metrics(results)
        steps = workflow.get_steps()
        longest, ran = 0.0, 0
        for index, step in enumerate(steps):
            if index < len(results):
                continue  # finished by an earlier attempt
            if ran and self._out_of_time(longest):
                logger.info("run %s suspended before step %d (%s) for lack of time", out.run_id, index, step.name)
                await lifecycle.suspend()
                return
            step_started = time.perf_counter()
            step_input = StepInput(
                input=self.input,
                previous_step_content=content,
                previous_step_outputs=dict(earlier),
                session_state=state,
                run_id=out.run_id,
                session_id=out.session_id,
                user_id=out.user_id,
            )
            if self.run_deadline is None:
                output = await step.execute(ctx, step_input, index)
            else:
                running = f"step {step.name!r} was running"
                output = await self.run_deadline.bound(step.execute(ctx, step_input, index), running)
            longest, ran = max(longest, time.perf_counter() - step_started), ran + 1
            if output.paused:  # stored PAUSED with what the step waits for; `/continue` runs it again, resumed
                out.requirements = [self._requirement(step, index, output)]
                emit(await lifecycle.pause(WorkflowPaused(**lifecycle.base, output=out)))
                return
            results.append(output)
            earlier[step.name] = output
            out.step_results = [r.to_dict() for r in results]
            out.metrics.steps = step_metrics(results)
            if output.success:
                content = output.content
            elif not step.skip_on_failure:
                raise StepFailedError(f"step {step.name!r} failed: {output.error}", step_name=step.name)
            if output.stop:
                break
            if index + 1 < len(steps):
                await lifecycle.checkpoint()  # status RUNNING, the results so far
        out.content, out.content_type = content, content_type_of(content)

    def _requirement(self, step: WorkflowStep, index: int, output: StepOutput) -> dict[str, Any]:
        """AgentOS' `StepRequirement` of a step whose agent or team paused (`requires_executor_input`)."""
        child = next(c for c in reversed(self.output.children) if c.run_id == output.step_run_id)
        return {
            **_NO_STEP_DECISION,
            "step_id": output.step_id,
            "step_name": step.name,
            "step_index": index,
            "step_type": step.step_type,
            "max_retries": getattr(step, "max_retries", None),
            "requires_executor_input": True,
            "executor_requirements": child.requirements or [],
            "executor_id": child.team_id or child.agent_id,
            "executor_name": output.executor_name,
            "executor_run_id": child.run_id,
            "executor_type": output.executor_type,
            "executor_session_id": child.session_id,
        }

    def _component_data(self) -> dict[str, Any]:
        workflow = self.workflow
        return {
            "name": workflow.name,
            "workflow_id": workflow.workflow_id,
            "steps": [step.name for step in workflow.get_steps()],
        }

    def _out_of_time(self, longest: float) -> bool:
        if self.deadline is None:
            return False
        return self.deadline - time.monotonic() < max(MIN_STEP_BUDGET_SECONDS, longest)

    def _cause(self, exc: Exception) -> BaseException:
        """For a step whose agent or team failed, that run's error (a model's error reads as such over HTTP)."""
        if isinstance(exc, StepFailedError):
            failed = [c for c in self.output.children if c.status is RunStatus.ERROR and c.exception is not None]
            if failed and isinstance(failed[-1].exception, StratusError):
                return failed[-1].exception
        return exc


_NO_STEP_DECISION: dict[str, Any] = {
    "requires_confirmation": False,
    "confirmation_message": None,
    "confirmed": None,
    "on_reject": "cancel",
    "requires_user_input": False,
    "user_input_message": None,
    "user_input": None,
    "requires_route_selection": False,
    "available_choices": None,
    "allow_multiple_selections": False,
    "selected_choices": None,
    "requires_output_review": False,
    "output_review_message": None,
    "is_post_execution": False,
    "rejection_feedback": None,
    "retry_count": 0,
    "timeout_at": None,
    "on_timeout": "cancel",
}
"""A `StepRequirement`'s step-level fields when only its executor waits (AgentOS' defaults)."""


def _kept(event: RunEvent) -> bool:
    return not isinstance(event, StepOutputEvent)  # (AgentOS' sends those past the events it keeps)
