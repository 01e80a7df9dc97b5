"""A workflow's run: the top-level steps in order, a checkpoint after each, one write at the end.

After each top-level step the run is stored with status RUNNING and the step results so far (one write per
step), so a run cut off mid-way shows how far it got, and a run given again with `resume=` (the stored run)
goes on after the last step it finished instead of starting over. With a `deadline` (the background run
worker passes the end of its Lambda invocation), a run that has not the time left for another step, judged
by its longest step so far, stops between two steps with its progress stored: `suspended` is then True and
the worker queues it again (see `stratus.background.execute_run`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from stratus._nesting import Emit, RunScope, SessionWriter, pump
from stratus._utils import new_id, time_ordered_id
from stratus.component_events import WorkflowCompleted, WorkflowError, WorkflowStarted
from stratus.deadline import deadline_for
from stratus.exceptions import NotFoundError, StratusError
from stratus.limits import check_final_state, check_json
from stratus.run import RunContext, RunEvent, RunInput, RunOutput, RunStatus
from stratus.storage.records import SessionType
from stratus.workflow.steps import StepContext
from stratus.workflow.types import StepInput, StepOutput, content_type_of
from stratus.workflow.workflow import Workflow

__all__ = ["MIN_STEP_BUDGET_SECONDS", "StepFailedError", "WorkflowRun"]

logger = logging.getLogger("stratus.workflow")

MIN_STEP_BUDGET_SECONDS = 60.0
"""With a deadline, the least time left that another step may start in (more if a step took longer)."""


class StepFailedError(StratusError):
    """A step of a workflow failed (and was not marked `skip_on_failure`), so the workflow's run failed."""

    def __init__(self, message: str, *, step_name: str | None) -> None:
        super().__init__(message)
        self.step_name = step_name


class WorkflowRun:
    """One execution of a workflow. `events()` drives it; `result()` drives it and returns the output."""

    def __init__(
        self,
        workflow: Workflow,
        input: str,
        *,
        session_id: str | None = None,
        user_id: str | None = None,
        session_state: dict[str, Any] | None = None,
        run_id: str | None = None,
        resume: RunOutput | None = None,
        deadline: float | None = None,
    ) -> None:
        self.workflow = workflow
        self.input = input
        self.resume = resume
        self.deadline = deadline
        """A `time.monotonic()` instant: between steps, stop (suspended) rather than start one that would not
        finish by then."""
        timeout = workflow.run_timeout
        self.run_deadline = deadline_for(timeout, f"run_timeout={timeout:g}s" if timeout else "")
        """The deadline of the steps' agent and team runs (`Workflow.run_timeout`, or an inherited one)."""
        # applied once, when it started; refused before anything is stored if out of bounds
        self.state_override = None if resume is not None else check_json(session_state, "session_state")
        self.output = RunOutput(
            run_id=run_id or time_ordered_id(),
            session_id=session_id or new_id(),
            workflow_id=workflow.workflow_id,
            workflow_name=workflow.name,
            user_id=user_id,
            input=RunInput(input_content=input),
            step_results=[],
        )
        if resume is not None:
            self.output.created_at = resume.created_at
            self.output.input = resume.input or self.output.input
        self.context = RunContext(run_id=self.output.run_id, session_id=self.output.session_id, user_id=user_id)
        self.session = SessionWriter(
            workflow.store,
            session_id=self.output.session_id,
            user_id=user_id,
            session_type=SessionType.WORKFLOW,
            component_id=workflow.workflow_id,
            session_name=input[:120].strip() or None,
        )
        self.suspended = False
        """True when the run stopped between two steps for lack of time (its status stays RUNNING)."""

    async def result(self) -> RunOutput:
        async for _ in self.events(stream=False):
            pass
        return self.output

    def events(self, *, stream: bool) -> AsyncIterator[RunEvent]:
        """Run the workflow, yielding its events and its agents' and teams'. With `stream=False` the models are
        asked for whole answers; the result is in `self.output` when iteration ends."""
        return pump(lambda emit: self._body(emit, stream))

    def event_base(self) -> dict[str, Any]:
        """The fields every event of the workflow's own run carries."""
        o = self.output
        return {
            "run_id": o.run_id,
            "session_id": o.session_id,
            "agent_id": o.workflow_id,
            "agent_name": o.workflow_name,
        }

    async def _body(self, emit: Emit, stream: bool) -> None:
        workflow, out = self.workflow, self.output
        base = self.event_base()
        started = time.perf_counter()
        announced = False
        children = RunScope(
            session=self.session,
            state=self.context.session_state,
            parent=out,
            emit=emit,
            stream=stream,
            deadline=self.run_deadline,
        )
        try:
            state = await self.session.open(workflow.session_state, self.state_override)
            self.context.session_state = children.state = state
            out.status = RunStatus.RUNNING
            emit(WorkflowStarted(**base))
            announced = True
            ctx = StepContext(base=base, emit=emit, children=children)
            results = [StepOutput.from_dict(d) for d in (self.resume.step_results or [])] if self.resume else []
            earlier = {r.step_name: r for r in results if r.step_name}
            content = next((r.content for r in reversed(results) if r.success), None)
            out.step_results = [r.to_dict() for r in results]
            steps = workflow.get_steps()
            longest, ran = 0.0, 0
            for index, step in enumerate(steps):
                if index < len(results):
                    continue  # finished by an earlier attempt
                if ran and self._out_of_time(longest):
                    self.suspended = True
                    out.metrics.duration = time.perf_counter() - started
                    logger.info("run %s suspended before step %d (%s) for lack of time", out.run_id, index, step.name)
                    await self._save()
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
                results.append(output)
                earlier[step.name] = output
                out.step_results = [r.to_dict() for r in results]
                if output.success:
                    content = output.content
                elif not step.skip_on_failure:
                    raise StepFailedError(f"step {step.name!r} failed: {output.error}", step_name=step.name)
                if output.stop:
                    break
                if index + 1 < len(steps):
                    await self._save()  # the checkpoint: status RUNNING, the results so far
            out.content, out.content_type = content, content_type_of(content)
            check_final_state(self.context.session_state)  # a state no store could keep fails the run
            out.status = RunStatus.COMPLETED
            out.metrics.duration = time.perf_counter() - started
            await self._save()
            emit(WorkflowCompleted(**base, output=out))
        except asyncio.CancelledError:
            out.status = RunStatus.CANCELLED
            out.error, out.error_type = "run was cancelled", "RunCancelledError"
            out.metrics.duration = time.perf_counter() - started
            await asyncio.shield(self._settle_and_save(children))
            raise
        except Exception as exc:
            out.status = RunStatus.ERROR
            out.error = str(exc) if isinstance(exc, StratusError) else f"{type(exc).__name__}: {exc}"
            out.error_type = type(exc).__name__
            out.exception = self._cause(exc)
            out.content = out.error
            out.metrics.duration = time.perf_counter() - started
            if isinstance(exc, StratusError):
                logger.warning("run %s of workflow %s failed: %s", out.run_id, out.workflow_id, out.error)
            else:
                logger.exception("run %s of workflow %s failed", out.run_id, out.workflow_id)
            if not isinstance(exc, NotFoundError):  # never write into a session we may not touch
                await self._settle_and_save(children)
            if not announced:
                emit(WorkflowStarted(**base))
            emit(WorkflowError(**base, content=out.error, error_type=out.error_type, output=out))

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

    async def _settle_and_save(self, children: RunScope) -> None:
        await children.settle()
        await self._save()

    async def _save(self) -> None:
        out, workflow = self.output, self.workflow
        out.session_state = self.context.session_state
        data = {
            "name": workflow.name,
            "workflow_id": workflow.workflow_id,
            "steps": [step.name for step in workflow.get_steps()],
        }
        await self.session.save(out, self.context.session_state, data)
