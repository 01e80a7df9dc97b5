"""The demo app `make run` serves, everything stratus does in one small company's help desk:

- `assistant`, an agent with tools (a clock, an exact calculator, a notepad kept in the session's state), the
  company handbook as its knowledge, and learning on: it remembers each user (by `user_id`) across sessions;
- `helpdesk`, a team whose leader routes each question to its `researcher` (the handbook) or its
  `calculator` (sums and times);
- `handbook-brief`, a workflow: look the question up in the handbook (a function), answer it from what was
  found (an agent), then name the pages used (a function).

The handbook, `examples/handbook/*.md`, is a fictional company's (Kestrel Labs): its facts cannot be guessed,
so an answer from it shows it was read. It is indexed as the server starts, the first time only (a file
changed since is indexed again); documents uploaded to `/knowledge/content` (or with `stratus knowledge add`)
join it. Embeddings: OpenAI's when a key is set, else all-MiniLM-L6-v2 in process, under `.stratus/knowledge/`.

Its model is the one `STRATUS_MODEL` names when set (on AWS the stack sets Bedrock), else OpenAI when
`OPENAI_API_KEY` is set (`OPENAI_BASE_URL` points it at any compatible server, `OPENAI_MODEL` picks the
model), otherwise the offline model, run in process through llama.cpp.
"""

from __future__ import annotations

import ast
import math
import operator
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from stratus import Agent, App, RunContext, Step, StepInput, Team, ToolError, Toolkit, Workflow, tool
from stratus.knowledge import Knowledge
from stratus.knowledge.chunking import MarkdownChunker
from stratus.learning import LearningMachine
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


HANDBOOK = Path(__file__).resolve().parent / "handbook"
"""The Kestrel Labs handbook: the knowledge base's sources."""

ASSISTANT_INSTRUCTIONS = """\
Pick the tool that fits the question:
- current_time: the date or the time anywhere (timezone as an IANA name, e.g. Asia/Tokyo).
- calculate: any arithmetic. Never work out numbers yourself.
- add_note and list_notes: when the user asks you to note something down or read notes back.
Answer in one or two sentences, with the figures the tool gave."""


def build_app(model: Model | None = None) -> App:
    """The demo app, every agent on `model` (by default `demo_model()`): tests pass a scripted one."""
    model = model or demo_model()
    handbook = Knowledge(
        "handbook",
        description="the Kestrel Labs employee handbook: leave, office hours, expenses, on-call rota",
        per_user=False,  # one handbook for everyone; uploads join it
        sources=[HANDBOOK],
        chunker=MarkdownChunker(size_tokens=200),  # a section a chunk: short passages for a small model
        limit=3,
        min_score=0.8,  # passages that share words with the question: "What is my name?" (0.70) and "Hi, my name is
        # Bruno." (0.77, "name the guests") get none; handbook questions score 0.815-1.0
    )
    assistant = Agent(
        id="assistant",
        name="Assistant",
        description="You are the Kestrel Labs help desk assistant: friendly and brief.",
        instructions=ASSISTANT_INSTRUCTIONS,
        model=model,
        tools=[current_time, calculate, Notepad()],
        knowledge=handbook,
        search_knowledge=False,  # a search tool beside the passages: the 1.5B model searched for the time, and chat
        add_knowledge_to_context=True,  # the handbook's best passages come with each message: no call needed
        learning=LearningMachine(session_summary=False),  # remembers who the user is, across sessions
        add_history_to_context=True,
        num_history_runs=3,
    )
    researcher = Agent(
        id="researcher",
        name="Researcher",
        description="Answers questions about Kestrel Labs from its handbook: leave, offices, expenses, on-call.",
        instructions="Answer in one or two sentences from the handbook's passages below, with their figures; if "
        "they do not answer the question, say only that the handbook does not say.",
        model=model,
        knowledge=handbook,
        search_knowledge=False,
        add_knowledge_to_context=True,  # the handbook's passages for each question, searched before the model runs
    )
    calculator = Agent(
        id="calculator",
        name="Calculator",
        description="Does arithmetic exactly and tells the date and time anywhere.",
        instructions="Call calculate for any arithmetic and current_time for dates and times, then answer briefly.",
        model=model,
        tools=[calculate, current_time],
    )
    helpdesk = Team(
        id="helpdesk",
        name="Help desk",
        mode="broadcast",  # every member answers; the leader writes one answer from theirs (no call to make)
        members=[researcher, calculator],
        model=model,
        instructions="Answer the user's question in one or two sentences from the member that answered it; leave "
        "out the members' answers that do not fit the question.",
    )

    async def lookup(step_input: StepInput) -> str:
        """Step 1: the handbook's passages for the question, with the question (no model involved)."""
        hits = await handbook.search(step_input.input, limit=3)
        passages = "\n\n".join(f"[{h.chunk.metadata.get('name', 'handbook')}]\n{h.chunk.text}" for h in hits)
        return f"Question: {step_input.input}\n\nHandbook passages:\n{passages or '(none found)'}"

    writer = Agent(
        id="writer",
        name="Writer",
        instructions="You get a question and passages from a handbook. Answer the question in one or two "
        "sentences from the passages only; if they do not answer it, say so.",
        model=model,
    )

    def cite(step_input: StepInput) -> str:
        """Step 3: the answer, then the handbook pages it was written from."""
        found = re.findall(r"^\[([^\]\n]+\.md)\]$", str(step_input.get_step_content("lookup") or ""), re.MULTILINE)
        pages = ", ".join(dict.fromkeys(found)) or "none"
        return f"{str(step_input.previous_step_content or '').strip()}\n\nSources: {pages}"

    brief = Workflow(
        id="handbook-brief",
        name="Handbook brief",
        description="Looks a question up in the handbook, answers it from what it found, and names the pages.",
        steps=[Step("lookup", executor=lookup), Step("answer", agent=writer), Step("cite", executor=cite)],
    )
    return App(
        agents=[assistant],
        teams=[helpdesk],
        workflows=[brief],
        knowledge=[handbook],
        id="stratus-demo",
        name="stratus demo",
    )


app = build_app()
