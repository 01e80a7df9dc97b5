"""`Team`: a plain declaration of agents (and teams) that answer together. Running it is `_run.py`'s job."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

from stratus._runnable import RunOptions
from stratus._utils import slug
from stratus.agent import Agent
from stratus.agent._controls import validated_input
from stratus.agent.agent import ModelComponent, resolve_model
from stratus.exceptions import ConfigError, NotFoundError
from stratus.models.base import Model

if TYPE_CHECKING:
    from pydantic import BaseModel

    from stratus._lifecycle import Resumption
    from stratus._nesting import RunScope
    from stratus.hooks import Hook
    from stratus.team._run import TeamRun

__all__ = ["Team", "TeamMode"]

TeamMode = Literal["route", "coordinate", "broadcast"]
"""How the leader works with the members:

- `route`: the leader picks the one member best suited to the message; that member's answer is the team's.
- `coordinate`: the leader gives members tasks through a tool (the tasks of one turn run concurrently), then
  writes the answer from their results.
- `broadcast`: every member answers the message (concurrently); the leader writes the answer from theirs.
"""


@dataclass(slots=True, kw_only=True, eq=False)
class Team(ModelComponent):
    """A team: members (agents or teams) and a leader model that works with them in one of three `mode`s.

    The team's run is stored in the team's session; each member's run is stored in the same session as a run
    of its own whose `parent_run_id` is the team's run. Members share the team's session state (their tools
    read and change the same `RunContext.session_state`). A member that fails does not fail the team: its
    error goes back to the leader, which carries on. Streamed, a team's run yields its own events
    (`TeamRunStarted` ... `TeamRunCompleted`, which carries the members' runs) and, in between, its members'
    events, whose `parent_run_id` names the team's run (all at `nested_depth` 0, as AgentOS sends them).

    Args:
        members: The agents and teams the leader works with; their ids must be unique within the team.
        mode: `route`, `coordinate` (the default) or `broadcast` (see `TeamMode`).
        model: The leader's model: a `Model`, or a `"provider:model-id"` string.
        name: Display name.
        id: Stable identifier used in the API's routes; defaults to a slug of `name`.
        description: One line about the team; opens the leader's system message, and tells an enclosing team
            what this team is for.
        instructions: What the leader should do, on top of what its mode asks of it.
        tools: Tools the leader may call itself, besides delegating.
        store: Where sessions and runs are kept; without one, runs are not persisted.
        add_history_to_context: Send the leader the session's earlier team runs.
        num_history_runs: How many earlier runs to send (the newest ones).
        session_state: Default state of a new session.
        markdown: Ask the leader to format answers in Markdown.
        add_datetime_to_context: Tell the leader the current date and time.
        max_tool_rounds: How many times in a row the leader may call tools (delegating included).
        metadata: Free-form data reported by the API.
        run_timeout: Seconds a run may take in all, its members' runs included; past it the run ends with a
            `RunTimeoutError` (see `Agent.run_timeout`).
        fallback_models: Models that answer for the leader, in turn, when its model fails past its retries
            (see `Agent.fallback_models`).
        tool_choice: Whether the leader calls tools (delegating included): see `Agent.tool_choice`.
        tool_call_limit: How many tool calls the leader may make in a run (see `Agent.tool_call_limit`).
        input_schema: A pydantic model the input must validate against (see `Agent.input_schema`).
        pre_hooks, post_hooks, tool_hooks: As `Agent`'s, on the team's run: pre-hooks see (and may change or
            refuse) the input before the leader and the members do, post-hooks the team's answer, tool hooks
            wrap the leader's calls (delegating included). A hook names the team as `team`.
    """

    members: Sequence[Agent | Team]
    mode: TeamMode = "coordinate"
    markdown: bool = False
    add_datetime_to_context: bool = False
    max_tool_rounds: int = 10
    metadata: dict[str, Any] | None = None
    run_timeout: float | None = None
    fallback_models: Sequence[Model | str] = ()
    tool_choice: str | dict[str, Any] | None = None
    tool_call_limit: int | None = None
    input_schema: type[BaseModel] | None = None
    pre_hooks: Sequence[Hook] | None = None
    post_hooks: Sequence[Hook] | None = None
    tool_hooks: Sequence[Callable[..., Any]] | None = None

    def __post_init__(self) -> None:
        if self.id is None:
            self.id = slug(self.name, "team") if self.name else "team"
        if self.mode not in get_args(TeamMode):
            raise ConfigError(f"team {self.id!r}: mode must be one of {', '.join(get_args(TeamMode))}")
        if not self.members:
            raise ConfigError(f"team {self.id!r} has no members")
        if self.run_timeout is not None and not self.run_timeout > 0:
            raise ConfigError(f"team {self.id!r}: run_timeout must be > 0 seconds (or None)")
        self.members = tuple(self.members)
        seen: set[str] = set()
        for member in self.members:
            if not isinstance(member, Agent | Team):  # pyright: ignore[reportUnnecessaryIsInstance]
                raise ConfigError(f"team {self.id!r}: members are Agents or Teams, got {type(member).__name__}")
            member_id = member_id_of(member)
            if member_id in seen:
                raise ConfigError(f"team {self.id!r} has two members with the id {member_id!r}")
            seen.add(member_id)
        if self.num_history_runs < 0 or self.max_tool_rounds < 0:
            raise ConfigError(f"team {self.id!r}: num_history_runs and max_tool_rounds must be >= 0")
        self.fallback_models = tuple(self.fallback_models)

    @property
    def team_id(self) -> str:
        return self.id or "team"

    def get_model(self) -> Model:
        """The leader's model, built from its string on first use."""
        if self._resolved_model is None:
            self._resolved_model = resolve_model(
                self.model, f"team {self.team_id!r} has no model (its leader needs one"
            )
        return self._resolved_model

    def get_member(self, member_id: str) -> Agent | Team:
        """A direct member by id."""
        for member in self.members:
            if member_id_of(member) == member_id:
                return member
        raise NotFoundError(f"team {self.team_id!r} has no member {member_id!r}")

    def all_teams(self) -> list[Team]:
        """This team and every team inside it, at any depth."""
        found: list[Team] = [self]
        for member in self.members:
            if isinstance(member, Team):
                found.extend(member.all_teams())
        return found

    def all_agents(self) -> list[Agent]:
        """Every agent in the team, at any depth (each once)."""
        found: dict[int, Agent] = {}
        for member in self.members:
            for agent in member.all_agents() if isinstance(member, Team) else [member]:
                found.setdefault(id(agent), agent)
        return list(found.values())

    # --- running ----------------------------------------------------------------------------------------

    def execution(self, input: str | Mapping[str, Any] | BaseModel, options: RunOptions | None = None) -> TeamRun:
        """A team run: the `RunOutput`'s `children` are the members' runs; streamed, events go from
        `TeamRunStarted` to `TeamRunCompleted` or `TeamRunError`, members' events between. Knowledge filters
        are the members' business, not the team's. An input that does not follow `input_schema` raises
        `InputValidationError` here, before anything starts."""
        from stratus._lifecycle import Start
        from stratus.team._run import TeamRun

        return TeamRun(self, validated_input(input, self.input_schema, f"team {self.team_id!r}"), Start(options))

    def child_execution(self, input: str, scope: RunScope, resume: Resumption | None = None) -> TeamRun:
        """A team as a member of another team, or as a workflow's step: in the parent's session."""
        from stratus._lifecycle import Start
        from stratus.team._run import TeamRun

        return TeamRun(self, input, Start(scope=scope, resume=resume))


def member_id_of(member: Agent | Team) -> str:
    """The id a team knows a member by."""
    return member.agent_id if isinstance(member, Agent) else member.team_id
