"""The run controls agno's agents take besides the model and tools: which tools the model must (or may not)
call, how many calls a run may make in all, the shape its input must have, the dependencies resolved for
each run, and history counted in messages."""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, cast

from stratus.exceptions import ConfigError, InputValidationError
from stratus.messages import Message, ToolCall

if TYPE_CHECKING:
    from pydantic import BaseModel

    from stratus.agent.agent import Agent
    from stratus.run import RunContext, RunOutput

__all__ = [
    "ToolBudget",
    "dependencies_text",
    "first_tool_choice",
    "history_runs",
    "last_messages",
    "next_tool_choice",
    "refusals",
    "resolve_dependencies",
    "tool_choice_name",
    "validated_input",
]

logger = logging.getLogger("stratus.agent")

_LIMIT_REACHED = "Tool call limit reached. Tool call {name} not executed. Don't try to execute it again."

_KEYWORDS = ("auto", "none", "required")


@dataclass(slots=True)
class ToolBudget:
    """The tool calls a run may still make (`tool_call_limit`; None: no bound)."""

    limit: int | None
    used: int = 0

    def admit(self, wanted: int) -> int:
        """How many of `wanted` calls may run now (they are counted)."""
        allowed = wanted if self.limit is None else max(0, min(wanted, self.limit - self.used))
        self.used += allowed
        return allowed

    @property
    def exhausted(self) -> bool:
        return self.limit is not None and self.used >= self.limit


def tool_choice_name(choice: str | dict[str, Any] | None, owner: str) -> str | None:
    """A `tool_choice` as `ModelRequest.tool_choice` takes it: "auto", "none", "required" or a tool's name
    (OpenAI's `{"type": "function", "function": {"name": ...}}` gives its name)."""
    if isinstance(choice, dict):
        function: Any = choice.get("function")
        name: Any = cast(dict[str, Any], function).get("name") if isinstance(function, dict) else choice.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{owner}: tool_choice {choice!r} names no tool")
        return name
    if choice is not None and not choice.strip():
        raise ConfigError(f"{owner}: tool_choice is empty")
    return choice


def first_tool_choice(
    value: str | dict[str, Any] | None, tools: Mapping[str, Any], budget: ToolBudget, owner: str
) -> str | None:
    """The `tool_choice` of a run's first request; a named tool must be one the run has."""
    choice = tool_choice_name(value, owner)
    if not tools:
        return None
    if budget.exhausted:
        return "none"
    if choice is not None and choice not in _KEYWORDS and choice not in tools:
        known = ", ".join(sorted(tools))
        raise ConfigError(f"{owner}: tool_choice names {choice!r}, which is none of its tools ({known})")
    return choice


def next_tool_choice(choice: str | None, budget: ToolBudget) -> str | None:
    """The `tool_choice` after a round of tool calls: a forced call was made, so the model decides again,
    unless no tool may be called any more."""
    if budget.exhausted or choice == "none":
        return "none"
    return None if choice is None else "auto"


def refusals(calls: Sequence[ToolCall]) -> list[Message]:
    """The results of calls past `tool_call_limit`, which are not run: the model reads why (agno's words)."""
    return [
        Message(
            role="tool",
            content=_LIMIT_REACHED.format(name=call.name),
            tool_call_id=call.id,
            tool_name=call.name,
            tool_call_error=True,
        )
        for call in calls
    ]


def validated_input(value: str | Mapping[str, Any] | BaseModel, schema: type[BaseModel] | None, owner: str) -> str:
    """The run's message: with an `input_schema`, the input (a JSON string, a dict or the model itself)
    validated and written as the schema's JSON (as agno sends it); without one, the text as given."""
    if schema is None:
        if not isinstance(value, str):
            raise InputValidationError(f"{owner} takes text (it has no input_schema), got {type(value).__name__}")
        return value
    from pydantic import BaseModel, ValidationError

    try:
        if isinstance(value, BaseModel):
            model = value if isinstance(value, schema) else schema.model_validate(value.model_dump())
        elif isinstance(value, str):
            model = schema.model_validate_json(value)
        else:
            model = schema.model_validate(dict(value))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in exc.errors()[:10])
        raise InputValidationError(f"{owner}: the input does not match {schema.__name__}: {problems}") from None
    return model.model_dump_json(indent=2, exclude_none=True)


async def resolve_dependencies(
    agent: Agent, context: RunContext, given: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The agent's `dependencies` for one run, with the run's own (`given`) over them (agno's merge): values
    as they are, callables (sync or async) called with the parameters they name of `agent` and `run_context`
    (agno's). One that fails is left out, logged."""
    resolved: dict[str, Any] = {}
    for key, value in {**(agent.dependencies or {}), **(given or {})}.items():
        if not callable(value):
            resolved[key] = value
            continue
        try:
            named = inspect.signature(value).parameters
            given = {"agent": agent, "run_context": context}
            result = value(**{name: given[name] for name in named if name in given})
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            logger.warning("run %s: dependency %r failed, left out: %s", context.run_id, key, exc)
            continue
        resolved[key] = result
    return resolved


def dependencies_text(dependencies: Mapping[str, Any]) -> str:
    """The block `add_dependencies_to_context` adds to the user's message (agno's)."""
    body = json.dumps(dependencies, indent=2, default=str, ensure_ascii=False)
    return f"\n\n<additional context>\n{body}\n</additional context>"


def history_runs(agent: Agent) -> int:
    """How many earlier runs to read: `num_history_runs`, or with `num_history_messages` that many (a run
    holds at least one message of the history, so they always hold enough)."""
    return agent.num_history_runs if agent.num_history_messages is None else agent.num_history_messages


def last_messages(history: Sequence[RunOutput], count: int) -> list[RunOutput]:
    """The history cut to its last `count` messages (agno's `num_history_messages`): each run keeps only its
    messages among them, and tool results whose call was cut off go too (as agno cuts)."""
    sent = [(n, m) for n, run in enumerate(history) for m in run.messages if m.role != "system" and not m.from_history]
    kept = sent[-count:] if count > 0 else []
    while kept and kept[0][1].role == "tool":
        kept.pop(0)
    runs: list[RunOutput] = []
    for n, run in enumerate(history):
        messages = [m for i, m in kept if i == n]
        if messages:
            runs.append(replace(run, messages=messages))
    return runs
