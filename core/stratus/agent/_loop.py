"""An agent's run: open its session, build its context, then the turns (`stratus.agent._turns`).

The run's life (start, end events, saving once, in one atomic write, whatever its status) is
`stratus._lifecycle.RunLifecycle`'s; where it lives (a session of its own, or a team's or a workflow's as a
member's or a step's run) is the placement it is given.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from stratus._lifecycle import TOP_LEVEL, Component, ComponentRun, EventKinds, Start, begin
from stratus.agent._controls import dependencies_text, history_runs, last_messages, resolve_dependencies
from stratus.agent._default_tools import default_tools, session_state_text
from stratus.agent._summary import summarize_session, summary_text
from stratus.agent._turns import TurnLoop, build_messages, kept_messages, resumed_messages
from stratus.exceptions import ConfigError
from stratus.hooks import check_error_data, check_input, check_output, hooked_tools
from stratus.run import (
    MemoryUpdateCompleted,
    MemoryUpdateStarted,
    RunCompleted,
    RunContentCompleted,
    RunContinued,
    RunError,
    RunEvent,
    RunOutput,
    RunStarted,
    RunStatus,
)
from stratus.storage.records import SessionType
from stratus.tools import Tool

if TYPE_CHECKING:
    from stratus.agent.agent import Agent

__all__ = ["AGENT_EVENTS", "AgentRun", "answered_run_events"]

logger = logging.getLogger("stratus.agent")

E = TypeVar("E", bound=RunEvent)


def answered_run_events(renamed: Mapping[type[RunEvent], type[RunEvent]] | None = None, failed: str = "") -> EventKinds:
    """How a run a model answers starts and ends: an agent's (`RunStarted` ... `RunCompleted` or `RunError`), or
    one that speaks them under other names (`renamed`: a team's, `TeamRunStarted` ...). `failed` is the error
    event's content when the run's error has no text."""

    def named(cls: type[E]) -> type[E]:
        return cast(type[E], (renamed or {}).get(cls, cls))

    started, completed, error, continued = named(RunStarted), named(RunCompleted), named(RunError), named(RunContinued)
    return EventKinds(
        started=lambda base, out: started(**base, model=out.model, model_provider=out.model_provider),
        completed=lambda base, out: completed(**base, output=out),
        error=lambda base, out, extra: error(
            **base, content=out.error or failed, error_type=out.error_type, output=out, **check_error_data(out, extra)
        ),
        continued=lambda base, out: continued(**base),
    )


AGENT_EVENTS = answered_run_events()


class AgentRun(ComponentRun):
    """One execution of an agent. `events()` drives it; `result()` drives it and returns the output. With
    `start.scope` it is a member's or a step's run: it shares the team's or workflow's session state, is stored
    in their session as a child of their run, and sends the model no history of its own."""

    def __init__(self, agent: Agent, input: str, start: Start = TOP_LEVEL) -> None:
        self.agent = agent
        self.input = input
        options = start.options
        self.knowledge_filters = {**(agent.knowledge_filters or {}), **((options and options.knowledge_filters) or {})}
        component = Component.of(SessionType.AGENT, agent.agent_id, agent, AGENT_EVENTS)
        lifecycle = begin(component, input, start, describe=self._component_data, after_save=self._after_save)
        super().__init__(lifecycle, agent_id=agent.agent_id)
        self.decided = list(start.resume.decided) if start.resume is not None else []
        """A resumed run's: the round it paused at, with the decisions that resume it (`_pause.apply_decisions`)."""
        out = self.output
        self.images = list(options.images) if options and options.images else None
        self.files = list(options.files) if options and options.files else None
        if out.input is not None:
            out.input.images, out.input.file_media = self.images, self.files
        self.place = lifecycle.place
        self.deadline = lifecycle.deadline
        self._recalled: list[str] = []  # the memories and insights recall put in the context
        self._dependencies = options.dependencies if options is not None else None

    def events(self, *, stream: bool) -> AsyncIterator[RunEvent]:
        """Run the agent, yielding its events, from `RunStarted` to `RunCompleted` or `RunError`. With
        `stream=False` the model is asked for whole answers and only the lifecycle events matter; the run's
        result is in `self.output` when iteration ends."""
        return self.lifecycle.drive(self._body(stream))

    async def _body(self, stream: bool) -> AsyncIterator[RunEvent]:
        agent, out, lifecycle = self.agent, self.output, self.lifecycle
        started = time.perf_counter()
        state = await lifecycle.bounded(lifecycle.open(), "loading the session")
        self.context.session_state = state
        if agent.dependencies or self._dependencies:
            self.context.dependencies = await lifecycle.bounded(
                resolve_dependencies(agent, self.context, self._dependencies), "resolving the dependencies"
            )
        if agent.pre_hooks and not self.decided:  # (a resumed paused run's input was checked when it began)
            self.input = await check_input(lifecycle, agent.pre_hooks, self.context, {"agent": agent})
        turns = TurnLoop.of(agent, lifecycle, self.context, started=started, resumed=self.decided)
        model = turns.model
        tools, unavailable = await agent.aget_tools()
        for default in default_tools(agent, self.context):
            if default.name in tools:
                raise ConfigError(f"agent {agent.agent_id!r} has a tool named {default.name!r} already")
            tools[default.name] = default
        knowledge = agent.knowledge
        if knowledge is not None and agent.search_knowledge:
            keys = None
            if agent.enable_agentic_knowledge_filters:  # the model may filter on the metadata keys in use
                keys = await lifecycle.bounded(knowledge.metadata_keys(user_id=out.user_id), "reading the knowledge")
            search = knowledge.search_tool(
                user_id=out.user_id, filters=self.knowledge_filters or None, filter_keys=keys
            )
            if search.name in tools:
                raise ConfigError(f"agent {agent.agent_id!r} has a tool named {search.name!r} already")
            tools[search.name] = search
        history: list[RunOutput] = []
        if agent.add_history_to_context and lifecycle.continues is None:
            history = await lifecycle.bounded(self.place.history(history_runs(agent), None), "loading the session")
            if agent.num_history_messages is not None:
                history = last_messages(history, agent.num_history_messages)
        passages: list[dict[str, Any]] = []
        if knowledge is not None and agent.add_knowledge_to_context:
            passages = await lifecycle.bounded(self._references(), "searching the knowledge base")
        learned = await lifecycle.bounded(self._recall(tools), "recalling memories")
        summary = self.place.record.summary if self.place.record is not None else None
        if agent.shows_session_summary and (shown := summary_text(summary)):
            learned = "\n\n".join(p for p in (learned, shown) if p)
        if agent.add_session_state_to_context:  # after what was learned, at the end of the system message
            learned = "\n\n".join(p for p in (learned, session_state_text(self.context.session_state)) if p)
        continues = lifecycle.continues
        text = self.input
        if agent.add_dependencies_to_context and self.context.dependencies:
            text += dependencies_text(self.context.dependencies)
        messages = build_messages(agent, self.context, text, model, history, passages, learned, continues)
        if self.images or self.files:
            from stratus.media import attach_media

            await lifecycle.bounded(attach_media(messages[-1], self.images, self.files, model), "reading the files")
        if self.decided:  # a paused run going on: the conversation it stored, not a new one
            messages = resumed_messages(out.messages, history)
        else:  # The run keeps its own messages; history stays in the runs it came from.
            out.messages.extend(kept_messages(messages, continues))
        yield lifecycle.started()
        for event in turns.unavailable(unavailable):
            yield event
        async for event in turns.run(messages, hooked_tools(tools, agent.tool_hooks), stream=stream):
            yield event
        if lifecycle.status is RunStatus.PAUSED:
            return  # stored, its stream ended with `RunPaused`: `/continue` takes it on from there
        if agent.post_hooks:
            await check_output(lifecycle, agent.post_hooks, self.context, {"agent": agent})
        yield RunContentCompleted(**lifecycle.base)

    def _component_data(self) -> dict[str, Any]:
        agent = self.agent
        return {"name": agent.name, "agent_id": agent.agent_id, "model": agent.model_data()}

    # --- context ----------------------------------------------------------------------------------------

    async def _references(self) -> list[dict[str, Any]]:
        """Search the knowledge base with the user's message; the passages go into the system message and into
        the run's `references`. A failing search does not sink the run: it goes on without passages."""
        knowledge = self.agent.knowledge
        assert knowledge is not None
        started = time.perf_counter()
        try:
            hits = await knowledge.search(
                self.input,
                filters=self.knowledge_filters or None,
                user_id=self.output.user_id,
                min_score=knowledge.min_score,
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
            session_summary=self.place.record.summary if self.place.record is not None else None,
        )
        self._recalled = recall.used
        return recall.text

    async def _after_save(self) -> AsyncIterator[RunEvent]:
        """Once the run is stored: the session's summary (`enable_session_summaries`), then learning."""
        agent, out = self.agent, self.output
        if agent.enable_session_summaries and agent.store is not None and out.parent_run_id is None:
            await summarize_session(agent, agent.store, out.session_id, out.user_id)
        async for event in self._publish_for_learning():
            yield event

    async def _publish_for_learning(self) -> AsyncIterator[RunEvent]:
        """Queue the stored run for the learning machine, between `MemoryUpdateStarted` and
        `MemoryUpdateCompleted` (queued, not yet learned from: the worker extracts later). Bounded and never
        raising: the answer stands."""
        from stratus.learning import LearningJob, LearningMode

        agent, out = self.agent, self.output
        machine = agent.learning_machine
        if machine is None or machine.mode is LearningMode.OFF or agent.store is None:
            return
        yield MemoryUpdateStarted(**self.lifecycle.base)
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
        yield MemoryUpdateCompleted(**self.lifecycle.base)
