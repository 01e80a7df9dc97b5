"""Turning records into JSON and back, and what a query's filters and sort mean, record by record, so both
stores answer a query exactly alike (each pushes them into its own queries, and checks each record here)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, fields
from typing import Any, Final, TypeVar, cast

import orjson

from stratus.exceptions import SchemaVersionError
from stratus.limits import MAX_STORED_DEPTH, UnreadableRecordError, UnstorableRecordError, json_depth
from stratus.messages import Usage
from stratus.run import RunOutput
from stratus.storage import records

__all__ = [
    "SESSION_ATTRIBUTES",
    "content_from_json",
    "content_matches",
    "daily_metrics_from_json",
    "decoded",
    "eval_from_json",
    "eval_matches",
    "learning_from_json",
    "learning_matches",
    "live",
    "memory_from_json",
    "memory_matches",
    "metrics_state_from_json",
    "record_json",
    "run_from_json",
    "run_json",
    "session_from_dict",
    "session_matches",
    "session_to_dict",
    "text_key",
    "text_order",
]

R = TypeVar("R")
T = TypeVar("T")

logger = logging.getLogger("stratus.storage")


def live(expires_at: int | float | None, now: float | None = None) -> bool:
    """Whether a record with this expiry is still there (stores delete expired records only eventually)."""
    return expires_at is None or expires_at > (time.time() if now is None else now)


def _dumps(value: Any, what: str) -> str:
    """`value` as JSON text, refusing (`UnstorableRecordError`) what could not be read back: a document nested
    deeper than `MAX_STORED_DEPTH`, or one the json module cannot encode."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (ValueError, TypeError, RecursionError) as exc:
        if _too_deep(value):
            raise UnstorableRecordError(f"{what} nests deeper than {MAX_STORED_DEPTH} levels", field=what) from None
        raise UnstorableRecordError(f"{what} cannot be stored as JSON: {exc}", field=what) from None
    if _may_nest_deeper(text) and _too_deep(value):
        raise UnstorableRecordError(f"{what} nests deeper than {MAX_STORED_DEPTH} levels", field=what)
    return text


def _may_nest_deeper(text: str | bytes) -> bool:
    """Whether JSON `text` may nest deeper than `MAX_STORED_DEPTH`: not when it opens no more objects and
    lists than that (counting brackets inside strings too: an upper bound, in C). Most records open a few dozen,
    so their depth is known without walking them (the walk was a third of a stored run's CPU time)."""
    opened = text.count("{") + text.count("[") if isinstance(text, str) else text.count(b"{") + text.count(b"[")
    return opened > MAX_STORED_DEPTH


def _too_deep(value: Any) -> bool:
    return json_depth(value, MAX_STORED_DEPTH) > MAX_STORED_DEPTH


def _parse(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)  # 2-3x faster than the json module on a stored run
    except orjson.JSONDecodeError:
        return json.loads(text)  # what only the json module reads (NaN, a lone surrogate, a huge int) or refuses


def _loads(text: str | bytes, what: str) -> Any:
    """Parse a stored JSON document; what no reader could use (not JSON, nested too deep) is
    `UnreadableRecordError`."""
    try:
        value = _parse(text)
    except (ValueError, TypeError, RecursionError) as exc:
        raise UnreadableRecordError(f"stored {what} is not readable JSON: {type(exc).__name__}") from None
    if _may_nest_deeper(text) and _too_deep(value):
        raise UnreadableRecordError(f"stored {what} nests deeper than {MAX_STORED_DEPTH} levels")
    return value


def record_json(
    record: records.UserMemory
    | records.LearningRecord
    | records.ContentRecord
    | records.EvalRecord
    | records.DailyMetrics
    | records.MetricsRefresh,
) -> str:
    return _dumps(asdict(record), type(record).__name__)


def run_json(record: dict[str, Any]) -> str:
    """A run's record (`RunOutput.to_record()`) as the JSON text a store writes."""
    return _dumps(record, "run")


def run_from_json(text: str | bytes) -> RunOutput:
    """The run a store wrote with `run_json`."""
    data = _loads(text, "run")
    if not isinstance(data, dict):
        raise UnreadableRecordError("stored run is not a JSON object")
    return RunOutput.from_record(cast(dict[str, Any], data))


def decoded(items: Iterable[T], decode: Callable[[T], R], kind: str) -> Iterator[R]:
    """`decode` each stored item, skipping (with a log line) those that cannot be decoded, so that one bad
    record, e.g. written by an older version, never fails a whole listing. An unknown schema version still
    raises: that is newer code's data, not damage."""
    for item in items:
        try:
            yield decode(item)
        except SchemaVersionError:
            raise
        except (UnreadableRecordError, ValueError, TypeError, KeyError, AttributeError) as exc:
            logger.warning("skipped a stored %s that cannot be read: %s: %s", kind, type(exc).__name__, exc)


def _load(text: str | bytes, kind: str, id_field: str) -> dict[str, Any]:
    data = _loads(text, kind)
    if not isinstance(data, dict):
        raise UnreadableRecordError(f"stored {kind} is not a JSON object")
    data = cast(dict[str, Any], data)
    records.check_schema_version(kind, str(data.get(id_field)), data.get("schema_version"))
    return data


def _known(cls: type[Any], data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def memory_from_json(text: str | bytes) -> records.UserMemory:
    return records.UserMemory(**_known(records.UserMemory, _load(text, "memory", "memory_id")))


def learning_from_json(text: str | bytes) -> records.LearningRecord:
    return records.LearningRecord(**_known(records.LearningRecord, _load(text, "learning", "learning_id")))


def content_from_json(text: str | bytes) -> records.ContentRecord:
    data = _known(records.ContentRecord, _load(text, "content", "content_id"))
    data["status"] = records.ContentStatus(data.get("status", records.ContentStatus.PROCESSING))
    return records.ContentRecord(**data)


def eval_from_json(text: str | bytes) -> records.EvalRecord:
    data = _known(records.EvalRecord, _load(text, "eval run", "eval_id"))
    data["eval_type"] = records.EvalType(data["eval_type"])
    return records.EvalRecord(**data)


def daily_metrics_from_json(text: str | bytes) -> records.DailyMetrics:
    return records.DailyMetrics(**_known(records.DailyMetrics, _load(text, "daily metrics", "day")))


def metrics_state_from_json(text: str | bytes) -> records.MetricsRefresh:
    return records.MetricsRefresh(**_known(records.MetricsRefresh, _load(text, "metrics refresh", "status")))


def session_to_dict(session: records.SessionRecord) -> dict[str, Any]:
    """The session's attributes as a store writes them (JSON documents as text)."""
    u = session.usage
    return {
        "session_id": session.session_id,
        "session_type": session.session_type.value,
        "component_id": session.component_id,
        "user_id": session.user_id,
        "session_name": session.session_name,
        "session_state": _dumps(session.session_state, "session_state"),
        "metadata": None if session.metadata is None else _dumps(session.metadata, "metadata"),
        "summary": None if session.summary is None else _dumps(session.summary, "summary"),
        "component_data": None if session.component_data is None else _dumps(session.component_data, "component_data"),
        "input_tokens": u.input_tokens,
        "output_tokens": u.output_tokens,
        "total_tokens": u.total_tokens,
        "created_at": session.created_at,
        "updated_at": session.updated_at,
        "version": session.version,
        "expires_at": session.expires_at,
        "schema_version": session.schema_version,
    }


SESSION_ATTRIBUTES: Final = tuple(session_to_dict(records.SessionRecord(session_id="")))
"""The attributes a session is stored as (`session_to_dict`'s keys): `SqliteStore`'s columns of a session."""


def _json(value: Any, what: str) -> Any:
    return None if value is None else _loads(value, what)


def session_from_dict(data: dict[str, Any]) -> records.SessionRecord:
    """A session from the attributes a store read (the inverse of `session_to_dict`)."""
    expires = data.get("expires_at")
    return records.SessionRecord(
        session_id=str(data["session_id"]),
        session_type=records.SessionType(data.get("session_type") or records.SessionType.AGENT),
        component_id=data.get("component_id"),
        user_id=data.get("user_id"),
        session_name=data.get("session_name"),
        session_state=cast(dict[str, Any], _json(data.get("session_state"), "session_state") or {}),
        metadata=_json(data.get("metadata"), "metadata"),
        summary=_json(data.get("summary"), "summary"),
        component_data=_json(data.get("component_data"), "component_data"),
        usage=Usage(
            input_tokens=int(data.get("input_tokens") or 0),
            output_tokens=int(data.get("output_tokens") or 0),
            total_tokens=int(data.get("total_tokens") or 0),
        ),
        created_at=float(data.get("created_at") or 0.0),
        updated_at=float(data.get("updated_at") or 0.0),
        version=int(data.get("version") or 0),
        expires_at=int(expires) if expires is not None else None,
        schema_version=int(data.get("schema_version") or 0),
    ).check_version()


def session_matches(s: records.SessionRecord, query: records.SessionQuery) -> bool:
    """Whether a live session matches a `SessionQuery`'s filters (every backend answers alike)."""
    needle = (query.session_name or "").lower()
    return (
        live(s.expires_at)
        and (query.session_type is None or s.session_type is query.session_type)
        and (query.component_id is None or s.component_id == query.component_id)
        and (query.user_id is None or s.user_id == query.user_id)
        and (not needle or needle in (s.session_name or "").lower())
    )


def memory_matches(m: records.UserMemory, query: records.MemoryQuery) -> bool:
    needle = (query.search_content or "").lower()
    return (
        live(m.expires_at)
        and (query.user_id is None or m.user_id == query.user_id)
        and (query.agent_id is None or m.agent_id == query.agent_id)
        and (query.team_id is None or m.team_id == query.team_id)
        and (not query.topics or bool(set(query.topics) & set(m.topics)))
        and (not needle or needle in m.memory.lower())
    )


def learning_matches(item: records.LearningRecord, query: records.LearningQuery) -> bool:
    """Internal records (types starting with `_`) match only a query that names their type."""
    return (
        live(item.expires_at)
        and (query.user_id is None or item.user_id == query.user_id)
        and (not query.shared or item.user_id is None)
        and (query.agent_id is None or item.agent_id == query.agent_id)
        and (
            item.learning_type == query.learning_type
            if query.learning_type is not None
            else not item.learning_type.startswith("_")
        )
        and (query.namespace is None or item.namespace == query.namespace)
        and (query.session_id is None or item.session_id == query.session_id)
        and (query.team_id is None or item.team_id == query.team_id)
        and (query.entity_id is None or item.entity_id == query.entity_id)
        and (query.entity_type is None or item.entity_type == query.entity_type)
    )


def content_matches(c: records.ContentRecord, query: records.ContentQuery) -> bool:
    return (
        live(c.expires_at)
        and c.knowledge_id == query.knowledge_id
        and (query.user_id is None or c.user_id == query.user_id)
        and (query.status is None or c.status is query.status)
        and (query.content_hash is None or c.content_hash == query.content_hash)
    )


def text_key(value: str | None) -> str:
    """A text sort key: case-insensitive as Python lowercases, None as "". Both stores sort text by it
    (SQLite's own `lower` knows only ASCII, so its listings call this as `stratus_lower`)."""
    return (value or "").lower()


def text_order(name: str, id_name: str) -> Callable[[Any], tuple[str, str]]:
    """The sort key of a listing sorted by a record's text field `name` (see `text_key`), then by its id
    (`id_name`), so the order is total."""
    return lambda record: (text_key(getattr(record, name)), getattr(record, id_name))


def eval_matches(e: records.EvalRecord, query: records.EvalQuery) -> bool:
    """Whether an eval run matches the query's filters."""
    kind = query.component_type
    return (
        (query.user_id is None or e.user_id == query.user_id)
        and all(
            wanted is None or getattr(e, name) == wanted
            for name, wanted in (
                ("agent_id", query.agent_id),
                ("team_id", query.team_id),
                ("workflow_id", query.workflow_id),
                ("model_id", query.model_id),
            )
        )
        and (not query.eval_types or e.eval_type in query.eval_types)
        and (kind is None or getattr(e, f"{kind.value}_id") is not None)
    )
