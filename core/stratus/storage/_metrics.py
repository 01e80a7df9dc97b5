"""The daily metrics: stored runs aggregated per UTC day and per user, in AgentOS' shape. Pure functions;
`Store.refresh_metrics` reads the runs and keeps what these compute."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Final

from stratus.run import RunOutput
from stratus.storage.records import DailyMetrics, SessionType

__all__ = ["TOKEN_FIELDS", "DayAggregates", "day_of", "day_start", "days_between"]

TOKEN_FIELDS: Final = (
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "audio_total_tokens",
    "audio_input_tokens",
    "audio_output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)
"""The keys of `token_metrics`, as AgentOS computes them."""


def day_of(stamp: float) -> str:
    """The UTC day (`YYYY-MM-DD`) of an epoch time."""
    return datetime.fromtimestamp(stamp, UTC).date().isoformat()


def day_start(day: str) -> float:
    """The epoch time a UTC day starts at."""
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC).timestamp()


def days_between(first: str, last: str) -> list[str]:
    """Every day from `first` to `last`, both included."""
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def _kind(run: RunOutput) -> SessionType:
    if run.workflow_id is not None:
        return SessionType.WORKFLOW
    if run.team_id is not None:
        return SessionType.TEAM
    return SessionType.AGENT


@dataclass(slots=True)
class _Bucket:
    runs: dict[SessionType, int] = field(default_factory=lambda: dict.fromkeys(SessionType, 0))
    sessions: dict[SessionType, set[str]] = field(default_factory=lambda: {k: set[str]() for k in SessionType})
    users: set[str] = field(default_factory=set[str])
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOKEN_FIELDS, 0))
    models: dict[tuple[str, str], int] = field(default_factory=dict[tuple[str, str], int])

    def add(self, run: RunOutput) -> None:
        if run.parent_run_id is None:
            kind = _kind(run)
            self.runs[kind] += 1
            self.sessions[kind].add(run.session_id)
            if run.user_id:
                self.users.add(run.user_id)
        usage = run.metrics.usage
        for name in ("input_tokens", "output_tokens", "total_tokens", "reasoning_tokens"):
            self.tokens[name] += getattr(usage, name)
        self.tokens["cache_read_tokens"] += usage.cache_read_tokens
        self.tokens["cache_write_tokens"] += usage.cache_write_tokens
        if run.model:
            key = (run.model, run.model_provider or "")
            self.models[key] = self.models.get(key, 0) + 1

    def record(self, day: str, user_id: str | None, *, completed: bool, now: float) -> DailyMetrics:
        return DailyMetrics(
            day=day,
            user_id=user_id,
            agent_runs_count=self.runs[SessionType.AGENT],
            agent_sessions_count=len(self.sessions[SessionType.AGENT]),
            team_runs_count=self.runs[SessionType.TEAM],
            team_sessions_count=len(self.sessions[SessionType.TEAM]),
            workflow_runs_count=self.runs[SessionType.WORKFLOW],
            workflow_sessions_count=len(self.sessions[SessionType.WORKFLOW]),
            users_count=len(self.users),
            token_metrics=dict(self.tokens),
            model_metrics=[
                {"model_id": model_id, "model_provider": provider, "count": count}
                for (model_id, provider), count in sorted(self.models.items())
            ],
            completed=completed,
            created_at=now,
            updated_at=now,
        )


class DayAggregates:
    """The metrics of some days, built a run at a time (so a store can hand the runs over in batches): per
    day, one record per user (`""`: the runs no user owns) and one of everyone (`user_id` None); a day
    without runs has none."""

    def __init__(self, days: Iterable[str]) -> None:
        self._days = set(days)
        self._per_user: dict[tuple[str, str], _Bucket] = {}
        self._everyone: dict[str, _Bucket] = {}

    def add(self, run: RunOutput) -> None:
        """Count `run`, if it was created on one of the days."""
        day = day_of(run.created_at)
        if day in self._days:
            self._per_user.setdefault((day, run.user_id or ""), _Bucket()).add(run)
            self._everyone.setdefault(day, _Bucket()).add(run)

    def records(self, *, today: str, now: float) -> list[DailyMetrics]:
        """The records, computed at `now`; a day before `today` is complete."""
        per_user = sorted(self._per_user.items())
        everyone = sorted(self._everyone.items())
        records = [bucket.record(day, user, completed=day < today, now=now) for (day, user), bucket in per_user]
        return records + [bucket.record(day, None, completed=day < today, now=now) for day, bucket in everyone]
