"""Queue messages (a background run, a learning job, an ingestion job): JSON carrying a schema version, read
back only at a version this code knows, so a message from another release fails loudly, never half-read."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar, cast

from stratus.exceptions import SchemaVersionError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["QueueMessage", "job_from_json"]

J = TypeVar("J")


def job_from_json(cls: type[J], text: str, *, version: int, what: str) -> J:
    """The job `text` holds; `SchemaVersionError` naming `what` if it is not JSON, is of another version, or
    has fields `cls` does not."""
    try:
        data: Any = json.loads(text)
    except ValueError as exc:
        raise SchemaVersionError(f"{what} message is not JSON: {text[:80]!r}") from exc
    if not isinstance(data, dict) or cast(dict[str, Any], data).get("version") != version:
        raise SchemaVersionError(f"{what} message of unknown version: {text[:80]!r}")
    try:
        return cls(**cast(dict[str, Any], data))
    except TypeError as exc:
        raise SchemaVersionError(f"{what} message with unexpected fields: {exc}") from exc


class QueueMessage:
    """Base of a dataclass sent through a queue: `to_json` writes its fields (with `version`, a field the
    dataclass declares, defaulting to `VERSION`) and `from_json` reads one back only at `VERSION`."""

    __slots__ = ()
    VERSION: ClassVar[int]
    WHAT: ClassVar[str]
    """How errors name the message ("learning message of unknown version")."""

    def _fields(self) -> dict[str, Any]:
        return asdict(cast("DataclassInstance", self))

    def to_json(self) -> str:
        return json.dumps(self._fields(), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Self:
        return job_from_json(cls, text, version=cls.VERSION, what=cls.WHAT)
