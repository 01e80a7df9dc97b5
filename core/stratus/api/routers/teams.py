"""`/teams`: list and describe teams, run them (buffered, streamed or in the background), read and cancel
their runs. A streamed run carries the team's events (`TeamRunStarted` ... `TeamRunCompleted`) and, in
between, its members' events, `parent_run_id` naming the team's run (`nested_depth` 0, as AgentOS). The routes are
`_components`' (the same for agents and workflows); this is what is the teams'."""

from __future__ import annotations

from stratus.api.routers._components import ComponentKind, component_router
from stratus.api.schemas import TeamResponse, team_response
from stratus.storage.records import SessionType

__all__ = ["TEAMS", "router"]

TEAMS = ComponentKind(SessionType.TEAM, lambda app: app.teams, (team_response, TeamResponse))

router = component_router(TEAMS)
