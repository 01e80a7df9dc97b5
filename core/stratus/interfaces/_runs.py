"""Running an agent, a team or a workflow for a protocol besides REST: the same checks and the same run registry
as the REST run routes (`stratus.api.routers._components`), so a run started over MCP, say, is stored, listed,
cancelled and continued like any other."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stratus._runnable import RunOptions
from stratus.exceptions import NotFoundError
from stratus.run import RunInput
from stratus.storage.records import SessionType

if TYPE_CHECKING:
    from stratus.api._runs import ActiveRun, RunRegistry
    from stratus.api.routers._components import ComponentKind
    from stratus.app import App

__all__ = ["kind_of", "start_run"]


def kind_of(session_type: SessionType) -> ComponentKind[Any]:
    """The REST routes' description of agents, teams or workflows (how to find one, what its runs are)."""
    if session_type is SessionType.AGENT:
        from stratus.api.routers.agents import AGENTS

        return AGENTS
    if session_type is SessionType.TEAM:
        from stratus.api.routers.teams import TEAMS

        return TEAMS
    from stratus.api.routers.workflows import WORKFLOWS

    return WORKFLOWS


async def start_run(
    app: App,
    registry: RunRegistry,
    kind: ComponentKind[Any],
    component_id: str,
    message: str,
    *,
    user_id: str | None,
    session_id: str | None = None,
    session_state: dict[str, Any] | None = None,
) -> ActiveRun:
    """Start a streamed run of the component for the caller `user_id` (its events: `registry.events`), with
    `session_state` merged over the session's as a REST run's.

    `NotFoundError`, before anything is stored, for a component the app does not serve, or a session that is
    another user's or another component's (absent to this caller, as over REST)."""
    component = kind.find(app, component_id)
    if session_id is not None:
        session = await (component.store or app.store).get_session(session_id)
        if session is not None and (session.user_id != user_id or not kind.holds(session, component_id)):
            raise NotFoundError(f"session {session_id!r} not found")
    run = component.execution(message, RunOptions(session_id=session_id, user_id=user_id, session_state=session_state))
    run.output.input = RunInput(input_content=message)
    return registry.start(run, stream=True)
