"""`/agents`: list and describe agents, run them (buffered, streamed or in the background), read and cancel
their runs."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from stratus._runnable import RunOptions
from stratus.api._deps import AppDep, RegistryDep, resolve_user_id
from stratus.api._forms import parse_run_request, run_request_openapi
from stratus.api._openapi import errors
from stratus.api._runs import respond
from stratus.api.schemas import agent_response
from stratus.background import BackgroundRun, QueueError, enqueue_run
from stratus.run import RunInput, RunStatus

__all__ = ["router"]

router = APIRouter(prefix="/agents", tags=["Agents"])


@router.get("", summary="List All Agents", operation_id="get_agents")
async def list_agents(app: AppDep) -> list[dict[str, Any]]:
    """Every agent this deployment serves."""
    db_id = app.store.id
    return [agent_response(agent, db_id) for agent in app.agents.values()]


@router.get("/{agent_id}", summary="Get Agent Details", operation_id="get_agent", responses=errors(404))
async def get_agent(agent_id: str, app: AppDep) -> dict[str, Any]:
    """One agent: its model, tools and settings."""
    return agent_response(app.get_agent(agent_id), app.store.id)


@router.post(
    "/{agent_id}/runs",
    summary="Create Agent Run",
    operation_id="create_agent_run",
    openapi_extra=run_request_openapi(),
    response_model=None,
    responses={
        200: {"content": {"text/event-stream": {}}},
        202: {"description": "Background run accepted"},
        **errors(404, 409, 413, 415, 422, 502, 503, 504, run=True),
    },
)
async def create_run(agent_id: str, request: Request, app: AppDep, registry: RegistryDep) -> Any:
    """Run the agent on a message.

    `stream=true` (the default) answers with Server-Sent Events, from `RunStarted` to `RunCompleted`
    (or `RunError` / `RunCancelled`). `stream=false` answers with the finished run as JSON.
    `background=true` answers 202 at once with the run id; poll `GET /agents/{agent_id}/runs/{run_id}`.
    """
    agent = app.get_agent(agent_id)
    parsed = await parse_run_request(request)
    body = parsed.request
    user_id = resolve_user_id(request, body.user_id)
    store = agent.store or app.store
    if body.session_id is not None:
        session = await store.get_session(body.session_id)
        if session is not None and (session.user_id != user_id or (session.component_id not in (None, agent.agent_id))):
            raise HTTPException(status_code=404, detail=f"session {body.session_id!r} not found")
    options = RunOptions(
        session_id=body.session_id,
        user_id=user_id,
        session_state=body.session_state,
        knowledge_filters=body.knowledge_filters,
    )
    run = agent.execution(parsed.message, options)
    run.output.input = RunInput(input_content=body.message, files=parsed.file_names or None)

    if body.background:
        out = run.output
        if app.run_queue is not None:
            # Stored as PENDING, then a worker runs it (on AWS: the SQS run worker, up to 15 minutes).
            job = BackgroundRun(
                agent_id=agent.agent_id,
                run_id=out.run_id,
                session_id=out.session_id,
                user_id=user_id,
                message=parsed.message,
                input_content=body.message,
                files=parsed.file_names or None,
                session_state=body.session_state,
                knowledge_filters=body.knowledge_filters,
            )
            try:
                await enqueue_run(agent, job, app.run_queue)
            except QueueError as exc:
                raise HTTPException(status_code=503, detail=str(exc)) from None
            status = RunStatus.PENDING
        else:
            registry.start(run, stream=False)
            status = RunStatus.RUNNING
        return JSONResponse(
            {"run_id": out.run_id, "session_id": out.session_id, "agent_id": out.agent_id, "status": status.value},
            status_code=202,
        )
    return await respond(registry, run, stream=body.stream)


@router.get("/{agent_id}/runs", summary="List Agent Runs", operation_id="list_agent_runs", responses=errors(404, 422))
async def list_runs(
    agent_id: str,
    request: Request,
    app: AppDep,
    session_id: str = Query(description="Session ID to list runs for"),
    status: str | None = Query(default=None, description="Filter by run status (RUNNING, COMPLETED, ERROR, ...)"),
    user_id: str | None = Query(default=None, description="The user the session belongs to"),
) -> list[dict[str, Any]]:
    """The agent's runs in one session, oldest first."""
    agent = app.get_agent(agent_id)
    store = agent.store or app.store
    statuses = None
    if status is not None:
        try:
            statuses = [RunStatus(status.upper())]
        except ValueError:
            raise HTTPException(status_code=422, detail=f"unknown run status {status!r}") from None
    runs = await store.get_runs(session_id, statuses=statuses, user_id=resolve_user_id(request, user_id))
    return [r.to_dict() for r in runs if r.agent_id == agent_id]


@router.get(
    "/{agent_id}/runs/{run_id}", summary="Get Agent Run", operation_id="get_agent_run", responses=errors(404, 422)
)
async def get_run(
    agent_id: str,
    run_id: str,
    request: Request,
    app: AppDep,
    registry: RegistryDep,
    session_id: str | None = Query(default=None, description="Session ID for the run"),
    user_id: str | None = Query(default=None, description="The user the run belongs to"),
) -> dict[str, Any]:
    """A run's status and output: in flight (status RUNNING) or finished. Use it to poll background runs."""
    agent = app.get_agent(agent_id)
    caller = resolve_user_id(request, user_id)
    active = registry.get(run_id)
    if active is not None:
        out = active.output
        visible = out.agent_id == agent_id and (session_id is None or out.session_id == session_id)
        if visible and (caller is None or out.user_id == caller):
            return out.to_dict()
    store = agent.store or app.store
    run = await store.get_run(run_id, session_id=session_id, user_id=caller)
    if run is None or run.agent_id != agent_id:
        raise HTTPException(status_code=404, detail=f"run {run_id!r} not found")
    return run.to_dict()


@router.post(
    "/{agent_id}/runs/{run_id}/cancel",
    summary="Cancel Agent Run",
    operation_id="cancel_agent_run",
    responses=errors(404, 409, 422),
)
async def cancel_run(
    agent_id: str,
    run_id: str,
    request: Request,
    app: AppDep,
    registry: RegistryDep,
    session_id: str | None = Query(default=None, description="Session ID the run belongs to"),
    user_id: str | None = Query(default=None, description="The user the run belongs to"),
) -> dict[str, Any]:
    """Stop a run in flight. It is stored with status CANCELLED and its stream ends with `RunCancelled`."""
    agent = app.get_agent(agent_id)
    caller = resolve_user_id(request, user_id)
    active = registry.get(run_id)
    if active is not None:
        out = active.output
        mine = out.agent_id == agent_id and (caller is None or out.user_id == caller)
        if mine and (session_id is None or out.session_id == session_id) and registry.cancel(run_id):
            await registry.wait(active)
            return {"run_id": run_id, "session_id": out.session_id, "status": out.status.value}
    store = agent.store or app.store
    stored = await store.get_run(run_id, session_id=session_id, user_id=caller)
    if stored is None or stored.agent_id != agent_id:
        raise HTTPException(status_code=404, detail=f"run {run_id!r} not found")
    if stored.status is RunStatus.PENDING:
        # Queued and not started: mark it, and the worker that picks it up will leave it alone.
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
