"""The demo app (`examples.demo`) wired as `make run` serves it, on a model that plays the part a good model
would: it picks the tool the question needs, answers from what the tool returned (or from the passages in its
context), picks the member's answer that fits as the team's leader, extracts the user's name for learning, and
knows it from what recall puts in its context. So the e2e tests
check the demo's wiring (tools, the handbook, learning, the team, the workflow) without any weights:

    stratus dev --app tests.e2e.demo_app:app
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from examples.demo import build_app
from stratus.messages import Message
from stratus.models.base import ModelRequest
from stratus.models.testing import FunctionModel, Reply, call

__all__ = ["app", "play"]

_NAME_GIVEN = re.compile(r"\bmy name is (\w+)", re.IGNORECASE)
_NAME_KNOWN = re.compile(r"^The user's name is (\w+)\.$", re.MULTILINE)
_ARITHMETIC = re.compile(r"[\d.]+(?:\s*[-+*/]\s*[\d.]+)+")


def _extraction(said: str) -> str:
    """The learning machine's extraction: the user's name, when they gave it."""
    given = _NAME_GIVEN.search(said)
    if given is None:
        return json.dumps({"profile": {}, "memories": []})
    name = given.group(1)
    return json.dumps({"profile": {"name": name}, "memories": [{"memory": f"The user's name is {name}."}]})


def _best_line(question: str, text: str) -> str | None:
    """The line of `text` with a figure that shares the most words with `question` (by their first 5 letters)."""
    words = {w[:5] for w in re.findall(r"\w{4,}", question.lower())} - {"quest", "what", "does", "when"}
    figures = [line for line in text.splitlines() if re.search(r"\d", line)]
    best = max(figures, key=lambda line: sum(w in line.lower() for w in words), default=None)
    return best.strip(" |") if best else None


def play(messages: Sequence[Message], params: ModelRequest) -> Reply:
    """One model turn of the demo's agents and team leader."""
    last = messages[-1]
    if "<user_says>" in (last.content or ""):  # the learning machine asks for its Extraction
        return _extraction((last.content or "").split("</user_says>", 1)[0])
    if last.role == "tool":
        return f"From {last.tool_name}: {(last.content or '').strip()[:400]}"
    system = next((m.content or "" for m in messages if m.role == "system"), "")
    said, _, passages = (last.content or "").partition("\n\nPassages from the knowledge base")
    tools = {t.name for t in params.tools}
    if "<member_response" in system:  # the team's leader, given every member's answer: the one that fits
        answers = dict(re.findall(r'<member_response member_id="(\w+)"[^>]*>\n(.*?)\n</member_response>', system, re.S))
        return answers.get("calculator" if _ARITHMETIC.search(said) else "researcher", "No member could answer.")
    if said.startswith("Question: "):  # the workflow's writer, given the handbook's passages
        question, _, found = said.partition("\n")
        return _best_line(question, found) or "The handbook does not say."
    if (arithmetic := _ARITHMETIC.search(said)) and "calculate" in tools:
        return call("calculate", expression=arithmetic.group(0))
    if "time" in said.lower() and "current_time" in tools:
        return call("current_time", timezone="Asia/Tokyo" if "tokyo" in said.lower() else "UTC")
    if given := _NAME_GIVEN.search(said):
        return f"Nice to meet you, {given.group(1)}."
    if "my name" in said.lower():
        known = _NAME_KNOWN.search(system)
        return f"Your name is {known.group(1)}." if known else "I don't know your name yet."
    if passages:  # the handbook's passages came with the message (the assistant, the researcher)
        return _best_line(said, passages) or "The handbook does not say."
    if "search_knowledge_base" in tools:
        return call("search_knowledge_base", query=said)
    return "I can't help with that."


app = build_app(FunctionModel(play, id="demo-script"))
