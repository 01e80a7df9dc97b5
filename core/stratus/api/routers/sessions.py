"""`/sessions`: create, list, read, change and delete sessions, and read their runs.

Every call is scoped to the caller: with authentication on, to the verified user; with it off, to the
`user_id` the request names (none: every session, the local developer's view). Another user's session is a
404, never a 403 that would confirm it exists.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request, Response

from stratus._utils import new_id
from stratus.api import schemas
from stratus.api._deps import AppDep, caller_of, found, resolve_user_id
from stratus.api._openapi import Router
from stratus.api._paging import CursorPaginatedResponse, listed
from stratus.app import App
from stratus.run import RunOutput, RunStatus
from stratus.storage import UNSET, ConflictError
from stratus.storage.records import SessionQuery, SessionRecord, SessionType

__all__ = ["router", "top_level_runs"]

router = Router(prefix="/sessions", tags=["Sessions"])

_TYPE = Query(default=None, description=schemas.SESSION_TYPE)
_USER = Query(default=None, description="The user the session belongs to")
_Caller = Annotated[str | None, caller_of(_USER)]


def _not_found(session_id: str) -> str:
    return f"session {session_id!r} not found"


async def _session(app: App, session_id: str, user_id: str | None, session_type: SessionType | None) -> SessionRecord:
    session = await app.store.get_session(session_id, user_id=user_id)
    if session is not None and session_type is not None and session.session_type is not session_type:
        session = None  # a session of another type is not the one the route names
    return found(session, _not_found(session_id))


async def _caller_session(
    session_id: str, app: AppDep, caller: _Caller, type: SessionType | None = _TYPE
) -> tuple[str | None, SessionRecord]:
    """The caller, and the session a route names if it is theirs (of `type`, if given); 404 otherwise."""
    return caller, await _session(app, session_id, caller, type)


_CallerSession = Annotated[tuple[str | None, SessionRecord], Depends(_caller_session)]


def _listing(request: Request, params: Annotated[schemas.SessionParams, Query()]) -> SessionQuery:
    return params.query(SessionQuery, user_id=resolve_user_id(request, params.user_id))


_Listing = Annotated[SessionQuery, Depends(_listing)]


async def _detail(app: App, session: SessionRecord) -> schemas.SessionDetail:
    runs = await app.store.get_runs(session.session_id, statuses=(RunStatus.COMPLETED,))
    return schemas.session_detail(session, runs)


@router.operation("GET", "", "List Sessions", "get_sessions", 422, response_model_exclude_none=True)
async def list_sessions(app: AppDep, query: _Listing) -> CursorPaginatedResponse[schemas.SessionSchema]:
    """One page of sessions, newest first by default, with paging metadata (`meta.next_cursor` continues it)."""
    return await listed(app.store.list_sessions, query, schemas.SessionSchema.from_session)


@router.operation(
    "POST", "", "Create New Session", "create_session", 404, 409, 422, status_code=201, response_model_exclude_none=True
)
async def create_session(
    body: schemas.CreateSessionRequest,
    request: Request,
    app: AppDep,
    type: SessionType = Query(default=SessionType.AGENT, description="agent, team or workflow"),
) -> schemas.SessionDetail:
    """Create an empty session, to be continued by runs that name its id. 409 if the caller already has a
    session with that id; 404 if another user does (their sessions read as absent, as on every route)."""
    component_id = {
        SessionType.AGENT: body.agent_id,
        SessionType.TEAM: body.team_id,
        SessionType.WORKFLOW: body.workflow_id,
    }[type]
    if component_id is not None:  # 404 for an agent, team or workflow this deployment does not serve
        {SessionType.AGENT: app.get_agent, SessionType.TEAM: app.get_team, SessionType.WORKFLOW: app.get_workflow}[
            type
        ](component_id)
    session = SessionRecord(
        session_id=body.session_id or new_id(),
        session_type=type,
        component_id=component_id,
        user_id=resolve_user_id(request, body.user_id),
        session_name=body.session_name,
        session_state=body.session_state or {},
        metadata=body.metadata,
    )
    try:
        created = await app.store.create_session(session)
    except ConflictError:
        if await app.store.get_session(session.session_id, user_id=session.user_id) is None:
            # Another user's id answers as their sessions do everywhere else: absent, never "taken".
            raise HTTPException(status_code=404, detail=_not_found(session.session_id)) from None
        raise HTTPException(status_code=409, detail=f"session {session.session_id!r} already exists") from None
    return schemas.session_detail(created, [])


@router.operation("DELETE", "", "Delete Multiple Sessions", "delete_sessions", 422, status_code=204)
async def delete_sessions(body: schemas.DeleteSessionsRequest, app: AppDep, caller: _Caller) -> Response:
    """Delete the listed sessions (of the listed types, if given) and their runs. Ids that do not exist or
    belong to someone else are skipped."""
    await app.store.delete_sessions(body.session_ids, user_id=caller, session_types=body.session_types or None)
    return Response(status_code=204)


@router.operation(
    "GET", "/{session_id}", "Get Session by ID", "get_session_by_id", 404, 422, response_model_exclude_none=True
)
async def get_session(owned: _CallerSession, app: AppDep) -> schemas.SessionDetail:
    """The session with its state, totals and chat history."""
    _, session = owned
    return await _detail(app, session)


@router.operation("PATCH", "/{session_id}", "Update Session", "update_session", 404, 422)
async def update_session(
    session_id: str, body: schemas.UpdateSessionRequest, app: AppDep, caller: _Caller, type: SessionType | None = _TYPE
) -> schemas.SessionDetail:
    """Replace the session's name, state, metadata or summary (the fields given). Concurrent changes are
    not lost: a write that raced another is re-applied to the fresh session."""
    given = body.model_fields_set
    return await _updated(
        app,
        session_id,
        caller,
        type,
        session_name=body.session_name if "session_name" in given and body.session_name is not None else UNSET,
        session_state=body.session_state if "session_state" in given and body.session_state is not None else UNSET,
        metadata=body.metadata if "metadata" in given else UNSET,
        summary=body.summary if "summary" in given else UNSET,
    )


@router.operation("POST", "/{session_id}/rename", "Rename Session", "rename_session", 404, 422)
async def rename_session(
    session_id: str, body: schemas.RenameSessionRequest, app: AppDep, caller: _Caller, type: SessionType | None = _TYPE
) -> schemas.SessionDetail:
    """Give the session a new name."""
    return await _updated(app, session_id, caller, type, session_name=body.session_name)


async def _updated(
    app: App, session_id: str, caller: str | None, session_type: SessionType | None, **changes: Any
) -> schemas.SessionDetail:
    """The caller's session changed as `changes` say (see `Store.update_session`), in detail; 404 if it is
    not theirs. (Not a dependency: a request with a bad body is a 422 before the session is looked up.)"""
    await _session(app, session_id, caller, session_type)
    updated = await app.store.update_session(session_id, user_id=caller, **changes)
    return await _detail(app, found(updated, _not_found(session_id)))


@router.operation("DELETE", "/{session_id}", "Delete Session", "delete_session", 404, 422, status_code=204)
async def delete_session(session_id: str, app: AppDep, caller: _Caller) -> Response:
    """Delete the session and all its runs."""
    found(await app.store.delete_session(session_id, user_id=caller) or None, _not_found(session_id))
    return Response(status_code=204)


async def _session_runs(
    session_id: str,
    request: Request,
    app: AppDep,
    type: SessionType | None = _TYPE,
    user_id: str | None = _USER,
    created_after: int | None = Query(default=None, description="Only runs created at or after (epoch seconds)"),
    created_before: int | None = Query(default=None, description="Only runs created at or before (epoch seconds)"),
    status: list[str] | None = Query(default=None, description="Only runs with these statuses (repeatable)"),
) -> list[RunOutput]:
    """The session's runs that the request's filters keep, oldest first (the session must be the caller's)."""
    caller = resolve_user_id(request, user_id)
    session = await _session(app, session_id, caller, type)
    wanted: list[RunStatus] | None = None
    if status:
        try:
            wanted = [RunStatus(s.upper()) for s in status]
        except ValueError:
            raise HTTPException(
                status_code=422, detail=f"unknown run status in {status}; use {', '.join(RunStatus)}"
            ) from None
    runs = await app.store.get_runs(session_id, statuses=wanted, user_id=caller)
    if session.session_type is SessionType.WORKFLOW:
        runs = top_level_runs(runs)
    return [
        r
        for r in runs
        if (created_after is None or r.created_at >= created_after)
        and (created_before is None or r.created_at <= created_before)
    ]


def top_level_runs(runs: list[RunOutput]) -> list[RunOutput]:
    """A workflow session's runs as AgentOS lists them: the workflow's own, each with its steps' runs (in
    `step_executor_runs`) rather than beside it."""
    children: dict[str, list[RunOutput]] = {}
    for run in runs:
        if run.parent_run_id is not None:
            children.setdefault(run.parent_run_id, []).append(run)
    for run in runs:
        run.children = children.get(run.run_id, run.children)
    return [run for run in runs if run.parent_run_id is None]


_SessionRuns = Annotated[list[RunOutput], Depends(_session_runs)]


@router.operation(
    "GET", "/{session_id}/runs", "Get Session Runs", "get_session_runs", 404, 422, response_model_exclude_none=True
)
async def get_session_runs(runs: _SessionRuns) -> list[schemas.AnyRunSchema]:
    """Every run of the session, oldest first."""
    return [schemas.run_schema(r) for r in runs]


@router.operation(
    "GET",
    "/{session_id}/run-previews",
    "Get Session Run Previews",
    "get_session_run_previews",
    404,
    422,
    response_model_exclude_none=True,
)
async def get_session_run_previews(runs: _SessionRuns) -> list[schemas.SessionRunPreviewSchema]:
    """The session's runs without their messages: input, status and the start of the answer."""
    return [schemas.SessionRunPreviewSchema.from_run(r) for r in runs]


@router.operation("GET", "/{session_id}/runs/{run_id}", "Get Run from Session", "get_session_run", 404, 422)
async def get_session_run(session_id: str, run_id: str, owned: _CallerSession, app: AppDep) -> schemas.AnyRunSchema:
    """One run of the session (a workflow's with its steps' runs)."""
    caller, _ = owned
    run = await app.store.get_run(run_id, session_id=session_id, user_id=caller)
    run = found(run, f"run {run_id!r} not found in session {session_id!r}")
    if run.workflow_id is not None and not run.children:
        runs = top_level_runs(await app.store.get_runs(session_id, user_id=caller))
        run = next((r for r in runs if r.run_id == run_id), run)
    return schemas.run_schema(run)
