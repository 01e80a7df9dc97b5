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
The team run's life (start, end, saving) is `stratus._lifecycle.RunLifecycle`'s, the leader's turns a
`TurnLoop` given the team's event names; a team that is itself a member lives in its parent's session.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from stratus._lifecycle import TOP_LEVEL, Component, ComponentRun, Resumption, Start, begin
from stratus._nesting import Emit, RunScope, pump
from stratus._utils import to_text
from stratus.agent import Agent
from stratus.agent._loop import answered_run_events
from stratus.agent._pause import MemberPaused, pending_round
from stratus.agent._turns import TurnLoop, build_messages, kept_messages, resumed_messages
from stratus.component_events import TEAM_TWINS, TeamRunContentCompleted, TeamToolCallCompleted
from stratus.exceptions import NotFoundError, ToolError
from stratus.hooks import check_input, check_output
from stratus.models.base import Model
from stratus.run import RunContent, RunEvent, RunOutput, RunStatus, ToolExecution
from stratus.storage.records import SessionType
from stratus.team.team import Team, member_id_of
from stratus.tools import Tool, Toolkit

__all__ = ["TEAM_EVENTS", "TeamRun"]

TEAM_EVENTS = answered_run_events(TEAM_TWINS, failed="the team's run failed")

_LEADER_SETTINGS = (
    "name",
    "description",
    "instructions",
    "add_history_to_context",
    "num_history_runs",
    "markdown",
    "add_datetime_to_context",
    "max_tool_rounds",
    "fallback_models",
    "tool_choice",
    "tool_call_limit",
    "tool_hooks",
)
"""What the leader takes from the team as it is (its model, id and tools are made for it)."""

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


class TeamRun(ComponentRun):
    """One execution of a team. `events()` drives it; `result()` drives it and returns the output.

    With `start.scope`, the run is a member of another team (or a step of a workflow): it is stored in that
    run's session as its child and shares its session state. With `start.resume`, its paused run goes on: the
    leader's calls that waited on its members' paused runs resume them (`Resumption.members`).
    """

    def __init__(self, team: Team, input: str, start: Start = TOP_LEVEL) -> None:
        self.team = team
        self.input = input
        self.scope = start.scope
        resume = start.resume
        if resume is not None:
            resume.run.requirements = None  # its members' (what it paused with): they are decided now
        component = Component.of(SessionType.TEAM, team.team_id, team, TEAM_EVENTS)
        super().__init__(begin(component, input, start, describe=self._component_data, settle=self.settle))
        self.place = self.lifecycle.place
        self.deadline = self.lifecycle.deadline
        self.routed: RunOutput | None = None
        """In route mode, the member run whose answer is the team's."""
        self._routing = False
        self._member_runs: dict[str, list[str]] = {}
        """The runs the delegation tools started, by their call (`_call_key`), until their call reports."""
        self._pending = pending_round(self.output) if resume is not None else []
        """A resumed run's: the leader's calls that waited on paused members' runs."""
        self._resumptions: dict[str, Resumption] = {}
        """By the leader's call (`_call_key`): the paused member run it waited on, with the decisions in it."""
        members = (resume.members if resume is not None else None) or {}
        for execution in self._pending:
            found = members.get(execution.child_run_id or "")
            if found is not None:
                self._resumptions[_call_key(execution.tool_name, execution.tool_args)] = found

    def events(self, *, stream: bool) -> AsyncIterator[RunEvent]:
        """Run the team, yielding its events and its members'. With `stream=False` the models are asked for
        whole answers; the result is in `self.output` when iteration ends."""
        keep = _not_content if stream else None  # AgentOS keeps a streamed team run's events but the pieces
        return self.lifecycle.drive(pump(lambda emit: self._body(emit, stream)), keep=keep)

    async def _body(self, emit: Emit, stream: bool) -> None:
        team, out, lifecycle = self.team, self.output, self.lifecycle
        started = time.perf_counter()
        state = await lifecycle.open()
        self.context.session_state = state
        if team.pre_hooks:
            self.input = await check_input(lifecycle, team.pre_hooks, self.context, {"team": team})
        children = self.children = RunScope(
            session=self.place.writer, state=state, parent=out, emit=emit, stream=stream, deadline=self.deadline
        )
        model = team.get_model()
        out.answered_by(model)
        emit(lifecycle.started())

        answers: list[RunOutput] = []
        if team.mode == "broadcast":  # every member answers first, all at once
            answers = list(await asyncio.gather(*(children.run(m, self.input) for m in team.members)))
        leader = self._leader(model, self._toolkit(answers))
        tools, unavailable = await leader.aget_tools()
        turns = TurnLoop.of(
            leader,
            lifecycle,
            self.context,
            renamed=TEAM_TWINS,  # the leader speaks the team's names for the agent's events
            answered=lambda: self.routed,
            started=started,
            resumed=self._pending,
        )
        for event in turns.unavailable(unavailable):
            emit(event)
        history: list[RunOutput] = []
        continues = lifecycle.continues
        if leader.add_history_to_context and continues is None:
            team_id = team.team_id
            history = await self.place.history(leader.num_history_runs, lambda r: r.team_id == team_id)
        if self._pending:  # a paused run going on: the conversation it stored
            messages = resumed_messages(out.messages, history)
        else:
            messages = build_messages(leader, self.context, self.input, model, history, continues=continues)
            out.messages.extend(kept_messages(messages, continues))
        async for event in turns.run(messages, tools, stream=stream):
            if isinstance(event, TeamToolCallCompleted):
                self._link_member_run(event.tool)
            emit(event)
        if lifecycle.status is RunStatus.PAUSED:
            return  # stored with what its member waits for, its stream ended with `TeamRunPaused`
        emit(TeamRunContentCompleted(**lifecycle.base))
        if self.routed is not None:
            out.content, out.content_type = self.routed.content, self.routed.content_type
        if team.post_hooks:
            await check_output(lifecycle, team.post_hooks, self.context, {"team": team})

    def _component_data(self) -> dict[str, Any]:
        team = self.team
        return {"name": team.name, "team_id": team.team_id, "mode": team.mode, "model": team.model_data()}

    def _leader(self, model: Model, toolkit: Toolkit) -> Agent:
        """The leader: an agent configured from the team, whose output and context are the team run's."""
        team = self.team
        settings = {name: getattr(team, name) for name in _LEADER_SETTINGS}
        return Agent(model=model, id=team.team_id, tools=[*team.tools, toolkit], **settings)

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

    def _started(self, tool: str, args: dict[str, Any], output: RunOutput) -> None:
        self._member_runs.setdefault(_call_key(tool, args), []).append(output.run_id)

    def _link_member_run(self, tool: ToolExecution) -> None:
        """Name the member's run on the delegation call that started it (AgentOS' `child_run_id`)."""
        started = self._member_runs.get(_call_key(tool.tool_name, tool.tool_args))
        if started:
            tool.child_run_id = started.pop(0)

    def _member(self, member_id: str) -> tuple[Agent | Team, RunScope]:
        children = self.children
        assert children is not None, "delegation tools run inside the team's run"
        try:
            return self.team.get_member(member_id), children
        except NotFoundError:
            known = ", ".join(member_id_of(m) for m in self.team.members)
            raise ToolError(f"there is no member {member_id!r} (members: {known})") from None

    async def _run_member(
        self, member: Agent | Team, member_id: str, input: str, tool: str, args: dict[str, Any], children: RunScope
    ) -> RunOutput:
        """The member's run for this call: a new one, or (resuming) the paused one the call waited on, going on
        with its decisions. A member's run that pauses pauses the team's (`MemberPaused`)."""
        resumption = self._resumptions.pop(_call_key(tool, args), None)
        if resumption is not None and not isinstance(member, Agent):
            raise ToolError(f"member {member_id!r} is a team: resuming its paused run is not supported")
        output = await children.run(member, input, resume=resumption)
        if output.status is RunStatus.PAUSED:
            raise MemberPaused(member_id, member.name, output)
        return output

    def _delegate_tool(self) -> Tool:
        async def delegate_task_to_member(member_id: str, task: str) -> str:
            """Give one member of the team a task and get back its result (call it several times to run them at once).

            Args:
                member_id: The member's id, from the list of members.
                task: The task: what to do, and everything the member needs to know to do it.
            """
            member, children = self._member(member_id)
            args = {"member_id": member_id, "task": task}
            output = await self._run_member(member, member_id, task, "delegate_task_to_member", args, children)
            self._started("delegate_task_to_member", args, output)
            return _result(member_id, output)

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
                args = {"member_id": member_id}
                output = await self._run_member(member, member_id, self.input, "route_to_member", args, children)
            finally:
                self._routing = False
            self._started("route_to_member", {"member_id": member_id}, output)
            text = _result(member_id, output)
            self.routed = output
            return text

        return Tool(route_to_member)


def _not_content(event: RunEvent) -> bool:
    return not isinstance(event, RunContent)


def _call_key(tool: str, args: dict[str, Any]) -> str:
    return json.dumps([tool, args], sort_keys=True, default=str)


def _text(output: RunOutput) -> str:
    return to_text(output.content_dict())


def _result(member_id: str, output: RunOutput) -> str:
    """A member's answer for the leader; a member that failed is the tool's error (the model reads it)."""
    if output.status is RunStatus.COMPLETED:
        return _text(output)
    raise ToolError(f"member {member_id!r} failed: {output.error or output.status.value}")
