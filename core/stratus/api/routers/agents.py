"""`/agents`: list and describe agents, run them (buffered, streamed or in the background), read and cancel
their runs. The routes are `_components`' (the same for teams and workflows); this is what is the agents'."""

from __future__ import annotations

from stratus.api.routers._components import ComponentKind, component_router
from stratus.api.schemas import AgentResponse, agent_response
from stratus.storage.records import SessionType

__all__ = ["AGENTS", "router"]

AGENTS = ComponentKind(SessionType.AGENT, lambda app: app.agents, (agent_response, AgentResponse))

router = component_router(AGENTS)
