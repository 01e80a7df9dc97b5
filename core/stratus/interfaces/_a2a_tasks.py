"""A2A tasks as stratus runs: the SDK's request handler, with an `AgentExecutor` that runs the agent or team
for a message and a `TaskStore` that reads a task from its run.

A task is a run: task id = run id, context id = session id. While a run is in flight here, the SDK keeps its
task in memory, as its events make it; otherwise a task is read from the run, in flight or stored, scoped to
the caller as `GET /agents/{agent_id}/runs/{run_id}` is. Every request is checked as the REST routes check
theirs, before anything runs or is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from a2a.auth.user import User
from a2a.helpers.proto_helpers import get_message_text, new_data_part, new_task_from_user_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext, SimpleRequestContextBuilder
from a2a.server.context import ServerCallContext
from a2a.server.id_generator import IDGenerator, IDGeneratorContext
from a2a.server.request_handlers import DefaultRequestHandler, RequestHandler
from a2a.server.tasks import InMemoryTaskStore, TaskStore, TaskUpdater
from a2a.types import (
    AgentCard,
    Artifact,
    CancelTaskRequest,
    ListTasksRequest,
    ListTasksResponse,
    Message,
    Part,
    Role,
    SendMessageRequest,
    SubscribeToTaskRequest,
    Task,
    TaskState,
    TaskStatus,
)
from a2a.utils.errors import (
    ContentTypeNotSupportedError,
    InvalidParamsError,
    TaskNotCancelableError,
    TaskNotFoundError,
    UnsupportedOperationError,
)
from fastapi import HTTPException

from stratus._runnable import RunOptions
from stratus._utils import time_ordered_id
from stratus.api._runs import SAFE_ERRORS, RunRegistry
from stratus.run import RunContent, RunInput, RunOutput, RunStatus

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    from a2a.server.events import Event, EventQueue

    from stratus.agent import Agent
    from stratus.api.routers._components import ComponentKind
    from stratus.app import App
    from stratus.storage.base import Store
    from stratus.team import Team

__all__ = ["ANSWER", "Caller", "RunExecutor", "RunRequestHandler", "RunTaskStore", "Served", "task_of"]

ANSWER = "answer"
"""The id (and name) of a task's one artifact: the run's answer."""

_STATES = {
    RunStatus.PENDING: TaskState.TASK_STATE_SUBMITTED,
    RunStatus.RUNNING: TaskState.TASK_STATE_WORKING,
    RunStatus.COMPLETED: TaskState.TASK_STATE_COMPLETED,
    RunStatus.PAUSED: TaskState.TASK_STATE_INPUT_REQUIRED,
    RunStatus.ERROR: TaskState.TASK_STATE_FAILED,
    RunStatus.CANCELLED: TaskState.TASK_STATE_CANCELED,
}
_SETTLED = frozenset(state for status, state in _STATES.items() if status not in (RunStatus.PENDING, RunStatus.RUNNING))
"""Where a task stops moving: from then on it is read from its stored run."""
_PAUSED_HELD_SECONDS = 5.0
"""How long the SDK holds a paused task's machinery: its run waits in the store, not here (it goes on over
REST), so briefly."""


@dataclass(frozen=True, slots=True)
class Caller(User):
    """The caller as the SDK sees them: `user_name` is the stratus user id (empty when anonymous), which also
    scopes the tasks it holds in memory."""

    user_id: str | None
    verified: bool

    @property
    def is_authenticated(self) -> bool:
        return self.verified

    @property
    def user_name(self) -> str:
        return self.user_id or ""


def _caller(context: ServerCallContext | None) -> str | None:
    return (context.user.user_name or None) if context is not None else None


class _RunIds(IDGenerator):
    """New task ids are run ids: time-ordered, so a session's runs sort by them in every store."""

    def generate(self, context: IDGeneratorContext) -> str:
        return time_ordered_id()


def _answer_part(content: Any) -> Part:
    return new_text_part(content) if isinstance(content, str) else new_data_part(content)


def _status_text(run: RunOutput) -> str | None:
    """What the task's status says besides its state: why it failed, or what it waits for."""
    if run.status is RunStatus.ERROR:
        return run.error if run.error_type in SAFE_ERRORS and run.error else "Internal server error"
    if run.status is RunStatus.PAUSED:
        return "paused: a tool call awaits a person's decision; continue the run over the REST API (/continue)"
    return None


def _agent_message(run: RunOutput, text: str) -> Message:
    return Message(
        message_id=f"{run.run_id}-status",
        context_id=run.session_id,
        task_id=run.run_id,
        role=Role.ROLE_AGENT,
        parts=[new_text_part(text)],
    )


def task_of(run: RunOutput) -> Task:
    """The A2A task a run is: its status, the message it was asked, its answer as the artifact `answer`."""
    status = TaskStatus(state=_STATES[run.status])
    status.timestamp.FromDatetime(datetime.fromtimestamp(run.created_at + (run.metrics.duration or 0), UTC))
    if (text := _status_text(run)) is not None:
        status.message.CopyFrom(_agent_message(run, text))
    task = Task(id=run.run_id, context_id=run.session_id, status=status)
    if run.input is not None:
        task.history.append(
            Message(
                message_id=f"{run.run_id}-input",
                context_id=run.session_id,
                task_id=run.run_id,
                role=Role.ROLE_USER,
                parts=[new_text_part(run.input.input_content)],
            )
        )
    if run.status is RunStatus.COMPLETED and run.content is not None:
        content = run.to_dict().get("content")  # what the REST API answers: plain JSON
        task.artifacts.append(Artifact(artifact_id=ANSWER, name=ANSWER, parts=[_answer_part(content)]))
    return task


@dataclass(frozen=True, slots=True)
class Served:
    """One agent or team served over A2A, and what its tasks need: the app, the run registry, its kind."""

    app: App
    registry: RunRegistry
    kind: ComponentKind[Any]
    component_id: str

    @property
    def component(self) -> Agent | Team:
        return self.kind.find(self.app, self.component_id)

    @property
    def store(self) -> Store:
        return self.component.store or self.app.store

    async def run(self, run_id: str, caller: str | None) -> RunOutput | None:
        """This component's run `run_id`, in flight here or stored, if the caller may see it (the REST rules)."""
        active = self.registry.get(run_id)
        out = active.output if active is not None else None
        if out is not None and self.kind.owns(out, self.component_id) and caller in (None, out.user_id):
            return out
        run = await self.store.get_run(run_id, user_id=caller)
        return run if run is not None and self.kind.owns(run, self.component_id) else None

    async def cancel(self, run_id: str, caller: str | None) -> Task:
        """Cancel the run as `POST .../runs/{run_id}/cancel` does; its errors as A2A's."""
        from stratus.api.routers._components import RunAsked, cancel_asked

        asked = RunAsked(self.component, self.component_id, run_id, None, caller, self.store)
        try:
            await cancel_asked(self.registry, self.kind, asked)
        except HTTPException as exc:
            error = TaskNotFoundError if exc.status_code == 404 else TaskNotCancelableError
            raise error(message=str(exc.detail)) from None
        run = await self.run(run_id, caller)
        if run is None:  # pragma: no cover - it was there a moment ago
            raise TaskNotFoundError(message=f"run {run_id!r} not found")
        return task_of(run)


class RunTaskStore(TaskStore):
    """The tasks whose runs this handler is driving live in the SDK's memory (by owner: the caller); the others
    are read from their runs."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self.live = InMemoryTaskStore()
        self.running: set[str] = set()
        """The run ids `RunExecutor` is driving."""

    async def save(self, task: Task, context: ServerCallContext) -> None:
        if task.status.state in _SETTLED:
            await self.live.delete(task.id, context)  # its run is stored as it ended: read from there now
        else:
            await self.live.save(task, context)

    async def get(self, task_id: str, context: ServerCallContext) -> Task | None:
        if task_id in self.running:
            return await self.live.get(task_id, context)  # the SDK's own view: the message as sent, the pieces
        run = await self.served.run(task_id, _caller(context))
        return task_of(run) if run is not None else None

    async def list(self, params: ListTasksRequest, context: ServerCallContext) -> ListTasksResponse:
        raise UnsupportedOperationError(message="tasks are not listed here: list a session's runs over the REST API")

    async def delete(self, task_id: str, context: ServerCallContext) -> None:
        await self.live.delete(task_id, context)


class RunExecutor(AgentExecutor):
    """Runs the component on the message as a run of its own (in the app's run registry, so the REST API sees
    and cancels it too), and tells the task how it goes: working, the answer as it streams, how it ended."""

    def __init__(self, tasks: RunTaskStore) -> None:
        self.served, self.tasks = tasks.served, tasks

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.task_id is not None  # a message request's, made by the handler
        self.tasks.running.add(context.task_id)
        try:
            await self._execute(context, event_queue)
        finally:
            self.tasks.running.discard(context.task_id)

    async def _execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        served, message = self.served, context.message
        task_id, context_id = context.task_id, context.context_id
        assert message is not None
        assert task_id is not None
        assert context_id is not None
        text = context.get_user_input()
        options = RunOptions(session_id=context_id, user_id=_caller(context.call_context), run_id=task_id)
        run = served.component.execution(text, options)
        run.output.input = RunInput(input_content=text)
        active = served.registry.start(run, stream=True)
        await event_queue.enqueue_event(new_task_from_user_message(message))
        updater = TaskUpdater(event_queue, task_id, context_id)
        await updater.start_work()
        streamed = False
        async for event in served.registry.events(active):
            # The component's own answer as it comes (not its members'), one artifact growing.
            content: Any = event.content if isinstance(event, RunContent) and event.run_id == task_id else None
            if isinstance(content, str) and content:
                await updater.add_artifact([new_text_part(content)], ANSWER, ANSWER, append=streamed)
                streamed = True
        out = await served.registry.wait(active)  # ended and stored
        await _settle(updater, out)

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        if context.task_id is not None:  # the run stops, and `execute` tells the task
            await self.served.cancel(context.task_id, _caller(context.call_context))


async def _settle(updater: TaskUpdater, out: RunOutput) -> None:
    """The task's last events: the whole answer (in place of its streamed pieces), then its state."""
    state, text = _STATES[out.status], _status_text(out)
    if out.status is RunStatus.COMPLETED and out.content is not None:
        content = out.to_dict().get("content")
        await updater.add_artifact([_answer_part(content)], ANSWER, ANSWER, append=False, last_chunk=True)
    message = updater.new_agent_message([new_text_part(text)]) if text is not None else None
    await updater.update_status(state, message=message)


class RunRequestHandler(DefaultRequestHandler):
    """The SDK's handler, with stratus' checks first: a message is text, starts a task of its own (a follow-up
    goes in the same context, as a new task), and its context is the caller's session of this component (or
    new); a task is cancelled as the REST route cancels its run."""

    def __init__(self, served: Served, card: AgentCard) -> None:
        self.served = served
        self.tasks = RunTaskStore(served)
        super().__init__(
            agent_executor=RunExecutor(self.tasks),
            task_store=self.tasks,
            agent_card=card,
            request_context_builder=SimpleRequestContextBuilder(task_id_generator=_RunIds()),
            interrupted_task_timeout=_PAUSED_HELD_SECONDS,
        )

    @property
    def _sdk(self) -> RequestHandler:
        """The SDK's own handling, typed as the interface it implements (its methods' decorators are untyped)."""
        return cast("RequestHandler", super())

    async def _check(self, params: SendMessageRequest, context: ServerCallContext) -> None:
        message = params.message
        if message.task_id:
            raise UnsupportedOperationError(
                message="a task takes one message: send the follow-up as a new message with the task's context_id"
            )
        if any(not part.HasField("text") for part in message.parts):
            raise ContentTypeNotSupportedError(message="only text parts are taken")
        if not get_message_text(message).strip():
            raise InvalidParamsError(message="the message has no text")
        if message.context_id:
            # Another user's session, or another component's, is absent to this caller (the REST API's rule).
            served = self.served
            session = await served.store.get_session(message.context_id)
            caller = _caller(context)
            if session is not None and (
                session.user_id != caller or not served.kind.holds(session, served.component_id)
            ):
                raise InvalidParamsError(message=f"context {message.context_id!r} not found")

    async def on_message_send(self, params: SendMessageRequest, context: ServerCallContext) -> Message | Task:
        await self._check(params, context)
        return await self._sdk.on_message_send(params, context)

    async def on_message_send_stream(
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event]:
        await self._check(params, context)
        async for event in self._sdk.on_message_send_stream(params, context):
            yield event

    async def on_cancel_task(self, params: CancelTaskRequest, context: ServerCallContext) -> Task | None:
        return await self.served.cancel(params.id, _caller(context))

    async def on_subscribe_to_task(
        self, params: SubscribeToTaskRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event]:
        if await self.tasks.get(params.id, context) is None:
            raise TaskNotFoundError
        if params.id not in self.tasks.running:  # only a task this handler is running streams; read the others
            raise UnsupportedOperationError(message=f"task {params.id!r} is not streaming here: read it instead")
        async for event in self._sdk.on_subscribe_to_task(params, context):
            yield event
