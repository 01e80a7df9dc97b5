"""`App`: the agents, teams and workflows one deployment serves, and where they keep sessions."""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from stratus.agent import Agent
from stratus.exceptions import ConfigError, NotFoundError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from stratus.background import RunQueue
    from stratus.knowledge import Knowledge
    from stratus.knowledge.ingestion import BlobStore, IngestionQueue
    from stratus.run import RunOutput
    from stratus.storage.base import Store
    from stratus.team import Team
    from stratus.workflow import Workflow

__all__ = ["App", "RunHook", "load_app"]

logger = logging.getLogger("stratus.app")

T = TypeVar("T")

RunHook = Callable[["RunOutput"], None]
"""Called with every run that ends in this deployment (metrics, audit); it must not raise or block."""


def _by_id(argument: str, items: Sequence[T], kind: type[T], id_of: Callable[[T], str]) -> dict[str, T]:
    """The items of `App(<argument>=...)` by id; refuses an item that is not a `kind`, and two with one id."""
    found: dict[str, T] = {}
    for item in items:
        if not isinstance(item, kind):
            raise ConfigError(f"App({argument}=...) takes {kind.__name__} objects, got {type(item).__name__}")
        key = id_of(item)
        if key in found:
            raise ConfigError(f"two {argument} share the id {key!r}")
        found[key] = item
    return found


class App:
    """What one stratus deployment serves.

    Agents, teams and workflows without a store of their own share the app's store: `store=` if given, else
    the one `STRATUS_DB` names, else `.stratus/stratus.db`. Ids must be unique among agents, among teams and
    among workflows. `create_app(app)` (or `app.asgi()`) serves it over HTTP; on AWS each route's Lambda
    function imports the same `App`. `cors_allowed_origins` names the browser origins that may call it (as
    AgentOS' does; see `stratus.api._cors`). `mcp`, `a2a` and `agui` also serve the app over those protocols
    (at `/mcp`, `/a2a/...` and `/agui/...`; see `stratus.interfaces`), each behind the same authentication.
    """

    def __init__(
        self,
        *,
        agents: Sequence[Agent] = (),
        id: str = "stratus",
        name: str | None = None,
        description: str | None = None,
        store: Store | None = None,
        run_queue: RunQueue | None = None,
        knowledge: Sequence[Knowledge] = (),
        teams: Sequence[Team] = (),
        workflows: Sequence[Workflow] = (),
        cors_allowed_origins: Sequence[str] | None = None,
        mcp: bool = False,
        a2a: bool = False,
        agui: bool = False,
    ) -> None:
        self.id = id
        self.interfaces: tuple[str, ...] = tuple(n for n, on in (("mcp", mcp), ("a2a", a2a), ("agui", agui)) if on)
        """The protocols served besides the REST API, by name (see `stratus.interfaces`)."""
        self.cors_allowed_origins = list(cors_allowed_origins) if cors_allowed_origins is not None else None
        """Browser origins that may call the API (None: `STRATUS_CORS_ORIGINS`, else local front ends)."""
        self.name = name or id
        self.description = description
        self._store = store
        self.run_queue = run_queue
        """Where background runs go; None runs them as tasks of the serving process."""
        self.run_hooks: list[RunHook] = []
        self.agents: dict[str, Agent] = _by_id("agents", agents, Agent, lambda a: a.agent_id)
        self.teams: dict[str, Team] = {}
        self.workflows: dict[str, Workflow] = {}
        if teams or workflows:
            self._add_teams_and_workflows(teams, workflows)
        self.knowledge: dict[str, Knowledge] = {}
        """Every knowledge base served: those given, and those of the agents (in teams and workflows too)."""
        for base in [*knowledge, *(a.knowledge for a in self.all_agents() if a.knowledge is not None)]:
            known = self.knowledge.get(base.id)
            if known is not None and known is not base:
                raise ConfigError(f"two knowledge bases share the name {base.id!r}")
            self.knowledge[base.id] = base
        self.knowledge_queue: IngestionQueue | None = None
        """Where uploads go to be ingested; None ingests them in the serving process."""
        self.blob_store: BlobStore | None = None
        """Where uploads wait for the ingestion worker (with `knowledge_queue`)."""

    def _add_teams_and_workflows(self, teams: Sequence[Team], workflows: Sequence[Workflow]) -> None:
        from stratus.team import Team
        from stratus.workflow import Workflow

        self.teams = _by_id("teams", teams, Team, lambda t: t.team_id)
        self.workflows = _by_id("workflows", workflows, Workflow, lambda w: w.workflow_id)

    def all_agents(self) -> list[Agent]:
        """Every agent this app runs: those it serves, and those inside its teams and workflows (each once)."""
        found: dict[int, Agent] = {id(a): a for a in self.agents.values()}
        for component in [*self.teams.values(), *self.workflows.values()]:
            for agent in component.all_agents():
                found.setdefault(id(agent), agent)
        return list(found.values())

    @property
    def store(self) -> Store:
        """The app's store, built on first use."""
        if self._store is None:
            from stratus.storage import default_store

            self._store = default_store()
        return self._store

    def all_teams(self) -> list[Team]:
        """Every team this app runs: those it serves, those inside them and those its workflows run (each once)."""
        found: dict[int, Team] = {}
        for component in [*self.teams.values(), *self.workflows.values()]:
            for team in component.all_teams():
                found.setdefault(id(team), team)
        return list(found.values())

    def attach_store(self) -> None:
        """Give every agent, team, workflow and knowledge base without a store the app's store (done when the
        app is served): team members, nested teams and workflow steps too, so their learning machines recall
        and learn (a learning machine needs its agent's store)."""
        for component in [*self.all_agents(), *self.all_teams(), *self.workflows.values()]:
            if component.store is None:
                component.store = self.store
        for base in self.knowledge.values():
            if base.store is None:
                base.store = self.store

    def get_knowledge(self, knowledge_id: str | None = None) -> Knowledge:
        """A knowledge base by id; with none named, the only one (several make the id required)."""
        if knowledge_id is not None:
            try:
                return self.knowledge[knowledge_id]
            except KeyError:
                raise NotFoundError(f"knowledge base {knowledge_id!r} not found") from None
        if len(self.knowledge) == 1:
            return next(iter(self.knowledge.values()))
        if not self.knowledge:
            raise NotFoundError("this app serves no knowledge base")
        raise ConfigError(f"this app serves several knowledge bases; name one of: {', '.join(sorted(self.knowledge))}")

    def run_ended(self, output: RunOutput) -> None:
        """Tell the run hooks a run ended; a failing hook is logged, never raised."""
        for hook in self.run_hooks:
            try:
                hook(output)
            except Exception:
                logger.exception("run hook %r failed", hook)

    def get_agent(self, agent_id: str) -> Agent:
        try:
            return self.agents[agent_id]
        except KeyError:
            raise NotFoundError(f"agent {agent_id!r} not found") from None

    def get_team(self, team_id: str) -> Team:
        try:
            return self.teams[team_id]
        except KeyError:
            raise NotFoundError(f"team {team_id!r} not found") from None

    def get_workflow(self, workflow_id: str) -> Workflow:
        try:
            return self.workflows[workflow_id]
        except KeyError:
            raise NotFoundError(f"workflow {workflow_id!r} not found") from None

    def asgi(self, **options: Any) -> FastAPI:
        """This app as a FastAPI application (see `stratus.api.create_app`)."""
        from stratus.api import create_app

        return create_app(self, **options)

    def __repr__(self) -> str:
        return f"App(id={self.id!r}, agents={list(self.agents)})"


def load_app(spec: str) -> App:
    """Import the `App` that `module:attribute` names (the current directory is importable). The attribute
    may also be a function that returns the App."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"app {spec!r} must look like module:attribute, e.g. examples.demo:app")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise ConfigError(f"cannot import {module_name!r} (looked in {os.getcwd()} and sys.path)") from exc
        raise
    value: Any = module
    for part in attr.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise ConfigError(f"module {module_name!r} has no attribute {attr!r}") from None
    if callable(value) and not isinstance(value, App):
        value = value()
    if not isinstance(value, App):
        raise ConfigError(f"{spec!r} is a {type(value).__name__}, not a stratus App")
    return value
