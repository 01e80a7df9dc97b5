"""An app to evaluate over a live server: an agent that adds with its tool, whose model also answers as the
accuracy judge (a score of 8)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from stratus import Agent, App, tool
from stratus.messages import Message
from stratus.models.base import ModelRequest
from stratus.models.testing import FunctionModel, Reply, call


@tool
def add(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b


def _calculator(messages: Sequence[Message], params: ModelRequest) -> Reply:
    if any(m.role == "system" and "You judge how well" in (m.content or "") for m in messages):
        return json.dumps({"accuracy_score": 8, "accuracy_reason": "It says 3, as expected."})
    if messages[-1].role == "tool":
        return f"The answer is {messages[-1].content}"
    return call("add", a=1, b=2)


eval_app = App(
    agents=[
        Agent(
            id="calc",
            name="Calculator",
            model=FunctionModel(_calculator, id="calc-model"),
            tools=[add],
            instructions="You add numbers.",
        )
    ]
)
