"""The app's agents, teams and workflows as MCP tools, over streamable HTTP at `/mcp` (`App(mcp=True)`, extra
`stratus[mcp]`), with the tools AgentOS' MCP server has: `get_agentos_config`, `run_agent`, `run_team`,
`run_workflow`, `continue_run`, `cancel_run`, `get_sessions` and `get_session_runs`; and resources for the
config (`stratus://config`) and a session (`stratus://sessions/{session_id}`).

Stateless (no MCP session kept between requests), so any request can land on any Lambda instance. A run
streams its progress to a client that asks for it (an MCP progress notification per step, tool call or member
run). The caller is the REST API's: the same authentication runs before `/mcp`, a verified identity wins
over a `user_id` argument, and a run is started, continued and cancelled by the REST routes' own code, so
user B sees none of user A's sessions or runs here either.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, cast

from fastapi import FastAPI, HTTPException
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from stratus import __version__
from stratus._utils import dumps
from stratus.api._deps import resolve_user_id
from stratus.api._forms import ContinueRequest
from stratus.api._paging import listed
from stratus.api._runs import SAFE_ERRORS, ActiveRun, RunRegistry
from stratus.api.documents import config_document
from stratus.api.routers._components import (  # the REST routes' own checks and steps
    RESULTS_FIELD,
    RunAsked,
    cancel_asked,
    continuation,
)
from stratus.api.routers.sessions import top_level_runs
from stratus.api.schemas import SessionSchema, run_schema, session_detail
from stratus.app import App
from stratus.exceptions import NotFoundError
from stratus.interfaces._runs import kind_of, start_run
from stratus.run import RunEvent, RunOutput, RunStatus
from stratus.storage.records import SessionQuery, SessionType

__all__ = ["PATH", "build_server", "install"]

logger = logging.getLogger("stratus.mcp")

PATH = "/mcp"


def _id_field(description: str) -> Any:
    return Field(min_length=1, max_length=256, description=description)  # the REST API's bounds on ids


_Message = Annotated[
    str,
    Field(
        min_length=1,
        max_length=1_000_000,
        description="The request or message to send to the agent, team, or workflow.",
    ),
]
_RunUserId = Annotated[
    str | None,
    _id_field(
        description="Optional user ID to associate with the run. Authenticated deployments use the caller's identity.",
    ),
]
_RunSessionId = Annotated[
    str | None,
    _id_field(description="Existing session ID to continue the same conversation. Omit to start a new session."),
]
_ReadUserId = Annotated[str | None, _id_field(description="Only return sessions belonging to this user.")]
_DbId = Annotated[str | None, Field(description="Database ID returned by get_agentos_config.")]
_SessionType = Literal["agent", "team", "workflow"]
_AgentOwnerId = Annotated[str | None, Field(description="ID of the agent that owns the run.")]
_TeamOwnerId = Annotated[str | None, Field(description="ID of the team that owns the run.")]
_WorkflowOwnerId = Annotated[str | None, Field(description="ID of the workflow that owns the run.")]

_READS = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
_RUNS = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=True)

_RUN_TOOLS = (
    (SessionType.AGENT, "Run Agent", "Run an agent with a message and get its response."),
    (SessionType.TEAM, "Run Team", "Run a team of agents with a message and get its response."),
    (
        SessionType.WORKFLOW,
        "Run Workflow",
        "Run a workflow with an input message and get its result. Progress is reported per step when the client "
        "asks for it.",
    ),
)
"""`run_agent`, `run_team` and `run_workflow`: what each runs, its title and what it says of itself."""

_HISTORY_FIELDS = ("run_id", "run_input", "content", "status", "created_at", "agent_id", "team_id", "workflow_id")
"""What `get_session_runs` shows of each run (AgentOS' compact history), not the run's whole transcript."""


def install(api: FastAPI, app: App) -> None:
    """Serve `app` over MCP at `/mcp` on `api`. Nothing for the lifespan to enter: each request gets its own
    stateless transport (see `_Endpoint`), which also works where no lifespan runs (Mangum on Lambda)."""
    # A manager per request: its "started" and "shutting down" lines would be two of every request's.
    logging.getLogger("mcp.server.streamable_http_manager").setLevel(logging.WARNING)
    api.router.routes.append(Route(PATH, _Endpoint(build_server(api, app)), include_in_schema=False))


class _Endpoint:
    """The ASGI endpoint at `/mcp`: the SDK's streamable-HTTP transport, stateless, one session manager per
    request (a stateless manager keeps nothing between requests; its task group is this request's)."""

    def __init__(self, server: MCPServer) -> None:
        server.streamable_http_app(stateless_http=True)  # builds the SDK's manager: the low-level server is its `app`
        self._server = server.session_manager.app
        # The REST API's posture: the auth middleware and CORS guard /mcp as they guard every route, and the
        # Host is API Gateway's on AWS, so the SDK's localhost-only Host check is left off.
        self._security = TransportSecuritySettings(enable_dns_rebinding_protection=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        manager = StreamableHTTPSessionManager(
            app=self._server, stateless=True, json_response=False, security_settings=self._security
        )
        async with manager.run():
            await manager.handle_request(scope, receive, send)


def _caller(ctx: Context, claimed: str | None) -> str | None:
    """The caller's user id, as the REST routes resolve it: the verified identity, else the one claimed."""
    request: Any = ctx.request_context.request
    if not isinstance(request, Request):
        raise ToolError("this tool is served over HTTP only")
    return resolve_user_id(cast(Request, request), claimed)


def _refused(exc: HTTPException | NotFoundError) -> ToolError:
    """The REST routes' refusal (404, 409, 422, ...) as a tool error with its message."""
    return ToolError(str(exc.detail) if isinstance(exc, HTTPException) else str(exc))


def _target(agent_id: str | None, team_id: str | None, workflow_id: str | None) -> tuple[SessionType, str]:
    named = [
        (t, i)
        for t, i in ((SessionType.AGENT, agent_id), (SessionType.TEAM, team_id), (SessionType.WORKFLOW, workflow_id))
        if i
    ]
    if len(named) != 1:
        raise ToolError("name the run's owner: exactly one of agent_id, team_id or workflow_id")
    return named[0]


def _note(event: RunEvent) -> str | None:
    """What a progress notification says of an event; None for the ones not worth one (content deltas)."""
    kind = event.kind
    if kind.endswith("Content") or kind.startswith("ModelRequest"):
        return None
    tool: Any = getattr(event, "tool", None)
    step = getattr(event, "step_name", None)
    detail = tool.tool_name if tool is not None else step if isinstance(step, str) else event.agent_name
    return f"{kind}: {detail}" if detail else kind


async def _progress(ctx: Context, count: int, message: str) -> None:
    try:  # a no-op unless the client asked for progress; a failure to send must never fail the run
        await ctx.report_progress(float(count), message=message)
    except Exception:
        logger.debug("an MCP progress notification could not be sent", exc_info=True)


def _text(out: RunOutput) -> str:
    content = out.content_dict()
    if content is None:
        return ""
    return content if isinstance(content, str) else dumps(content)


def _run_result(out: RunOutput) -> CallToolResult:
    """AgentOS' result of a run tool: the answer as text, and `structuredContent` with the run's ids, status
    and answer (a paused run's requirements too, for `continue_run`). A run that failed is a tool error."""
    structured: dict[str, Any] = {"run_id": out.run_id, "session_id": out.session_id, "status": out.status.value}
    for key in ("workflow_id", "team_id", "agent_id"):
        if getattr(out, key):
            structured[key] = getattr(out, key)
            break
    if out.status not in (RunStatus.COMPLETED, RunStatus.PAUSED):
        detail = out.error if out.error_type in SAFE_ERRORS and out.error else "Internal server error"
        structured["error"] = {"type": out.error_type, "message": detail}
        text = f"Run {out.status.value.lower()}: {detail}"
        return CallToolResult(
            content=[TextContent(type="text", text=text)], structured_content=structured, is_error=True
        )
    text = _text(out)
    if out.status is RunStatus.PAUSED:
        structured["requirements"] = out.requirements or []
        text = text or f"Run paused: {len(out.requirements or [])} requirement(s) awaiting resolution."
    structured["content"] = text
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured)


async def _followed(ctx: Context, registry: RunRegistry, active: ActiveRun) -> CallToolResult:
    """Wait for the run, a progress notification per event worth one; the client going away does not stop it."""
    count = 0
    async for event in registry.events(active):
        note = _note(event)
        if note is not None:
            count += 1
            await _progress(ctx, count, note)
    return _run_result(await registry.wait(active))


def build_server(api: FastAPI, app: App) -> MCPServer:
    """The MCP server of `app` served by `api` (whose run registry its runs join)."""
    registry: RunRegistry = api.state.runs
    server: MCPServer = MCPServer(
        name=app.name,
        description=app.description,
        version=__version__,
        log_level="WARNING",  # the SDK configures logging only where nothing has, and then not below warnings
        instructions="Call get_agentos_config first to learn the agents, teams and workflows you can run.",
    )

    @server.tool(
        title="Get AgentOS Configuration",
        annotations=_READS,
        description="Discover this deployment: the agents, teams and workflows available to run (with their ids and "
        "descriptions), and the database ids used by the session tools. Call this first.",
    )
    async def get_agentos_config() -> dict[str, Any]:  # pyright: ignore[reportUnusedFunction]
        db_id = app.store.id

        def summary(components: dict[str, Any]) -> list[dict[str, Any]]:
            return [
                {"id": key, "name": c.name, "description": c.description, "db_id": db_id}
                for key, c in components.items()
            ]

        return {
            "os_id": app.id,
            "description": app.description,
            "databases": [db_id],
            "agents": summary(dict(app.agents)),
            "teams": summary(dict(app.teams)),
            "workflows": summary(dict(app.workflows)),
        }

    def run_tool(session_type: SessionType) -> Callable[..., Awaitable[CallToolResult]]:
        """The `run_<kind>` tool: runs the agent, team or workflow its `<kind>_id` argument names. The id's name is
        the kind's, so the signature the SDK reads the tool's arguments from is built here."""
        kind = session_type.value
        id_name = f"{kind}_id"

        async def run_component(
            message: str, ctx: Context, user_id: str | None = None, session_id: str | None = None, **named: str
        ) -> CallToolResult:
            caller = _caller(ctx, user_id)
            try:
                active = await start_run(
                    app, registry, kind_of(session_type), named[id_name], message, user_id=caller, session_id=session_id
                )
            except NotFoundError as exc:
                raise _refused(exc) from None
            return await _followed(ctx, registry, active)

        component_id = Annotated[str, Field(description=f"ID of the {kind} to run, returned by get_agentos_config.")]
        arguments = [
            (id_name, component_id, inspect.Parameter.empty),
            ("message", _Message, inspect.Parameter.empty),
            ("ctx", Context, inspect.Parameter.empty),
            ("user_id", _RunUserId, None),
            ("session_id", _RunSessionId, None),
        ]
        run_component.__name__ = run_component.__qualname__ = f"run_{kind}"
        run_component.__signature__ = inspect.Signature(
            [
                inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=a, default=d)
                for name, a, d in arguments
            ],
            return_annotation=CallToolResult,
        )
        return run_component

    for session_type, title, description in _RUN_TOOLS:
        server.add_tool(
            run_tool(session_type),
            title=title,
            annotations=_RUNS,
            description=f"{description} If the result status is PAUSED, resolve the returned requirements and call "
            "continue_run.",
        )

    @server.tool(
        title="Continue Run",
        annotations=_RUNS,
        description="Resume a PAUSED run after resolving its requirements (human in the loop), or follow up on a "
        "COMPLETED agent or team run with `input`. The paused result's structuredContent carries the run_id, "
        "session_id, owning component id and the unresolved requirements.",
    )
    async def continue_run(  # pyright: ignore[reportUnusedFunction]
        run_id: Annotated[str, Field(description="ID of the run, returned in its result.")],
        session_id: Annotated[str, _id_field(description="ID of the session containing the run.")],
        ctx: Context,
        agent_id: _AgentOwnerId = None,
        team_id: _TeamOwnerId = None,
        workflow_id: _WorkflowOwnerId = None,
        requirements: Annotated[
            list[dict[str, Any]] | None,
            Field(
                description="The requirements from the PAUSED result, each with its resolution filled in "
                "(such as confirmed=true)."
            ),
        ] = None,
        input: Annotated[
            str | None, Field(min_length=1, max_length=1_000_000, description="A follow-up to a COMPLETED run.")
        ] = None,
        user_id: _RunUserId = None,
    ) -> CallToolResult:
        session_type, component_id = _target(agent_id, team_id, workflow_id)
        kind = kind_of(session_type)
        caller = _caller(ctx, user_id)
        body = ContinueRequest.model_validate(
            {"input": input, "session_id": session_id, "user_id": caller, RESULTS_FIELD[session_type]: requirements}
        )
        try:
            component = kind.find(app, component_id)
            execution = await continuation(app, registry, kind, component, component_id, run_id, body, caller)
        except (HTTPException, NotFoundError) as exc:
            raise _refused(exc) from None
        return await _followed(ctx, registry, registry.start(execution, stream=True))

    @server.tool(
        title="Cancel Run",
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
        ),
        description="Stop a run in flight (it is stored CANCELLED), or one queued that has not started.",
    )
    async def cancel_run(  # pyright: ignore[reportUnusedFunction]
        run_id: Annotated[
            str, Field(description="ID of the run to cancel, returned by a run tool or get_session_runs.")
        ],
        ctx: Context,
        session_id: Annotated[str | None, _id_field(description="ID of the session containing the run.")] = None,
        agent_id: _AgentOwnerId = None,
        team_id: _TeamOwnerId = None,
        workflow_id: _WorkflowOwnerId = None,
    ) -> dict[str, Any]:
        session_type, component_id = _target(agent_id, team_id, workflow_id)
        kind = kind_of(session_type)
        caller = _caller(ctx, None)
        try:
            component = kind.find(app, component_id)
            asked = RunAsked(component, component_id, run_id, session_id, caller, component.store or app.store)
            return await cancel_asked(registry, kind, asked)
        except (HTTPException, NotFoundError) as exc:
            raise _refused(exc) from None

    @server.tool(
        title="List Sessions",
        annotations=_READS,
        description="List past sessions (conversations), newest first. Use a returned session_id with the run tools "
        "to continue that conversation, or with get_session_runs to read its history.",
    )
    async def get_sessions(  # pyright: ignore[reportUnusedFunction]
        ctx: Context,
        session_type: Annotated[
            _SessionType, Field(description="Type of component that created the sessions. Defaults to agent.")
        ] = "agent",
        component_id: Annotated[
            str | None, Field(description="Only return sessions created by this agent, team, or workflow.")
        ] = None,
        user_id: _ReadUserId = None,
        session_name: Annotated[str | None, Field(description="Only return sessions whose name contains this.")] = None,
        db_id: _DbId = None,
        limit: Annotated[int, Field(ge=1, le=1000, description="Maximum number of sessions to return per page.")] = 20,
        page: Annotated[int, Field(ge=1, description="One-based page number to return.")] = 1,
        sort_by: Annotated[
            Literal["created_at", "updated_at", "session_name"], Field(description="What to sort the sessions by.")
        ] = "created_at",
        sort_order: Annotated[Literal["asc", "desc"], Field(description="Ascending or descending order.")] = "desc",
    ) -> dict[str, Any]:
        _check_db(app, db_id)
        query = SessionQuery(
            session_type=SessionType(session_type),
            component_id=component_id,
            user_id=_caller(ctx, user_id),
            session_name=session_name,
            sort_by=sort_by,
            sort_order=sort_order,
            page=page,
            limit=limit,
        )
        found = await listed(app.store.list_sessions, query, SessionSchema.from_session)
        return found.model_dump(mode="json", exclude_none=True)

    @server.tool(
        title="Read Session History",
        annotations=_READS,
        description="Read a session's conversation history: each run's input and response content with its run_id, "
        "status and timestamp, oldest first. With run_id, that run with its full stored details.",
    )
    async def get_session_runs(  # pyright: ignore[reportUnusedFunction]
        session_id: Annotated[str, Field(description="ID of the session to read, returned by get_sessions or a run.")],
        ctx: Context,
        run_id: Annotated[str | None, Field(description="Return this run with its full stored details.")] = None,
        session_type: Annotated[_SessionType | None, Field(description="Type of session to read.")] = None,
        user_id: _ReadUserId = None,
        db_id: _DbId = None,
    ) -> list[dict[str, Any]]:
        _check_db(app, db_id)
        caller = _caller(ctx, user_id)
        runs = await _session_runs(app, session_id, caller, SessionType(session_type) if session_type else None)
        if run_id is None:
            return [_history(run) for run in runs]
        for run in runs:
            if run.run_id == run_id:
                return [run_schema(run).model_dump(mode="json", exclude_none=True)]
        raise ToolError(f"run {run_id!r} not found in session {session_id!r}")

    @server.resource(
        "stratus://config",
        name="config",
        mime_type="application/json",
        description="What this deployment serves: its agents, teams, workflows, models and databases (REST's /config).",
    )
    def config() -> dict[str, Any]:  # pyright: ignore[reportUnusedFunction]
        return config_document(app)

    @server.resource(
        "stratus://sessions/{session_id}",
        name="session",
        mime_type="application/json",
        description="One of the caller's sessions: its state, totals and chat history (REST's /sessions/{id}).",
    )
    async def session(session_id: str, ctx: Context) -> dict[str, Any]:  # pyright: ignore[reportUnusedFunction]
        caller = _caller(ctx, None)
        found = await app.store.get_session(session_id, user_id=caller)
        if found is None:
            raise ResourceNotFoundError(f"session {session_id!r} not found")
        runs = await app.store.get_runs(session_id, statuses=(RunStatus.COMPLETED,), user_id=caller)
        return session_detail(found, runs).model_dump(mode="json", exclude_none=True)

    return server


def _check_db(app: App, db_id: str | None) -> None:
    if db_id is not None and db_id != app.store.id:
        raise ToolError(f"unknown db_id {db_id!r}; this deployment has one database: {app.store.id!r}")


async def _session_runs(
    app: App, session_id: str, caller: str | None, session_type: SessionType | None
) -> list[RunOutput]:
    """The session's runs, oldest first, as `GET /sessions/{id}/runs` lists them: a tool error if the session
    is not the caller's (or not of `session_type`)."""
    session = await app.store.get_session(session_id, user_id=caller)
    if session is None or (session_type is not None and session.session_type is not session_type):
        raise ToolError(f"session {session_id!r} not found")
    runs = await app.store.get_runs(session_id, user_id=caller)
    return top_level_runs(runs) if session.session_type is SessionType.WORKFLOW else runs


def _history(run: RunOutput) -> dict[str, Any]:
    data = run_schema(run).model_dump(mode="json")
    return {key: data[key] for key in _HISTORY_FIELDS if data.get(key) is not None}
