"""The app's agents and teams over the A2A protocol (1.0), with the `a2a-sdk` package's types, request handler
and routes (`App(a2a=True)`, extra `stratus[a2a]`).

Each agent is an A2A agent at `/a2a/agents/{agent_id}` (each team at `/a2a/teams/{team_id}`):

- `GET .../.well-known/agent-card.json`: its agent card, whose interfaces point back at that URL;
- the HTTP+JSON binding below it: `POST .../message:send`, `POST .../message:stream` (Server-Sent Events),
  `GET .../tasks/{task_id}`, `POST .../tasks/{task_id}:cancel`;
- the JSON-RPC binding at the URL itself: `SendMessage`, `SendStreamingMessage`, `GetTask`, `CancelTask`.

A task is a run (task id = run id, context id = session id), the same run the REST API reads and cancels.
The caller is the REST API's: the verified identity when authentication is on, else the `X-User-ID` header.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, cast

try:
    from a2a.auth.user import User
    from a2a.server.request_handlers.response_helpers import agent_card_to_dict
    from a2a.server.routes import (
        DefaultServerCallContextBuilder,
        add_a2a_routes_to_fastapi,
        create_jsonrpc_routes,
        create_rest_routes,
    )
    from a2a.types import AgentCapabilities, AgentCard, AgentInterface, AgentSkill
    from a2a.utils.constants import AGENT_CARD_WELL_KNOWN_PATH, PROTOCOL_VERSION_1_0, TransportProtocol
except ImportError as exc:  # pragma: no cover - the extra is installed where the tests run
    raise ImportError("App(a2a=True) needs the a2a extra: pip install 'stratus[a2a]'") from exc
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.routing import Route

from stratus import __version__
from stratus.api._deps import resolve_user_id
from stratus.interfaces._a2a_tasks import Caller, RunRequestHandler, Served

if TYPE_CHECKING:
    from stratus.api.routers._components import ComponentKind
    from stratus.app import App

__all__ = ["PREFIX", "install"]

PREFIX = "/a2a"
"""Where the A2A agents are served: `/a2a/agents/{agent_id}`, `/a2a/teams/{team_id}`."""

USER_HEADER = "x-user-id"
"""The user a request names when authentication is off (with it on, the verified identity wins)."""


class _CallerContext(DefaultServerCallContextBuilder):
    """The SDK's call context, whose user is the caller the REST routes would see (`resolve_user_id`)."""

    def build_user(self, request: Request) -> User:
        verified = getattr(request.state, "user_id", None) is not None
        return Caller(resolve_user_id(request, request.headers.get(USER_HEADER)), verified=verified)


def _public_url(request: Request) -> str:
    """This server's URL as the caller reached it. Behind API Gateway the path it was asked for carries the stage
    (or a custom domain's base path) before the one the app sees: the request context says so (in the Lambda
    event under Mangum, in the `x-amzn-request-context` header under the Web Adapter)."""
    base = str(request.base_url).rstrip("/")
    event: Any = request.scope.get("aws.event")
    context: Any = cast(dict[str, Any], event).get("requestContext") if isinstance(event, dict) else None
    if context is None and (header := request.headers.get("x-amzn-request-context")):
        try:
            context = json.loads(header)
        except ValueError:
            context = None
    asked: Any = cast(dict[str, Any], context).get("path") if isinstance(context, dict) else None
    here = request.url.path
    if isinstance(asked, str) and asked.endswith(here) and asked != here:
        base += asked.removesuffix(here)
    return base


def _card(kind: ComponentKind[Any], component: Any, url: str) -> AgentCard:
    """The agent card of an agent or team served at `url`, over both bindings."""
    name: str = component.name or component.id
    description: str = component.description or f"The {kind.noun} {name}, served by stratus."
    return AgentCard(
        name=name,
        description=description,
        version=__version__,
        supported_interfaces=[
            AgentInterface(url=url, protocol_binding=binding, protocol_version=PROTOCOL_VERSION_1_0)
            for binding in (TransportProtocol.HTTP_JSON, TransportProtocol.JSONRPC)
        ],
        capabilities=AgentCapabilities(streaming=True, push_notifications=False),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain", "application/json"],
        skills=[AgentSkill(id=component.id, name=name, description=description, tags=[kind.noun])],
    )


def _serve(api: FastAPI, served: Served) -> RunRequestHandler:
    """Add one component's card and A2A routes; its request handler."""
    kind, component = served.kind, served.component
    path = f"{PREFIX}{kind.prefix}/{served.component_id}"
    handler = RunRequestHandler(served, _card(kind, component, path))
    context = _CallerContext()

    async def agent_card(request: Request) -> JSONResponse:
        return JSONResponse(agent_card_to_dict(_card(kind, component, f"{_public_url(request)}{path}")))

    # Without the SDK's `/{tenant}` mount: tenants are not served, and it would match every path added after it.
    rest = [r for r in create_rest_routes(handler, context, path_prefix=path) if isinstance(r, Route)]
    add_a2a_routes_to_fastapi(
        api,
        agent_card_routes=[Route(f"{path}{AGENT_CARD_WELL_KNOWN_PATH}", agent_card, methods=["GET"])],
        jsonrpc_routes=create_jsonrpc_routes(handler, path, context),
        rest_routes=rest,
    )
    return handler


def install(api: FastAPI, app: App) -> AbstractAsyncContextManager[None]:
    """Serve every agent and team of `app` over A2A on `api`; the lifespan that ends their tasks at shutdown."""
    from stratus.api.routers.agents import AGENTS
    from stratus.api.routers.teams import TEAMS

    handlers = [
        _serve(api, Served(app, api.state.runs, kind, component_id))
        for kind in (AGENTS, TEAMS)
        for component_id in kind.components(app)
    ]

    @asynccontextmanager
    async def lifespan() -> AsyncGenerator[None]:
        try:
            yield
        finally:
            for handler in handlers:
                await handler.aclose()  # the SDK's tasks in hand; their runs end with the run registry's

    return lifespan()
