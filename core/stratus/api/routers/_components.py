"""What `/teams` and `/workflows` share: running one (buffered, streamed or in the background), listing,
reading and cancelling its runs. Their routers only say which component and how to build its run; the
behaviour is the agents' (`routers/agents.py`): the same statuses, errors and run registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse

from stratus.api._deps import resolve_user_id
from stratus.api._forms import ParsedRun, parse_run_request
from stratus.api._runs import Execution, RunRegistry, respond
from stratus.app import App
from stratus.background import BackgroundRun, QueueError, enqueue_run
from stratus.run import RunInput, RunOutput, RunStatus
from stratus.storage.base import Store
from stratus.storage.records import SessionType
from stratus.team import Team
from stratus.workflow import Workflow

__all__ = ["TEAM", "WORKFLOW", "Kind", "cancel_run", "create_run", "get_run", "list_runs"]


@dataclass(frozen=True, slots=True)
class Kind:
    """Teams or workflows: how their runs and sessions are told apart."""

    name: str
    """`team` or `workflow`."""
    session_type: SessionType

    @property
    def key(self) -> str:
        return f"{self.name}_id"

    def owns(self, run: RunOutput, component_id: str) -> bool:
        """Whether `run` is a run of that team or workflow (not a member's or a step's run)."""
        return getattr(run, self.key) == component_id


TEAM = Kind("team", SessionType.TEAM)
WORKFLOW = Kind("workflow", SessionType.WORKFLOW)

MakeRun = Callable[[ParsedRun, str | None], Execution]
"""Builds the run of a request (the parsed request, the caller's user id)."""


def _store(app: App, component: Team | Workflow) -> Store:
    return component.store or app.store


def _not_found_session(session_id: str) -> HTTPException:
    return HTTPException(status_code=404, detail=f"session {session_id!r} not found")


async def _check_session(store: Store, kind: Kind, component_id: str, session_id: str, user_id: str | None) -> None:
    """A session named by a request must be the caller's, and this team's (or workflow's); else it is absent."""
    session = await store.get_session(session_id)
    if session is not None and (
        session.user_id != user_id
        or session.session_type is not kind.session_type
        or session.component_id not in (None, component_id)
    ):
        raise _not_found_session(session_id)


async def create_run(
    request: Request,
    app: App,
    registry: RunRegistry,
    kind: Kind,
    component: Team | Workflow,
    component_id: str,
    make_run: MakeRun,
) -> Any:
    """Run the component on the request's message: streamed (SSE), buffered (JSON) or in the background
    (202 with the run id; on AWS through the run queue to the worker)."""
    parsed = await parse_run_request(request)
    body = parsed.request
    user_id = resolve_user_id(request, body.user_id)
    if body.session_id is not None:
        await _check_session(_store(app, component), kind, component_id, body.session_id, user_id)
    run = make_run(parsed, user_id)
    out = run.output
    out.input = RunInput(input_content=body.message, files=parsed.file_names or None)

    if body.background:
        if app.run_queue is not None:
            job = BackgroundRun(
                run_id=out.run_id,
                session_id=out.session_id,
                user_id=user_id,
                message=parsed.message,
                input_content=body.message,
                files=parsed.file_names or None,
                session_state=body.session_state,
                team_id=component_id if kind is TEAM else None,
                workflow_id=component_id if kind is WORKFLOW else None,
            )
            try:
                await enqueue_run(component, job, app.run_queue)
            except QueueError as exc:
                raise HTTPException(status_code=503, detail=str(exc)) from None
            status = RunStatus.PENDING
        else:
            registry.start(run, stream=False)
            status = RunStatus.RUNNING
        return JSONResponse(
            {"run_id": out.run_id, "session_id": out.session_id, kind.key: component_id, "status": status.value},
            status_code=202,
        )
    return await respond(registry, run, stream=body.stream)


def _statuses(status: str | None) -> list[RunStatus] | None:
    if status is None:
        return None
    try:
        return [RunStatus(status.upper())]
    except ValueError:
        raise HTTPException(status_code=422, detail=f"unknown run status {status!r}") from None


async def list_runs(
    app: App,
    kind: Kind,
    component: Team | Workflow,
    component_id: str,
    session_id: str,
    status: str | None,
    caller: str | None,
) -> list[dict[str, Any]]:
    """The component's own runs in one of its sessions, oldest first (its members' or steps' runs are in
    each run's `member_responses` / `step_executor_runs` when read one by one)."""
    store = _store(app, component)
    statuses = _statuses(status)
    session = await store.get_session(session_id, user_id=caller)
    if session is not None and (
        session.session_type is not kind.session_type or session.component_id not in (None, component_id)
    ):
        raise _not_found_session(session_id)
    runs = await store.get_runs(session_id, statuses=statuses, user_id=caller)
    return [r.to_dict() for r in runs if kind.owns(r, component_id) and r.parent_run_id is None]


async def get_run(
    app: App,
    registry: RunRegistry,
    kind: Kind,
    component: Team | Workflow,
    component_id: str,
    run_id: str,
    session_id: str | None,
    caller: str | None,
) -> dict[str, Any]:
    """A run in flight (status RUNNING) or stored, with its child runs."""
    active = registry.get(run_id)
    if active is not None:
        out = active.output
        visible = kind.owns(out, component_id) and (session_id is None or out.session_id == session_id)
        if visible and (caller is None or out.user_id == caller):
            return out.to_dict()
    store = _store(app, component)
    run = await store.get_run(run_id, session_id=session_id, user_id=caller)
    if run is None or not kind.owns(run, component_id):
        raise HTTPException(status_code=404, detail=f"run {run_id!r} not found")
    runs = await store.get_runs(run.session_id, user_id=caller)
    run.children = [r for r in runs if r.parent_run_id == run.run_id]
    return run.to_dict()


async def cancel_run(
    app: App,
    registry: RunRegistry,
    kind: Kind,
    component: Team | Workflow,
    component_id: str,
    run_id: str,
    session_id: str | None,
    caller: str | None,
) -> dict[str, Any]:
    """Stop a run in flight: its members' or steps' runs in flight stop too, and every one of them is stored
    as CANCELLED (what finished before stays as it ended). A queued run not yet started is marked CANCELLED
    and never runs."""
    active = registry.get(run_id)
    if active is not None:
        out = active.output
        mine = kind.owns(out, component_id) and (caller is None or out.user_id == caller)
        if mine and (session_id is None or out.session_id == session_id) and registry.cancel(run_id):
            await registry.wait(active)
            return {"run_id": run_id, "session_id": out.session_id, "status": out.status.value}
    store = _store(app, component)
    stored = await store.get_run(run_id, session_id=session_id, user_id=caller)
    if stored is None or not kind.owns(stored, component_id):
        raise HTTPException(status_code=404, detail=f"run {run_id!r} not found")
    if stored.status is RunStatus.PENDING:
        session = await store.get_session(stored.session_id)
        if session is not None:
            cancelled = replace(
                stored, status=RunStatus.CANCELLED, error="cancelled by request", error_type="RunCancelledError"
            )
            await store.save_run(session, cancelled, state_base=session.session_state)
            return {"run_id": run_id, "session_id": stored.session_id, "status": RunStatus.CANCELLED.value}
    if stored.status is RunStatus.RUNNING:
        raise HTTPException(
            status_code=409, detail=f"run {run_id!r} is running in another process; it cannot be stopped"
        )
    raise HTTPException(status_code=409, detail=f"run {run_id!r} already ended with status {stored.status.value}")
