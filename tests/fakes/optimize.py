"""A scripted memory-optimization model (`POST /optimize-memories`), and one that also extracts, for an app
whose learning machine does both."""

from __future__ import annotations

import json
import re

from stratus.messages import Message
from stratus.models.base import ModelRequest
from tests.fakes.learning import extract

__all__ = ["consolidate", "extract_or_consolidate"]

_ITEM = re.compile(r"(?:^|\n)\[\d+\] ")
_TOPICS = re.compile(r"(.*?)(?: \(topics: (.*)\))?", re.S)


def _given(content: str) -> list[tuple[str, str]]:
    """The memories (text, topics) the optimizer lists as `[n] text (topics: a, b)`; a text may span lines."""
    body = content.removeprefix("<memories>\n").removesuffix("\n</memories>")
    found: list[tuple[str, str]] = []
    for item in _ITEM.split(body)[1:]:
        matched = _TOPICS.fullmatch(item)
        assert matched is not None  # the pattern matches any text
        found.append((matched.group(1), matched.group(2) or ""))
    return found


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def consolidate(messages: list[Message], params: ModelRequest) -> str:
    """Reads the memories the optimizer lists and drops each whose words another one's include ("likes tea"
    in "likes green tea") and the blank ones; the others stay as they are, with their topics (a list of only
    blanks becomes one memory that says so, as a model would answer)."""
    given = _given(messages[-1].content or "")
    kept = [
        {"memory": text, "topics": [t.strip() for t in topics.split(",") if t.strip()]}
        for i, (text, topics) in enumerate(given)
        if text.strip() and not any(j != i and _words(text) < _words(other) for j, (other, _) in enumerate(given))
    ]
    return json.dumps({"memories": kept or [{"memory": "No facts worth keeping.", "topics": []}]})


def extract_or_consolidate(messages: list[Message], params: ModelRequest) -> str:
    """`consolidate` for the optimizer's request (it lists `<memories>`), else `extract`."""
    if (messages[-1].content or "").startswith("<memories>"):
        return consolidate(messages, params)
    return extract(messages, params)
