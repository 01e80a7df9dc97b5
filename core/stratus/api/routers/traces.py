"""`/traces`, `/traces/{trace_id}`, `/traces/filter-schema`, `/traces/search`, `/trace_session_stats`: the runs'
own spans, in AgentOS' shapes (agno 3.1.10's `agno/os/routers/traces`).

A trace is one top-level run's (an agent's, a team's or a workflow's, with its members' and steps' spans
inside). Every call is scoped to the caller as `/sessions` is: with authentication on, to the verified user;
with it off, to the `user_id` the request names (none: every user's, the local developer's view). Another
user's trace is a 404.

Listing reads the caller's sessions and their runs (the store has no index of runs across sessions), so its
cost grows with the caller's number of runs; filtering by `session_id` or `run_id` reads one session or run.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request

from stratus.api._deps import AppDep, resolve_user_id
from stratus.api._limits import page_query
from stratus.api._openapi import Router
from stratus.api._paging import PaginatedResponse, paginate
from stratus.api.schemas.traces import (
    FILTER_SCHEMA,
    FilterSchemaResponse,
    TraceDetail,
    TraceNode,
    TraceSearchGroupBy,
    TraceSearchRequest,
    TraceSessionStats,
    TraceSummary,
)
from stratus.app import App
from stratus.run import RunOutput
from stratus.storage.records import SessionQuery, SessionType
from stratus.tracing import Span, run_id_of
from stratus.tracing._traces import (
    check_filter,
    matches,
    span_node,
    spans_of,
    trace_detail,
    trace_fields,
    trace_summary,
)

__all__ = ["router"]

router = Router(tags=["Traces"])

_SESSIONS_PER_READ = 100


# --- reading traces -----------------------------------------------------------------------------------------


def _invalid(where: str, name: str, message: str) -> HTTPException:
    """A 422 shaped as FastAPI's own validation errors (stratus answers invalid input 422, never 400)."""
    return HTTPException(status_code=422, detail=[{"type": "value_error", "loc": [where, name], "msg": message}])


def _when(value: str | None, name: str) -> datetime | None:
    """An ISO 8601 time (a naive one is UTC); 422 if it is not one."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _invalid("query", name, f"not an ISO 8601 time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


Traced = tuple[RunOutput, list[Span], dict[str, Any]]
"""A run with a trace: the run, its spans and its trace's fields."""


def _run_ids(trace_id: str) -> list[str]:
    """The run ids a trace id may name: the one `trace_id_of` packed into it, or a UUID4 run id's own bits
    (which a packed id's mark may match by chance)."""
    found = run_id_of(trace_id)
    if found is None:
        return []
    plain = str(uuid.UUID(hex=trace_id))
    return [found] if plain == found else [found, plain]


def _traced(run: RunOutput) -> Traced | None:
    if run.parent_run_id is not None:
        return None  # a member's or step's run is inside its parent's trace
    spans = spans_of(run)
    return (run, spans, trace_fields(run, spans)) if spans else None


async def _runs(
    app: App,
    caller: str | None,
    *,
    session_id: str | None,
    run_id: str | None,
    session_type: SessionType | None,
    since: datetime | None,
) -> AsyncIterator[RunOutput]:
    """The runs a listing looks at: one run, one session's, or those of every session of the caller, latest
    updated first, down to the first one not updated `since` (its runs, and older sessions', started before)."""
    store = app.store
    if run_id is not None:
        run = await store.get_run(run_id, session_id=session_id, user_id=caller)
        if run is not None:
            yield run
        return
    if session_id is not None:
        for run in await store.get_runs(session_id, user_id=caller):
            yield run
        return
    cursor: str | None = None
    while True:
        page = await store.list_sessions(
            SessionQuery(
                user_id=caller,
                session_type=session_type,
                sort_by="updated_at",
                limit=_SESSIONS_PER_READ,
                cursor=cursor,
            )
        )
        for session in page.items:
            if since is not None and session.updated_at < since.timestamp():
                return
            for run in await store.get_runs(session.session_id, user_id=caller):
                yield run
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


async def _traces(
    app: App,
    caller: str | None,
    *,
    session_id: str | None = None,
    run_id: str | None = None,
    session_type: SessionType | None = None,
    since: datetime | None = None,
    keep: Callable[[dict[str, Any]], bool] | None = None,
) -> list[Traced]:
    """The caller's traces for which `keep(fields)` holds (none started before `since`), newest first."""
    found: list[Traced] = []
    runs = _runs(app, caller, session_id=session_id, run_id=run_id, session_type=session_type, since=since)
    async for run in runs:
        traced = _traced(run)
        if traced is not None and (keep is None or keep(traced[2])):
            found.append(traced)
    found.sort(key=lambda t: t[2]["start_time"], reverse=True)
    return found


def _equal_filters(**wanted: Any) -> Callable[[dict[str, Any]], bool]:
    """`keep` for the listing's filters: each given field equal, `start_time`/`end_time` as bounds."""
    start, end = wanted.pop("start_time", None), wanted.pop("end_time", None)
    given = {k: v for k, v in wanted.items() if v is not None}

    def keep(fields: dict[str, Any]) -> bool:
        if any(fields.get(k) != v for k, v in given.items()):
            return False
        if start is not None and fields["start_time"] < start:
            return False
        return not (end is not None and fields["end_time"] > end)

    return keep


def _session_type(agent_id: str | None, team_id: str | None, workflow_id: str | None) -> SessionType | None:
    if workflow_id is not None:
        return SessionType.WORKFLOW
    if team_id is not None:
        return SessionType.TEAM
    return SessionType.AGENT if agent_id is not None else None


def _session_stats(traced: list[Traced]) -> list[TraceSessionStats]:
    """Per session, its number of traces and the first and last; sessions with the latest trace first."""
    stats: dict[str, dict[str, Any]] = {}
    for run, _, fields in traced:
        entry = stats.get(run.session_id)
        if entry is None:
            stats[run.session_id] = {
                "session_id": run.session_id,
                "user_id": run.user_id,
                "agent_id": run.agent_id,
                "team_id": run.team_id,
                "workflow_id": run.workflow_id,
                "total_traces": 1,
                "first_trace_at": fields["created_at"],
                "last_trace_at": fields["created_at"],
            }
        else:
            entry["total_traces"] += 1
            entry["first_trace_at"] = min(entry["first_trace_at"], fields["created_at"])
            entry["last_trace_at"] = max(entry["last_trace_at"], fields["created_at"])
    ordered = sorted(stats.values(), key=lambda s: s["last_trace_at"], reverse=True)
    return [TraceSessionStats.model_validate(s) for s in ordered]


def _summary(traced: Traced) -> TraceSummary:
    run, spans, _ = traced
    return TraceSummary.model_validate(trace_summary(run, spans))


def _detail(traced: Traced) -> TraceDetail:
    run, spans, _ = traced
    return TraceDetail.model_validate(trace_detail(run, spans))


# --- routes -------------------------------------------------------------------------------------------------

_DB = Query(default=None, description="Accepted for AgentOS clients; stratus serves one database")


class _Filters:
    """The filters `/traces` and `/trace_session_stats` share, and the caller they are scoped to."""

    def __init__(
        self,
        request: Request,
        user_id: str | None = Query(default=None, description="Filter by user ID"),
        agent_id: str | None = Query(default=None, description="Filter by agent ID"),
        team_id: str | None = Query(default=None, description="Filter by team ID"),
        workflow_id: str | None = Query(default=None, description="Filter by workflow ID"),
        start_time: str | None = Query(default=None, description="Traces starting at or after this ISO 8601 time"),
        end_time: str | None = Query(default=None, description="Traces ending at or before this ISO 8601 time"),
        page: int = page_query(),
        limit: int = Query(default=20, ge=1, le=100, description="Items per page"),
        db_id: str | None = _DB,
    ) -> None:
        self.caller = resolve_user_id(request, user_id)
        self.page, self.limit = page, limit
        self.session_type = _session_type(agent_id, team_id, workflow_id)
        self._equal = {"agent_id": agent_id, "team_id": team_id, "workflow_id": workflow_id}
        self.since = self._start = _when(start_time, "start_time")
        self._end = _when(end_time, "end_time")

    def keep(self, status: str | None = None) -> Callable[[dict[str, Any]], bool]:
        """Whether a trace (its fields) passes the filters (and has `status`, if given)."""
        return _equal_filters(
            **self._equal, status=status.upper() if status else None, start_time=self._start, end_time=self._end
        )


FiltersDep = Annotated[_Filters, Depends()]


@router.operation("GET", "/traces", "List Traces", "get_traces", 422)
async def list_traces(
    app: AppDep,
    filters: FiltersDep,
    run_id: str | None = Query(default=None, description="Filter by run ID"),
    session_id: str | None = Query(default=None, description="Filter by session ID"),
    status: str | None = Query(default=None, description="Filter by status (OK, ERROR)"),
) -> PaginatedResponse[TraceSummary]:
    """The caller's traces, newest first: one per top-level run, with its span count and errors."""
    started = time.perf_counter()
    found = await _traces(
        app,
        filters.caller,
        session_id=session_id,
        run_id=run_id,
        session_type=filters.session_type,
        since=filters.since,
        keep=filters.keep(status),
    )
    return paginate(found, _summary, page=filters.page, limit=filters.limit, started=started)


@router.operation("GET", "/traces/filter-schema", "Get Trace Filter Schema", "get_traces_filter_schema")
async def filter_schema() -> FilterSchemaResponse:
    """The fields `/traces/search` filters on, their types, operators and values."""
    return FILTER_SCHEMA


@router.operation(
    "GET", "/traces/{trace_id}", "Get Trace or Span Detail", "get_trace", 404, 422, response_model_exclude_none=True
)
async def get_trace(
    trace_id: str,
    request: Request,
    app: AppDep,
    span_id: str | None = Query(default=None, description="Only this span of the trace"),
    run_id: str | None = Query(default=None, description="The run whose trace it is (when its id is no UUID)"),
    user_id: str | None = Query(default=None, description="The user the trace belongs to"),
    db_id: str | None = _DB,
) -> TraceDetail | TraceNode:
    """A trace with its span tree; with `span_id`, that one span (without its children)."""
    caller = resolve_user_id(request, user_id)
    traced: Traced | None = None
    for wanted in [run_id] if run_id else _run_ids(trace_id):
        run = await app.store.get_run(wanted, user_id=caller)
        traced = _traced(run) if run is not None else None
        if traced is not None and traced[2]["trace_id"] == trace_id:
            break
    else:
        raise HTTPException(status_code=404, detail="Trace not found")
    assert traced is not None
    if span_id is None:
        return _detail(traced)
    _, spans, _ = traced
    span = next((s for s in spans if s.span_id == span_id), None)
    if span is None:
        raise HTTPException(status_code=404, detail="Span not found")
    return TraceNode.model_validate(span_node(span))


@router.operation("GET", "/trace_session_stats", "Get Trace Statistics by Session", "get_trace_stats", 422)
async def trace_session_stats(app: AppDep, filters: FiltersDep) -> PaginatedResponse[TraceSessionStats]:
    """The caller's sessions with traces, the latest first: how many, the first and the last."""
    started = time.perf_counter()
    found = await _traces(
        app, filters.caller, session_type=filters.session_type, since=filters.since, keep=filters.keep()
    )
    stats = _session_stats(found)
    return paginate(stats, TraceSessionStats.model_validate, page=filters.page, limit=filters.limit, started=started)


@router.operation(
    "POST",
    "/traces/search",
    "Search Traces with Advanced Filters",
    "search_traces",
    422,
    response_model_exclude_none=True,
)
async def search_traces(
    body: TraceSearchRequest,
    request: Request,
    app: AppDep,
    user_id: str | None = Query(default=None, description="The user whose traces to search"),
    db_id: str | None = _DB,
) -> PaginatedResponse[TraceDetail] | PaginatedResponse[TraceSessionStats]:
    """The caller's traces that match a filter expression: trace details (`group_by=run`) or session stats
    (`group_by=session`). An invalid expression is a 422 (AgentOS answers 400)."""
    started = time.perf_counter()
    caller = resolve_user_id(request, user_id)
    expr = body.filter
    if expr is not None:
        try:
            check_filter(expr)
        except ValueError as exc:
            raise _invalid("body", "filter", f"Invalid filter expression: {exc}") from None
    keep: Callable[[dict[str, Any]], bool] | None = None
    if expr is not None:
        checked = expr
        keep = lambda fields: matches(checked, fields)  # noqa: E731
    found = await _traces(app, caller, keep=keep)
    page, limit = body.page, body.limit
    if body.group_by is TraceSearchGroupBy.SESSION:
        stats = _session_stats(found)
        return paginate(stats, TraceSessionStats.model_validate, page=page, limit=limit, started=started)
    return paginate(found, _detail, page=page, limit=limit, started=started)
