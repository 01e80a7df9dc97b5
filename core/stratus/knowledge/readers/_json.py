"""JSON and JSON Lines, rendered as indented `key: value` lines that read like YAML."""

from __future__ import annotations

import json
from typing import Any, cast

from stratus.exceptions import ConfigError
from stratus.knowledge.documents import Document
from stratus.knowledge.readers._base import Reader, ReaderError, decode_text, group_records

__all__ = ["JsonReader"]

_LINES_EXTENSIONS = (".jsonl", ".ndjson")


class JsonReader(Reader):
    """JSON documents and JSON Lines.

    An object becomes one document of `key: value` lines (nested values indented, lists of scalars joined
    with commas, other lists as `- ` items). A top-level array, or the records of a JSON Lines file, are
    grouped like CSV rows into documents of about `max_tokens`, with metadata `items` (1-based positions in
    the array, e.g. `"1-20"`) or `lines` (line numbers in the file).
    """

    id = "json"
    name = "JsonReader"
    description = "Reads JSON and JSON Lines files, rendering objects as readable `key: value` lines."
    extensions = (".json", ".jsonl", ".ndjson")
    content_types = ("application/json", "application/x-ndjson", "application/jsonl", "application/json-lines")

    def __init__(self, *, max_tokens: int = 500) -> None:
        """Configure how records are grouped.

        Args:
            max_tokens: About how large a group of array items or JSON Lines may grow before the next starts a
                new document.
        """
        if max_tokens < 1:
            raise ConfigError(f"JsonReader max_tokens must be positive, not {max_tokens}")
        self.max_tokens = max_tokens

    def read(self, data: bytes, *, name: str) -> list[Document]:
        """Read a JSON value, or one value per non-blank line (`.jsonl`, or a `.json` file that holds lines).

        Raises:
            ReaderError: The file is empty, not UTF-8, or neither valid JSON nor valid JSON Lines.
        """
        text = decode_text(data, name=name)
        try:
            return self._read(text, name=name)
        except RecursionError:
            raise ReaderError(f"{name} is nested too deeply to read") from None

    def _read(self, text: str, *, name: str) -> list[Document]:
        if not name.lower().endswith(_LINES_EXTENSIONS):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                if exc.msg != "Extra data":  # several values: maybe JSON Lines saved as .json
                    raise ReaderError(f"{name} is not valid JSON: {exc}") from None
            else:
                return self._documents(value, name=name)
        return self._lines(text, name=name)

    def _documents(self, value: Any, *, name: str) -> list[Document]:
        if isinstance(value, list):
            items = cast(list[Any], value)
            records = ((i, render(item)) for i, item in enumerate(items, start=1))
            documents = group_records(records, max_tokens=self.max_tokens, key="items")
        else:
            rendered = render(value)
            documents = [Document(rendered)] if rendered.strip() else []
        if not documents:
            raise ReaderError(f"{name} holds no data")
        return documents

    def _lines(self, text: str, *, name: str) -> list[Document]:
        records: list[tuple[int, str]] = []
        for number, line in enumerate(text.split("\n"), start=1):
            if line.strip():
                try:
                    records.append((number, render(json.loads(line))))
                except json.JSONDecodeError as exc:
                    raise ReaderError(f"{name} is not valid JSON Lines: line {number}: {exc.msg}") from None
        documents = group_records(records, max_tokens=self.max_tokens, key="lines")
        if not documents:
            raise ReaderError(f"{name} holds no data")
        return documents


def render(value: Any) -> str:
    """Render a JSON value as readable text: `key: value` lines, nested values indented by two spaces."""
    if isinstance(value, dict | list):
        return "\n".join(_lines(cast(dict[str, Any] | list[Any], value), 0))
    return _scalar(value)


def _lines(value: dict[str, Any] | list[Any], depth: int) -> list[str]:
    pad = "  " * depth
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if _is_inline(item):
                lines.append(f"{pad}{key}: {_inline(item)}")
            else:
                lines.append(f"{pad}{key}:")
                lines.extend(_lines(item, depth + 1))
        return lines
    for item in value:
        if _is_inline(item):
            lines.append(f"{pad}- {_inline(item)}")
        else:
            nested = _lines(item, depth + 1)
            lines.append(f"{pad}- {nested[0].lstrip()}")  # YAML style: the first line rides on the dash
            lines.extend(nested[1:])
    return lines


def _is_inline(value: Any) -> bool:
    if isinstance(value, dict):
        return not value
    if isinstance(value, list):
        return not any(isinstance(item, dict | list) for item in cast(list[Any], value))
    return True


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        items = cast(list[Any], value)
        return ", ".join(_scalar(item) for item in items) if items else "[]"
    return _scalar(value)


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)
