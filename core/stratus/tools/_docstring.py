"""A small reader of Google-style docstrings: the summary, and one description per argument."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field

__all__ = ["Docstring", "parse_docstring"]

_ARGS_HEADERS = {"args", "arguments", "parameters", "params", "keyword args", "keyword arguments"}
_OTHER_HEADERS = {
    "returns",
    "return",
    "yields",
    "yield",
    "raises",
    "raise",
    "examples",
    "example",
    "notes",
    "note",
    "see also",
    "warnings",
    "warning",
    "attributes",
    "todo",
    "references",
}
_HEADER = re.compile(r"^\s*([A-Za-z][A-Za-z ]*):\s*$")
# "name (type, optional): text" or "name: text"
_ENTRY = re.compile(r"^\s*\*{0,2}([A-Za-z_][A-Za-z0-9_]*)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


@dataclass(slots=True)
class Docstring:
    """What a docstring says: the description before the sections, and each argument's description."""

    description: str = ""
    params: dict[str, str] = field(default_factory=dict[str, str])


def parse_docstring(doc: str | None) -> Docstring:
    """Parse a Google-style docstring. Unknown layouts degrade to "the whole text is the description"."""
    if not doc:
        return Docstring()
    lines = inspect.cleandoc(doc).splitlines()
    description: list[str] = []
    params: dict[str, list[str]] = {}
    section: str | None = None
    current: str | None = None
    entry_indent = -1
    for line in lines:
        header = _HEADER.match(line)
        title = header.group(1).strip().lower() if header else ""
        if title in _ARGS_HEADERS or title in _OTHER_HEADERS:
            section = "args" if title in _ARGS_HEADERS else "other"
            current = None
            entry_indent = -1
            continue
        if section is None:
            description.append(line)
            continue
        if section != "args" or not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        entry = _ENTRY.match(line)
        if entry and (entry_indent < 0 or indent <= entry_indent):
            entry_indent = indent
            name = entry.group(1)
            params[name] = [entry.group(2).strip()]
            current = name
        elif current is not None:
            params[current].append(line.strip())
    text = "\n".join(description).strip()
    return Docstring(
        description=text,
        params={k: " ".join(p for p in v if p).strip() for k, v in params.items()},
    )
