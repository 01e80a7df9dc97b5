"""`/sessions`: list a user's sessions, read one with its runs, delete one."""

from __future__ import annotations

import math
import time
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response

from stratus.api._deps import AppDep, resolve_user_id
from stratus.api.schemas import run_schema, session_detail, session_schema
from stratus.run import RunStatus
from stratus.storage.records import SessionQuery, SessionType

__all__ = ["router"]

router = APIRouter(prefix="/sessions", tags=["Sessions"])


@router.get("", summary="List Sessions", operation_id="get_sessions")
async def list_sessions(
    request: Request,
    app: AppDep,
    type: SessionType | None = Query(default=None, description="agent, team or workflow; all if absent"),
    component_id: str | None = Query(default=None, description="Only sessions of this agent, team or workflow"),
    user_id: str | None = Query(default=None, description="Only sessions of this user"),
    session_name: str | None = Query(default=None, description="Only sessions whose name contains this"),
    limit: int = Query(default=20, ge=1, le=1000, description="Sessions per page"),
    page: int = Query(default=1, ge=1, description="Page number, from 1"),
    sort_by: Literal["created_at", "updated_at", "session_name"] = Query(default="created_at"),
    sort_order: Literal["asc", "desc"] = Query(default="desc"),
) -> dict[str, Any]:
    """One page of sessions, newest first by default, with paging metadata."""
    started = time.perf_counter()
    query = SessionQuery(
        session_type=type,
        component_id=component_id,
        user_id=resolve_user_id(request, user_id),
        session_name=session_name,
        sort_by=sort_by,
        sort_order=sort_order,
        page=page,
        limit=limit,
    )
    sessions, total = await app.store.list_sessions(query)
    return {
        "data": [session_schema(s) for s in sessions],
        "meta": {
            "page": page,
            "limit": limit,
            "total_pages": math.ceil(total / limit) if total else 0,
            "total_count": total,
            "search_time_ms": round((time.perf_counter() - started) * 1000, 3),
        },
    }


@router.get("/{session_id}", summary="Get Session by ID", operation_id="get_session_by_id")
async def get_session(
    session_id: str,
    request: Request,
    app: AppDep,
    type: SessionType | None = Query(default=None, description="Expected session type"),
    user_id: str | None = Query(default=None, description="The user the session belongs to"),
) -> dict[str, Any]:
    """The session with its state, totals and chat history."""
    store = app.store
    session = await store.get_session(session_id, user_id=resolve_user_id(request, user_id))
    if session is None or (type is not None and session.session_type is not type):
        raise HTTPException(status_code=404, detail=f"session {session_id!r} not found")
    runs = await store.get_runs(session_id, statuses=(RunStatus.COMPLETED,))
    return session_detail(session, runs)


@router.get("/{session_id}/runs", summary="Get Session Runs", operation_id="get_session_runs")
async def get_session_runs(
    session_id: str,
    request: Request,
    app: AppDep,
    type: SessionType | None = Query(default=None, description="Expected session type"),
    user_id: str | None = Query(default=None, description="The user the session belongs to"),
) -> list[dict[str, Any]]:
    """Every run of the session, oldest first."""
    store = app.store
    session = await store.get_session(session_id, user_id=resolve_user_id(request, user_id))
    if session is None or (type is not None and session.session_type is not type):
        raise HTTPException(status_code=404, detail=f"session {session_id!r} not found")
    return [run_schema(r) for r in await store.get_runs(session_id)]


@router.delete("/{session_id}", status_code=204, summary="Delete Session", operation_id="delete_session")
async def delete_session(
    session_id: str,
    request: Request,
    app: AppDep,
    user_id: str | None = Query(default=None, description="The user the session belongs to"),
) -> Response:
    """Delete the session and all its runs."""
    if not await app.store.delete_session(session_id, user_id=resolve_user_id(request, user_id)):
        raise HTTPException(status_code=404, detail=f"session {session_id!r} not found")
    return Response(status_code=204)
