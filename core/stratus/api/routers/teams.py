"""`/teams`: list and describe teams, run them (buffered, streamed or in the background), read and cancel
their runs. A streamed run carries the team's events (`TeamRunStarted` ... `TeamRunCompleted`) and, in
between, its members' events one `nested_depth` deeper, `parent_run_id` naming the team's run."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from stratus._runnable import Execution, RunOptions
from stratus.api._deps import AppDep, RegistryDep, resolve_user_id
from stratus.api._forms import ParsedRun, run_request_openapi
from stratus.api._openapi import errors
from stratus.api.routers import _components as components
from stratus.api.schemas import team_response

__all__ = ["router"]

router = APIRouter(prefix="/teams", tags=["Teams"])


@router.get("", summary="List All Teams", operation_id="get_teams")
async def list_teams(app: AppDep) -> list[dict[str, Any]]:
    """Every team this deployment serves, with its members."""
    db_id = app.store.id
    return [team_response(team, db_id) for team in app.teams.values()]


@router.get("/{team_id}", summary="Get Team Details", operation_id="get_team", responses=errors(404))
async def get_team(team_id: str, app: AppDep) -> dict[str, Any]:
    """One team: its mode, leader model and tools, and its members."""
    return team_response(app.get_team(team_id), app.store.id)


@router.post(
    "/{team_id}/runs",
    summary="Create Team Run",
    operation_id="create_team_run",
    openapi_extra=run_request_openapi(),
    response_model=None,
    responses={
        200: {"content": {"text/event-stream": {}}},
        202: {"description": "Background run accepted"},
        **errors(404, 409, 413, 415, 422, 502, 503, 504, run=True),
    },
)
async def create_run(team_id: str, request: Request, app: AppDep, registry: RegistryDep) -> Any:
    """Run the team on a message.

    `stream=true` (the default) answers with Server-Sent Events, from `TeamRunStarted` to `TeamRunCompleted`
    (or `TeamRunError` / `TeamRunCancelled`), the members' events in between. `stream=false` answers with the
    finished run as JSON, its members' runs in `member_responses`. `background=true` answers 202 at once
    with the run id; poll `GET /teams/{team_id}/runs/{run_id}`.
    """
    team = app.get_team(team_id)

    def make_run(parsed: ParsedRun, user_id: str | None) -> Execution:
        body = parsed.request
        options = RunOptions(session_id=body.session_id, user_id=user_id, session_state=body.session_state)
        return team.execution(parsed.message, options)

    return await components.create_run(request, app, registry, components.TEAM, team, team_id, make_run)


@router.get("/{team_id}/runs", summary="List Team Runs", operation_id="list_team_runs", responses=errors(404, 422))
async def list_runs(
    team_id: str,
    request: Request,
    app: AppDep,
    session_id: str = Query(description="Session ID to list runs for"),
    status: str | None = Query(default=None, description="Filter by run status (PENDING, RUNNING, COMPLETED, ERROR)"),
    user_id: str | None = Query(default=None, description="The user the session belongs to"),
) -> list[dict[str, Any]]:
    """The team's runs in one session, oldest first."""
    team = app.get_team(team_id)
    caller = resolve_user_id(request, user_id)
    return await components.list_runs(app, components.TEAM, team, team_id, session_id, status, caller)


@router.get("/{team_id}/runs/{run_id}", summary="Get Team Run", operation_id="get_team_run", responses=errors(404, 422))
async def get_run(
    team_id: str,
    run_id: str,
    request: Request,
    app: AppDep,
    registry: RegistryDep,
    session_id: str | None = Query(default=None, description="Session ID for the run"),
    user_id: str | None = Query(default=None, description="The user the run belongs to"),
) -> dict[str, Any]:
    """A run's status and output, its members' runs in `member_responses`. Use it to poll background runs."""
    team = app.get_team(team_id)
    caller = resolve_user_id(request, user_id)
    return await components.get_run(app, registry, components.TEAM, team, team_id, run_id, session_id, caller)


@router.post(
    "/{team_id}/runs/{run_id}/cancel",
    summary="Cancel Team Run",
    operation_id="cancel_team_run",
    responses=errors(404, 409, 422),
)
async def cancel_run(
    team_id: str,
    run_id: str,
    request: Request,
    app: AppDep,
    registry: RegistryDep,
    session_id: str | None = Query(default=None, description="Session ID the run belongs to"),
    user_id: str | None = Query(default=None, description="The user the run belongs to"),
) -> dict[str, Any]:
    """Stop a run in flight, and its members' runs in flight. Each is stored with status CANCELLED and the
    stream ends with `TeamRunCancelled`."""
    team = app.get_team(team_id)
    caller = resolve_user_id(request, user_id)
    return await components.cancel_run(app, registry, components.TEAM, team, team_id, run_id, session_id, caller)
