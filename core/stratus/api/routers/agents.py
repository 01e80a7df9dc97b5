"""`/agents`: list and describe agents, run them (buffered, streamed or in the background), read and cancel
their runs. The routes are `_components`' (the same for teams and workflows); this is what is the agents'."""

from __future__ import annotations

from stratus.api.routers._components import ComponentKind, Operation, Operations, component_router
from stratus.api.schemas import AgentResponse, agent_response
from stratus.app import App
from stratus.storage.records import SessionType

__all__ = ["AGENTS", "router"]

AGENTS = ComponentKind(
    prefix="/agents",
    tag="Agents",
    id_field="agent_id",
    session_type=SessionType.AGENT,
    find=App.get_agent,
    every=lambda app: app.agents.values(),
    row=agent_response,
    row_model=AgentResponse,
    detail=agent_response,
    detail_model=AgentResponse,
    child_runs=False,
    operations=Operations(
        list_components=Operation("get_agents", "List All Agents", "Every agent this deployment serves."),
        get_component=Operation("get_agent", "Get Agent Details", "One agent: its model, tools and settings."),
        create_run=Operation(
            "create_agent_run",
            "Create Agent Run",
            "Run the agent on a message.\n\n"
            "`stream=true` (the default) answers with Server-Sent Events, from `RunStarted` to `RunCompleted` "
            "(or `RunError` / `RunCancelled`). `stream=false` answers with the finished run as JSON. "
            "`background=true` answers 202 at once with the run id, status PENDING; poll "
            "`GET /agents/{agent_id}/runs/{run_id}`.",
        ),
        list_runs=Operation("list_agent_runs", "List Agent Runs", "The agent's runs in one session, oldest first."),
        get_run=Operation(
            "get_agent_run",
            "Get Agent Run",
            "A run's status and output: queued (PENDING), in flight (RUNNING) or finished. Use it to poll "
            "background runs.",
        ),
        cancel_run=Operation(
            "cancel_agent_run",
            "Cancel Agent Run",
            "Stop a run in flight. It is stored with status CANCELLED and its stream ends with `RunCancelled`.",
        ),
    ),
)

router = component_router(AGENTS)
