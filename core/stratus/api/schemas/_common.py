"""What the schemas of every route group share: AgentOS' time texts and the field types of records."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

__all__ = [
    "OPTIONAL_ID",
    "RECORD",
    "ComponentIds",
    "IsoTime",
    "Object",
    "RanBy",
    "UnixSeconds",
    "UtcTime",
    "iso",
    "utc",
]


def iso(timestamp: float | None) -> str | None:
    """Unix seconds as AgentOS' ISO-8601 UTC text (`2026-11-24T14:19:24Z`)."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


Object = dict[str, Any] | None
"""A JSON object, or none."""

OPTIONAL_ID = Field(default=None, min_length=1, max_length=256)
"""An optional id a request names: 1 to 256 characters."""


def _iso_time(value: Any) -> Any:
    return iso(value) if isinstance(value, int | float) else value


def _unix_seconds(value: Any) -> Any:
    return int(value) if isinstance(value, int | float) and value else value or None


IsoTime = Annotated[str | None, BeforeValidator(_iso_time), Field(description="ISO 8601, UTC")]
"""A record's Unix seconds, answered as AgentOS' ISO 8601 text."""
UnixSeconds = Annotated[int | None, BeforeValidator(_unix_seconds), Field(description="Unix seconds")]
"""A record's Unix seconds, whole (none for 0)."""


def utc(value: Any) -> Any:
    """Unix seconds as a UTC time (anything else as it is)."""
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int | float) else value


UtcTime = Annotated[datetime, BeforeValidator(utc)]
"""A record's Unix seconds, answered as a UTC time."""

RECORD = ConfigDict(from_attributes=True, populate_by_name=True)


class ComponentIds(BaseModel):
    """The agent, team or workflow a run or record is of (AgentOS names the one that applies)."""

    agent_id: str | None = None
    team_id: str | None = None
    workflow_id: str | None = None


class RanBy(ComponentIds):
    """The component a run or record is of, and the user it was for."""

    user_id: str | None = None
