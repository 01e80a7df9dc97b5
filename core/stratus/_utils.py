"""Small helpers shared across the package: ids, clocks, JSON."""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any, cast

__all__ = ["dumps", "new_id", "not_none", "now", "running_loop", "slug", "time_ordered_id", "to_text"]


def new_id() -> str:
    """A random UUID4 as text: session, message and record ids."""
    return str(uuid.uuid4())


_last_ms = 0
_sequence = 0
_id_lock = threading.Lock()


def time_ordered_id() -> str:
    """A UUIDv7 as text: ids made later sort later, also within one millisecond of this process.

    Run ids are these, so a session's runs sort by their ids in every store (the DynamoDB sort key is the
    run id) and "the last N runs" is one ordered query.
    """
    global _last_ms, _sequence
    with _id_lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms, _sequence = _last_ms, _sequence + 1
            if _sequence > 0xFFF:  # 4096 ids in one millisecond: borrow the next one
                ms, _sequence = ms + 1, 0
        else:
            _sequence = secrets.randbelow(0x800)  # a random start leaves room to count up
        _last_ms = ms
        sequence = _sequence
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | sequence << 64 | 0b10 << 62 | secrets.randbits(62)
    return str(uuid.UUID(int=value))


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


def slug(name: str, fallback: str) -> str:
    """An id made of a display name: lowercase letters and digits joined by dashes (`fallback` if none)."""
    out = "".join(c if c.isalnum() else "-" for c in name.strip().lower())
    return "-".join(p for p in out.split("-") if p) or fallback


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running in this thread, or None outside one."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def not_none(**values: Any) -> dict[str, Any]:
    """The keyword arguments that are not None (the optional fields of a request that were set)."""
    return {key: value for key, value in values.items() if value is not None}
