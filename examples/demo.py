"""The demo app `make run` serves: an assistant with a clock, a calculator, a notepad and a knowledge base.

Its model is the one `STRATUS_MODEL` names when set (on AWS the stack sets Bedrock), else OpenAI when
`OPENAI_API_KEY` is set (`OPENAI_BASE_URL` points it at any compatible server, `OPENAI_MODEL` picks the
model), otherwise SmolLM2-135M running offline in process through llama.cpp.
Documents uploaded to `/knowledge/content` (or with `stratus knowledge add`) are embedded by OpenAI when a
key is set, else by all-MiniLM-L6-v2 in process, and indexed under `.stratus/knowledge/`; the assistant
searches them when a question needs them.
"""

from __future__ import annotations

import ast
import math
import operator
import os
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from stratus import Agent, App, RunContext, ToolError, Toolkit, tool
from stratus.knowledge import Knowledge
from stratus.models import default_model
from stratus.models.base import Model
from stratus.secrets import get_secret


@tool
def current_time(timezone: str = "UTC") -> str:
    """Get the current date and time.

    Args:
        timezone: An IANA time zone name, such as Europe/Paris or America/New_York.
    """
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolError(f"unknown time zone {timezone!r}; use an IANA name like Europe/Paris") from None
    return datetime.now(zone).strftime("%A %d %B %Y, %H:%M:%S %Z")


_OPERATORS: dict[type, Any] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}
_FUNCTIONS: dict[str, Any] = {
    name: getattr(math, name) for name in ("sqrt", "sin", "cos", "tan", "log", "log10", "exp", "floor", "ceil")
} | {"abs": abs, "round": round}
_CONSTANTS = {"pi": math.pi, "e": math.e}


def _evaluate(node: ast.AST) -> float | int:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > 1000:
            raise ToolError("exponent too large (at most 1000)")
        return _OPERATORS[type(node.op)](left, right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS:
        if node.keywords:
            raise ToolError("functions take positional arguments only")
        return _FUNCTIONS[node.func.id](*(_evaluate(a) for a in node.args))
    raise ToolError(f"unsupported expression element: {ast.dump(node)[:60]}")


@tool
def calculate(expression: str) -> str:
    """Evaluate an arithmetic expression exactly, e.g. "(3 + 4) * 2 ** 10" or "sqrt(2) * pi".

    Args:
        expression: Numbers, + - * / // % **, parentheses, pi, e, and sqrt, sin, cos, tan, log, log10, exp,
            floor, ceil, abs, round.
    """
    if len(expression) > 500:
        raise ToolError("expression too long (at most 500 characters)")
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        raise ToolError(f"not an arithmetic expression: {expression!r}") from None
    try:
        return repr(_evaluate(tree))
    except ZeroDivisionError:
        raise ToolError("division by zero") from None
    except (OverflowError, ValueError) as exc:
        raise ToolError(f"cannot compute that: {exc}") from None


class Notepad(Toolkit):
    """Notes kept in the session's state: they survive from one run of the session to the next."""

    def __init__(self) -> None:
        super().__init__(name="notepad", instructions="Use the notepad to remember things the user asks you to.")

    @tool
    def add_note(self, text: str, context: RunContext) -> str:
        """Write a note down.

        Args:
            text: What to remember.
        """
        notes: list[str] = context.session_state.setdefault("notes", [])
        notes.append(text)
        return f"noted ({len(notes)} notes)"

    @tool
    def list_notes(self, context: RunContext) -> list[str]:
        """Read back every note written in this session."""
        return list(context.session_state.get("notes", []))


def demo_model() -> Model:
    """The model `STRATUS_MODEL` names (on AWS: Bedrock, set by the stack), else OpenAI when a key is
    configured, else the offline llama.cpp model."""
    configured = default_model()
    if configured is not None:
        return configured
    if get_secret("OPENAI_API_KEY"):
        from stratus.models.openai import OpenAIChat

        return OpenAIChat(id=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"))
    from stratus.models.llama_cpp import LlamaCpp

    return LlamaCpp(max_tokens=256)


docs = Knowledge("docs", description="Documents the user uploaded: notes, manuals, reports.")

assistant = Agent(
    id="assistant",
    name="Assistant",
    description="You are a friendly, concise assistant.",
    instructions="Answer briefly. Use a tool when it gives a better answer than you could alone.",
    model=demo_model(),
    tools=[current_time, calculate, Notepad()],
    knowledge=docs,
    search_knowledge=True,
    add_history_to_context=True,
    num_history_runs=3,
)

app = App(agents=[assistant], knowledge=[docs], id="stratus-demo", name="stratus demo")
