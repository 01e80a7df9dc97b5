"""What AgentOS' `/traces` answers, read from stored runs' spans: a trace's summary, its detail with the span
tree, and the filter language of `POST /traces/search` (agno's FilterExpr: EQ, NEQ, GT, GTE, LT, LTE, IN,
CONTAINS, STARTSWITH, AND, OR, NOT).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final, cast

from stratus.run import RunOutput
from stratus.tracing._spans import Span

__all__ = ["FIELDS", "check_filter", "matches", "span_node", "spans_of", "trace_detail", "trace_summary"]

FIELDS: Final = frozenset(
    {
        "trace_id",
        "name",
        "status",
        "start_time",
        "end_time",
        "duration_ms",
        "run_id",
        "session_id",
        "user_id",
        "agent_id",
        "team_id",
        "workflow_id",
        "created_at",
    }
)
"""What a search filter may test (agno's filterable trace fields)."""

_MAX_DEPTH: Final = 10


def spans_of(run: RunOutput) -> list[Span]:
    """The spans a stored run recorded (none for a run stored before spans were, or a member's run)."""
    return [Span.from_dict(s) for s in run.spans or []]


def _time(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC)


def _duration(ms: int) -> str:
    """AgentOS' human duration: `150ms`, `1.50s`."""
    return f"{ms}ms" if ms < 1000 else f"{ms / 1000:.2f}s"


def _type(span: Span) -> str:
    kind = span.attributes.get("openinference.span.kind", "UNKNOWN")
    if kind == "CHAIN":
        return "STEP" if "agno.step.name" in span.attributes else "WORKFLOW"
    if kind == "AGENT":
        return "TEAM" if span.attributes.get("agno.team.id") else "AGENT"
    return str(kind)


def _root(spans: list[Span]) -> Span:
    return next((s for s in spans if not s.parent_span_id), spans[0])


def _bounds(spans: list[Span]) -> tuple[int, int]:
    start = min(s.start_time_unix_nano for s in spans)
    end = max(s.end_time_unix_nano or s.start_time_unix_nano for s in spans)
    return start, end


def trace_fields(run: RunOutput, spans: list[Span]) -> dict[str, Any]:
    """The fields of a run's trace that listing and filters read (agno's `Trace` record)."""
    root = _root(spans)
    start, end = _bounds(spans)
    errors = sum(1 for s in spans if s.status_code == "ERROR")
    return {
        "trace_id": root.trace_id,
        "name": root.name,
        "status": "ERROR" if errors else "OK",
        "start_time": _time(start),
        "end_time": _time(end),
        "duration_ms": (end - start) // 1_000_000,
        "total_spans": len(spans),
        "error_count": errors,
        "run_id": run.run_id,
        "session_id": run.session_id,
        "user_id": run.user_id,
        "agent_id": run.agent_id,
        "team_id": run.team_id,
        "workflow_id": run.workflow_id,
        "created_at": datetime.fromtimestamp(run.created_at, tz=UTC),
    }


def trace_summary(run: RunOutput, spans: list[Span]) -> dict[str, Any]:
    """AgentOS' `TraceSummary` of a run's trace."""
    fields = trace_fields(run, spans)
    duration_ms = fields.pop("duration_ms")
    return {**fields, "duration": _duration(duration_ms), "input": _root(spans).attributes.get("input.value")}


def span_node(span: Span, children: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """AgentOS' `TraceNode` of one span (its children, if given, under `spans`)."""
    a = span.attributes
    kind = a.get("openinference.span.kind")
    metadata: dict[str, Any] = {}
    if kind == "AGENT" and a.get("agno.run.id"):
        metadata["run_id"] = a["agno.run.id"]
    elif kind == "LLM":
        for key, name in (
            ("llm.model_name", "model"),
            ("llm.token_count.prompt", "input_tokens"),
            ("llm.token_count.completion", "output_tokens"),
        ):
            if a.get(key):
                metadata[name] = a[key]
    elif kind == "TOOL":
        if a.get("tool.name"):
            metadata["tool_name"] = a["tool.name"]
        if a.get("tool.parameters"):
            metadata["parameters"] = a["tool.parameters"]
    for key, name in (("session.id", "session_id"), ("user.id", "user_id")):
        if a.get(key):
            metadata[name] = a[key]
    error = span.status_message or a.get("exception.message") if span.status_code == "ERROR" else None
    return {
        "id": span.span_id,
        "name": span.name,
        "type": _type(span),
        "duration": _duration(span.duration_ms),
        "start_time": _time(span.start_time_unix_nano),
        "end_time": _time(span.end_time_unix_nano or span.start_time_unix_nano),
        "status": span.status_code,
        "input": a.get("input.value"),
        "output": None if span.status_code == "ERROR" else a.get("output.value"),
        "error": error,
        "spans": children or None,
        "step_type": "Step" if "agno.step.name" in a else None,
        "metadata": metadata or None,
        "extra_data": None,
    }


def trace_detail(run: RunOutput, spans: list[Span]) -> dict[str, Any]:
    """AgentOS' `TraceDetail` of a run's trace: its summary, the root's output or error, and the span tree
    (children by start time; the root's node carries the trace's token totals)."""
    root = _root(spans)
    fields = trace_fields(run, spans)
    by_parent: dict[str | None, list[Span]] = {}
    for span in spans:
        by_parent.setdefault(span.parent_span_id if span is not root else None, []).append(span)

    def build(span: Span) -> dict[str, Any]:
        children = sorted(by_parent.get(span.span_id, []), key=lambda s: s.start_time_unix_nano)
        return span_node(span, [build(c) for c in children])

    llm = [s for s in spans if s.attributes.get("openinference.span.kind") == "LLM"]
    totals = {
        "total_input_tokens": sum(int(s.attributes.get("llm.token_count.prompt") or 0) for s in llm),
        "total_output_tokens": sum(int(s.attributes.get("llm.token_count.completion") or 0) for s in llm),
    }
    tree = build(root)
    tree.update(
        input=None,
        output=None,
        error=None,
        start_time=fields["start_time"],
        end_time=fields["end_time"],
        duration=_duration(fields["duration_ms"]),
        metadata={k: v for k, v in totals.items() if v} or None,
    )
    failed = fields["status"] == "ERROR" or root.status_code == "ERROR"
    error = root.status_message or root.attributes.get("exception.message") if root.status_code == "ERROR" else None
    duration_ms = fields.pop("duration_ms")
    return {
        **fields,
        "duration": _duration(duration_ms),
        "input": root.attributes.get("input.value"),
        "output": None if failed else root.attributes.get("output.value"),
        "error": error,
        "tree": [tree],
    }


# --- search filters -------------------------------------------------------------------------------------------

_COMPARE: Final = frozenset({"EQ", "NEQ", "GT", "GTE", "LT", "LTE", "CONTAINS", "STARTSWITH"})


def check_filter(expr: Any, depth: int = 0) -> None:
    """Raise `ValueError` saying what is wrong with a filter expression, if anything is."""
    if depth > _MAX_DEPTH:
        raise ValueError(f"filter nests deeper than {_MAX_DEPTH} levels")
    if not isinstance(expr, dict) or "op" not in expr:
        raise ValueError(f"a filter is an object with an 'op' key, got {expr!r}")
    e = cast(dict[str, Any], expr)
    op = e["op"]
    if op in ("AND", "OR"):
        conditions = e.get("conditions")
        if not isinstance(conditions, list) or not conditions:
            raise ValueError(f"{op} needs a non-empty list 'conditions'")
        for condition in cast(list[Any], conditions):
            check_filter(condition, depth + 1)
    elif op == "NOT":
        if "condition" not in e:
            raise ValueError("NOT needs a 'condition'")
        check_filter(e["condition"], depth + 1)
    elif op in _COMPARE or op == "IN":
        wanted = "values" if op == "IN" else "value"
        if "key" not in e or wanted not in e:
            raise ValueError(f"{op} needs 'key' and '{wanted}'")
        if e["key"] not in FIELDS:
            raise ValueError(f"cannot filter on {e['key']!r}; fields: {', '.join(sorted(FIELDS))}")
        if op == "IN" and not isinstance(e["values"], list):
            raise ValueError("IN needs a list 'values'")
    else:
        raise ValueError(f"unknown filter operator {op!r}")


def _comparable(field: Any, value: Any) -> tuple[Any, Any]:
    if isinstance(field, datetime):
        if isinstance(value, int | float):
            return field.timestamp(), float(value)
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return field, parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if isinstance(field, int) and not isinstance(value, int):
        return float(field), float(value)
    return field, value


def matches(expr: dict[str, Any], fields: dict[str, Any]) -> bool:
    """Whether a trace (its `trace_fields`) satisfies a checked filter expression."""
    op = expr["op"]
    if op == "AND":
        return all(matches(c, fields) for c in expr["conditions"])
    if op == "OR":
        return any(matches(c, fields) for c in expr["conditions"])
    if op == "NOT":
        return not matches(expr["condition"], fields)
    field = fields.get(expr["key"])
    if op == "IN":
        return field in expr["values"]
    if field is None:
        return op == "NEQ" and expr["value"] is not None
    if op in ("CONTAINS", "STARTSWITH"):
        text, part = str(field).lower(), str(expr["value"]).lower()
        return part in text if op == "CONTAINS" else text.startswith(part)
    try:
        left, right = _comparable(field, expr["value"])
        if op == "EQ":
            return bool(left == right)
        if op == "NEQ":
            return bool(left != right)
        if op == "GT":
            return bool(left > right)
        if op == "GTE":
            return bool(left >= right)
        if op == "LT":
            return bool(left < right)
        return bool(left <= right)
    except (TypeError, ValueError):
        return False
