# pyright: reportMissingImports=false
"""Drives a live stratus server with agno's own `AgentOSClient`. Runs with the compat venv's python (agno is
installed there, never in stratus' venv): `python driver.py <server url> <scenario>` prints
one line `RESULT <json>`: `{"ok": true, "result": ...}` with what the client returned (its objects dumped
through `to_dict` / `model_dump`), or `{"ok": false, "error": ...}` with what it raised. `python driver.py
methods` prints the client's public methods instead.

Each scenario is one flow a client user would write; the pytest side (tests/compat/test_*.py) asserts on it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from datetime import date
from enum import Enum
from functools import partial
from typing import Any

import httpx
from agno.client.os import AgentOSClient
from agno.db.base import SessionType
from agno.db.schemas.evals import EvalType
from agno.media import File
from agno.os.routers.traces.schemas import TraceSearchGroupBy

Scenario = Callable[[AgentOSClient], Coroutine[Any, Any, Any]]
SCENARIOS: dict[str, Scenario] = {}
EXCLUDED = {"migrate_database"}  # the one method the suite leaves out: stratus has no database migrations
POLL_SECONDS = 20


def scenario(function: Scenario) -> Scenario:
    SCENARIOS[function.__name__] = function
    return function


def dump(value: Any) -> Any:
    """What the client returned, as JSON: pydantic models, agno's dataclasses (to_dict), lists of either."""
    if isinstance(value, list | tuple):
        return [dump(v) for v in value]
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, Enum):
        return value.value
    return value


async def collect(events: AsyncIterator[Any], on_event: Callable[[Any], Awaitable[None]] | None = None) -> list[Any]:
    """Every event of a stream, dumped; `on_event` sees each as it arrives."""
    seen: list[Any] = []
    async for event in events:
        seen.append(dump(event))
        if on_event is not None:
            await on_event(event)
    return seen


async def poll(read: Callable[[], Awaitable[Any]], done: Callable[[Any], bool]) -> Any:
    """Reads until `done` holds (or POLL_SECONDS pass: then the last value read)."""
    deadline = asyncio.get_running_loop().time() + POLL_SECONDS
    while True:
        value = await read()
        if done(value) or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.2)


def status_of(run: Any) -> str:
    status = getattr(run, "status", None)
    return str(status.value if isinstance(status, Enum) else status)


# --- config -----------------------------------------------------------------------------------------------


@scenario
async def config(client: AgentOSClient) -> Any:
    return {"sync": dump(client.get_config()), "async": dump(await client.aget_config())}


# --- agents, teams, workflows -----------------------------------------------------------------------------


@scenario
async def agents(client: AgentOSClient) -> Any:
    return {
        "list": dump(await client.list_agents()),
        "get": dump(client.get_agent("assistant")),
        "aget": dump(await client.aget_agent("assistant")),
    }


@scenario
async def agent_run(client: AgentOSClient) -> Any:
    answer = await client.run_agent("assistant", "hello", user_id="ann")
    tool = await client.run_agent("assistant", "weather in Oslo", user_id="ann", session_id=answer.session_id)
    return {"answer": dump(answer), "tool": dump(tool)}


@scenario
async def agent_dependencies(client: AgentOSClient) -> Any:
    units = {"units": "celsius"}
    answer = await client.run_agent("assistant", "weather in Oslo", user_id="ann", dependencies=units)
    events = await collect(client.run_agent_stream("assistant", "weather in Rome", user_id="ann", dependencies=units))
    return {"answer": dump(answer), "events": events}


@scenario
async def agent_stream(client: AgentOSClient) -> Any:
    return await collect(client.run_agent_stream("assistant", "weather in Rome", user_id="ann"))


@scenario
async def agent_background(client: AgentOSClient) -> Any:
    accepted = await client.run_agent("assistant", "later", user_id="ann", background=True)
    return await background(client, accepted, SessionType.AGENT)


async def background(
    client: AgentOSClient,
    accepted: Any,
    session_type: SessionType,
    cancel: Callable[[str], Awaitable[None]] | None = None,
) -> dict[str, Any]:
    """What a background run's 202 said, the run as read at once (agno stores it PENDING before answering),
    and as stored once it has completed (or, with `cancel`, once cancelled)."""

    async def read() -> Any:
        return await client.get_session_run(accepted.session_id, accepted.run_id, session_type=session_type)

    try:
        first: Any = dump(await read())
    except httpx.HTTPStatusError as error:
        first = {"error": failure(error)}
    if cancel is not None:
        await cancel(accepted.run_id)

    async def read_or_none() -> Any:
        try:
            return await read()
        except httpx.HTTPStatusError:
            return None

    final = "COMPLETED" if cancel is None else "CANCELLED"
    stored = await poll(read_or_none, lambda run: run is not None and status_of(run) == final)
    return {"accepted": dump(accepted), "first_read": first, "stored": dump(stored)}


@scenario
async def agent_background_cancel(client: AgentOSClient) -> Any:
    accepted = await client.run_agent("assistant", "hang", user_id="ann", background=True)
    cancel = partial(client.cancel_agent_run, "assistant")
    return await background(client, accepted, SessionType.AGENT, cancel)


@scenario
async def team_background_cancel(client: AgentOSClient) -> Any:
    accepted = await client.run_team("desk", "hang", user_id="ann", background=True)
    return await background(client, accepted, SessionType.TEAM, partial(client.cancel_team_run, "desk"))


@scenario
async def workflow_background_cancel(client: AgentOSClient) -> Any:
    accepted = await client.run_workflow("pipeline", "hang", user_id="ann", background=True)
    cancel = partial(client.cancel_workflow_run, "pipeline")
    return await background(client, accepted, SessionType.WORKFLOW, cancel)


async def cancelled_stream(
    events: AsyncIterator[Any], cancel: Callable[[str], Awaitable[None]], started: str = "RunStarted"
) -> list[Any]:
    """A stream whose run (a model that never answers) is cancelled once it has started."""

    async def on_event(event: Any) -> None:
        if event.event == started:
            await cancel(event.run_id)

    return await asyncio.wait_for(collect(events, on_event), POLL_SECONDS)


@scenario
async def agent_cancel(client: AgentOSClient) -> Any:
    return await cancelled_stream(
        client.run_agent_stream("assistant", "hang", user_id="ann"),
        lambda run_id: client.cancel_agent_run("assistant", run_id),
    )


async def follow_ups(
    first: Any, continue_run: Callable[..., Awaitable[Any]], continue_stream: Callable[..., AsyncIterator[Any]]
) -> dict[str, Any]:
    """A completed run continued with a follow-up, buffered ("second") then streamed ("third")."""
    where = {"session_id": first.session_id, "user_id": "ann"}
    followed = await continue_run(first.run_id, **where, input="second")
    streamed = await collect(continue_stream(first.run_id, **where, input="third"))
    return {"first": dump(first), "continued": dump(followed), "streamed": streamed}


@scenario
async def agent_continue(client: AgentOSClient) -> Any:
    return await follow_ups(
        await client.run_agent("assistant", "first", user_id="ann"),
        partial(client.continue_agent_run, "assistant", tools=[]),
        partial(client.continue_agent_run_stream, "assistant", tools=[]),
    )


@scenario
async def teams(client: AgentOSClient) -> Any:
    return {
        "list": dump(await client.list_teams()),
        "get": dump(client.get_team("desk")),
        "aget": dump(await client.aget_team("desk")),
    }


@scenario
async def team_run(client: AgentOSClient) -> Any:
    return dump(await client.run_team("desk", "hello team", user_id="ann"))


@scenario
async def team_stream(client: AgentOSClient) -> Any:
    return await collect(client.run_team_stream("desk", "hello stream", user_id="ann"))


@scenario
async def team_background(client: AgentOSClient) -> Any:
    accepted = await client.run_team("desk", "team later", user_id="ann", background=True)
    return await background(client, accepted, SessionType.TEAM)


@scenario
async def team_cancel(client: AgentOSClient) -> Any:
    return await cancelled_stream(
        client.run_team_stream("desk", "hang", user_id="ann"),
        lambda run_id: client.cancel_team_run("desk", run_id),
        started="TeamRunStarted",
    )


@scenario
async def team_continue(client: AgentOSClient) -> Any:
    return await follow_ups(
        await client.run_team("desk", "first", user_id="ann"),
        partial(client.continue_team_run, "desk", requirements=[]),
        partial(client.continue_team_run_stream, "desk", requirements=[]),
    )


@scenario
async def workflows(client: AgentOSClient) -> Any:
    return {
        "list": dump(await client.list_workflows()),
        "get": dump(client.get_workflow("pipeline")),
        "aget": dump(await client.aget_workflow("pipeline")),
    }


@scenario
async def workflow_run(client: AgentOSClient) -> Any:
    run = await client.run_workflow("pipeline", "hello flow", user_id="ann")
    runs = await client.get_session_runs(run.session_id, session_type=SessionType.WORKFLOW)
    return {"run": dump(run), "session_runs": dump(runs)}


@scenario
async def workflow_stream(client: AgentOSClient) -> Any:
    return await collect(client.run_workflow_stream("pipeline", "hello stream", user_id="ann"))


@scenario
async def workflow_background(client: AgentOSClient) -> Any:
    accepted = await client.run_workflow("pipeline", "flow later", user_id="ann", background=True)
    return await background(client, accepted, SessionType.WORKFLOW)


@scenario
async def workflow_cancel(client: AgentOSClient) -> Any:
    return await cancelled_stream(
        client.run_workflow_stream("pipeline", "hang", user_id="ann"),
        lambda run_id: client.cancel_workflow_run("pipeline", run_id),
        started="WorkflowStarted",
    )


async def refused(call: Awaitable[Any]) -> Any:
    """The status of the HTTP error a call raised (None if it raised none)."""
    try:
        await call
    except httpx.HTTPStatusError as error:
        return {"status": error.response.status_code}
    return None


@scenario
async def workflow_continue(client: AgentOSClient) -> Any:
    """agno continues only a paused workflow run (step requirements resolved): a completed one is a 409."""
    first = await client.run_workflow("pipeline", "first", user_id="ann")
    again = client.continue_workflow_run("pipeline", first.run_id, requirements=[], session_id=first.session_id)
    stream = collect(
        client.continue_workflow_run_stream("pipeline", first.run_id, requirements=[], session_id=first.session_id)
    )
    return {"first": dump(first), "continued": await refused(again), "streamed": await refused(stream)}


# --- sessions ---------------------------------------------------------------------------------------------


@scenario
async def sessions(client: AgentOSClient) -> Any:
    user = "bob"
    created = await client.create_session(
        SessionType.AGENT, user_id=user, session_name="compat", session_state={"n": 1}, agent_id="assistant"
    )
    sid = created.session_id
    run = await client.run_agent("assistant", "in a session", session_id=sid, user_id=user)
    out: dict[str, Any] = {"created": dump(created), "run": dump(run)}
    out["listed"] = dump(await client.get_sessions(SessionType.AGENT, user_id=user))
    out["got"] = dump(await client.get_session(sid, user_id=user))
    out["runs"] = dump(await client.get_session_runs(sid, user_id=user))
    out["previews"] = dump(client.get_session_run_previews(sid, user_id=user))
    out["apreviews"] = dump(await client.aget_session_run_previews(sid, user_id=user))
    out["one_run"] = dump(await client.get_session_run(sid, run.run_id, user_id=user))
    out["renamed"] = dump(await client.rename_session(sid, "renamed", user_id=user))
    out["updated"] = dump(
        await client.update_session(sid, session_state={"n": 2}, metadata={"tag": "compat"}, user_id=user)
    )
    await client.delete_session(sid, user_id=user)
    others = [
        await client.create_session(SessionType.AGENT, user_id=user, agent_id="assistant"),
        await client.create_session(SessionType.TEAM, user_id=user, team_id="desk"),
    ]
    out["others"] = dump(others)
    out["before_delete_many"] = dump(await client.get_sessions(user_id=user))
    await client.delete_sessions([s.session_id for s in others], [SessionType.AGENT, SessionType.TEAM], user_id=user)
    out["after"] = dump(await client.get_sessions(user_id=user))
    return out


# --- memories ---------------------------------------------------------------------------------------------


@scenario
async def memories(client: AgentOSClient) -> Any:
    user = "carol"
    tea = await client.create_memory("Carol likes tea.", user_id=user, topics=["food"])
    oslo = await client.create_memory("Carol lives in Oslo.", user_id=user, topics=["home"])
    spare = await client.create_memory("Carol reads at night.", user_id=user, topics=["habits"])
    out: dict[str, Any] = {"created": dump([tea, oslo, spare])}
    out["got"] = dump(await client.get_memory(tea.memory_id, user_id=user))
    out["listed"] = dump(await client.list_memories(user_id=user))
    out["by_topic"] = dump(await client.list_memories(user_id=user, topics=["home"]))
    out["updated"] = dump(
        await client.update_memory(tea.memory_id, "Carol likes green tea.", user_id=user, topics=["food", "drinks"])
    )
    out["topics"] = await client.get_memory_topics(user_id=user)
    out["stats"] = dump(await client.get_user_memory_stats(user_id=user))
    await client.delete_memory(spare.memory_id, user_id=user)
    out["after_delete"] = dump(await client.list_memories(user_id=user))
    await client.delete_memories([tea.memory_id, oslo.memory_id], user_id=user)
    out["after_delete_many"] = dump(await client.list_memories(user_id=user))
    return out


@scenario
async def memories_optimize(client: AgentOSClient) -> Any:
    user = "gil"
    for memory in ("Gil likes tea.", "Gil likes green tea.", "Gil lives in Oslo."):
        await client.create_memory(memory, user_id=user)
    preview = await client.optimize_memories(user_id=user, apply=False)
    return {"preview": dump(preview), "kept": dump(await client.list_memories(user_id=user))}


@scenario
async def learning_stream(client: AgentOSClient) -> Any:
    """A run of the agent that learns: the stream's memory events, then the memory it learnt."""
    user = "dave"
    events = await collect(client.run_agent_stream("learner", "I like coffee", user_id=user))
    learnt = await poll(lambda: client.list_memories(user_id=user), lambda page: bool(page.data))
    return {"events": events, "memories": dump(learnt)}


# --- knowledge --------------------------------------------------------------------------------------------


def _processed(status: Any) -> bool:
    return str(getattr(status.status, "value", status.status)) not in ("processing", "pending")


@scenario
async def knowledge(client: AgentOSClient) -> Any:
    out: dict[str, Any] = {"config": dump(await client.get_knowledge_config())}
    text = await client.upload_knowledge_content(
        name="guide",
        description="how stratus serves",
        text_content="Stratus serves agents over HTTP. Lighthouses guide ships at night.",
        metadata={"kind": "guide"},
    )
    note = await client.upload_knowledge_content(
        file=File(content=b"Penguins live in Antarctica.", filename="penguins.txt", mime_type="text/plain")
    )
    out["uploaded"] = dump([text, note])
    out["status"] = [
        dump(await poll(lambda content_id=c.id: client.get_knowledge_content_status(content_id), _processed))
        for c in (text, note)
    ]
    out["listed"] = dump(await client.list_knowledge_content())
    out["got"] = dump(await client.get_knowledge_content(text.id))
    out["updated"] = dump(await client.update_knowledge_content(text.id, name="guide v2", description="revised"))
    out["search"] = dump(await client.search_knowledge("Lighthouses guide ships", max_results=3))
    out["deleted"] = dump(await client.delete_knowledge_content(note.id))
    out["after_delete"] = dump(await client.list_knowledge_content())
    out["deleted_all"] = await client.delete_all_knowledge_content()
    out["after_delete_all"] = dump(await client.list_knowledge_content())
    return out


# --- metrics, evals, traces -------------------------------------------------------------------------------


@scenario
async def metrics(client: AgentOSClient) -> Any:
    await client.run_agent("assistant", "count me", user_id="erin")
    return {
        "refreshed": dump(await client.refresh_metrics()),
        "metrics": dump(await client.get_metrics()),
        "today": dump(await client.get_metrics(starting_date=date.today(), ending_date=date.today())),
        "status": dump(await client.get_metrics_refresh_status()),
        "background": dump(await client.refresh_metrics(background=True)),
    }


@scenario
async def evals(client: AgentOSClient) -> Any:
    reliable = await client.run_eval(
        EvalType.RELIABILITY, "weather in Oslo", agent_id="assistant", expected_tool_calls=["get_weather"]
    )
    unreliable = await client.run_eval(
        EvalType.RELIABILITY, "hello", agent_id="assistant", expected_tool_calls=["get_weather"]
    )
    timed = await client.run_eval(EvalType.PERFORMANCE, "hello", agent_id="assistant", num_iterations=2)
    out: dict[str, Any] = {"created": dump([reliable, unreliable, timed])}
    if reliable is None or unreliable is None or timed is None:
        raise ValueError(f"run_eval answered nothing: {out['created']}")
    out["listed"] = dump(await client.list_eval_runs(agent_id="assistant"))
    out["reliability_only"] = dump(await client.list_eval_runs(eval_types=[EvalType.RELIABILITY]))
    out["got"] = dump(await client.get_eval_run(reliable.id))
    out["renamed"] = dump(await client.update_eval_run(reliable.id, name="weather check"))
    await client.delete_eval_runs([unreliable.id, timed.id])
    out["after_delete"] = dump(await client.list_eval_runs())
    return out


@scenario
async def traces(client: AgentOSClient) -> Any:
    run = await client.run_agent("assistant", "weather in Lima", user_id="fay")
    listed = await poll(lambda: client.get_traces(run_id=run.run_id), lambda page: bool(page.data))
    out: dict[str, Any] = {"run": dump(run), "listed": dump(listed)}
    trace_id = listed.data[0].trace_id
    detail = await client.get_trace(trace_id)
    out["detail"] = dump(detail)
    out["span"] = dump(await client.get_trace(trace_id, span_id=detail.tree[0].id))
    out["session_stats"] = dump(await client.get_trace_session_stats(user_id="fay"))
    out["search"] = dump(await client.search_traces({"op": "EQ", "key": "run_id", "value": run.run_id}))
    out["search_sessions"] = dump(
        await client.search_traces({"op": "EQ", "key": "user_id", "value": "fay"}, group_by=TraceSearchGroupBy.SESSION)
    )
    return out


# --- the command line -------------------------------------------------------------------------------------


def public_methods() -> list[str]:
    return sorted(
        name
        for name in dir(AgentOSClient)
        if not name.startswith("_") and callable(getattr(AgentOSClient, name)) and name not in EXCLUDED
    )


def failure(error: BaseException) -> str:
    if isinstance(error, httpx.HTTPStatusError):
        request = error.request
        return (
            f"HTTP {error.response.status_code} from {request.method} {request.url.path}: {error.response.text[:600]}"
        )
    return f"{type(error).__name__}: {error}"


def main(argv: list[str]) -> None:
    if argv == ["methods"]:
        print("RESULT " + json.dumps(public_methods()))
        return
    url, name = argv
    client = AgentOSClient(url, timeout=30)
    try:
        answer: dict[str, Any] = {"ok": True, "result": asyncio.run(SCENARIOS[name](client))}
    except Exception as error:
        answer = {"ok": False, "error": failure(error), "traceback": traceback.format_exc()}
    print("RESULT " + json.dumps(answer, default=str))


if __name__ == "__main__":
    main(sys.argv[1:])
