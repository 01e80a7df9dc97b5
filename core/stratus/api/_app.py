"""Build the FastAPI application for a stratus `App`."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncGenerator, Iterable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from importlib import import_module
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse

from stratus import __version__
from stratus._optional import requires_extra
from stratus.api._cors import cors_policy, install_cors
from stratus.api._errors import install_error_handlers
from stratus.api._limits import install_limit_handlers
from stratus.api._openapi import install_openapi
from stratus.api._playground import install_playground
from stratus.api._runs import RunRegistry
from stratus.api.auth import OPEN_PATHS, Authenticator, AuthMiddleware, authenticator_from_env
from stratus.api.documents import utc_now_iso
from stratus.app import App
from stratus.knowledge.ingestion import Ingestor
from stratus.models.base import Model
from stratus.tools import Toolkit
from stratus.tracing import export_configured
from stratus.tracing import flush as flush_spans

__all__ = ["INTERFACES", "ROUTERS", "create_app"]

logger = logging.getLogger("stratus.api")

_SHUTDOWN_DRAIN_SECONDS = 2.0  # how long shutdown waits for learning jobs in hand, all queues together


class _Routers(Mapping[str, APIRouter]):
    """Route groups by name, each module imported when first asked for: a function serving `/sessions`
    does not pay for the knowledge, learning, team and workflow routes at its cold start."""

    def __init__(self, modules: dict[str, str]) -> None:
        self._modules = modules

    def __getitem__(self, name: str) -> APIRouter:
        router: APIRouter = import_module(self._modules[name]).router
        return router

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __len__(self) -> int:
        return len(self._modules)


ROUTERS: Mapping[str, APIRouter] = _Routers(
    {
        "health": "stratus.api.routers.health",
        "agents": "stratus.api.routers.agents",
        "sessions": "stratus.api.routers.sessions",
        "memories": "stratus.api.routers.memories",
        "optimize_memories": "stratus.api.routers.optimize_memories",
        "knowledge": "stratus.api.routers.knowledge",
        "learnings": "stratus.api.routers.learnings",
        "teams": "stratus.api.routers.teams",
        "workflows": "stratus.api.routers.workflows",
        "metrics": "stratus.api.routers.metrics",
        "evals": "stratus.api.routers.evals",
        "traces": "stratus.api.routers.traces",
        "info": "stratus.api.routers.info",
        "approvals": "stratus.api.routers.approvals",
        "media": "stratus.api.routers.media",
    }
)
"""Every route group by name; a Lambda function serves only the groups it names."""

INTERFACES: Mapping[str, str] = {
    "mcp": "stratus.interfaces.mcp",
    "a2a": "stratus.interfaces.a2a",
    "agui": "stratus.interfaces.agui",
}
"""The protocols besides REST, by name: each module's `install(api, app)` adds its routes and returns what its
lifespan needs entered (or None). Imported only when served, so the other functions pay nothing for them."""


_FROM_ENV: Any = object()


def _declared_models(app: App) -> list[Model]:
    """The model objects the app's agents and teams were declared with (strings resolve on first run)."""
    found: dict[int, Model] = {}
    components: list[Any] = [
        *app.all_agents(),
        *(t for c in [*app.teams.values(), *app.workflows.values()] for t in c.all_teams()),
    ]
    for component in components:
        model = getattr(component, "model", None)
        if isinstance(model, Model):
            found[id(model)] = model
    return list(found.values())


async def _warm_up(model: Model) -> None:
    started = time.perf_counter()
    try:
        await asyncio.to_thread(model.warm_up)
    except Exception as exc:
        logger.warning("model %s could not get ready at startup (the first run will try again): %s", model.id, exc)
        return
    took = time.perf_counter() - started
    if took > 0.05:  # only what did real work is worth a line
        logger.info("model %s (%s) ready in %.1fs", model.id, model.provider, took)


async def _close_quietly(closable: Model | Toolkit | None) -> None:
    """Close a model or a toolkit at shutdown, best effort: one that fails must not keep the others open."""
    if closable is None:
        return
    try:
        await closable.aclose()
    except Exception:  # pragma: no cover - best effort at shutdown
        kind, name = ("model", closable.id) if isinstance(closable, Model) else ("toolkit", closable.name)
        logger.warning("closing %s %s failed", kind, name, exc_info=True)


def create_app(
    app: App,
    *,
    routers: Iterable[str] | None = None,
    title: str | None = None,
    auth: Authenticator | None = _FROM_ENV,
    docs: bool = True,
    public_docs: bool = True,
) -> FastAPI:
    """A FastAPI application serving `app`.

    `routers` limits it to some route groups (see `ROUTERS`); all of them by default. `auth` verifies callers
    (see `stratus.api.auth`); by default it is what the environment configures, which locally is nothing
    unless `STRATUS_API_KEY` is set. `docs` serves the API docs pages, `/docs` and `/redoc`, with their assets
    from this server (`stratus[local]`); the Lambda functions leave them out. `public_docs` serves `/openapi.json`,
    the docs pages and the playground without authentication; with it False (the Lambda functions), they need
    the key like every other route but `/health`. Agents without a store get the
    app's store. Runs still in flight at shutdown are stored as CANCELLED.
    """
    names = [*ROUTERS, *app.interfaces] if routers is None else list(routers)
    unknown = [n for n in names if n not in ROUTERS and n not in INTERFACES]
    if unknown:
        raise ValueError(f"unknown route groups {unknown}; known: {sorted([*ROUTERS, *INTERFACES])}")
    interface_contexts: list[AbstractAsyncContextManager[Any]] = []
    app.attach_store()
    authenticator = authenticator_from_env() if auth is _FROM_ENV else auth
    registry = RunRegistry(on_end=app.run_ended)
    ingestor = Ingestor()

    @asynccontextmanager
    async def lifespan(api: FastAPI) -> AsyncGenerator[None]:
        toolkits = {id(t): t for a in app.all_agents() for t in a.tools if isinstance(t, Toolkit)}
        for kit in toolkits.values():
            try:
                await kit.astart()  # e.g. MCPTools(connect_on_start=True) connects now, not on the first run
            except Exception:
                logger.warning("starting toolkit %s failed; runs will retry", kit.name, exc_info=True)
        warming = [asyncio.create_task(_warm_up(model)) for model in _declared_models(app)]
        if not os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):  # a function's start does no store work: there the
            # first search loads them; a server indexes what is new in its knowledge bases' sources now
            warming += [asyncio.create_task(base.ensure_sources()) for base in app.knowledge.values() if base.sources]
        async with AsyncExitStack() as interfaces:
            for context in interface_contexts:
                await interfaces.enter_async_context(context)  # e.g. the MCP server's session manager
            yield
        for task in warming:
            task.cancel()
        await asyncio.gather(*warming, return_exceptions=True)  # an ingestion cut short ends FAILED, stored
        await registry.shutdown()
        machines = {id(m): m for a in app.all_agents() if (m := a.learning_machine) is not None}
        # Learn from the last runs before going away, but briefly: a job retrying against a model that went
        # away must not hold up a SIGTERM (process managers kill what takes longer than a few seconds).
        deadline = asyncio.get_running_loop().time() + _SHUTDOWN_DRAIN_SECONDS
        for machine in machines.values():
            try:
                await asyncio.wait_for(machine.queue.drain(), max(0.0, deadline - asyncio.get_running_loop().time()))
            except TimeoutError:
                logger.warning("learning queue still busy at shutdown; its jobs are dropped")
            await machine.queue.close()
        await ingestor.shutdown()
        for base in app.knowledge.values():
            await base.close()
        await app.store.close()
        if export_configured():
            await asyncio.to_thread(flush_spans)  # the runs' spans still queued: uvicorn ends without atexit
        teams = {id(t): t for c in [*app.teams.values(), *app.workflows.values()] for t in c.all_teams()}
        for team in teams.values():
            await _close_quietly(team._resolved_model)  # pyright: ignore[reportPrivateUsage]
        for agent in app.all_agents():
            await _close_quietly(agent._resolved_model)  # pyright: ignore[reportPrivateUsage]
            for item in agent.tools:
                if isinstance(item, Toolkit):
                    await _close_quietly(item)  # e.g. MCP sessions and their server processes

    api = FastAPI(
        title=title or app.name,
        description=app.description or "Agents served by stratus, compatible with AgentOS clients.",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # FastAPI's pages load their assets from a CDN; install_docs serves them from here
        redoc_url=None,
    )
    api.state.stratus = app
    api.state.runs = registry
    api.state.ingestor = ingestor
    api.state.instantiated_at = utc_now_iso()
    install_error_handlers(api)
    install_limit_handlers(api)
    install_openapi(api, auth=authenticator is not None)

    @api.get("/", include_in_schema=False, response_model=None)
    async def root(request: Request) -> dict[str, Any] | RedirectResponse:  # pyright: ignore[reportUnusedFunction]
        if "text/html" in request.headers.get("accept", ""):
            return RedirectResponse("/playground")  # a browser: show the chat page
        return {
            "name": app.name,
            "agents": list(app.agents),
            "teams": list(app.teams),
            "workflows": list(app.workflows),
            "docs": "/docs" if docs else None,
            "playground": "/playground",
        }

    install_playground(api)
    if docs:
        from stratus.api._docs import install_docs

        install_docs(api)
    for name in names:
        if name in INTERFACES:
            with requires_extra(f"App({name}=True)", name):  # the protocol's SDK is an extra of its own
                interface = import_module(INTERFACES[name])
            context = interface.install(api, app)
            if context is not None:
                interface_contexts.append(context)
        else:
            api.include_router(ROUTERS[name])
    if authenticator is not None:
        open_paths = OPEN_PATHS if public_docs else frozenset({"/health"})
        api.add_middleware(AuthMiddleware, authenticator=authenticator, open_paths=open_paths)
    install_cors(api, cors_policy(app.cors_allowed_origins))  # last: outside auth, for credential-less preflights
    return api
