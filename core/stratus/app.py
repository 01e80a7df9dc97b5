"""`App`: the agents (and later teams and workflows) one deployment serves, and where they keep sessions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from stratus.agent import Agent
from stratus.exceptions import ConfigError, NotFoundError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from stratus.storage.base import Store

__all__ = ["App"]


class App:
    """What one stratus deployment serves.

    Agents without a store of their own share the app's store: `store=` if given, else the one `STRATUS_DB`
    names, else `.stratus/stratus.db`. Ids must be unique. `create_app(app)` (or `app.asgi()`) serves it over
    HTTP; on AWS each route's Lambda function imports the same `App`.
    """

    def __init__(
        self,
        *,
        agents: Sequence[Agent] = (),
        id: str = "stratus",
        name: str | None = None,
        description: str | None = None,
        store: Store | None = None,
    ) -> None:
        self.id = id
        self.name = name or id
        self.description = description
        self._store = store
        self.agents: dict[str, Agent] = {}
        for agent in agents:
            if not isinstance(agent, Agent):  # pyright: ignore[reportUnnecessaryIsInstance]
                raise ConfigError(f"App(agents=...) takes Agent objects, got {type(agent).__name__}")
            if agent.agent_id in self.agents:
                raise ConfigError(f"two agents share the id {agent.agent_id!r}")
            self.agents[agent.agent_id] = agent

    @property
    def store(self) -> Store:
        """The app's store, built on first use."""
        if self._store is None:
            from stratus.storage import default_store

            self._store = default_store()
        return self._store

    def attach_store(self) -> None:
        """Give every agent without a store the app's store (done when the app is served)."""
        for agent in self.agents.values():
            if agent.store is None:
                agent.store = self.store

    def get_agent(self, agent_id: str) -> Agent:
        try:
            return self.agents[agent_id]
        except KeyError:
            raise NotFoundError(f"agent {agent_id!r} not found") from None

    def asgi(self, **options: Any) -> FastAPI:
        """This app as a FastAPI application (see `stratus.api.create_app`)."""
        from stratus.api import create_app

        return create_app(self, **options)

    def __repr__(self) -> str:
        return f"App(id={self.id!r}, agents={list(self.agents)})"
