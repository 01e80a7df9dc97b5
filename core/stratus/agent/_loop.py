"""The agent run loop.

One run: load the session and its last N runs, build the context, then turn after turn ask the model and
act on its answer. Each turn ends in exactly one next step (`_NextStep`): run the tools and ask again, send
a correction and ask again, or finish with the answer. Limits end the run with a RunError naming them. The
run is written to the store once, when it ends, in one atomic write, whatever its status.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from stratus._utils import new_id, time_ordered_id, to_text
from stratus.deadline import Deadline, deadline_for, inherited_by
from stratus.exceptions import (
    ConfigError,
    ModelError,
    NotFoundError,
    OutputValidationError,
    RunLimitExceeded,
    StratusError,
    ToolError,
)
from stratus.limits import check_final_state, check_json, storable_state
from stratus.messages import Message, ToolCall, Usage
from stratus.models.base import Model, ModelRequest, ModelResponse
from stratus.run import (
    ModelRequestCompleted,
    ModelRequestStarted,
    RunCompleted,
    RunContent,
    RunContentCompleted,
    RunContext,
    RunError,
    RunEvent,
    RunInput,
    RunOutput,
    RunStarted,
    RunStatus,
    ToolCallCompleted,
    ToolCallStarted,
    ToolExecution,
    ToolkitUnavailable,
)
from stratus.tools import Tool

if TYPE_CHECKING:
    from stratus.agent.agent import Agent
    from stratus.storage.records import SessionRecord

__all__ = ["AgentRun"]

logger = logging.getLogger("stratus.agent")

T = TypeVar("T")


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


class AgentRun:
    """One execution of an agent. `events()` drives it; `result()` drives it and returns the output."""

    def __init__(
        self,
        agent: Agent,
        input: str,
        *,
        session_id: str | None = None,
        user_id: str | None = None,
        session_state: dict[str, Any] | None = None,
        run_id: str | None = None,
        knowledge_filters: dict[str, Any] | None = None,
    ) -> None:
        self.agent = agent
        self.knowledge_filters = {**(agent.knowledge_filters or {}), **(knowledge_filters or {})}
        self.input = input
        self.state_override = check_json(session_state, "session_state")  # refused before anything is stored
        self.output = RunOutput(
            run_id=run_id or time_ordered_id(),
            session_id=session_id or new_id(),
            agent_id=agent.agent_id,
            agent_name=agent.name,
            user_id=user_id,
            input=RunInput(input_content=input),
        )
        self.context = RunContext(
            run_id=self.output.run_id,
            session_id=self.output.session_id,
            user_id=user_id,
            agent_id=agent.agent_id,
        )
        self._session: SessionRecord | None = None
        self._session_loaded = False
        self._state_base: dict[str, Any] = {}  # the session's state as stored when the run began
        self._recalled: list[str] = []  # the memories and insights recall put in the context
        self._answering: Model | None = None  # the model answering: the agent's, or a fallback after a failure
        self._fallbacks: list[Model] = []  # the fallback models not tried yet
        timeout = agent.run_timeout
        self.deadline: Deadline | None = deadline_for(timeout, f"run_timeout={timeout:g}s" if timeout else "")

    async def result(self) -> RunOutput:
        async for _ in self.events(stream=False):
            pass
        return self.output

    def _event_base(self) -> dict[str, Any]:
        o = self.output
        return {
            "run_id": o.run_id,
            "session_id": o.session_id,
            "agent_id": o.agent_id,
            "agent_name": o.agent_name,
        }

    async def events(self, *, stream: bool) -> AsyncIterator[RunEvent]:
        """Run the agent, yielding its events. With `stream=False` the model is asked for whole answers and
        only the lifecycle events matter; the run's result is in `self.output` when iteration ends."""
        out = self.output
        base = self._event_base()
        started = time.perf_counter()
        announced = False  # every stream opens with RunStarted, even one that fails before the model is asked
        try:
            agent = self.agent
            model = self._answering = agent.get_model()
            self._fallbacks = agent.get_fallback_models()
            out.model, out.model_provider = model.id, model.provider
            out.metrics.model_id, out.metrics.model_provider = model.id, model.provider
            tools, unavailable = await agent.aget_tools()
            knowledge = agent.knowledge
            if knowledge is not None and agent.search_knowledge:
                search = knowledge.search_tool(user_id=out.user_id, filters=self.knowledge_filters or None)
                if search.name in tools:
                    raise ConfigError(f"agent {agent.agent_id!r} has a tool named {search.name!r} already")
                tools[search.name] = search
            out.status = RunStatus.RUNNING
            history = await self._bounded(self._load_session(), "loading the session")
            if knowledge is not None and agent.add_knowledge_to_context:
                passages = await self._bounded(self._references(), "searching the knowledge base")
            else:
                passages = []
            learned = await self._bounded(self._recall(tools), "recalling memories")
            messages = self._build_messages(model, tools, history, passages, learned)
            # The run keeps its own messages; history stays in the runs it came from.
            out.messages.extend(m for m in messages if not m.from_history)
            announced = True
            yield RunStarted(**base, model=model.id, model_provider=model.provider)
            for kit, error in unavailable:
                # The run goes on without these tools; the stream and the log say why.
                logger.warning("run %s: toolkit %s unavailable: %s", out.run_id, kit.name, error)
                yield ToolkitUnavailable(**base, toolkit=kit.name, content=f"{type(error).__name__}: {error}")

            request = ModelRequest(tools=[t.definition() for t in tools.values()])
            schema = agent.output_schema
            if schema is not None and model.supports_structured_output:
                request.output_schema = schema.model_json_schema()
                request.output_name = schema.__name__
            tool_rounds = 0
            corrections = 0
            while True:
                turn = _Turn()
                async for event in self._ask(self._answering, messages, request, stream, started, turn):
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
                    async for event in self._call_tools(step.calls, tools, messages):
                        yield event
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
                        yield RunContent(**base, content=step.content, content_type=schema.__name__)
                break

            check_final_state(self.context.session_state)  # a state no store could keep fails the run, not its save
            out.status = RunStatus.COMPLETED
            out.metrics.duration = time.perf_counter() - started
            yield RunContentCompleted(**base)
            if await self._save():
                await self._publish_for_learning()
            yield RunCompleted(**base, output=out)
        except asyncio.CancelledError:
            out.status = RunStatus.CANCELLED
            out.error = "run was cancelled"
            out.error_type = "RunCancelledError"
            out.metrics.duration = time.perf_counter() - started
            await asyncio.shield(self._save())
            raise
        except Exception as exc:
            out.status = RunStatus.ERROR
            out.error = str(exc) if isinstance(exc, StratusError) else f"{type(exc).__name__}: {exc}"
            out.error_type = type(exc).__name__
            out.exception = exc
            out.metrics.duration = time.perf_counter() - started
            if not isinstance(exc, StratusError):
                logger.exception("run %s of agent %s failed", out.run_id, out.agent_id)
            else:
                logger.warning("run %s of agent %s failed: %s", out.run_id, out.agent_id, out.error)
            out.content = out.error
            await self._save()
            if not announced:
                yield RunStarted(**base, model=out.model, model_provider=out.model_provider)
            additional = {"limit": exc.limit} if isinstance(exc, RunLimitExceeded) else None
            yield RunError(**base, content=out.error, error_type=out.error_type, additional_data=additional, output=out)

    async def _bounded(self, awaitable: Awaitable[T], waiting_for: str) -> T:
        """`awaitable`, within the run's deadline (if it has one)."""
        if self.deadline is None:
            return await awaitable
        return await self.deadline.bound(awaitable, waiting_for)

    # --- context ----------------------------------------------------------------------------------------

    async def _load_session(self) -> list[RunOutput]:
        """Check the session is the caller's, set up its state, and read its last runs (one query each)."""
        await self._open_session()
        agent, store = self.agent, self.agent.store
        if store is None or self._session is None or not agent.add_history_to_context or agent.num_history_runs <= 0:
            return []
        return await store.get_runs(
            self.output.session_id, last=agent.num_history_runs, statuses=(RunStatus.COMPLETED,)
        )

    async def _open_session(self) -> None:
        agent, out = self.agent, self.output
        state: dict[str, Any] = dict(agent.session_state or {})
        store = agent.store
        if store is not None:
            session = await store.get_session(out.session_id)
            if session is not None:
                if session.user_id != out.user_id or (
                    session.component_id is not None and session.component_id != agent.agent_id
                ):
                    # Another user's (or another agent's) session reads as absent, never as forbidden.
                    raise NotFoundError(f"session {out.session_id!r} not found")
                state.update(session.session_state)
                self._session = session
                self._state_base = dict(session.session_state)
        if self.state_override:
            state.update(self.state_override)
        self.context.session_state = state
        self._session_loaded = True

    async def _references(self) -> list[dict[str, Any]]:
        """Search the knowledge base with the user's message; the passages go into the system message and into
        the run's `references`. A failing search does not sink the run: it goes on without passages."""
        knowledge = self.agent.knowledge
        assert knowledge is not None
        started = time.perf_counter()
        try:
            hits = await knowledge.search(
                self.input, filters=self.knowledge_filters or None, user_id=self.output.user_id
            )
        except Exception as exc:
            logger.warning("run %s: knowledge search failed, going on without it: %s", self.output.run_id, exc)
            return []
        passages = [{**hit.chunk.to_dict(), "score": hit.score} for hit in hits]
        self.output.references = [
            {"query": self.input, "references": passages, "time": round(time.perf_counter() - started, 4)}
        ]
        return passages

    async def _recall(self, tools: dict[str, Tool]) -> str:
        """What the learning machine recalls for this run (and, in agentic mode, its memory tools)."""
        from stratus.learning import LearningMode

        agent, out = self.agent, self.output
        machine, store = agent.learning_machine, agent.store
        if machine is None or store is None or machine.mode is LearningMode.OFF:
            return ""
        if machine.mode is LearningMode.AGENTIC:
            for learned_tool in machine.tools(store, user_id=out.user_id, agent_id=agent.agent_id):
                if learned_tool.name in tools:
                    raise ConfigError(f"agent {agent.agent_id!r} has a tool named {learned_tool.name!r} already")
                tools[learned_tool.name] = learned_tool
        recall = await machine.recall(
            store,
            user_id=out.user_id,
            agent_id=agent.agent_id,
            query=self.input,
            session_summary=self._session.summary if self._session is not None else None,
        )
        self._recalled = recall.used
        return recall.text

    async def _publish_for_learning(self) -> None:
        """Queue the stored run for the learning machine. Bounded and never raising: the answer stands."""
        from stratus.learning import LearningJob, LearningMode

        agent, out = self.agent, self.output
        machine = agent.learning_machine
        if machine is None or machine.mode is LearningMode.OFF or agent.store is None:
            return
        job = LearningJob(
            run_id=out.run_id,
            session_id=out.session_id,
            agent_id=agent.agent_id,
            user_id=out.user_id,
            recalled=list(self._recalled),
        )
        try:
            await asyncio.wait_for(machine.publish(job), timeout=machine.publish_timeout)
        except TimeoutError:
            machine.queue.record_failure()
            logger.error("run %s: queueing it for learning took over %ss; skipped", out.run_id, machine.publish_timeout)

    def _build_messages(
        self,
        model: Model,
        tools: dict[str, Tool],
        history: Sequence[RunOutput],
        passages: Sequence[dict[str, Any]] = (),
        learned: str = "",
    ) -> list[Message]:
        agent = self.agent
        parts: list[str] = []
        if agent.description:
            parts.append(agent.description)
        lines = agent.get_instructions(self.context)
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
        if passages:
            lines = [
                f"<passage source={json.dumps(str(p['metadata'].get('name', 'document')))}>\n{p['text']}\n</passage>"
                for p in passages
            ]
            parts.append(
                "Passages from the knowledge base that may help (quote what you use):\n<references>\n"
                + "\n".join(lines)
                + "\n</references>"
            )
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
        for run in history:
            for m in run.messages:
                if m.role == "system" or m.from_history:
                    continue
                copy = Message.from_dict(m.to_dict())
                copy.from_history = True
                history_messages.append(copy)
        messages.extend(history_messages)
        messages.append(Message(role="user", content=self.input))
        return messages

    # --- one model request ------------------------------------------------------------------------------

    async def _ask(
        self,
        model: Model,
        messages: list[Message],
        request: ModelRequest,
        stream: bool,
        run_started: float,
        turn: _Turn,
    ) -> AsyncIterator[RunEvent]:
        agent, out = self.agent, self.output
        base = self._event_base()
        # Structured answers are validated before anyone sees them, so they are not streamed piecemeal.
        stream_text = stream and agent.output_schema is None
        while True:
            yield ModelRequestStarted(**base, model=model.id, model_provider=model.provider)
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
                                yield RunContent(**base, content=delta.content, model_provider_data=delta.provider_data)
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
                model = self._answering = fallback  # and for the rest of the run
                out.model, out.model_provider = model.id, model.provider
                out.metrics.model_id, out.metrics.model_provider = model.id, model.provider
                continue
            break
        done = time.perf_counter()
        ttft = (first_token or done) - sent_at
        if out.metrics.time_to_first_token is None and (first_token is not None or response.tool_calls):
            out.metrics.time_to_first_token = (first_token or done) - run_started
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
        yield ModelRequestCompleted(
            **base, model=model.id, model_provider=model.provider, usage=usage, time_to_first_token=ttft
        )

    def _fallback_for(self, exc: ModelError, emitted: bool) -> Model | None:
        """The next fallback model, for a failure the provider's own retries could not cure, if one is left."""
        if emitted or not self._fallbacks:  # an answer half-streamed to the caller cannot change its voice
            return None
        if not (exc.retryable or exc.status_code is None or exc.status_code >= 500):
            return None  # the request itself was refused (a 4xx): another model would not cure that
        return self._fallbacks.pop(0)

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

    # --- tools ------------------------------------------------------------------------------------------

    async def _call_tools(
        self, calls: list[ToolCall], tools: dict[str, Tool], messages: list[Message]
    ) -> AsyncIterator[RunEvent]:
        base = self._event_base()
        executions: list[ToolExecution] = []
        for call in calls:
            try:
                args = call.parsed_arguments()
            except ValueError:
                args = {}
            execution = ToolExecution(tool_call_id=call.id, tool_name=call.name, tool_args=args)
            executions.append(execution)
            # A snapshot: the execution object fills in while the event may still wait to be sent.
            yield ToolCallStarted(**base, tool=replace(execution))
        # Independent calls of one turn run at once; each reports as soon as it finishes.
        with inherited_by(self.deadline):  # runs a tool starts (team members, agents as tools) end in time too
            tasks = [
                asyncio.ensure_future(self._call_tool(call, execution, tools))
                for call, execution in zip(calls, executions, strict=True)
            ]
        waiting_for = "running tools: " + ", ".join(sorted({call.name for call in calls}))
        try:
            for finished in asyncio.as_completed(tasks):
                execution = await self._bounded(finished, waiting_for)
                yield ToolCallCompleted(**base, tool=execution)
        finally:
            for task in tasks:
                task.cancel()
        for execution in executions:
            self.output.tools.append(execution)
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

    async def _call_tool(self, call: ToolCall, execution: ToolExecution, tools: dict[str, Tool]) -> ToolExecution:
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
            result = await found.execute(args, self.context)
            execution.result = to_text(result)
            execution.tool_call_error = False
        except asyncio.CancelledError:
            raise
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

    # --- persistence ------------------------------------------------------------------------------------

    async def _save(self) -> bool:
        """Store the run (and its session); whether it was stored."""
        from stratus.storage.records import SessionRecord, SessionType

        agent, out = self.agent, self.output
        # A state the run's tools left too deep or too large stays as it was, so the run itself is stored.
        state = storable_state(self.context.session_state, self._state_base)
        out.session_state = state
        store = agent.store
        if store is None:
            return False
        if not self._session_loaded:
            # The run ended before it opened its session (a bad configuration, an early cancel): open it
            # now so the run is still stored, but never write into a session we cannot read or may not touch.
            try:
                await self._open_session()
            except Exception as exc:
                logger.info("run %s not stored: %s", out.run_id, exc)
                return False
        session = self._session or SessionRecord(
            session_id=out.session_id,
            session_type=SessionType.AGENT,
            component_id=agent.agent_id,
            user_id=out.user_id,
            session_name=self.input[:120].strip() or None,
            created_at=time.time(),
        )
        model = agent._resolved_model  # pyright: ignore[reportPrivateUsage]
        session = replace(
            session,
            session_state=state,
            component_data={
                "name": agent.name,
                "agent_id": agent.agent_id,
                "model": {"name": model.name, "model": model.id, "provider": model.provider} if model else None,
            },
        )
        try:
            self._session = await store.save_run(session, out, state_base=self._state_base)
        except Exception:
            # The answer exists; failing the run now would lose it for the caller too. Log loudly instead.
            logger.exception("run %s finished with status %s but could not be stored", out.run_id, out.status)
            return False
        return True


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
