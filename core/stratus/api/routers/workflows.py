"""`/workflows`: list and describe workflows, run them (buffered, streamed or in the background), read and
cancel their runs. A streamed run carries `WorkflowStarted`, the steps' events (`StepStarted`,
`StepCompleted`, `StepError`, `ParallelExecutionStarted`, ...) with the events of the steps' agents and teams
one `nested_depth` deeper, and `WorkflowCompleted` (or `WorkflowError` / `WorkflowCancelled`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from stratus._runnable import Execution, RunOptions
from stratus.api._deps import AppDep, RegistryDep, resolve_user_id
from stratus.api._forms import ParsedRun, run_request_openapi
from stratus.api._openapi import errors
from stratus.api.routers import _components as components
from stratus.api.schemas import workflow_response, workflow_summary

__all__ = ["router"]

router = APIRouter(prefix="/workflows", tags=["Workflows"])


@router.get("", summary="List All Workflows", operation_id="get_workflows")
async def list_workflows(app: AppDep) -> list[dict[str, Any]]:
    """Every workflow this deployment serves."""
    db_id = app.store.id
    return [workflow_summary(workflow, db_id) for workflow in app.workflows.values()]


@router.get("/{workflow_id}", summary="Get Workflow Details", operation_id="get_workflow", responses=errors(404))
async def get_workflow(workflow_id: str, app: AppDep) -> dict[str, Any]:
    """One workflow and its steps (with their agents and teams)."""
    return workflow_response(app.get_workflow(workflow_id), app.store.id)


@router.post(
    "/{workflow_id}/runs",
    summary="Execute Workflow",
    operation_id="create_workflow_run",
    openapi_extra=run_request_openapi(),
    response_model=None,
    responses={
        200: {"content": {"text/event-stream": {}}},
        202: {"description": "Background run accepted"},
        **errors(404, 409, 413, 415, 422, 502, 503, 504, run=True),
    },
)
async def create_run(workflow_id: str, request: Request, app: AppDep, registry: RegistryDep) -> Any:
    """Run the workflow on a message.

    `stream=true` (the default) answers with Server-Sent Events, from `WorkflowStarted` to `WorkflowCompleted`
    (or `WorkflowError` / `WorkflowCancelled`). `stream=false` answers with the finished run as JSON: the last
    step's `content`, every step's `step_results`, the agents' and teams' runs in `step_executor_runs`.
    `background=true` answers 202 at once with the run id; poll `GET /workflows/{workflow_id}/runs/{run_id}`
    (a background run is stored after each step, so the poll shows its progress).
    """
    workflow = app.get_workflow(workflow_id)

    def make_run(parsed: ParsedRun, user_id: str | None) -> Execution:
        body = parsed.request
        options = RunOptions(session_id=body.session_id, user_id=user_id, session_state=body.session_state)
        return workflow.execution(parsed.message, options)

    return await components.create_run(request, app, registry, components.WORKFLOW, workflow, workflow_id, make_run)


@router.get(
    "/{workflow_id}/runs", summary="List Workflow Runs", operation_id="list_workflow_runs", responses=errors(404, 422)
)
async def list_runs(
    workflow_id: str,
    request: Request,
    app: AppDep,
    session_id: str = Query(description="Session ID to list runs for"),
    status: str | None = Query(default=None, description="Filter by run status (PENDING, RUNNING, COMPLETED, ERROR)"),
    user_id: str | None = Query(default=None, description="The user the session belongs to"),
) -> list[dict[str, Any]]:
    """The workflow's runs in one session, oldest first."""
    workflow = app.get_workflow(workflow_id)
    caller = resolve_user_id(request, user_id)
    return await components.list_runs(app, components.WORKFLOW, workflow, workflow_id, session_id, status, caller)


@router.get(
    "/{workflow_id}/runs/{run_id}",
    summary="Get Workflow Run",
    operation_id="get_workflow_run",
    responses=errors(404, 422),
)
async def get_run(
    workflow_id: str,
    run_id: str,
    request: Request,
    app: AppDep,
    registry: RegistryDep,
    session_id: str | None = Query(default=None, description="Session ID for the run"),
    user_id: str | None = Query(default=None, description="The user the run belongs to"),
) -> dict[str, Any]:
    """A run's status and output (in flight, its step results so far). Use it to poll background runs."""
    workflow = app.get_workflow(workflow_id)
    caller = resolve_user_id(request, user_id)
    return await components.get_run(
        app, registry, components.WORKFLOW, workflow, workflow_id, run_id, session_id, caller
    )


@router.post(
    "/{workflow_id}/runs/{run_id}/cancel",
    summary="Cancel Workflow Run",
    operation_id="cancel_workflow_run",
    responses=errors(404, 409, 422),
)
async def cancel_run(
    workflow_id: str,
    run_id: str,
    request: Request,
    app: AppDep,
    registry: RegistryDep,
    session_id: str | None = Query(default=None, description="Session ID the run belongs to"),
    user_id: str | None = Query(default=None, description="The user the run belongs to"),
) -> dict[str, Any]:
    """Stop a run in flight, and the steps in flight. The run and their agents' and teams' runs are stored
    with status CANCELLED, and the stream ends with `WorkflowCancelled`."""
    workflow = app.get_workflow(workflow_id)
    caller = resolve_user_id(request, user_id)
    return await components.cancel_run(
        app, registry, components.WORKFLOW, workflow, workflow_id, run_id, session_id, caller
    )
