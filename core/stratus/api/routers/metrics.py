"""`/metrics`: the stored runs aggregated per UTC day (runs, sessions, users, tokens, models), as AgentOS
serves them, and their refresh.

The aggregates are records in the store, computed by a refresh for the days not yet complete (a read
refreshes them first when the last refresh is over a minute old). Scoped like memories: to the verified
user with authentication on, to the `user_id` the request names with it off; without either, everyone's.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Annotated

from fastapi import BackgroundTasks, HTTPException, Query, Request, Response

from stratus.api._deps import DB_ID, TABLE, AppDep, caller_of, resolve_user_id
from stratus.api._openapi import Router
from stratus.api.schemas import utc
from stratus.api.schemas.metrics import (
    ALREADY_RUNNING,
    DayAggregatedMetrics,
    MetricsRefreshResponse,
    MetricsRefreshStatusResponse,
    MetricsResponse,
)
from stratus.storage import Store
from stratus.storage.base import MetricsRefreshRunning

__all__ = ["router"]

logger = logging.getLogger("stratus.api")

router = Router(tags=["Metrics"])

_USER = Query(default=None, description="Only this user's metrics (with authentication on: always the caller's)")


@router.operation("GET", "/metrics", "Get AgentOS Metrics", "get_metrics", 422)
async def get_metrics(
    app: AppDep,
    caller: Annotated[str | None, caller_of(_USER, agentos_db=True)],
    starting_date: date | None = Query(default=None, description="First day (YYYY-MM-DD, UTC)"),
    ending_date: date | None = Query(default=None, description="Last day (YYYY-MM-DD, UTC)"),
) -> MetricsResponse:
    """The daily metrics of the date range (every day with runs, when no range is given)."""
    if starting_date is not None and ending_date is not None and starting_date > ending_date:
        raise HTTPException(status_code=422, detail="starting_date is after ending_date")
    records = await app.store.get_metrics(
        starting_date=None if starting_date is None else starting_date.isoformat(),
        ending_date=None if ending_date is None else ending_date.isoformat(),
        user_id=caller,
    )
    latest = max((r.updated_at for r in records), default=None)
    return MetricsResponse(metrics=[DayAggregatedMetrics.of(r) for r in records], updated_at=utc(latest))


async def _refresh_in_background(store: Store) -> None:
    try:
        await store.refresh_metrics()
    except MetricsRefreshRunning:
        return  # a concurrent refresh does the work
    except Exception:  # the refresh status keeps the error; a background task has no caller to tell
        logger.exception("background metrics refresh failed")


@router.operation(
    "POST",
    "/metrics/refresh",
    "Refresh Metrics",
    "refresh_metrics",
    422,
    responses={202: {"description": "Background refresh started", "model": MetricsRefreshResponse}},
)
async def refresh_metrics(
    request: Request,
    response: Response,
    app: AppDep,
    background_tasks: BackgroundTasks,
    user_id: str | None = _USER,
    background: bool = Query(default=False, description="Refresh in the background and answer 202 at once"),
    db_id: str | None = DB_ID,
    table: str | None = TABLE,
) -> list[DayAggregatedMetrics] | MetricsRefreshResponse:
    """Compute the daily metrics of the days not yet complete now; answers what was computed (the caller's
    own, with a user), or with `background=true` answers 202 and computes them after."""
    caller = resolve_user_id(request, user_id)
    store = app.store
    if background:
        response.status_code = 202
        if (await store.metrics_refresh_status()).status == "running":
            return ALREADY_RUNNING
        background_tasks.add_task(_refresh_in_background, store)
        return MetricsRefreshResponse(status="started", message="Metrics refresh started in background")
    try:
        computed = await store.refresh_metrics()
    except MetricsRefreshRunning:
        return ALREADY_RUNNING
    return [DayAggregatedMetrics.of(r) for r in computed if r.user_id == caller]


@router.operation("GET", "/metrics/refresh/status", "Get Metrics Refresh Status", "get_metrics_refresh_status", 422)
async def get_metrics_refresh_status(
    app: AppDep, db_id: str | None = DB_ID, table: str | None = TABLE
) -> MetricsRefreshStatusResponse:
    """How the most recent refresh went: `idle` before the first, `running`, then `completed` or `failed`."""
    return MetricsRefreshStatusResponse.model_validate(await app.store.metrics_refresh_status())
