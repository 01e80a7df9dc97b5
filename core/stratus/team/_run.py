"""A team's run.

The leader is an agent run (the agent run loop, reused as it is) whose output is the team's: its messages,
tools and metrics are the team run's. What the leader is told and may call depends on the mode:

- `route`: a `route_to_member` tool. The member gets the user's message unchanged; once it has answered,
  the leader is not asked again: the member's answer is the team's (streamed as one `TeamRunContent`).
- `coordinate`: a `delegate_task_to_member` tool. The calls of one model turn run concurrently (the loop runs
  a turn's tool calls at once); the leader then writes the answer from the results.
- `broadcast`: no delegation tool. Every member answers the message first, concurrently; the leader is then
  asked once, with their answers in its system message, to write the final answer.

A member that fails returns its error to the leader as the tool's error (route, coordinate) or is marked
failed among the answers (broadcast); the team carries on. Members run as children (see `_nesting`): stored
in the team's session with `parent_run_id`, sharing its session state, their events forwarded one level down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import fields
from typing import Any

from stratus._nesting import Emit, RunScope, SessionWriter, pump
from stratus._utils import new_id, time_ordered_id, to_text
from stratus.agent import Agent
from stratus.agent._loop import AgentRun
from stratus.component_events import (
    TeamModelRequestCompleted,
    TeamModelRequestStarted,
    TeamRunCompleted,
    TeamRunContent,
    TeamRunContentCompleted,
    TeamRunError,
    TeamRunStarted,
    TeamToolCallCompleted,
    TeamToolCallStarted,
)
from stratus.deadline import deadline_for, inherited_by
from stratus.exceptions import NotFoundError, RunLimitExceeded, StratusError, ToolError
from stratus.limits import check_json
from stratus.messages import Message
from stratus.models.base import Model, ModelRequest, ModelResponse
from stratus.run import (
    ModelRequestCompleted,
    ModelRequestStarted,
    RunCancelled,
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
)
from stratus.storage.records import SessionType
from stratus.team.team import Team, member_id_of
from stratus.tools import Tool, Toolkit

__all__ = ["TeamRun"]

logger = logging.getLogger("stratus.team")

_TEAM_EVENTS: dict[type[RunEvent], type[RunEvent]] = {
    ModelRequestStarted: TeamModelRequestStarted,
    ModelRequestCompleted: TeamModelRequestCompleted,
    RunContent: TeamRunContent,
    ToolCallStarted: TeamToolCallStarted,
    ToolCallCompleted: TeamToolCallCompleted,
    RunContentCompleted: TeamRunContentCompleted,
}

_ROUTE = (
    "You lead a team. You do not answer the user yourself: choose the one member best suited to the user's "
    "message and call `route_to_member` with its id; that member's answer goes to the user as it is. Answer "
    "yourself only if no member fits the message, or if every member you tried failed."
)
_COORDINATE = (
    "You lead a team. Break the user's request into tasks and give each to the member best suited to it with "
    "`delegate_task_to_member`; call it several times in one turn to have members work at the same time. A "
    "member sees only the task you give it, so make each task complete. Then write the final answer from "
    "their results. If a member fails, give its task to another member or do without it."
)
_BROADCAST = (
    "You lead a team. Every member has answered the user's message; their answers are below. Write one final "
    "answer from them: keep what is correct and useful, and reconcile or point out where they disagree. A "
    "member that failed is marked failed; do without it."
)


class TeamRun:
    """One execution of a team. `events()` drives it; `result()` drives it and returns the output.

    With `scope`, the run is a member of another team (or a step of a workflow): it is stored in that run's
    session as its child and shares its session state.
    """

    def __init__(
        self,
        team: Team,
        input: str,
        *,
        session_id: str | None = None,
        user_id: str | None = None,
        session_state: dict[str, Any] | None = None,
        run_id: str | None = None,
        scope: RunScope | None = None,
    ) -> None:
        self.team = team
        self.input = input
        self.scope = scope
        self.state_override = check_json(session_state, "session_state")  # refused before anything is stored
        if scope is not None:
            session_id, user_id = scope.session.session_id, scope.session.user_id
        self.output = RunOutput(
            run_id=run_id or time_ordered_id(),
            session_id=session_id or new_id(),
            team_id=team.team_id,
            team_name=team.name,
            user_id=user_id,
            parent_run_id=scope.parent.run_id if scope is not None else None,
            input=RunInput(input_content=input),
        )
        self.context = RunContext(run_id=self.output.run_id, session_id=self.output.session_id, user_id=user_id)
        timeout = team.run_timeout
        self.deadline = deadline_for(timeout, f"run_timeout={timeout:g}s" if timeout else "")
        self.session = (
            scope.session
            if scope is not None
            else SessionWriter(
                team.store,
                session_id=self.output.session_id,
                user_id=user_id,
                session_type=SessionType.TEAM,
                component_id=team.team_id,
                session_name=input[:120].strip() or None,
            )
        )
        self.routed: RunOutput | None = None
        """In route mode, the member run whose answer is the team's."""
        self._routing = False
        self._leader_error: RunError | None = None
        self._children: RunScope | None = None

    async def result(self) -> RunOutput:
        async for _ in self.events(stream=False):
            pass
        return self.output

    def events(self, *, stream: bool) -> AsyncIterator[RunEvent]:
        """Run the team, yielding its events and its members'. With `stream=False` the models are asked for
        whole answers; the result is in `self.output` when iteration ends."""
        return pump(lambda emit: self._body(emit, stream))

    def event_base(self) -> dict[str, Any]:
        """The fields every event of the team's own run carries."""
        o = self.output
        return {
            "run_id": o.run_id,
            "session_id": o.session_id,
            "agent_id": o.team_id,
            "agent_name": o.team_name,
            "parent_run_id": o.parent_run_id,
        }

    async def _body(self, emit: Emit, stream: bool) -> None:
        team, out = self.team, self.output
        base = self.event_base()
        started = time.perf_counter()
        announced = False
        children = RunScope(
            session=self.session,
            state=self.context.session_state,
            parent=out,
            emit=emit,
            stream=stream,
            deadline=self.deadline,
        )
        self._children = children
        try:
            if self.scope is None:
                self.context.session_state = await self.session.open(team.session_state, self.state_override)
            else:
                for key, value in (team.session_state or {}).items():
                    self.scope.state.setdefault(key, value)
                self.context.session_state = self.scope.state
            children.state = self.context.session_state
            model = team.get_model()
            out.model, out.model_provider = model.id, model.provider
            out.metrics.model_id, out.metrics.model_provider = model.id, model.provider
            out.status = RunStatus.RUNNING
            emit(TeamRunStarted(**base, model=model.id, model_provider=model.provider))
            announced = True

            answers: list[RunOutput] = []
            if team.mode == "broadcast":  # every member answers first, all at once
                answers = list(await asyncio.gather(*(children.run(m, self.input) for m in team.members)))
            with inherited_by(self.deadline):  # the leader's run is bound by the team's deadline
                leader = _LeaderRun(self, model, self._toolkit(answers))
            async for event in leader.events(stream=stream):
                converted = self._team_event(event)
                if converted is not None:
                    emit(converted)
            out.metrics.duration = time.perf_counter() - started
            if self._status() is RunStatus.COMPLETED:
                if self.routed is not None:
                    out.content, out.content_type = self.routed.content, self.routed.content_type
                await self._save()
                emit(TeamRunCompleted(**base, output=out))
                return
            await self._save()
            failed = self._leader_error
            emit(
                TeamRunError(
                    **base,
                    content=out.error or "the team's run failed",
                    error_type=out.error_type,
                    additional_data=failed.additional_data if failed is not None else None,
                    output=out,
                )
            )
        except asyncio.CancelledError:
            out.status = RunStatus.CANCELLED
            out.error, out.error_type = "run was cancelled", "RunCancelledError"
            out.metrics.duration = time.perf_counter() - started
            await asyncio.shield(self._settle_and_save(children))
            raise
        except Exception as exc:
            out.status = RunStatus.ERROR
            out.error = str(exc) if isinstance(exc, StratusError) else f"{type(exc).__name__}: {exc}"
            out.error_type = type(exc).__name__
            out.exception = exc
            out.content = out.error
            out.metrics.duration = time.perf_counter() - started
            if isinstance(exc, StratusError):
                logger.warning("run %s of team %s failed: %s", out.run_id, out.team_id, out.error)
            else:
                logger.exception("run %s of team %s failed", out.run_id, out.team_id)
            if not isinstance(exc, NotFoundError):  # never write into a session we may not touch
                await self._settle_and_save(children)
            if not announced:
                emit(TeamRunStarted(**base, model=out.model, model_provider=out.model_provider))
            additional = {"limit": exc.limit} if isinstance(exc, RunLimitExceeded) else None
            emit(
                TeamRunError(
                    **base, content=out.error, error_type=out.error_type, additional_data=additional, output=out
                )
            )

    def _status(self) -> RunStatus:
        return self.output.status  # read afresh: the leader's loop sets it

    def _team_event(self, event: RunEvent) -> RunEvent | None:
        """The leader's event as the team's: renamed (`ModelRequestStarted` -> `TeamModelRequestStarted`, ...);
        its start and end are the team's to announce, so they are held back."""
        if isinstance(event, RunError):
            self._leader_error = event
            return None
        if isinstance(event, RunStarted | RunCompleted | RunCancelled):
            return None
        kind = _TEAM_EVENTS.get(type(event))
        if kind is None:
            return event
        return kind(**{f.name: getattr(event, f.name) for f in fields(event)})

    async def _settle_and_save(self, children: RunScope) -> None:
        await children.settle()
        await self._save()

    async def _save(self) -> None:
        out, team = self.output, self.team
        if self.scope is not None:
            out.session_state = dict(self.context.session_state)
            await self.scope.session.save_child(out)
            return
        out.session_state = self.context.session_state
        model = team._resolved_model  # pyright: ignore[reportPrivateUsage]
        data = {
            "name": team.name,
            "team_id": team.team_id,
            "mode": team.mode,
            "model": {"name": model.name, "model": model.id, "provider": model.provider} if model else None,
        }
        await self.session.save(out, self.context.session_state, data)

    # --- the leader's tools and instructions ------------------------------------------------------------

    def leader_tools(self) -> list[Tool]:
        """The tools the leader gets besides the team's own (the delegation tool of its mode, if any)."""
        mode = self.team.mode
        return [self._route_tool()] if mode == "route" else [self._delegate_tool()] if mode == "coordinate" else []

    def _toolkit(self, answers: list[RunOutput]) -> Toolkit:
        """What the leader gets for its mode: the delegation tool, and the roster (and, in broadcast mode,
        the members' answers) as the toolkit's instructions, which open a paragraph of its system message."""
        team = self.team
        roster = ["Members (call them by id):"]
        for member in team.members:
            line = f"- `{member_id_of(member)}`"
            if member.name:
                line += f" ({member.name})"
            if member.description:
                line += f": {member.description}"
            roster.append(line)
        if team.mode == "route":
            return Toolkit([self._route_tool()], name="team", instructions="\n".join([_ROUTE, *roster]))
        if team.mode == "coordinate":
            return Toolkit([self._delegate_tool()], name="team", instructions="\n".join([_COORDINATE, *roster]))
        blocks: list[str] = []
        for member, answer in zip(team.members, answers, strict=True):
            member_id = member_id_of(member)
            if answer.status is RunStatus.COMPLETED:
                blocks.append(f'<member_response member_id="{member_id}">\n{_text(answer)}\n</member_response>')
            else:
                blocks.append(
                    f'<member_response member_id="{member_id}" failed="true">\n{answer.error}\n</member_response>'
                )
        return Toolkit([], name="team", instructions="\n".join([_BROADCAST, *roster, *blocks]))

    def _member(self, member_id: str) -> tuple[Agent | Team, RunScope]:
        children = self._children
        assert children is not None, "delegation tools run inside the team's run"
        try:
            return self.team.get_member(member_id), children
        except NotFoundError:
            known = ", ".join(member_id_of(m) for m in self.team.members)
            raise ToolError(f"there is no member {member_id!r} (members: {known})") from None

    def _delegate_tool(self) -> Tool:
        async def delegate_task_to_member(member_id: str, task: str) -> str:
            """Give one member of the team a task and get back its result (call it several times to run them at once).

            Args:
                member_id: The member's id, from the list of members.
                task: The task: what to do, and everything the member needs to know to do it.
            """
            member, children = self._member(member_id)
            return _result(member_id, await children.run(member, task))

        return Tool(delegate_task_to_member)

    def _route_tool(self) -> Tool:
        async def route_to_member(member_id: str) -> str:
            """Hand the user's message to the member best suited to answer it; its answer goes to the user.

            Args:
                member_id: The member's id, from the list of members.
            """
            if self.routed is not None or self._routing:
                raise ToolError("the message is already routed to a member; route it once")
            member, children = self._member(member_id)
            self._routing = True
            try:
                output = await children.run(member, self.input)
            finally:
                self._routing = False
            text = _result(member_id, output)
            self.routed = output
            return text

        return Tool(route_to_member)


def _text(output: RunOutput) -> str:
    return to_text(output.content_dict())


def _result(member_id: str, output: RunOutput) -> str:
    """A member's answer for the leader; a member that failed is the tool's error (the model reads it)."""
    if output.status is RunStatus.COMPLETED:
        return _text(output)
    raise ToolError(f"member {member_id!r} failed: {output.error or output.status.value}")


class _LeaderRun(AgentRun):
    """The leader: an agent run whose output and context are the team run's. The team opens and saves the
    session; in route mode, once a member has answered, the leader is not asked again."""

    def __init__(self, team_run: TeamRun, model: Model, toolkit: Toolkit) -> None:
        team = team_run.team
        leader = Agent(
            model=model,
            name=team.name,
            id=team.team_id,
            description=team.description,
            instructions=team.instructions,
            tools=[*team.tools, toolkit],
            add_history_to_context=team.add_history_to_context,
            num_history_runs=team.num_history_runs,
            markdown=team.markdown,
            add_datetime_to_context=team.add_datetime_to_context,
            max_tool_rounds=team.max_tool_rounds,
            fallback_models=team.fallback_models,
        )
        out = team_run.output
        super().__init__(leader, team_run.input, session_id=out.session_id, user_id=out.user_id, run_id=out.run_id)
        self.team_run = team_run
        self.output = out
        self.context = team_run.context

    def _event_base(self) -> dict[str, Any]:
        return self.team_run.event_base()

    async def _open_session(self) -> None:
        self._session_loaded = True

    async def _load_session(self) -> list[RunOutput]:
        self._session_loaded = True
        run = self.team_run
        if run.scope is not None or not self.agent.add_history_to_context:
            return []
        team_id = run.team.team_id
        return await run.session.history(self.agent.num_history_runs, lambda r: r.team_id == team_id)

    async def _save(self) -> bool:
        return False  # the team run stores itself, once, when it ends

    async def _ask(
        self,
        model: Model,
        messages: list[Message],
        request: ModelRequest,
        stream: bool,
        run_started: float,
        turn: Any,
    ) -> AsyncIterator[RunEvent]:
        routed = self.team_run.routed
        if routed is None:
            async for event in super()._ask(model, messages, request, stream, run_started, turn):
                yield event
            return
        # Routed: the member's answer is the team's; the model has nothing left to decide.
        text = _text(routed)
        turn.response = ModelResponse(content=text, finish_reason="stop")
        turn.message = Message(role="assistant", content=text)
        if stream:
            yield RunContent(**self._event_base(), content=routed.content_dict(), content_type=routed.content_type)
