"""`Agent`: a plain declaration of what an agent is. Running it is the run loop's job (`_loop.py`)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stratus._runnable import Runnable, RunOptions
from stratus._utils import slug
from stratus.agent._controls import tool_choice_name, validated_input
from stratus.exceptions import ConfigError
from stratus.hooks import hooked_tools
from stratus.models import default_model, infer_model
from stratus.models.base import Model
from stratus.run import RunContext
from stratus.tools import Tool, Toolkit

if TYPE_CHECKING:
    from pydantic import BaseModel

    from stratus._lifecycle import Resumption
    from stratus._nesting import RunScope
    from stratus.agent._loop import AgentRun
    from stratus.hooks import Hook
    from stratus.knowledge import Knowledge
    from stratus.learning import LearningMachine
    from stratus.storage.base import Store

__all__ = ["Agent", "Instructions", "resolve_instructions", "resolve_model"]

Instructions = str | Sequence[str] | Callable[..., str | Sequence[str]] | None
"""Text, a list of lines, or a function (taking nothing or a `RunContext`) that returns either."""


@dataclass(slots=True, kw_only=True, eq=False)
class ModelComponent(Runnable):
    """What an agent and a team (its leader) are both declared with: a model, instructions and tools, and where
    their sessions are kept. See `Agent` and `Team` for what each field does."""

    model: Model | str | None = None
    name: str | None = None
    id: str | None = None
    description: str | None = None
    instructions: Instructions = None
    tools: Sequence[Tool | Toolkit | Callable[..., Any]] = ()
    store: Store | None = None
    add_history_to_context: bool = False
    num_history_runs: int = 3
    session_state: dict[str, Any] | None = None
    _resolved_model: Model | None = field(default=None, init=False, repr=False)

    def get_instructions(self, context: RunContext) -> list[str]:
        """The instruction lines for this run (calling `instructions` if it is a function)."""
        return resolve_instructions(self.instructions, context)

    def model_data(self) -> dict[str, Any] | None:
        """The model as the session's component data names it (None until a run resolved it)."""
        model = self._resolved_model
        return {"name": model.name, "model": model.id, "provider": model.provider} if model else None


@dataclass(slots=True, kw_only=True, eq=False)
class Agent(ModelComponent):
    """An agent: a model, instructions and tools, with optional memory of its sessions.

    Declaring one does no work (no client, no schema, no connection): `Agent(...)` costs microseconds,
    and everything is resolved on the first run. `id` defaults to a slug of `name`.

    Args:
        model: A `Model`, or a `"provider:model-id"` string such as `"openai:gpt-4o-mini"`.
        name: Display name.
        id: Stable identifier used in the API's routes.
        description: One line about the agent; opens its system message.
        instructions: What the agent should do: text, lines, or a function of the `RunContext`.
        tools: `@tool` functions, plain functions, or `Toolkit`s.
        store: Where sessions and runs are kept; without one, runs are not persisted.
        add_history_to_context: Send the session's earlier runs to the model.
        num_history_runs: How many earlier runs to send (the newest ones).
        num_history_messages: Send the newest this many messages of the history instead (counted across runs,
            whatever `num_history_runs` says; a tool result whose call is cut off is left out too).
        session_state: Default state of a new session; tools read and change it via `RunContext`.
        output_schema: A pydantic model the answer must validate against; the run's content is then the
            validated object.
        output_retries: How many times an answer that does not validate is sent back for correction.
        max_tool_rounds: How many times in a row the model may call tools before the run is stopped.
        add_datetime_to_context: Tell the model the current date and time.
        markdown: Ask the model to format answers in Markdown.
        metadata: Free-form data reported by the API.
        knowledge: A `Knowledge` base the agent answers from.
        search_knowledge: Give the agent a `search_knowledge_base` tool (agentic search; the default).
        add_knowledge_to_context: Search the knowledge base with the user's message before asking the model,
            and put the best passages in the system message.
        knowledge_filters: Metadata filters every search of this agent applies (a run may add more).
        enable_agentic_knowledge_filters: The search tool also takes filters the model chooses, on the
            metadata keys of the knowledge base's content (named in the tool's description); the agent's and
            the run's filters still apply, and win on a key both name.
        learning: A `LearningMachine` (or True for the default one: learn after every run): the agent
            remembers its users across sessions, and what helps every user. Needs a store.
        run_timeout: Seconds a run may take in all (model requests, retries, tools, members it delegates
            to); past it the run ends with a `RunTimeoutError`, stored as an error. None: no bound beyond
            each model request's own and `stratus.run_deadline` (on Lambda: the invocation's time left).
        fallback_models: Models (or `"provider:model-id"` strings) that answer, in turn, when the model fails
            in a way its provider's own retries could not cure (a persistent 5xx, rate limit or timeout); the
            run goes on with the one that answered and records it (`model`, `model_provider`). Retries
            belong to each model (e.g. `OpenAIChat(max_retries=3)`): one retry layer per call.
        tool_choice: Whether the model calls tools: `"auto"` (the default with tools), `"none"`, `"required"`,
            or the name of one tool (or OpenAI's `{"type": "function", "function": {"name": ...}}`). A forced
            call (`"required"` or a name) is asked of the run's first request; later ones are `"auto"`.
        tool_call_limit: How many tool calls a run may make in all; calls past it are not run (the model is
            told the limit is reached) and the model is then sent `tool_choice="none"`, so it answers.
        input_schema: A pydantic model the input must validate against: a run then takes a dict, the model
            itself or a JSON string, and the model is sent the validated object as JSON. An input that does
            not validate raises `InputValidationError` before the run starts (nothing stored; the API
            answers 422).
        dependencies: Values, or functions (sync or async, taking the `agent` and `run_context` they name)
            resolved at the start of each run, in `RunContext.dependencies`: a tool with a parameter named
            `dependencies` receives them, as does a callable `instructions` through its `RunContext`.
        add_dependencies_to_context: Add the resolved dependencies, as JSON, to the user's message.
        enable_agentic_state: Give the agent an `update_session_state` tool: the model changes the session's
            state (saved with the run) by sending the keys to set.
        add_session_state_to_context: Show the session's state (as the run starts) in the system message.
        read_chat_history: Give the agent a `get_chat_history` tool: the session's messages so far, as JSON.
        search_past_sessions: Give the agent `search_past_sessions` (previews of the user's other sessions
            with this agent, newest first) and `read_past_session` tools. A run without a user sees none.
        num_past_sessions_to_search: How many sessions `search_past_sessions` lists (20 by default).
        num_past_session_runs_in_search: How many runs of each it previews (3 by default).
        enable_session_summaries: After each run, the summary model writes a summary of the session on the
            session (AgentOS' `session_summary`), without the learning machine; needs a store.
        session_summary_model: The model that writes it (a `Model` or `"provider:model-id"`; the agent's own
            by default).
        add_session_summary_to_context: Show the session's summary in the system message (by default when
            `enable_session_summaries` is on).
        pre_hooks: Functions (sync or async) or guardrails that see the run's input before the model does: they
            may change it, or stop the run with an `InputCheckError` (see `stratus.hooks`).
        post_hooks: Functions that see the run's output before it is stored: they may change its content, or
            stop the run with an `OutputCheckError`.
        tool_hooks: Functions every tool call goes through (the first outermost): they get the tool's
            `function_name`, the `function_call` to go on with and its `arguments`.
    """

    output_schema: type[BaseModel] | None = None
    output_retries: int = 2
    max_tool_rounds: int = 10
    add_datetime_to_context: bool = False
    markdown: bool = False
    metadata: dict[str, Any] | None = None
    knowledge: Knowledge | None = None
    search_knowledge: bool = True
    add_knowledge_to_context: bool = False
    knowledge_filters: dict[str, Any] | None = None
    learning: LearningMachine | bool | None = None
    run_timeout: float | None = None
    fallback_models: Sequence[Model | str] = ()
    tool_choice: str | dict[str, Any] | None = None
    tool_call_limit: int | None = None
    input_schema: type[BaseModel] | None = None
    dependencies: dict[str, Any] | None = None
    num_history_messages: int | None = None
    enable_agentic_state: bool = False
    add_session_state_to_context: bool = False
    read_chat_history: bool = False
    search_past_sessions: bool = False
    num_past_sessions_to_search: int | None = None
    num_past_session_runs_in_search: int | None = None
    enable_agentic_knowledge_filters: bool = False
    enable_session_summaries: bool = False
    session_summary_model: Model | str | None = None
    add_session_summary_to_context: bool | None = None
    add_dependencies_to_context: bool = False
    pre_hooks: Sequence[Hook] | None = None
    post_hooks: Sequence[Hook] | None = None
    tool_hooks: Sequence[Callable[..., Any]] | None = None
    _resolved_fallbacks: list[Model] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.id is None:
            self.id = slug(self.name, "agent") if self.name else "agent"
        if self.num_history_runs < 0 or self.max_tool_rounds < 0 or self.output_retries < 0:
            raise ConfigError(f"agent {self.id!r}: num_history_runs, max_tool_rounds and output_retries must be >= 0")
        self.fallback_models = tuple(self.fallback_models)
        if self.run_timeout is not None and not self.run_timeout > 0:
            raise ConfigError(f"agent {self.id!r}: run_timeout must be > 0 seconds (or None)")
        self.tool_choice = tool_choice_name(self.tool_choice, f"agent {self.id!r}")
        if self.num_history_messages is not None and self.num_history_messages < 0:
            raise ConfigError(f"agent {self.id!r}: num_history_messages must be >= 0 (or None)")
        if self.tool_call_limit is not None and self.tool_call_limit < 0:
            raise ConfigError(f"agent {self.id!r}: tool_call_limit must be >= 0 (or None)")
        if self.learning is True:
            from stratus.learning import LearningMachine

            self.learning = LearningMachine()
        elif self.learning is False:
            self.learning = None
        machine = self.learning_machine
        if machine is not None:
            machine.attach(self)

    @property
    def learning_machine(self) -> LearningMachine | None:
        """The agent's learning machine, if it learns."""
        machine = self.learning
        return None if machine is None or isinstance(machine, bool) else machine

    @property
    def shows_session_summary(self) -> bool:
        """Whether the system message shows the session's summary (`add_session_summary_to_context`)."""
        shown = self.add_session_summary_to_context
        return self.enable_session_summaries if shown is None else shown

    @property
    def agent_id(self) -> str:
        return self.id or "agent"

    # --- resolution (first run) -------------------------------------------------------------------------

    def get_model(self) -> Model:
        """The agent's model, built from its string on first use."""
        if self._resolved_model is None:
            self._resolved_model = resolve_model(self.model, f"agent {self.agent_id!r} has no model (give it one")
        return self._resolved_model

    def get_fallback_models(self) -> list[Model]:
        """The fallback models, built from their strings (each call builds none twice)."""
        if self._resolved_fallbacks is None:
            self._resolved_fallbacks = [infer_model(m) for m in self.fallback_models]
        return list(self._resolved_fallbacks)

    def get_tools(self) -> dict[str, Tool]:
        """The agent's tools by name, toolkits expanded. Two tools with one name are a configuration error."""
        found: dict[str, Tool] = {}
        for item in self.tools:
            batch = item.get_tools() if isinstance(item, Toolkit) else [Tool.ensure(item)]
            for t in batch:
                if t.name in found:
                    raise ConfigError(f"agent {self.agent_id!r} has two tools named {t.name!r}")
                found[t.name] = t
        return hooked_tools(found, self.tool_hooks)

    async def aget_tools(self) -> tuple[dict[str, Tool], list[tuple[Toolkit, BaseException]]]:
        """The tools for one run, asking every toolkit at once (an MCP toolkit may connect first). A toolkit
        that fails is left out and reported with its error, so the run can go on without it."""
        static: list[Tool] = []
        kits: list[Toolkit] = []
        for item in self.tools:
            if isinstance(item, Toolkit):
                kits.append(item)
            else:
                static.append(Tool.ensure(item))
        batches = await asyncio.gather(*(kit.aget_tools() for kit in kits), return_exceptions=True)
        found: dict[str, Tool] = {}
        failures: list[tuple[Toolkit, BaseException]] = []
        tools = list(static)
        for kit, batch in zip(kits, batches, strict=True):
            if isinstance(batch, BaseException):
                if not isinstance(batch, Exception):
                    raise batch  # cancellation and the like are not a toolkit's failure
                failures.append((kit, batch))
            else:
                tools.extend(batch)
        for t in tools:
            if t.name in found:
                raise ConfigError(f"agent {self.agent_id!r} has two tools named {t.name!r}")
            found[t.name] = t
        return hooked_tools(found, self.tool_hooks), failures

    # --- running ----------------------------------------------------------------------------------------

    def execution(self, input: str | Mapping[str, Any] | BaseModel, options: RunOptions | None = None) -> AgentRun:
        """An agent run: streamed, its events go from `RunStarted` to `RunCompleted` or `RunError`. An input
        that does not follow `input_schema` raises `InputValidationError` here, before anything starts."""
        from stratus._lifecycle import Start
        from stratus.agent._loop import AgentRun

        return AgentRun(self, validated_input(input, self.input_schema, f"agent {self.agent_id!r}"), Start(options))

    def child_execution(self, input: str, scope: RunScope, resume: Resumption | None = None) -> AgentRun:
        """A member's or a step's run: in the parent's session, sharing its state, with no history."""
        from stratus._lifecycle import Start
        from stratus.agent._loop import AgentRun

        return AgentRun(self, input, Start(scope=scope, resume=resume))


def resolve_model(model: Model | str | None, missing: str) -> Model:
    """`model` (a `"provider:model-id"` string is built), or the default one (`STRATUS_MODEL`); without
    either, a `ConfigError` saying `missing`, then how to give one."""
    resolved = infer_model(model) if model is not None else default_model()
    if resolved is None:
        raise ConfigError(f"{missing}, or set STRATUS_MODEL)")
    return resolved


def resolve_instructions(value: Instructions, context: RunContext) -> list[str]:
    """Instruction lines from text, lines, or a function (taking nothing or the `RunContext`) returning either."""
    if callable(value):
        value = value(context) if _takes_argument(value) else value()
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    return [line for line in value if line.strip()]


def _takes_argument(fn: Callable[..., Any]) -> bool:
    try:
        return len(inspect.signature(fn).parameters) > 0
    except (TypeError, ValueError):
        return False
