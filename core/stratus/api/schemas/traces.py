"""`/traces`, `/trace_session_stats`, `/traces/search`: a trace, its spans and its session's counts, in agno's
field names, and what a search filters on."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from stratus.api.schemas._common import RanBy


class TraceNode(BaseModel):
    """One span, with the spans under it."""

    id: str = Field(..., description="Span ID")
    name: str = Field(..., description="Span name (e.g. 'Assistant.run', 'gpt-4o.invoke')")
    type: str = Field(..., description="Span kind (AGENT, TEAM, WORKFLOW, STEP, LLM, TOOL)")
    duration: str = Field(..., description="Human-readable duration (e.g. '123ms', '1.50s')")
    start_time: datetime
    end_time: datetime
    status: str = Field(..., description="Status code (OK, ERROR, UNSET)")
    input: str | None = None
    output: str | None = None
    error: str | None = None
    spans: list[TraceNode] | None = Field(None, description="Child spans in the trace hierarchy")
    step_type: str | None = None
    metadata: dict[str, Any] | None = None
    extra_data: dict[str, Any] | None = None


class TraceSummary(RanBy):
    """A trace in a listing."""

    trace_id: str
    name: str
    status: str = Field(..., description="OK or ERROR")
    duration: str
    start_time: datetime
    end_time: datetime
    total_spans: int
    error_count: int
    input: str | None = None
    run_id: str | None = None
    session_id: str | None = None
    created_at: datetime


class TraceDetail(TraceSummary):
    """A trace with its output or error and its span tree."""

    output: str | None = None
    error: str | None = None
    tree: list[TraceNode]


class TraceSessionStats(RanBy):
    """The traces of one session, counted."""

    session_id: str
    total_traces: int
    first_trace_at: datetime
    last_trace_at: datetime


class TraceSearchGroupBy(StrEnum):
    RUN = "run"
    SESSION = "session"


class TraceSearchRequest(BaseModel):
    """`POST /traces/search`: agno's FilterExpr (EQ, NEQ, GT, GTE, LT, LTE, IN, CONTAINS, STARTSWITH, AND, OR,
    NOT) over the trace fields, grouped by run (trace details) or by session (session stats)."""

    filter: dict[str, Any] | None = Field(
        None, description="FilterExpr as JSON, e.g. {'op': 'EQ', 'key': 'status', 'value': 'OK'}"
    )
    group_by: TraceSearchGroupBy = TraceSearchGroupBy.RUN
    page: int = Field(default=1, ge=1)
    limit: int = Field(default=20, ge=1, le=100)


class FilterFieldSchema(BaseModel):
    key: str
    label: str
    type: str = Field(..., description="string, number, datetime or enum")
    operators: list[str]
    values: list[str] | None = None


class FilterSchemaResponse(BaseModel):
    fields: list[FilterFieldSchema]
    logical_operators: list[str] = ["AND", "OR"]


_STRING_OPS = ["EQ", "NEQ", "CONTAINS", "STARTSWITH", "IN"]
_TIME_OPS = ["GT", "GTE", "LT", "LTE"]
FILTER_SCHEMA = FilterSchemaResponse(
    fields=[
        FilterFieldSchema(
            key="status", label="Status", type="enum", operators=["EQ", "NEQ", "IN"], values=["OK", "ERROR"]
        ),
        FilterFieldSchema(key="user_id", label="User ID", type="string", operators=_STRING_OPS),
        FilterFieldSchema(key="agent_id", label="Agent ID", type="string", operators=_STRING_OPS),
        FilterFieldSchema(key="team_id", label="Team ID", type="string", operators=_STRING_OPS),
        FilterFieldSchema(key="workflow_id", label="Workflow ID", type="string", operators=_STRING_OPS),
        FilterFieldSchema(key="session_id", label="Session ID", type="string", operators=_STRING_OPS),
        FilterFieldSchema(key="run_id", label="Run ID", type="string", operators=_STRING_OPS),
        FilterFieldSchema(
            key="name", label="Trace Name", type="string", operators=["EQ", "NEQ", "CONTAINS", "STARTSWITH"]
        ),
        FilterFieldSchema(key="trace_id", label="Trace ID", type="string", operators=_STRING_OPS),
        FilterFieldSchema(
            key="duration_ms", label="Duration (ms)", type="number", operators=["EQ", "NEQ", "GT", "GTE", "LT", "LTE"]
        ),
        FilterFieldSchema(key="start_time", label="Start Time", type="datetime", operators=_TIME_OPS),
        FilterFieldSchema(key="end_time", label="End Time", type="datetime", operators=_TIME_OPS),
        FilterFieldSchema(key="created_at", label="Created At", type="datetime", operators=_TIME_OPS),
    ]
)
"""What `/traces/search` filters on, for a front end's filter bar (agno's `TRACE_FILTER_SCHEMA`)."""
