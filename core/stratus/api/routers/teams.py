"""`/teams`: list and describe teams, run them (buffered, streamed or in the background), read and cancel
their runs. A streamed run carries the team's events (`TeamRunStarted` ... `TeamRunCompleted`) and, in
between, its members' events, `parent_run_id` naming the team's run (`nested_depth` 0, as AgentOS). The routes are
`_components`' (the same for agents and workflows); this is what is the teams'."""

from __future__ import annotations

from stratus.api.routers._components import ComponentKind, Operation, Operations, component_router
from stratus.api.schemas import TeamResponse, team_response
from stratus.app import App
from stratus.storage.records import SessionType

__all__ = ["TEAMS", "router"]

TEAMS = ComponentKind(
    prefix="/teams",
    tag="Teams",
    id_field="team_id",
    session_type=SessionType.TEAM,
    find=App.get_team,
    every=lambda app: app.teams.values(),
    row=team_response,
    row_model=TeamResponse,
    detail=team_response,
    detail_model=TeamResponse,
    child_runs=True,
    operations=Operations(
        list_components=Operation(
            "get_teams", "List All Teams", "Every team this deployment serves, with its members."
        ),
        get_component=Operation(
            "get_team", "Get Team Details", "One team: its mode, leader model and tools, and its members."
        ),
        create_run=Operation(
            "create_team_run",
            "Create Team Run",
            "Run the team on a message.\n\n"
            "`stream=true` (the default) answers with Server-Sent Events, from `TeamRunStarted` to "
            "`TeamRunCompleted` (or `TeamRunError` / `TeamRunCancelled`), the members' events in between. "
            "`stream=false` answers with the finished run as JSON, its members' runs in `member_responses`. "
            "`background=true` answers 202 at once with the run id, status PENDING; poll "
            "`GET /teams/{team_id}/runs/{run_id}`.",
        ),
        list_runs=Operation("list_team_runs", "List Team Runs", "The team's runs in one session, oldest first."),
        get_run=Operation(
            "get_team_run",
            "Get Team Run",
            "A run's status and output, its members' runs in `member_responses`. Use it to poll background runs.",
        ),
        cancel_run=Operation(
            "cancel_team_run",
            "Cancel Team Run",
            "Stop a run in flight, and its members' runs in flight. Each is stored with status CANCELLED and the "
            "stream ends with `TeamRunCancelled`.",
        ),
    ),
)

router = component_router(TEAMS)
