"""The turns of a run: ask the model, act on its answer, until it answers or a limit stops the run.

Each turn ends in exactly one next step (`_NextStep`): run the tools and ask again, send a correction and ask
again, or finish with the answer. An agent's run drives a `TurnLoop`; so does a team's run for its leader,
passing in as values what differs (the team's event base and names, and the member's answer that is the
team's once a message is routed), so nothing needs overriding.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from stratus._utils import to_text
from stratus.agent._controls import ToolBudget, first_tool_choice, next_tool_choice, refusals
from stratus.agent._pause import REJECTED, MemberPaused, as_call, flag, requirement
from stratus.deadline import Deadline, inherited_by
from stratus.exceptions import ModelError, OutputValidationError, RunLimitExceeded, ToolError
from stratus.messages import Message, ToolCall, Usage
from stratus.models.base import Model, ModelRequest, ModelResponse
from stratus.run import (
    ModelRequestCompleted,
    ModelRequestStarted,
    RunContent,
    RunContext,
    RunEvent,
    RunOutput,
    RunPaused,
    RunStatus,
    ToolCallCompleted,
    ToolCallStarted,
    ToolExecution,
    ToolkitUnavailable,
)
from stratus.tools import Tool, Toolkit

if TYPE_CHECKING:
    from stratus._lifecycle import RunLifecycle
    from stratus.agent.agent import Agent

__all__ = ["TurnLoop", "build_messages", "kept_messages", "resumed_messages"]

logger = logging.getLogger("stratus.agent")

E = TypeVar("E", bound=RunEvent)


@dataclass(slots=True)
class _CallTools:
    """Next step: run these tool calls, then ask the model again."""

    calls: list[ToolCall]


@dataclass(slots=True)
class _Correct:
    """Next step: the answer did not validate; send this correction and ask again."""

    feedback: str


@dataclass(slots=True)
class _Finish:
    """Next step: the run is done; this is its content."""

    content: Any


_NextStep = _CallTools | _Correct | _Finish


@dataclass(slots=True, kw_only=True)
class TurnLoop:
    """The turns of one run. `run()` yields their events and leaves the answer in the run's `output.content`."""

    agent: Agent
    """The configuration: output schema, limits, fallback models (a team's leader is an `Agent` too)."""
    lifecycle: RunLifecycle
    """The run the turns are of: its output, event base and deadline."""
    context: RunContext
    model: Model
    """The model answering: the agent's, or a fallback after a failure (then for the rest of the run)."""
    fallbacks: list[Model] = field(default_factory=lambda: list[Model]())
    """The fallback models not tried yet."""
    renamed: Mapping[type[RunEvent], type[RunEvent]] = field(
        default_factory=lambda: dict[type[RunEvent], type[RunEvent]]()
    )
    """Event classes under other names (a team's leader speaks the team's: `TeamRunContent`, ...)."""
    answered: Callable[[], RunOutput | None] | None = None
    """A run whose answer is this run's once it exists (a routed team's member): the model is not asked again."""
    started: float = field(default_factory=time.perf_counter)
    resumed: Sequence[ToolExecution] = ()
    """A resumed run's: the round of tool calls it paused at, the person's decisions in them."""
    _members_paused: list[MemberPaused] = field(default_factory=lambda: list[MemberPaused](), init=False)
    """The members whose runs paused in the round of tools running (a team's leader's delegation calls)."""

    def __post_init__(self) -> None:
        self.output.answered_by(self.model)

    @classmethod
    def of(cls, agent: Agent, lifecycle: RunLifecycle, context: RunContext, **more: Any) -> TurnLoop:
        """The turns of the run `lifecycle` drives, answered by `agent`'s model (then its fallbacks)."""
        model, fallbacks = agent.get_model(), agent.get_fallback_models()
        return cls(agent=agent, lifecycle=lifecycle, context=context, model=model, fallbacks=fallbacks, **more)

    @property
    def output(self) -> RunOutput:
        return self.lifecycle.output

    @property
    def base(self) -> dict[str, Any]:
        return self.lifecycle.base

    @property
    def deadline(self) -> Deadline | None:
        return self.lifecycle.deadline

    def _event(self, cls: type[E], **fields: Any) -> E:
        kind: type[Any] = self.renamed.get(cls, cls)
        return kind(**self.base, **fields)

    async def _bounded(self, awaitable: Any, waiting_for: str) -> Any:
        if self.deadline is None:
            return await awaitable
        return await self.deadline.bound(awaitable, waiting_for)

    def unavailable(self, kits: Sequence[tuple[Toolkit, BaseException]]) -> list[RunEvent]:
        """The events saying which toolkits could not be reached: the run goes on without their tools."""
        events: list[RunEvent] = []
        for kit, error in kits:
            logger.warning("run %s: toolkit %s unavailable: %s", self.output.run_id, kit.name, error)
            events.append(ToolkitUnavailable(**self.base, toolkit=kit.name, content=f"{type(error).__name__}: {error}"))
        return events

    async def run(
        self,
        messages: list[Message],
        tools: dict[str, Tool],
        *,
        stream: bool,
    ) -> AsyncIterator[RunEvent]:
        """Turn after turn until the model answers: the run's messages grow in `messages` (the request's,
        history included) and in `output.messages` (the run's own). A call of a tool that needs a person pauses
        the run (stored, `RunPaused` last); a resumed run first runs the round it paused at, as decided."""
        agent, out = self.agent, self.output
        if self.resumed:
            async for event in self._finish_round(self.resumed, tools, messages):
                yield event
            if self.lifecycle.status is RunStatus.PAUSED:
                return  # a member's resumed run paused again
        budget = ToolBudget(agent.tool_call_limit)
        choice = first_tool_choice(agent.tool_choice, tools, budget, f"agent {agent.agent_id!r}")
        request = ModelRequest(tools=[t.definition() for t in tools.values()], tool_choice=choice)
        schema = agent.output_schema
        if schema is not None and self.model.supports_structured_output:
            request.output_schema = schema.model_json_schema()
            request.output_name = schema.__name__
        tool_rounds = 0
        corrections = 0
        while True:
            turn = _Turn()
            async for event in self._ask(messages, request, stream, turn):
                yield event
            response, assistant = turn.response, turn.message
            assert response is not None
            assert assistant is not None
            messages.append(assistant)
            out.messages.append(assistant)
            step = self._next_step(response, corrections)
            if isinstance(step, _CallTools):
                if tool_rounds >= agent.max_tool_rounds:
                    raise RunLimitExceeded(
                        f"run stopped: max_tool_rounds={agent.max_tool_rounds} reached (the model asked "
                        f"for tools {agent.max_tool_rounds} times in a row without answering)",
                        limit="max_tool_rounds",
                    )
                tool_rounds += 1
                if any(t.pauses for c in step.calls if (t := tools.get(c.name)) is not None):
                    yield await self._pause(step.calls, tools)
                    return
                allowed = budget.admit(len(step.calls))
                async for event in self._call_tools(step.calls[:allowed], tools, messages):
                    yield event
                for refusal in refusals(step.calls[allowed:]):  # past tool_call_limit: not run
                    messages.append(refusal)
                    out.messages.append(refusal)
                if self.lifecycle.status is RunStatus.PAUSED:
                    return  # a member's run paused: the team's waits with it
                request = replace(request, tool_choice=next_tool_choice(request.tool_choice, budget))
                continue
            if isinstance(step, _Correct):
                corrections += 1
                feedback = Message(role="user", content=step.feedback)
                messages.append(feedback)
                out.messages.append(feedback)
                continue
            out.content = step.content
            if schema is not None:
                out.content_type = schema.__name__
                if stream:
                    yield self._event(RunContent, content=step.content, content_type=schema.__name__)
            return

    # --- one model request ------------------------------------------------------------------------------

    async def _ask(
        self, messages: list[Message], request: ModelRequest, stream: bool, turn: _Turn
    ) -> AsyncIterator[RunEvent]:
        agent, out, event = self.agent, self.output, self._event
        answered = self.answered() if self.answered is not None else None
        if answered is not None:
            # Another run's answer is this run's (a routed team's member): the model has nothing left to decide.
            text = to_text(answered.content_dict())
            turn.response = ModelResponse(content=text, finish_reason="stop")
            turn.message = Message(role="assistant", content=text)
            if stream:
                yield event(RunContent, content=answered.content_dict(), content_type=answered.content_type)
            return
        model = self.model
        # Structured answers are validated before anyone sees them, so they are not streamed piecemeal.
        stream_text = stream and agent.output_schema is None
        while True:
            yield event(ModelRequestStarted, model=model.id, model_provider=model.provider)
            sent_at = time.perf_counter()
            first_token: float | None = None
            emitted = False
            try:
                if stream:
                    response = ModelResponse()
                    parts: list[str] = []
                    deltas = model.stream(messages, request)
                    if self.deadline is not None:
                        deltas = self.deadline.iterate(deltas, f"model {model.id!r} was answering")
                    async for delta in deltas:
                        if delta.content:
                            if first_token is None:
                                first_token = time.perf_counter()
                            parts.append(delta.content)
                            if stream_text:
                                emitted = True
                                yield event(RunContent, content=delta.content, model_provider_data=delta.provider_data)
                        if delta.tool_calls:
                            response.tool_calls.extend(delta.tool_calls)
                        if delta.usage is not None:
                            response.usage.add(delta.usage)
                        if delta.provider_data:
                            response.provider_data = delta.provider_data
                        if delta.finish_reason:
                            response.finish_reason = delta.finish_reason
                    response.content = "".join(parts) if parts else None
                else:
                    response = await self._bounded(model.request(messages, request), f"asking model {model.id!r}")
                    first_token = time.perf_counter()
            except ModelError as exc:
                fallback = self._fallback_for(exc, emitted)
                if fallback is None:
                    raise
                logger.warning(
                    "run %s: model %s failed (%s); fallback model %s answers", out.run_id, model.id, exc, fallback.id
                )
                model = self.model = fallback  # and for the rest of the run
                out.answered_by(model)
                continue
            break
        done = time.perf_counter()
        ttft = (first_token or done) - sent_at
        if out.metrics.time_to_first_token is None and (first_token is not None or response.tool_calls):
            out.metrics.time_to_first_token = (first_token or done) - self.started
        out.metrics.usage.add(response.usage)
        if response.provider_data:
            out.model_provider_data = response.provider_data
        usage: Usage = response.usage
        turn.response = response
        turn.message = Message(
            role="assistant",
            content=response.content,
            tool_calls=response.tool_calls or None,
            provider_data=response.provider_data,
            metrics={
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "total_tokens": usage.total_tokens,
                "time_to_first_token": ttft,
                "duration": done - sent_at,
            },
        )
        yield event(
            ModelRequestCompleted, model=model.id, model_provider=model.provider, usage=usage, time_to_first_token=ttft
        )

    def _fallback_for(self, exc: ModelError, emitted: bool) -> Model | None:
        """The next fallback model, for a failure the provider's own retries could not cure, if one is left."""
        if emitted or not self.fallbacks:  # an answer half-streamed to the caller cannot change its voice
            return None
        if not (exc.retryable or exc.status_code is None or exc.status_code >= 500):
            return None  # the request itself was refused (a 4xx): another model would not cure that
        return self.fallbacks.pop(0)

    def _next_step(self, response: ModelResponse, corrections: int) -> _NextStep:
        if response.tool_calls:
            return _CallTools(response.tool_calls)
        schema = self.agent.output_schema
        text = response.content or ""
        if schema is None:
            return _Finish(text)
        from pydantic import ValidationError

        try:
            return _Finish(schema.model_validate_json(_strip_fences(text)))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {e['msg']}" for e in exc.errors()[:10]
            )
            if corrections >= self.agent.output_retries:
                raise OutputValidationError(
                    f"the model's answer did not match {schema.__name__} after {corrections + 1} attempts: {problems}"
                ) from None
            return _Correct(
                f"Your answer did not match the required JSON schema ({problems}). "
                "Answer again with only a JSON object that follows the schema."
            )

    # --- tools ---------------------------------------------------------------------------------------------

    async def _call_tools(
        self, calls: list[ToolCall], tools: dict[str, Tool], messages: list[Message]
    ) -> AsyncIterator[RunEvent]:
        executions = [ToolExecution(tool_call_id=c.id, tool_name=c.name, tool_args=_arguments(c)) for c in calls]
        async for event in self._run_calls(list(zip(calls, executions, strict=True)), tools, decided=False):
            yield event
        self.output.tools.extend(executions)
        async for event in self._answer(executions, messages):
            yield event

    async def _run_calls(
        self, calls: list[tuple[ToolCall, ToolExecution]], tools: dict[str, Tool], *, decided: bool
    ) -> AsyncIterator[RunEvent]:
        """Run a round's calls at once, each reporting as soon as it finishes."""
        for _, execution in calls:
            # A snapshot: the execution object fills in while the event may still wait to be sent.
            yield self._event(ToolCallStarted, tool=replace(execution))
        with inherited_by(self.deadline):  # runs a tool starts (team members, agents as tools) end in time too
            tasks = [asyncio.ensure_future(self._call_tool(c, e, tools, decided=decided)) for c, e in calls]
        waiting_for = "running tools: " + ", ".join(sorted({call.name for call, _ in calls}))
        try:
            for finished in asyncio.as_completed(tasks):
                execution = await self._bounded(finished, waiting_for)
                yield self._event(ToolCallCompleted, tool=execution)
        finally:
            for task in tasks:
                task.cancel()

    async def _answer(self, executions: Sequence[ToolExecution], messages: list[Message]) -> AsyncIterator[RunEvent]:
        """The round's results for the model, in the order of its calls; then, if a member's run paused in it,
        the pause (its call has no result until the member's run is resumed)."""
        waiting = {p.run.run_id for p in self._members_paused}
        for execution in executions:
            if execution.result is None and execution.child_run_id in waiting:
                continue
            message = Message(
                role="tool",
                content=execution.result,
                tool_call_id=execution.tool_call_id,
                tool_name=execution.tool_name,
                tool_args=execution.tool_args,
                tool_call_error=bool(execution.tool_call_error),
            )
            messages.append(message)
            self.output.messages.append(message)
        if self._members_paused:
            yield await self._pause_with_members()

    async def _pause_with_members(self) -> RunEvent:
        """Stop with the round stored, its calls that wait on a paused member's run without a result: the run
        is PAUSED with the members' requirements (each naming its member and run)."""
        paused, self._members_paused = self._members_paused, []
        requirements = [r for p in paused for r in p.requirements()]
        self.output.requirements = requirements
        tools = [ToolExecution.from_dict(dict(r["tool_execution"])) for r in requirements if r.get("tool_execution")]
        return await self.lifecycle.pause(self._event(RunPaused, tools=tools, requirements=requirements))

    async def _pause(self, calls: list[ToolCall], tools: dict[str, Tool]) -> RunEvent:
        """Stop before the round runs: its calls stored, the waiting ones flagged, the run PAUSED."""
        executions = [flag(ToolExecution(call.id, call.name, _arguments(call)), tools.get(call.name)) for call in calls]
        self.output.tools.extend(executions)
        waiting = [e for e in executions if e.is_paused]
        requirements = [requirement(e) for e in waiting]
        self.output.requirements = requirements
        paused = self._event(RunPaused, tools=[replace(e) for e in waiting], requirements=requirements)
        return await self.lifecycle.pause(paused)

    async def _finish_round(
        self, pending: Sequence[ToolExecution], tools: dict[str, Tool], messages: list[Message]
    ) -> AsyncIterator[RunEvent]:
        """Run the round a paused run stopped at, as decided: a refused call's result tells the model so, an
        external one's is the result sent; the others run (with the person's input)."""
        to_run: list[tuple[ToolCall, ToolExecution]] = []
        for execution in pending:
            if execution.confirmed is False:
                execution.result = execution.confirmation_note or REJECTED
                execution.tool_call_error = True
            elif execution.result is None:
                to_run.append((as_call(execution), execution))
        async for event in self._run_calls(to_run, tools, decided=True):
            yield event
        async for event in self._answer(pending, messages):
            yield event

    async def _call_tool(
        self, call: ToolCall, execution: ToolExecution, tools: dict[str, Tool], *, decided: bool = False
    ) -> ToolExecution:
        execution.start_time = time.time()
        try:
            found = tools.get(call.name)
            if found is None:
                known = ", ".join(sorted(tools)) or "none"
                raise ToolError(f"there is no tool named {call.name!r} (tools: {known})")
            try:
                args = call.parsed_arguments()
            except ValueError as exc:
                raise ToolError(f"invalid arguments for tool {call.name!r}: {exc}") from None
            if decided:  # by a person: it runs now, with the arguments as decided
                args = execution.tool_args
            result = await found.execute(args, self.context)
            execution.result = to_text(result)
            execution.tool_call_error = False
        except asyncio.CancelledError:
            raise
        except MemberPaused as paused:  # no result yet: the member's run waits for a person
            execution.child_run_id = paused.run.run_id
            self._members_paused.append(paused)
            execution.end_time = time.time()
            return execution
        except ToolError as exc:
            execution.result = f"Error: {exc}"
            execution.tool_call_error = True
        except Exception as exc:
            # A failing tool must not sink the run: the model reads the error and decides what to do.
            logger.warning("tool %s raised %s: %s", call.name, type(exc).__name__, exc)
            execution.result = f"Error: {type(exc).__name__}: {exc}"
            execution.tool_call_error = True
        execution.end_time = time.time()
        return execution


def _arguments(call: ToolCall) -> dict[str, Any]:
    try:
        return call.parsed_arguments()
    except ValueError:
        return {}


@dataclass(slots=True)
class _Turn:
    """What one model request produced (set by `_ask`)."""

    response: ModelResponse | None = None
    message: Message | None = None


def _strip_fences(text: str) -> str:
    """Models often wrap JSON in a Markdown code fence; take what is inside."""
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.split("\n", 1)[1] if "\n" in stripped else ""
        if stripped.rstrip().endswith("```"):
            stripped = stripped.rstrip()[:-3]
    return stripped.strip()


def build_messages(
    agent: Agent,
    context: RunContext,
    input: str,
    model: Model,
    history: Sequence[RunOutput],
    passages: Sequence[dict[str, Any]] = (),
    learned: str = "",
    continues: RunOutput | None = None,
) -> list[Message]:
    """The messages of a run's first model request: the system message (description, instructions, the
    tools' parts, what was learned, the date, the output schema for a model that cannot be told it natively),
    the history, then the user's message, followed by the knowledge base's passages when there are any. A
    follow-up (`continues`) has the whole conversation of the run it continues as its history instead of the
    session's."""
    parts: list[str] = []
    if agent.description:
        parts.append(agent.description)
    lines = agent.get_instructions(context)
    if len(lines) == 1:
        parts.append(lines[0])
    elif lines:
        parts.append("\n".join(f"- {line}" for line in lines))
    for item in agent.tools:
        text = getattr(item, "instructions", None)
        if isinstance(text, str) and text:
            parts.append(text)
    if agent.markdown:
        parts.append("Use Markdown to format your answers.")
    if learned:
        parts.append(learned)
    if agent.add_datetime_to_context:
        parts.append(f"The current date and time is {datetime.now(UTC).isoformat(timespec='seconds')}.")
    schema = agent.output_schema
    if schema is not None and not model.supports_structured_output:
        parts.append(
            "Answer with a single JSON object, and nothing else, that follows this JSON schema:\n"
            + json.dumps(schema.model_json_schema())
        )
    messages: list[Message] = []
    if parts:
        messages.append(Message(role="system", content="\n\n".join(parts)))
    history_messages: list[Message] = []
    for run in [continues] if continues is not None else history:
        for m in run.messages:
            # A follow-up's own copy of what it continued is kept (flagged) for the runs that continue it.
            if m.role == "system" or (m.from_history and continues is None):
                continue
            copy = Message.from_dict(m.to_dict())
            copy.from_history = True
            history_messages.append(copy)
    messages.extend(history_messages)
    if passages:  # with the message, as agno's: the system message (and a local model's cache of it) stays the same
        lines = [
            f"<passage source={json.dumps(str(p['metadata'].get('name', 'document')))}>\n{p['text']}\n</passage>"
            for p in passages
        ]
        input += (
            "\n\nPassages from the knowledge base that may help (quote what you use):\n<references>\n"
            + "\n".join(lines)
            + "\n</references>"
        )
    messages.append(Message(role="user", content=input))
    return messages


def resumed_messages(stored: Sequence[Message], history: Sequence[RunOutput]) -> list[Message]:
    """The messages a resumed paused run sends: the ones it stored (its system message first), with the
    session's history after the system message again."""
    messages = [Message.from_dict(m.to_dict()) for m in stored]
    earlier: list[Message] = []
    for run in history:
        for m in run.messages:
            if m.role != "system" and not m.from_history:
                copy = Message.from_dict(m.to_dict())
                copy.from_history = True
                earlier.append(copy)
    at = 1 if messages and messages[0].role == "system" else 0
    return [*messages[:at], *earlier, *messages[at:]]


def kept_messages(messages: Sequence[Message], continues: RunOutput | None) -> list[Message]:
    """What a run stores of its first request's messages: its own; a follow-up also keeps the conversation it
    continued (flagged `from_history`, so the session's history never sends it twice)."""
    return [m for m in messages if continues is not None or not m.from_history]
