"""`/metrics`: the daily aggregates of the stored runs, and their refresh."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from stratus.api.schemas._common import RECORD, UtcTime
from stratus.storage import DailyMetrics
from stratus.storage._metrics import day_start


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
    date: UtcTime = Field(description="The day, as its start (UTC)")
    created_at: UtcTime
    updated_at: UtcTime

    @classmethod
    def of(cls, record: DailyMetrics) -> DayAggregatedMetrics:
        owner = "" if record.user_id is None else f"{record.user_id}_"
        day = {"id": f"{record.day}_{owner}daily", "date": day_start(record.day)}
        return cls.model_validate({**dataclasses.asdict(record), **day})


class MetricsResponse(BaseModel):
    metrics: list[DayAggregatedMetrics] = Field(description="The daily aggregated metrics, oldest first")
    updated_at: datetime | None = Field(default=None, description="When the newest of them was computed")


class MetricsRefreshResponse(BaseModel):
    status: str = Field(description="`started` or `already_running`")
    message: str | None = None


class MetricsRefreshStatusResponse(BaseModel):
    model_config = RECORD

    status: Literal["idle", "running", "completed", "failed"]
    started_at: UtcTime | None = None
    finished_at: UtcTime | None = None
    error: str | None = None


ALREADY_RUNNING = MetricsRefreshResponse(
    status="already_running", message="A metrics refresh is already in progress for this database"
)
"""The answer of a refresh asked for while one runs."""
