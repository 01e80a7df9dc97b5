"""The bounds stratus puts on free-form JSON (session state, metadata, filters) and on sizes, and the errors
that report a value outside them.

`MAX_JSON_DEPTH` is 32 levels. A session state a user keeps is a few levels deep (a dict of lists of dicts:
3 to 5); 32 leaves a wide margin for that while staying far below what any reader of a stored record can
take: Python's recursion limit (json, copy, pydantic), pydantic's serializer depth (an API answer nests the
state 3 to 5 levels inside its envelope) and other languages' JSON parsers (128 and up). A store refuses to
write a record whose JSON is deeper than `MAX_STORED_DEPTH`, so nothing stored can break a later read.

Depth is measured without recursion, so even a value nested 100,000 levels deep is refused cleanly.
"""

from __future__ import annotations

import json
from typing import Any, cast

from stratus.exceptions import StoreError, StratusError

__all__ = [
    "MAX_CHUNK_SIZE",
    "MAX_FILTERS_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_METADATA_BYTES",
    "MAX_PAGE",
    "MAX_STATE_BYTES",
    "MAX_STORED_DEPTH",
    "InputLimitError",
    "UnreadableRecordError",
    "UnstorableRecordError",
    "check_final_state",
    "check_json",
    "json_depth",
    "loads_json",
    "storable_state",
]

MAX_JSON_DEPTH = 32
"""Levels of nesting a user's JSON value (state, metadata, filters, a JSON message) may have."""
MAX_STORED_DEPTH = 64
"""Levels of nesting a stored JSON document may have: a run nests the state and the messages a few levels
deeper than the user gave them."""
MAX_STATE_BYTES = 256_000
"""Encoded size of a session state: a DynamoDB item (the session, or a run with its state) holds 400 KB."""
MAX_METADATA_BYTES = 64_000
"""Encoded size of metadata and of a session summary."""
MAX_FILTERS_BYTES = 16_000
"""Encoded size of search filters."""
MAX_PAGE = 1_000_000
"""The highest page number a listing serves (page * limit stays far inside a 64-bit OFFSET)."""
MAX_CHUNK_SIZE = 100_000
"""The largest chunk a chunker makes (characters or tokens): larger is no longer a passage to embed."""


class InputLimitError(StratusError):
    """A value is outside the bounds stratus accepts: nested too deep, too large, or a number out of range.

    `field` names the value (`session_state`, `metadata`, ...); `too_large` says it is its size.
    """

    def __init__(self, message: str, *, field: str | None = None, too_large: bool = False) -> None:
        super().__init__(message)
        self.field = field
        self.too_large = too_large


class UnstorableRecordError(StoreError, InputLimitError):
    """A store refused to write a record it could not read back (JSON nested too deep, or not JSON at all)."""


class UnreadableRecordError(StoreError):
    """A stored record cannot be decoded (written by an older version without the bounds, or damaged)."""


def json_depth(value: Any, limit: int | None = None) -> int:
    """How many levels of dicts and lists `value` nests (a scalar is 0, `{}` is 1). With `limit`, counting
    stops as soon as it is passed (the result is then `limit + 1`). Iterative: any depth is measured safely."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children = cast(dict[Any, Any], item).values()
        elif isinstance(item, list | tuple):
            children = cast(list[Any], item)
        else:
            continue
        level += 1
        if level > deepest:
            deepest = level
            if limit is not None and deepest > limit:
                return deepest
        stack.extend((child, level) for child in children)
    return deepest


def check_json(
    value: Any, field: str, *, max_depth: int = MAX_JSON_DEPTH, max_bytes: int | None = None
) -> dict[str, Any] | None:
    """`value` if it is a JSON object (or None) within the bounds; otherwise `InputLimitError` naming `field`."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InputLimitError(f"{field} must be a JSON object", field=field)
    if json_depth(value, max_depth) > max_depth:
        raise InputLimitError(f"{field} nests deeper than {max_depth} levels", field=field)
    if max_bytes is not None:
        size = len(json.dumps(value, ensure_ascii=False, default=str).encode("utf-8"))
        if size > max_bytes:
            raise InputLimitError(
                f"{field} is {size} bytes as JSON; the limit is {max_bytes}", field=field, too_large=True
            )
    return cast(dict[str, Any], value)


def check_final_state(state: dict[str, Any]) -> None:
    """Refuse a session state a run ended with (its tools changed it) that could not be stored and read back:
    `InputLimitError`, so the run ends as an error rather than answering with a state that is then lost."""
    try:
        check_json(state, "session_state", max_depth=MAX_JSON_DEPTH, max_bytes=MAX_STATE_BYTES)
    except InputLimitError as exc:
        # 422 either way (never 413): it is not the request that is too large.
        raise InputLimitError(
            f"the run ended with a session_state that cannot be stored ({exc}); the session keeps the state it had",
            field="session_state",
        ) from None


def storable_state(state: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """`state` if it can be stored, else `base` (the state the run started from), so the run itself is stored."""
    try:
        check_final_state(state)
    except InputLimitError:
        return dict(base)
    return state


def loads_json(text: str | bytes, field: str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON text, refusing text nested deeper than `max_depth` (which the json module might not even
    parse: RecursionError) with `InputLimitError`; text that is not JSON raises `ValueError`."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise InputLimitError(f"{field} nests deeper than {max_depth} levels", field=field) from None
    if json_depth(value, max_depth) > max_depth:
        raise InputLimitError(f"{field} nests deeper than {max_depth} levels", field=field)
    return value
