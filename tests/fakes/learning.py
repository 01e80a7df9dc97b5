"""A scripted extraction model for the learning machine's tests and the apps they deploy."""

from __future__ import annotations

import json
import re
from typing import Any

from stratus.messages import Message
from stratus.models.base import ModelRequest

__all__ = ["extract"]


def extract(messages: list[Message], params: ModelRequest) -> str:
    """A scripted extraction model: reads the turn and the known memories the machine shows it."""
    prompt = messages[-1].content or ""
    said = re.search(r"<user_says>\n(.*?)\n</user_says>", prompt, re.S)
    text = said.group(1) if said else ""
    known = dict(re.findall(r"^\[([^\]]+)\] (.*)$", prompt, re.M))
    found: dict[str, Any] = {"profile": {}, "memories": [], "forget": [], "insights": []}
    if name := re.search(r"my name is (\w+)", text, re.I):
        found["profile"]["name"] = name.group(1)
    if place := re.search(r"I (?:live in|moved to|now live in) (\w+)", text, re.I):
        old = next((i for i, m in known.items() if "lives in" in m), None)
        found["memories"].append(
            {"memory": f"The user lives in {place.group(1)}.", "topics": ["home"], "replaces": old}
        )
    for liked in re.findall(r"I (?:like|love) (\w+)", text, re.I):
        found["memories"].append({"memory": f"The user likes {liked}.", "topics": ["food"]})
    if "forget where I live" in text:
        found["forget"] = [i for i, m in known.items() if "lives in" in m]
    if tip := re.search(r"tip: (.*)", text):
        found["insights"].append(tip.group(1))
    previous = re.search(r"<previous_session_summary>\n(.*?)\n</previous_session_summary>", prompt, re.S)
    found["session_summary"] = ((previous.group(1) + " / ") if previous else "") + f"talked about: {text}"
    return json.dumps(found)
