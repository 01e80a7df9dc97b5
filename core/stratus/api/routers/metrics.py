"""`/metrics`: the stored runs aggregated per UTC day (runs, sessions, users, tokens, models), as AgentOS
serves them, and their refresh.

The aggregates are records in the store, computed by a refresh for the days not yet complete (a read
refreshes them first when the last refresh is over a minute old). Scoped like memories: to the verified
user with authentication on, to the `user_id` the request names with it off; without either, everyone's.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Any, Literal

from fastapi import APIRouter, BackgroundTasks, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from stratus.api._deps import AppDep, resolve_user_id
from stratus.api._openapi import errors
from stratus.storage import DailyMetrics, MetricsRefresh, Store
from stratus.storage._metrics import day_start
from stratus.storage.base import MetricsRefreshRunning

__all__ = [
    "DayAggregatedMetrics",
    "MetricsRefreshResponse",
    "MetricsRefreshStatusResponse",
    "MetricsResponse",
    "router",
]

logger = logging.getLogger("stratus.api")

router = APIRouter(tags=["Metrics"])

_USER = Query(default=None, description="Only this user's metrics (with authentication on: always the caller's)")
_DB = Query(default=None, description="AgentOS' database id; stratus serves its one store")
_TABLE = Query(default=None, description="AgentOS' table name; not used by stratus")


def _utc(stamp: float) -> datetime:
    return datetime.fromtimestamp(stamp, UTC)


class DayAggregatedMetrics(BaseModel):
    """Aggregated metrics for a given day (AgentOS' `DayAggregatedMetrics`)."""

    id: str = Field(description="`<day>_daily`, or `<day>_<user>_daily` for one user's")
    agent_runs_count: int = Field(ge=0)
    agent_sessions_count: int = Field(ge=0)
    team_runs_count: int = Field(ge=0)
    team_sessions_count: int = Field(ge=0)
    workflow_runs_count: int = Field(ge=0)
    workflow_sessions_count: int = Field(ge=0)
    users_count: int = Field(ge=0)
    token_metrics: dict[str, Any] = Field(description="Token usage (input, output, total, cache, reasoning, ...)")
    model_metrics: list[dict[str, Any]] = Field(description="Runs per model: `model_id`, `model_provider`, `count`")
    date: datetime = Field(description="The day, as its start (UTC)")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, record: DailyMetrics) -> DayAggregatedMetrics:
        owner = "" if record.user_id is None else f"{record.user_id}_"
        return cls(
            id=f"{record.day}_{owner}daily",
            agent_runs_count=record.agent_runs_count,
            agent_sessions_count=record.agent_sessions_count,
            team_runs_count=record.team_runs_count,
            team_sessions_count=record.team_sessions_count,
            workflow_runs_count=record.workflow_runs_count,
            workflow_sessions_count=record.workflow_sessions_count,
            users_count=record.users_count,
            token_metrics=dict(record.token_metrics),
            model_metrics=[dict(m) for m in record.model_metrics],
            date=_utc(day_start(record.day)),
            created_at=_utc(record.created_at),
            updated_at=_utc(record.updated_at),
        )


class MetricsResponse(BaseModel):
    metrics: list[DayAggregatedMetrics] = Field(description="The daily aggregated metrics, oldest first")
    updated_at: datetime | None = Field(default=None, description="When the newest of them was computed")


class MetricsRefreshResponse(BaseModel):
    status: str = Field(description="`started` or `already_running`")
    message: str | None = None


class MetricsRefreshStatusResponse(BaseModel):
    status: Literal["idle", "running", "completed", "failed"]
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None

    @classmethod
    def of(cls, state: MetricsRefresh) -> MetricsRefreshStatusResponse:
        return cls(
            status=state.status,
            started_at=None if state.started_at is None else _utc(state.started_at),
            finished_at=None if state.finished_at is None else _utc(state.finished_at),
            error=state.error,
        )


_ALREADY_RUNNING = MetricsRefreshResponse(
    status="already_running", message="A metrics refresh is already in progress for this database"
)


@router.get(
    "/metrics",
    summary="Get AgentOS Metrics",
    operation_id="get_metrics",
    response_model=MetricsResponse,
    responses=errors(422),
)
async def get_metrics(
    request: Request,
    app: AppDep,
    starting_date: date | None = Query(default=None, description="First day (YYYY-MM-DD, UTC)"),
    ending_date: date | None = Query(default=None, description="Last day (YYYY-MM-DD, UTC)"),
    user_id: str | None = _USER,
    db_id: str | None = _DB,
    table: str | None = _TABLE,
) -> MetricsResponse:
    """The daily metrics of the date range (every day with runs, when no range is given)."""
    if starting_date is not None and ending_date is not None and starting_date > ending_date:
        raise HTTPException(status_code=422, detail="starting_date is after ending_date")
    records = await app.store.get_metrics(
        starting_date=None if starting_date is None else starting_date.isoformat(),
        ending_date=None if ending_date is None else ending_date.isoformat(),
        user_id=resolve_user_id(request, user_id),
    )
    latest = max((r.updated_at for r in records), default=None)
    return MetricsResponse(
        metrics=[DayAggregatedMetrics.of(r) for r in records], updated_at=None if latest is None else _utc(latest)
    )


async def _refresh_in_background(store: Store) -> None:
    try:
        await store.refresh_metrics()
    except MetricsRefreshRunning:
        return  # a concurrent refresh does the work
    except Exception:  # the refresh status keeps the error; a background task has no caller to tell
        logger.exception("background metrics refresh failed")


@router.post(
    "/metrics/refresh",
    summary="Refresh Metrics",
    operation_id="refresh_metrics",
    response_model=list[DayAggregatedMetrics] | MetricsRefreshResponse,
    responses={
        202: {"description": "Background refresh started", "model": MetricsRefreshResponse},
        **errors(422),
    },
)
async def refresh_metrics(
    request: Request,
    response: Response,
    app: AppDep,
    background_tasks: BackgroundTasks,
    user_id: str | None = _USER,
    background: bool = Query(default=False, description="Refresh in the background and answer 202 at once"),
    db_id: str | None = _DB,
    table: str | None = _TABLE,
) -> list[DayAggregatedMetrics] | MetricsRefreshResponse:
    """Compute the daily metrics of the days not yet complete now; answers what was computed (the caller's
    own, with a user), or with `background=true` answers 202 and computes them after."""
    caller = resolve_user_id(request, user_id)
    store = app.store
    if background:
        response.status_code = 202
        if (await store.metrics_refresh_status()).status == "running":
            return _ALREADY_RUNNING
        background_tasks.add_task(_refresh_in_background, store)
        return MetricsRefreshResponse(status="started", message="Metrics refresh started in background")
    try:
        computed = await store.refresh_metrics()
    except MetricsRefreshRunning:
        return _ALREADY_RUNNING
    return [DayAggregatedMetrics.of(r) for r in computed if r.user_id == caller]


@router.get(
    "/metrics/refresh/status",
    summary="Get Metrics Refresh Status",
    operation_id="get_metrics_refresh_status",
    response_model=MetricsRefreshStatusResponse,
    responses=errors(422),
)
async def get_metrics_refresh_status(
    app: AppDep, db_id: str | None = _DB, table: str | None = _TABLE
) -> MetricsRefreshStatusResponse:
    """How the most recent refresh went: `idle` before the first, `running`, then `completed` or `failed`."""
    return MetricsRefreshStatusResponse.of(await app.store.metrics_refresh_status())
