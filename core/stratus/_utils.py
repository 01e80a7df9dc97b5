"""Small helpers shared across the package: ids, clocks, JSON."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from typing import Any, cast

__all__ = ["dumps", "new_id", "now", "to_text"]


def new_id() -> str:
    """A random UUID4 as text: run, session and message ids."""
    return str(uuid.uuid4())


def now() -> int:
    """Unix time in whole seconds, the unit AgentOS uses for `created_at`."""
    return int(time.time())


def _default(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    if isinstance(value, set | frozenset | tuple):
        return list(cast("Iterable[Any]", value))
    return str(value)


def dumps(value: Any) -> str:
    """Compact JSON (no spaces, like AgentOS' SSE payloads); unknown objects fall back to `str`."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_default)


def to_text(value: Any) -> str:
    """Render a tool result for the model: strings as they are, everything else as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return dumps(value)
