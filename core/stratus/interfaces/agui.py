"""The app's agents and teams over AG-UI, the event protocol CopilotKit-style front ends speak (`App(agui=True)`,
extra `stratus[agui]`).

`POST /agui/agents/{agent_id}` (and `/agui/teams/{team_id}`) takes AG-UI's `RunAgentInput` and answers with the
run's AG-UI events as Server-Sent Events (see `_agui_events`). The thread is the stratus session (`threadId` is
its id: the server keeps the conversation, so only the last user message is read, as the run's input) and
`state` is merged into the session's state, which `STATE_SNAPSHOT` sends back at the end. `RUN_STARTED` names
the stratus run (its id is the one the REST API's routes take: read it, cancel it); the input's `runId` is the
client's own. The run is the REST API's: the same caller (a verified user wins over `forwardedProps.user_id`),
the same refusal of another user's or another component's session, the same registry (a client that goes away
leaves the run to finish and be stored). Bad input is a 4xx with a JSON `detail` before anything runs.
Front-end tools (`tools`) are not offered to the agent. A paused run ends with an interrupt outcome and goes on
through the REST API's `/continue`: a `resume` that answers an interrupt is refused, one that gives it up is
taken (the run stays paused, stored, and the thread goes on).
"""

from __future__ import annotations

from typing import Any, cast

from ag_ui.core import RunAgentInput, TextPart, UserMessage
from ag_ui.encoder import EventEncoder
from fastapi import APIRouter, FastAPI, HTTPException, Path, Request
from fastapi.responses import StreamingResponse
from pydantic import Field

from stratus.api._deps import AppDep, RegistryDep, resolve_user_id
from stratus.api._limits import StateField
from stratus.api._openapi import errors
from stratus.api.routers._components import ComponentKind
from stratus.api.routers.agents import AGENTS
from stratus.api.routers.teams import TEAMS
from stratus.app import App
from stratus.interfaces._agui_events import AguiStream, encoded
from stratus.interfaces._runs import start_run
from stratus.run import RunContext

__all__ = ["AguiRunInput", "install"]

MAX_INPUT_CHARS = 1_000_000
"""The longest user message taken (the REST run request's `message` bound)."""


class AguiRunInput(RunAgentInput):
    """AG-UI's `RunAgentInput`, bounded as the REST run request is: the thread (session) id, and the state (a JSON
    object, as a session state is)."""

    thread_id: str = Field(min_length=1, max_length=256)
    state: StateField = None  # pyright: ignore[reportIncompatibleVariableOverride]


def _bad(field: str, detail: str) -> HTTPException:
    return HTTPException(status_code=422, detail=f"{field}: {detail}")


def _user_text(body: AguiRunInput) -> str:
    """The run's input: the text of the last user message."""
    for message in reversed(body.messages):
        if isinstance(message, UserMessage):
            content = message.content
            if isinstance(content, str):
                text = content
            elif all(isinstance(part, TextPart) for part in content):
                text = "\n".join(part.text for part in content if isinstance(part, TextPart))
            else:
                raise _bad("messages", "only text parts are taken over AG-UI (send images and files to /runs)")
            if not text.strip():
                raise _bad("messages", "the last user message is empty")
            if len(text) > MAX_INPUT_CHARS:
                raise _bad("messages", f"the last user message is longer than {MAX_INPUT_CHARS} characters")
            return text
    raise _bad("messages", "no user message to answer")


def _claimed_user(body: AguiRunInput) -> str | None:
    """The user `forwardedProps.user_id` names (taken only with authentication off, as the REST API's)."""
    props: Any = body.forwarded_props
    claimed = cast(dict[str, Any], props).get("user_id") if isinstance(props, dict) else None
    return claimed if isinstance(claimed, str) and claimed else None


def _add_route(router: APIRouter, kind: ComponentKind[Any]) -> None:
    noun = kind.noun

    @router.post(
        f"/{noun}s/{{{kind.id_field}}}",
        summary=f"Run the {noun} over AG-UI",
        operation_id=f"agui_run_{noun}",
        description=f"Run the {noun} on the last user message of an AG-UI `RunAgentInput`; its AG-UI events stream "
        "back as Server-Sent Events. `threadId` is the session's id.",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}, **errors(404, 422)},
    )
    async def run(  # pyright: ignore[reportUnusedFunction]
        request: Request,
        body: AguiRunInput,
        app: AppDep,
        registry: RegistryDep,
        component_id: str = Path(alias=kind.id_field, description=f"The {noun}'s id"),
    ) -> StreamingResponse:
        if any(entry.status == "resolved" for entry in body.resume or ()):  # a cancelled one: the run stays paused
            raise _bad("resume", f"answer a paused run with POST /{noun}s/{component_id}/runs/{{run_id}}/continue")
        text = _user_text(body)
        user_id = resolve_user_id(request, _claimed_user(body))
        active = await start_run(
            app,
            registry,
            kind,
            component_id,
            text,
            user_id=user_id,
            session_id=body.thread_id,
            session_state=body.state,
        )
        # The run's context holds the session state its tools change (an agent's run, a team's, alike).
        context = getattr(active.run, "context", None)
        state = (lambda: context.session_state) if isinstance(context, RunContext) else (lambda: None)
        stream = AguiStream(active.output.session_id, active.output.run_id, state)
        encoder = EventEncoder()
        return StreamingResponse(
            encoded(stream, registry.events(active), encoder),
            media_type=encoder.get_content_type(),
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )


def install(api: FastAPI, app: App) -> None:
    """Serve the app's agents and teams over AG-UI, at `/agui/agents/{agent_id}` and `/agui/teams/{team_id}`."""
    router = APIRouter(prefix="/agui", tags=["AG-UI"])
    for kind in (AGENTS, TEAMS):
        _add_route(router, kind)
    api.include_router(router)
