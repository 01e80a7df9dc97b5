"""A scripted memory-optimization model (`POST /optimize-memories`), and one that also extracts, for an app
whose learning machine does both."""

from __future__ import annotations

import json
import re

from stratus.messages import Message
from stratus.models.base import ModelRequest
from tests.fakes.learning import extract

__all__ = ["consolidate", "extract_or_consolidate"]

_GIVEN = re.compile(r"^\[\d+\] (.*?)(?: \(topics: (.*)\))?$", re.M)


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def consolidate(messages: list[Message], params: ModelRequest) -> str:
    """Reads the memories the optimizer lists and drops each whose words another one's include ("likes tea"
    in "likes green tea"); the others stay as they are, with their topics."""
    given = _GIVEN.findall(messages[-1].content or "")
    kept = [
        {"memory": text, "topics": [t.strip() for t in topics.split(",") if t.strip()]}
        for i, (text, topics) in enumerate(given)
        if not any(j != i and _words(text) < _words(other) for j, (other, _) in enumerate(given))
    ]
    return json.dumps({"memories": kept})


def extract_or_consolidate(messages: list[Message], params: ModelRequest) -> str:
    """`consolidate` for the optimizer's request (it lists `<memories>`), else `extract`."""
    if (messages[-1].content or "").startswith("<memories>"):
        return consolidate(messages, params)
    return extract(messages, params)
