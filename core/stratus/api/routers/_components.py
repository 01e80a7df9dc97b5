"""One router for agents, teams and workflows: list and describe them, run one (buffered, streamed as
Server-Sent Events, or in the background), list, read, cancel and continue its runs (a follow-up to a
completed agent or team run; a paused workflow run resumed).

What differs between the three is a `ComponentKind` value (`routers/agents.py`, `teams.py` and `workflows.py`
each hold theirs): its session type, from which AgentOS' paths, operation ids and summaries follow (and the
routes' docs, in `_DOCS`), and how to find and describe the component. The behaviour is this module's, the same
for all three: the statuses, the errors, the ownership checks and the run registry.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final, Generic, Literal, TypeVar, cast

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from stratus._lifecycle import Resumption, Start
from stratus._runnable import Driven, Execution, RunOptions
from stratus.api._deps import AppDep, RegistryDep, resolve_user_id, served
from stratus.api._forms import (
    ContinueRequest,
    ParsedRun,
    continue_request_openapi,
    parse_continue_request,
    parse_run_request,
    run_request_openapi,
)
from stratus.api._openapi import errors
from stratus.api._runs import RunRegistry, respond
from stratus.api.routers.media import store_run_media
from stratus.api.schemas import CancelResponse, RunAccepted, RunResponse
from stratus.app import App
from stratus.background import DEFAULT_LEASE_SECONDS, BackgroundRun, QueueError, enqueue_run, store_pending
from stratus.exceptions import NotFoundError
from stratus.run import RunEvent, RunInput, RunOutput, RunStatus
from stratus.storage.records import SessionRecord, SessionType

if TYPE_CHECKING:
    from stratus.agent import Agent
    from stratus.storage.base import Claim, Store
    from stratus.team import Team
    from stratus.workflow import Workflow
    from stratus.workflow.steps import StepResumption

__all__ = ["RESULTS_FIELD", "ComponentKind", "RunAsked", "cancel_asked", "component_router", "continuation"]

C = TypeVar("C", bound="Agent | Team | Workflow")


Rows = tuple[Callable[[C, str | None], dict[str, Any]], type[BaseModel]]
"""A way to show components: the function that describes one (given the app's store id), and its model."""


@dataclass(frozen=True, slots=True)
class ComponentKind(Generic[C]):
    """Agents, teams or workflows: what their routes differ in. The paths, the tag, the id field, the operation
    ids and the routes' docs follow from `session_type` (`agent`: `/agents`, `agent_id`, `get_agents`, ...)."""

    session_type: SessionType
    components: Callable[[App], Mapping[str, C]]
    """The app's components of this kind, by id."""
    rows: Rows[C]
    """The listing's rows; also `GET /{id}`'s answer unless `details` says otherwise."""
    details: Rows[C] | None = None
    """`GET /{id}`'s answer, where it says more than a row (a workflow's steps)."""
    create_run_summary: str | None = None
    """AgentOS' summary of the run route, where it is not `Create <Kind> Run`."""

    @property
    def noun(self) -> str:
        return self.session_type.value

    @property
    def prefix(self) -> str:
        return f"/{self.noun}s"

    @property
    def id_field(self) -> str:
        """`agent_id`, `team_id` or `workflow_id`: the path parameter, the `RunOutput` field that names the
        component (a team's member runs name their agent instead), and the key of the 202's body."""
        return f"{self.noun}_id"

    @property
    def child_runs(self) -> bool:
        """Whether its runs start runs of their own (a team's members', a workflow's steps'), which `GET` of a run
        reads back with it (one more read of the session's runs)."""
        return self.session_type is not SessionType.AGENT

    @property
    def row_model(self) -> type[BaseModel]:
        return self.rows[1]

    @property
    def detail_model(self) -> type[BaseModel]:
        return (self.details or self.rows)[1]

    def find(self, app: App, component_id: str) -> C:
        """The component with this id; `NotFoundError` (404) if the app serves none."""
        try:
            return self.components(app)[component_id]
        except KeyError:
            raise NotFoundError(f"{self.noun} {component_id!r} not found") from None

    def every(self, app: App) -> Iterable[C]:
        return self.components(app).values()

    def row(self, component: C, db_id: str | None) -> dict[str, Any]:
        """One row of the listing, given the app's store id."""
        return self.rows[0](component, db_id)

    def detail(self, component: C, db_id: str | None) -> dict[str, Any]:
        """`GET /{id}`'s answer, given the app's store id."""
        return (self.details or self.rows)[0](component, db_id)

    def owns(self, run: RunOutput, component_id: str) -> bool:
        """Whether `run` is this component's own run (not a member's or a step's)."""
        return getattr(run, self.id_field) == component_id

    def holds(self, session: SessionRecord, component_id: str) -> bool:
        """Whether `session` can hold this component's runs."""
        return session.session_type is self.session_type and session.component_id in (None, component_id)


def _store(app: App, component: Agent | Team | Workflow) -> Store:
    return component.store or app.store


def _session_not_found(session_id: str) -> HTTPException:
    return HTTPException(status_code=404, detail=f"session {session_id!r} not found")


def _run_not_found(run_id: str) -> HTTPException:
    return HTTPException(status_code=404, detail=f"run {run_id!r} not found")


def _statuses(status: str | None) -> list[RunStatus] | None:
    if status is None:
        return None
    try:
        return [RunStatus(status.upper())]
    except ValueError:
        raise HTTPException(status_code=422, detail=f"unknown run status {status!r}") from None


def _visible(
    kind: ComponentKind[Any], out: RunOutput, component_id: str, session_id: str | None, caller: str | None
) -> bool:
    """Whether a run in flight is the one asked for: this component's, in the session named (if one is), and
    the caller's (when the caller is known)."""
    return (
        kind.owns(out, component_id)
        and (session_id is None or out.session_id == session_id)
        and (caller is None or out.user_id == caller)
    )


def _job(
    kind: ComponentKind[Any], component_id: str, out: RunOutput, parsed: ParsedRun, options: RunOptions
) -> BackgroundRun:
    """The queued job of a background run: everything the worker needs to run it."""
    return BackgroundRun.of(
        options,
        run_id=out.run_id,
        session_id=out.session_id,
        message=parsed.message,
        input_content=parsed.request.message,
        files=parsed.file_names or None,
        **{kind.id_field: component_id},
    )


_NAMES: Final = {
    "list_components": ("get_{}s", "List All {}s"),
    "get_component": ("get_{}", "Get {} Details"),
    "create_run": ("create_{}_run", "Create {} Run"),
    "list_runs": ("list_{}_runs", "List {} Runs"),
    "get_run": ("get_{}_run", "Get {} Run"),
    "cancel_run": ("cancel_{}_run", "Cancel {} Run"),
    "continue_run": ("continue_{}_run", "Continue {} Run"),
}
"""AgentOS' operation id and summary of each route (its clients and the contract rely on both), `{}` the
kind's noun (`get_agents`, `List All Agents`)."""


@dataclass(frozen=True, slots=True)
class RunAsked:
    """The run a request names: its component, the ids in its path and query, and the caller."""

    component: Agent | Team | Workflow
    component_id: str
    run_id: str
    session_id: str | None
    caller: str | None
    store: Store


def component_router(kind: ComponentKind[C]) -> APIRouter:
    """The routes of one kind of component, under `kind.prefix`, with AgentOS' paths and operation ids."""
    noun = kind.noun
    router = APIRouter(prefix=kind.prefix, tags=[f"{noun.title()}s"])
    one = f"/{{{kind.id_field}}}"  # `/{agent_id}`

    def id_param() -> Any:
        # FastAPI names a path parameter after its argument; the alias gives each kind its own name.
        return Path(alias=kind.id_field, title=kind.id_field.replace("_", " ").title(), description=f"The {noun}'s id")

    def run_asked(session_doc: str) -> Any:
        """The dependency that reads the run a request names (`session_doc` is AgentOS' words for its session)."""

        async def asked(
            request: Request,
            app: AppDep,
            component_id: str = id_param(),
            run_id: str = Path(),
            session_id: str | None = Query(default=None, description=session_doc),
            user_id: str | None = Query(default=None, description="The user the run belongs to"),
        ) -> RunAsked:
            component = kind.find(app, component_id)
            caller = resolve_user_id(request, user_id)
            return RunAsked(component, component_id, run_id, session_id, caller, _store(app, component))

        return Depends(asked)

    def route(method: str, path: str, name: str, **options: Any) -> Callable[[Callable[..., Any]], Any]:
        operation_id, summary = _NAMES[name]
        if name == "create_run" and kind.create_run_summary is not None:
            summary = kind.create_run_summary
        docs = _DOCS.get(name)
        return router.api_route(
            path,
            methods=[method],
            summary=summary.format(noun.title()),
            operation_id=operation_id.format(noun),
            description=docs[kind.session_type] if docs else f"The {noun}'s runs in one session, oldest first.",
            response_model_exclude_unset=True,  # what a response leaves out stays out: AgentOS' shapes
            **options,
        )

    @route("GET", "", "list_components", response_model=list[kind.row_model])
    async def list_components(app: AppDep) -> Any:
        db_id = app.store.id
        return [kind.row(component, db_id) for component in kind.every(app)]

    @route("GET", one, "get_component", response_model=kind.detail_model, responses=errors(404))
    async def get_component(app: AppDep, component_id: str = id_param()) -> Any:
        return kind.detail(kind.find(app, component_id), app.store.id)

    @route(
        "POST",
        f"{one}/runs",
        "create_run",
        openapi_extra=run_request_openapi(),
        response_model=None,
        responses={
            200: {"model": RunResponse, "content": {"text/event-stream": {}}},
            202: {"model": RunAccepted, "description": "Background run accepted (PENDING)"},
            **errors(404, 409, 413, 415, 422, 502, 503, 504, run=True),
        },
    )
    async def create_run(request: Request, component_id: str = id_param()) -> Any:
        app, registry = served(request)  # not dependencies: each one FastAPI solves costs a run request time
        component = kind.find(app, component_id)
        parsed = await parse_run_request(request)
        body = parsed.request
        user_id = resolve_user_id(request, body.user_id)
        store, session = _store(app, component), None
        if body.session_id is not None:
            # Another user's session, or another component's, is absent to this caller: refused before running.
            session = await store.get_session(body.session_id)
            if session is not None and (session.user_id != user_id or not kind.holds(session, component_id)):
                raise _session_not_found(body.session_id)
        media = [*parsed.images, *parsed.files]
        if media and (kind.id_field != "agent_id" or body.background):  # refused before anything is stored
            raise HTTPException(status_code=415, detail="images and files are taken by agents' inline runs only")
        options = RunOptions(
            session_id=body.session_id,
            user_id=user_id,
            session_state=body.session_state,
            knowledge_filters=body.knowledge_filters,
            dependencies=body.dependencies,
            images=parsed.images or None,
            files=parsed.files or None,
            session_name=body.message if parsed.file_names else None,  # named by what was said, not the files
        )
        run = component.execution(parsed.message, options)
        if body.session_id is not None and not body.background:  # (a background run's starts later)
            run.session_read(store, session)  # the run checks this read as it checks its own: one read less
        out = run.output
        out.input = RunInput(input_content=body.message, files=parsed.file_names or None)
        if media:
            out.input.images, out.input.file_media = parsed.images or None, parsed.files or None
            await store_run_media(app, user_id, out.run_id, media)
        if not body.background:
            return await respond(registry, run, stream=body.stream)
        job = _job(kind, component_id, out, parsed, options)
        if app.run_queue is None:
            await store_pending(component, job)  # then a task of this process runs it
            registry.start(run, stream=False)
        else:
            # Stored as PENDING, then a worker runs it (on AWS: the SQS run worker, up to 15 minutes).
            try:
                await enqueue_run(component, job, app.run_queue)
            except QueueError as exc:
                raise HTTPException(status_code=503, detail=str(exc)) from None
        accepted = RunAccepted(
            run_id=out.run_id, session_id=out.session_id, status=RunStatus.PENDING, **{kind.id_field: component_id}
        )
        return JSONResponse(accepted.model_dump(mode="json", exclude_unset=True), status_code=202)

    @route("GET", f"{one}/runs", "list_runs", response_model=list[RunResponse], responses=errors(404, 422))
    async def list_runs(
        request: Request,
        app: AppDep,
        component_id: str = id_param(),
        session_id: str = Query(description="Session ID to list runs for"),
        status: str | None = Query(
            default=None, description="Filter by run status (PENDING, RUNNING, COMPLETED, ERROR, CANCELLED)"
        ),
        user_id: str | None = Query(default=None, description="The user the session belongs to"),
    ) -> Any:
        store = _store(app, kind.find(app, component_id))
        statuses = _statuses(status)
        # Its own runs only: none in a session that is not its own (nor in another user's, nor in none).
        runs = await store.get_runs(session_id, statuses=statuses, user_id=resolve_user_id(request, user_id))
        return [r.to_dict() for r in runs if kind.owns(r, component_id) and r.parent_run_id is None]

    @route("GET", f"{one}/runs/{{run_id}}", "get_run", response_model=RunResponse, responses=errors(404, 422))
    async def get_run(registry: RegistryDep, asked: RunAsked = run_asked("Session ID for the run")) -> Any:
        run_id, caller, store = asked.run_id, asked.caller, asked.store
        active = registry.get(run_id)
        if active is not None and _visible(kind, active.output, asked.component_id, asked.session_id, caller):
            return active.output.to_dict()
        run = await store.get_run(run_id, session_id=asked.session_id, user_id=caller)
        if run is None or not kind.owns(run, asked.component_id):
            raise _run_not_found(run_id)
        if kind.child_runs:
            runs = await store.get_runs(run.session_id, user_id=caller)
            run.children = [r for r in runs if r.parent_run_id == run.run_id]
        return run.to_dict()

    @route(
        "POST",
        f"{one}/runs/{{run_id}}/cancel",
        "cancel_run",
        response_model=CancelResponse,
        responses=errors(404, 409, 422),
    )
    async def cancel_run(registry: RegistryDep, asked: RunAsked = run_asked("Session ID the run belongs to")) -> Any:
        return await cancel_asked(registry, kind, asked)

    @route(
        "POST",
        f"{one}/runs/{{run_id}}/continue",
        "continue_run",
        openapi_extra=continue_request_openapi(
            RESULTS_FIELD[kind.session_type], follow_up=kind.session_type is not SessionType.WORKFLOW
        ),
        response_model=None,
        responses={
            200: {"model": RunResponse, "content": {"text/event-stream": {}}},
            **errors(404, 409, 413, 415, 422, 502, 504, run=True, descriptions=_CONTINUE_ERRORS),
        },
    )
    async def continue_run(
        request: Request, app: AppDep, registry: RegistryDep, component_id: str = id_param(), run_id: str = Path()
    ) -> Any:
        component = kind.find(app, component_id)
        body = await parse_continue_request(request)
        caller = resolve_user_id(request, body.user_id)
        run = await continuation(app, registry, kind, component, component_id, run_id, body, caller)
        return await respond(registry, run, stream=body.stream)

    return router


_AGENT, _TEAM, _WORKFLOW = SessionType.AGENT, SessionType.TEAM, SessionType.WORKFLOW

_DOCS: Final[dict[str, dict[SessionType, str]]] = {
    "list_components": {
        _AGENT: "Every agent this deployment serves.",
        _TEAM: "Every team this deployment serves, with its members.",
        _WORKFLOW: "Every workflow this deployment serves.",
    },
    "get_component": {
        _AGENT: "One agent: its model, tools and settings.",
        _TEAM: "One team: its mode, leader model and tools, and its members.",
        _WORKFLOW: "One workflow and its steps (with their agents and teams).",
    },
    "create_run": {
        _AGENT: (
            "Run the agent on a message.\n\n"
            "`stream=true` (the default) answers with Server-Sent Events, from `RunStarted` to `RunCompleted` "
            "(or `RunError` / `RunCancelled`). `stream=false` answers with the finished run as JSON. "
            "`background=true` answers 202 at once with the run id, status PENDING; poll "
            "`GET /agents/{agent_id}/runs/{run_id}`."
        ),
        _TEAM: (
            "Run the team on a message.\n\n"
            "`stream=true` (the default) answers with Server-Sent Events, from `TeamRunStarted` to "
            "`TeamRunCompleted` (or `TeamRunError` / `TeamRunCancelled`), the members' events in between. "
            "`stream=false` answers with the finished run as JSON, its members' runs in `member_responses`. "
            "`background=true` answers 202 at once with the run id, status PENDING; poll "
            "`GET /teams/{team_id}/runs/{run_id}`."
        ),
        _WORKFLOW: (
            "Run the workflow on a message.\n\n"
            "`stream=true` (the default) answers with Server-Sent Events, from `WorkflowStarted` to "
            "`WorkflowCompleted` (or `WorkflowError` / `WorkflowCancelled`). `stream=false` answers with the "
            "finished run as JSON: the last step's `content`, every step's `step_results`, the agents' and teams' "
            "runs in `step_executor_runs`. `background=true` answers 202 at once with the run id, status PENDING; "
            "poll `GET /workflows/{workflow_id}/runs/{run_id}` (a background run is stored after each step, so "
            "the poll shows its progress)."
        ),
    },
    "get_run": {
        _AGENT: "A run's status and output: queued (PENDING), in flight (RUNNING) or finished. Use it to poll "
        "background runs.",
        _TEAM: "A run's status and output, its members' runs in `member_responses`. Use it to poll background runs.",
        _WORKFLOW: "A run's status and output (in flight, its step results so far). Use it to poll background runs.",
    },
    "cancel_run": {
        _AGENT: "Stop a run in flight. It is stored with status CANCELLED and its stream ends with `RunCancelled`.",
        _TEAM: "Stop a run in flight, and its members' runs in flight. Each is stored with status CANCELLED and the "
        "stream ends with `TeamRunCancelled`.",
        _WORKFLOW: "Stop a run in flight, and the steps in flight. The run and their agents' and teams' runs are "
        "stored with status CANCELLED, and the stream ends with `WorkflowCancelled`.",
    },
    "continue_run": {
        _AGENT: (
            "Follow up on a COMPLETED run with `input`: a new run (its own `run_id`, `forked_from_run_id` naming "
            "the run continued) in the same session, whose context is that run's conversation; the run continued "
            "is left as it was. The stream opens with `RunContinued`. Or resume a PAUSED run (human in the loop) "
            "under its own `run_id` with `tools`: the calls it awaits, each with `confirmed` (true/false, and a "
            "`confirmation_note`), its `user_input_schema` values, or its external `result`. A run still running, "
            "pending, failed or cancelled, or continued already, is a 409."
        ),
        _TEAM: (
            "Follow up on a COMPLETED team run with `input`: a new team run (its own `run_id`, "
            "`forked_from_run_id` naming the run continued) in the same session, whose context is that run's "
            "conversation. The stream opens with `TeamRunContinued`. Or resume a PAUSED team run (a member's tool "
            "call awaits a person) under its own `run_id` with `requirements`: the ones it paused with, each with "
            "`confirmation` (or the `tool_execution`'s fields, as for an agent). Any other status is a 409."
        ),
        _WORKFLOW: (
            "Resume a PAUSED workflow run under its own `run_id`: it goes on after the last step it finished. A run "
            "paused by a step's agent or team (a tool call that needs a person) takes `step_requirements`: the ones "
            "it paused with, each with its `executor_requirements` decided as for that agent's or team's continue; "
            "the step's run resumes, then the steps after it. Only a paused run can be continued (AgentOS' rule for "
            "workflows): any other status is a 409."
        ),
    },
}
"""What /docs says of each route, per kind (the list of a session's runs says the same for all)."""


_CONTINUE_ERRORS = {
    422: "Invalid request: a list of field errors, or a detail saying what is wrong: no `session_id`, results "
    "that are not a JSON list, no `input` for a completed run, or an option this server does not support "
    "(`regenerate`, a `continue_from` other than 'end')",
    409: "The run cannot be continued: it is still running or pending, or it ended in a way that allows none",
}

SESSION_ID_REQUIRED = "session_id is required for this action"
"""AgentOS' words, for an agent's or a team's continue without the run's session."""

RESULTS_FIELD: dict[SessionType, Literal["tools", "requirements", "step_requirements"]] = {
    SessionType.AGENT: "tools",
    SessionType.TEAM: "requirements",
    SessionType.WORKFLOW: "step_requirements",
}

_ENDED = {
    RunStatus.PENDING: "run is already pending",
    RunStatus.RUNNING: "run is already running",
    RunStatus.COMPLETED: "run is already completed",
    RunStatus.ERROR: "run has errored",
    RunStatus.CANCELLED: "run is already cancelled",
}
"""AgentOS' 409 details for a workflow run that is not paused; agents and teams use them too."""


class _Claimed(Driven):
    """An execution that holds a claim while it runs, and gives it up when it ends (however it ends)."""

    def __init__(self, run: Execution, store: Store, claim: Claim) -> None:
        self.run, self.store, self.claim = run, store, claim
        self.output = run.output

    async def events(self, *, stream: bool) -> AsyncIterator[RunEvent]:
        try:
            async for event in self.run.events(stream=stream):
                yield event
        finally:
            await asyncio.shield(self.store.release_claim(self.claim))


def _bad(detail: str) -> HTTPException:
    # AgentOS answers 400 here; stratus answers every bad input 422 (see `install_error_handlers`).
    return HTTPException(status_code=422, detail=detail)


async def continuation(
    app: App,
    registry: RunRegistry,
    kind: ComponentKind[Any],
    component: Agent | Team | Workflow,
    component_id: str,
    run_id: str,
    body: ContinueRequest,
    caller: str | None,
) -> Execution:
    """The execution that continues the run, not started, once everything is checked (nothing is stored before):
    a follow-up to a completed agent or team run, or a paused workflow run resumed."""
    from stratus.agent._pause import DecisionError
    from stratus.workflow import Workflow
    from stratus.workflow._run import WorkflowRun

    workflow = isinstance(component, Workflow)
    if body.session_id is None and not workflow:
        raise _bad(SESSION_ID_REQUIRED)
    if body.continue_from.strip() != "end":
        raise _bad("continue_from: only 'end' (go on from the whole conversation) is supported")
    if body.regenerate or body.replace_original is not None or body.additional_instructions is not None:
        raise _bad("regenerate (and its replace_original, additional_instructions) is not supported")
    results = body.results(RESULTS_FIELD[kind.session_type])
    active = registry.get(run_id)
    if active is not None and _visible(kind, active.output, component_id, body.session_id, caller):
        raise HTTPException(status_code=409, detail="run is still running")
    store = _store(app, component)
    stored = await store.get_run(run_id, session_id=body.session_id, user_id=caller)
    if stored is None or not kind.owns(stored, component_id) or stored.parent_run_id is not None:
        raise _run_not_found(run_id)
    session = await store.get_session(stored.session_id)
    if session is None or not kind.holds(session, component_id):
        raise _run_not_found(run_id)
    if workflow:
        if stored.status is not RunStatus.PAUSED:
            raise HTTPException(status_code=409, detail=_ENDED[stored.status])
        if results and not stored.requirements:
            raise _bad("step_requirements: no step of this run awaits a decision")
        if stored.requirements and not results:
            raise _bad("step_requirements: this run is paused; send the decisions on the step it awaits")
        # One resumption however many ask at once, here or in another process: the first to claim it.
        claim = await store.claim(f"continue:{run_id}", lease_seconds=DEFAULT_LEASE_SECONDS)
        if not claim.acquired:
            raise HTTPException(status_code=409, detail="run is already being continued")
        current = await store.get_run(run_id, session_id=stored.session_id)
        if current is None or current.status is not RunStatus.PAUSED:  # continued meanwhile
            await store.release_claim(claim)
            raise HTTPException(status_code=409, detail=_ENDED[current.status] if current else "run is gone")
        options = RunOptions(session_id=current.session_id, user_id=current.user_id, run_id=current.run_id)
        try:  # a step whose agent or team paused: its run resumes with the decisions, as an agent's or a team's
            step = await _step_resumption(store, current, results) if current.requirements else None
        except BaseException as exc:
            await store.release_claim(claim)
            if isinstance(exc, DecisionError):
                raise _bad(f"step_requirements: {exc}") from None
            raise
        # The existing way back into a stored workflow run: it goes on after the last step it finished.
        text = current.input.input_content if current.input is not None else ""
        run = WorkflowRun(component, text, Start(options, resume=Resumption(current, step=step)))
        return _Claimed(run, store, claim)
    if stored.status is RunStatus.PAUSED:
        return await _resumption(store, component, stored, results)
    if stored.status is not RunStatus.COMPLETED:
        raise HTTPException(status_code=409, detail=_ENDED[stored.status])
    if results:  # decisions for a run that ended (resumed already, say): it changes nothing
        raise HTTPException(status_code=409, detail=f"{_ENDED[stored.status]}; no tool call of it awaits a decision")
    follow_up = (body.input or "").strip()
    if not follow_up:
        raise _bad("input is required to continue a completed run (the follow-up message)")
    return component.execution(follow_up, RunOptions(continues=stored))


async def _resumption(
    store: Store, component: Agent | Team, stored: RunOutput, results: list[dict[str, Any]]
) -> Execution:
    """A paused agent or team run going on under its own id, with the decisions `results` in the calls it
    waits on (a team's: its members' paused runs, each resumed with its own). One resumption however many ask
    at once, here or in another process (the claim); a run resumed already is no longer paused (a 409);
    decisions that do not resolve it are a 422. Nothing is stored before it runs."""
    from stratus.agent import Agent
    from stratus.agent._loop import AgentRun
    from stratus.agent._pause import DecisionError, apply_decisions

    field = "tools" if isinstance(component, Agent) else "requirements"
    if not results:
        raise _bad(f"{field}: this run is paused; send the decisions on the tool calls it awaits")
    claim = await store.claim(f"continue:{stored.run_id}", lease_seconds=DEFAULT_LEASE_SECONDS)
    if not claim.acquired:
        raise HTTPException(status_code=409, detail="run is already being continued")
    current = await store.get_run(stored.run_id, session_id=stored.session_id)
    if current is None or current.status is not RunStatus.PAUSED:  # resumed meanwhile
        await store.release_claim(claim)
        raise HTTPException(status_code=409, detail=_ENDED[current.status] if current else "run is gone")
    text = current.input.input_content if current.input is not None else ""
    try:
        if isinstance(component, Agent):
            resume = Resumption(current, decided=apply_decisions(current, results))
            return _Claimed(AgentRun(component, text, Start(resume=resume)), store, claim)
        members = await _member_resumptions(store, current, results)
    except DecisionError as exc:
        await store.release_claim(claim)
        raise _bad(f"{field}: {exc}") from None
    except BaseException:
        await store.release_claim(claim)
        raise
    from stratus.team._run import TeamRun

    return _Claimed(TeamRun(component, text, Start(resume=Resumption(current, members=members))), store, claim)


async def _step_resumption(store: Store, workflow_run: RunOutput, results: list[dict[str, Any]]) -> StepResumption:
    """The paused step of a paused workflow run going on: its agent's or team's paused run with the decisions
    of the step requirement sent for it (its `executor_requirements`), applied as for that agent's or team's
    own `/continue`. `DecisionError` if none is sent for it, or its decisions do not resolve it."""
    from stratus.agent._pause import DecisionError, apply_decisions
    from stratus.workflow.steps import StepResumption

    waiting = (workflow_run.requirements or [{}])[0]  # one step pauses a run at a time
    sent = next((r for r in results if r.get("step_id") == waiting.get("step_id")), None)
    if sent is None:
        raise DecisionError(f"none is sent for the paused step {waiting.get('step_name')!r} ({waiting.get('step_id')})")
    decisions: Any = sent.get("executor_requirements")
    if not isinstance(decisions, list) or not all(isinstance(d, dict) for d in cast(list[Any], decisions)):
        raise DecisionError("executor_requirements: the paused step's requirements, with the decisions, as a list")
    items = cast(list[dict[str, Any]], decisions)
    run = await store.get_run(str(waiting.get("executor_run_id")), session_id=workflow_run.session_id)
    if run is None or run.parent_run_id != workflow_run.run_id or run.status is not RunStatus.PAUSED:
        raise DecisionError("the paused step's run is no longer paused")
    name = str(waiting.get("step_name"))
    if waiting.get("executor_type") == "team":
        return StepResumption(name, Resumption(run, members=await _member_resumptions(store, run, items)))
    return StepResumption(name, Resumption(run, decided=apply_decisions(run, items)))


async def _member_resumptions(
    store: Store, team_run: RunOutput, results: list[dict[str, Any]]
) -> dict[str, Resumption]:
    """The paused member runs of a paused team run, each with its decisions in: `DecisionError` if any is
    left undecided or a decision names no requirement."""
    from stratus.agent._pause import DecisionError, apply_decisions, by_member_run

    members: dict[str, Resumption] = {}
    for run_id, items in by_member_run(team_run, results).items():
        member_run = await store.get_run(run_id, session_id=team_run.session_id)
        if (
            member_run is None
            or member_run.parent_run_id != team_run.run_id
            or member_run.status is not RunStatus.PAUSED
        ):
            raise DecisionError(f"the member run {run_id!r} is not a paused run of this team run")
        members[run_id] = Resumption(member_run, decided=apply_decisions(member_run, items))
    return members


async def cancel_asked(registry: RunRegistry, kind: ComponentKind[Any], asked: RunAsked) -> dict[str, Any]:
    """Stop a run in flight here: its members' or steps' runs in flight stop too, and each is stored as
    CANCELLED (what finished before stays as it ended). A queued run not yet started is marked CANCELLED and
    never runs. A run that ended, or runs in another process, is a 409."""
    run_id, store = asked.run_id, asked.store
    active = registry.get(run_id)
    if (
        active is not None
        and _visible(kind, active.output, asked.component_id, asked.session_id, asked.caller)
        and registry.cancel(run_id)
    ):
        out = await registry.wait(active)
        return {"run_id": run_id, "session_id": out.session_id, "status": out.status.value}
    stored = await store.get_run(run_id, session_id=asked.session_id, user_id=asked.caller)
    if stored is None or not kind.owns(stored, asked.component_id):
        raise _run_not_found(run_id)
    if stored.status is RunStatus.PENDING:
        # Queued and not started: mark it, and the worker that picks it up will leave it alone.
        session = await store.get_session(stored.session_id)
        if session is not None:
            cancelled = replace(
                stored, status=RunStatus.CANCELLED, error="cancelled by request", error_type="RunCancelledError"
            )
            await store.save_run(session, cancelled, state_base=session.session_state)
            return {"run_id": run_id, "session_id": stored.session_id, "status": RunStatus.CANCELLED.value}
    if stored.status is RunStatus.RUNNING:
        raise HTTPException(
            status_code=409, detail=f"run {run_id!r} is running in another process; it cannot be stopped"
        )
    raise HTTPException(status_code=409, detail=f"run {run_id!r} already ended with status {stored.status.value}")
