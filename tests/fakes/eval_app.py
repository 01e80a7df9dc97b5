"""An app to evaluate: an agent that adds with its tool, whose model also answers as the evals' judges."""

from __future__ import annotations

import json
from collections.abc import Sequence

from stratus import Agent, App
from stratus.messages import Message
from stratus.models.base import ModelRequest
from stratus.models.testing import FunctionModel, Reply, call
from tests.fakes.tools import add


def calculator(messages: Sequence[Message], params: ModelRequest) -> Reply:
    """The agent adds with its tool, then answers; as the accuracy judge it scores 8; as the criteria judge
    it passes the answer, or scores it 6."""
    system = next((m.content or "" for m in messages if m.role == "system"), "")
    if "You judge how well" in system:
        return json.dumps({"accuracy_score": 8, "accuracy_reason": "It says 3, as expected."})
    if "You are an expert evaluator" in system:
        if "## Scoring (1-10)" in system:
            return json.dumps({"score": 6, "reason": "Correct, but terse."})
        return json.dumps({"passed": True, "reason": "It gives the sum."})
    if messages[-1].role == "tool":
        return f"The answer is {messages[-1].content}"
    return call("add", a=1, b=2)


def calculator_agent(model: FunctionModel | None = None) -> Agent:
    """The agent `calc`, on `model` (a `calculator` model of its own when None)."""
    model = model or FunctionModel(calculator, id="calc-model")
    return Agent(id="calc", name="Calculator", model=model, tools=[add], instructions="You add numbers.")


eval_app = App(agents=[calculator_agent()])
