"""The run loop, driven by scripted models: tools, limits, structured output, history, events, errors."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from pydantic import BaseModel

from stratus import (
    Agent,
    ModelError,
    NotFoundError,
    OutputValidationError,
    RunContext,
    RunLimitExceeded,
    RunStatus,
    Tool,
    tool,
)
from stratus.messages import Message
from stratus.models.base import ModelRequest
from stratus.models.testing import FunctionModel, ScriptedModel, call
from stratus.run import (
    RunCompleted,
    RunContent,
    RunError,
    RunEvent,
    ToolCallCompleted,
    ToolCallStarted,
)
from stratus.storage.sqlite import SqliteStore


@tool
def get_weather(city: str) -> str:
    """Get the weather for a city.

    Args:
        city: The city.
    """
    return f"sunny in {city}"


@tool
def explode(reason: str) -> str:
    """A tool that always fails."""
    raise RuntimeError(f"boom: {reason}")


async def collect(agent: Agent, message: str, **kwargs: object) -> list[RunEvent]:
    return [event async for event in agent.arun(message, stream=True, **kwargs)]  # type: ignore[call-overload]


# --- tools ------------------------------------------------------------------------------------------------


async def test_a_tool_result_goes_back_to_the_model_and_the_run_completes() -> None:
    model = ScriptedModel(call("get_weather", city="Oslo"), "It is sunny in Oslo.")
    agent = Agent(model=model, tools=[get_weather])

    out = await agent.arun("Weather in Oslo?")

    assert out.status is RunStatus.COMPLETED
    assert out.content == "It is sunny in Oslo."
    tool_message = model.requests[1][-1]
    assert tool_message.role == "tool"
    assert tool_message.content == "sunny in Oslo"
    assert tool_message.tool_call_error is False
    assert [t.tool_name for t in out.tools] == ["get_weather"]
    assert [m.role for m in out.messages] == ["user", "assistant", "tool", "assistant"]


async def test_a_tool_error_reaches_the_model_and_the_run_goes_on() -> None:
    model = ScriptedModel(call("explode", reason="disk full"), "The tool failed, sorry.")
    agent = Agent(model=model, tools=[explode])

    out = await agent.arun("Do it")

    assert out.status is RunStatus.COMPLETED
    assert out.content == "The tool failed, sorry."
    error_message = model.requests[1][-1]
    assert error_message.role == "tool"
    assert error_message.tool_call_error is True
    assert error_message.content == "Error: RuntimeError: boom: disk full"
    assert out.tools[0].tool_call_error is True


async def test_unknown_tools_and_malformed_arguments_are_reported_to_the_model() -> None:
    bad_json = call("get_weather")
    bad_json.arguments = "{not json"
    model = ScriptedModel([call("no_such_tool"), bad_json, call("get_weather", town="Oslo")], "done")
    agent = Agent(model=model, tools=[get_weather])

    out = await agent.arun("go")

    assert out.status is RunStatus.COMPLETED
    results = [m.content or "" for m in model.requests[1] if m.role == "tool"]
    assert "there is no tool named 'no_such_tool' (tools: get_weather)" in results[0]
    assert "arguments are not valid JSON" in results[1]
    assert "city: Field required" in results[2]


async def test_tool_calls_of_one_turn_run_concurrently() -> None:
    # Each tool waits for the other to start: run one after the other, they would both time out.
    barrier = threading.Barrier(2, timeout=5)

    @tool
    def left() -> str:
        """Left."""
        barrier.wait()
        return "left"

    @tool
    def right() -> str:
        """Right."""
        barrier.wait()
        return "right"

    model = ScriptedModel([call("left"), call("right")], "both done")
    out = await Agent(model=model, tools=[left, right]).arun("go")

    assert out.status is RunStatus.COMPLETED
    assert [t.result for t in out.tools] == ["left", "right"]


async def test_a_sync_tool_in_a_thread_and_an_async_tool_run_at_the_same_time() -> None:
    # The sync tool waits (in its thread) until the async one has run on the loop, and the async one waits until
    # the sync one has started: run one after the other, or with the sync tool blocking the loop, neither finishes.
    # (How long the pair takes is a speed figure, for bench/, not for a test on a shared machine.)
    sync_started = threading.Event()
    async_done = threading.Event()

    @tool
    def slow_sync() -> str:
        """Wait in a thread for the async tool."""
        sync_started.set()
        return "sync" if async_done.wait(timeout=10) else "the async tool never ran alongside"

    @tool
    async def slow_async() -> str:
        """Wait on the loop for the sync tool to start."""
        if not await asyncio.to_thread(sync_started.wait, 10):
            return "the sync tool never started alongside"
        async_done.set()
        return "async"

    model = ScriptedModel([call("slow_sync"), call("slow_async")], "ok")
    out = await Agent(model=model, tools=[slow_sync, slow_async]).arun("go")

    assert out.status is RunStatus.COMPLETED
    assert [t.result for t in out.tools] == ["sync", "async"]


async def test_tool_results_stream_as_each_tool_finishes_but_reach_the_model_in_call_order() -> None:
    @tool
    async def wait(seconds: float) -> str:
        """Wait."""
        await asyncio.sleep(seconds)
        return f"waited {seconds}"

    model = ScriptedModel([call("wait", seconds=0.2), call("wait", seconds=0.01)], "ok")
    events = await collect(Agent(model=model, tools=[wait]), "go")

    completed = [e.tool.tool_args["seconds"] for e in events if isinstance(e, ToolCallCompleted)]
    assert completed == [0.01, 0.2]
    sent = [m.content for m in model.requests[1] if m.role == "tool"]
    assert sent == ["waited 0.2", "waited 0.01"]


# --- limits and failures ------------------------------------------------------------------------------------


async def test_the_tool_round_limit_ends_the_run_with_an_error_naming_the_limit() -> None:
    model = ScriptedModel(*[call("get_weather", city="Oslo") for _ in range(5)])
    agent = Agent(model=model, tools=[get_weather], max_tool_rounds=2)

    events = await collect(agent, "loop forever")

    last = events[-1]
    assert isinstance(last, RunError)
    assert last.error_type == "RunLimitExceeded"
    assert "max_tool_rounds=2" in last.content
    assert last.additional_data == {"limit": "max_tool_rounds"}
    assert len(model.requests) == 3  # two rounds of tools, then the third request for tools trips the limit
    assert last.output is not None
    assert last.output.status is RunStatus.ERROR
    with pytest.raises(RunLimitExceeded):
        last.output.raise_for_status()


async def test_a_model_error_ends_the_run_with_run_error() -> None:
    model = ScriptedModel(ModelError("HTTP 401: bad key", status_code=401))
    out = await Agent(model=model).arun("hi")

    assert out.status is RunStatus.ERROR
    assert out.error_type == "ModelError"
    assert out.error == "HTTP 401: bad key"
    with pytest.raises(ModelError):
        out.raise_for_status()


async def test_a_fallback_model_answers_when_the_model_fails_past_its_retries(tmp_path: Path) -> None:
    primary = ScriptedModel(ModelError("HTTP 503: overloaded", retryable=True, status_code=503), id="primary")
    backup = ScriptedModel(call("get_weather", city="Oslo"), "Sunny in Oslo.", id="backup")
    store = SqliteStore(tmp_path / "fallback.db")
    agent = Agent(model=primary, fallback_models=[backup], tools=[get_weather], store=store)

    events = [e async for e in agent.arun("weather?", stream=True, session_id="s1")]

    out = events[-1].output  # type: ignore[union-attr]
    assert out is not None
    assert (out.status, out.content) == (RunStatus.COMPLETED, "Sunny in Oslo.")
    # the primary was asked once; the backup answered, and kept answering for the rest of the run
    assert (len(primary.requests), len(backup.requests)) == (1, 2)
    assert (out.model, out.metrics.model_id) == ("backup", "backup")
    started = [e.model for e in events if type(e).__name__ == "ModelRequestStarted"]  # type: ignore[attr-defined]
    assert started == ["primary", "backup", "backup"]
    (stored,) = await store.get_runs("s1")
    assert stored.model == "backup"


async def test_a_refused_request_does_not_fall_back_and_fallbacks_are_tried_once_each() -> None:
    refused = ScriptedModel(ModelError("HTTP 400: context too long", status_code=400))
    backup = ScriptedModel("never asked")
    out = await Agent(model=refused, fallback_models=[backup]).arun("hi")
    assert out.status is RunStatus.ERROR
    assert backup.requests == []

    failing = [ScriptedModel(ModelError(f"HTTP 500: down {i}", retryable=True, status_code=500)) for i in range(3)]
    out = await Agent(model=failing[0], fallback_models=failing[1:]).arun("hi")
    assert (out.status, out.error) == (RunStatus.ERROR, "HTTP 500: down 2")
    assert [len(m.requests) for m in failing] == [1, 1, 1]  # each tried once: retries are each model's own


def test_agent_level_retries_are_gone_in_favour_of_the_models_own() -> None:
    with pytest.raises(TypeError, match="retries"):
        Agent(model=ScriptedModel("x"), retries=2)  # type: ignore[call-arg]


# --- structured output -----------------------------------------------------------------------------------


class Person(BaseModel):
    name: str
    age: int


async def test_structured_output_is_the_validated_object() -> None:
    model = ScriptedModel('```json\n{"name": "Ann", "age": 31}\n```')
    out = await Agent(model=model, output_schema=Person).arun("Who?")

    assert out.status is RunStatus.COMPLETED
    assert out.content == Person(name="Ann", age=31)
    assert out.content_type == "Person"
    assert out.to_dict()["content"] == {"name": "Ann", "age": 31}


async def test_an_invalid_structured_answer_is_retried_with_the_errors() -> None:
    model = ScriptedModel('{"name": "Ann"}', '{"name": "Ann", "age": 31}')
    out = await Agent(model=model, output_schema=Person).arun("Who?")

    assert out.content == Person(name="Ann", age=31)
    correction = model.requests[1][-1]
    assert correction.role == "user"
    assert "age: Field required" in (correction.content or "")


async def test_an_answer_that_never_validates_is_reported_after_the_retries() -> None:
    model = ScriptedModel("not json", '{"name": 1}', "still not")
    events = await collect(Agent(model=model, output_schema=Person, output_retries=2), "Who?")

    last = events[-1]
    assert isinstance(last, RunError)
    assert last.error_type == "OutputValidationError"
    assert "did not match Person after 3 attempts" in last.content
    assert len(model.requests) == 3
    assert last.output is not None
    with pytest.raises(OutputValidationError):
        last.output.raise_for_status()


async def test_the_schema_goes_natively_to_models_that_support_it_else_into_the_system_message() -> None:
    seen: list[ModelRequest] = []

    def answer(messages: list[Message], params: ModelRequest) -> str:
        seen.append(params)
        return '{"name": "Ann", "age": 3}'

    model = FunctionModel(answer)
    await Agent(model=model, output_schema=Person).arun("Who?")
    assert seen[0].output_schema is None
    system = model.requests[0][0]
    assert system.role == "system"
    assert '"age"' in (system.content or "")

    type(model).supports_structured_output = True
    try:
        await Agent(model=model, output_schema=Person).arun("Who?")
    finally:
        type(model).supports_structured_output = False
    assert seen[1].output_schema is not None
    assert seen[1].output_name == "Person"


# --- history and sessions ------------------------------------------------------------------------------


async def test_exactly_num_history_runs_earlier_runs_reach_the_model(store: SqliteStore) -> None:
    model = ScriptedModel(*[f"answer {i}" for i in range(1, 7)])
    agent = Agent(model=model, store=store, add_history_to_context=True, num_history_runs=3)
    for i in range(1, 6):
        out = await agent.arun(f"question {i}", session_id="s1")
        assert out.status is RunStatus.COMPLETED

    await agent.arun("question 6", session_id="s1")

    sent = model.requests[-1]
    history = [m for m in sent if m.from_history]
    assert [m.content for m in history] == [
        "question 3",
        "answer 3",
        "question 4",
        "answer 4",
        "question 5",
        "answer 5",
    ]
    assert sent[-1].content == "question 6"
    assert sent[-1].from_history is False


async def test_failed_runs_are_stored_but_left_out_of_the_history(store: SqliteStore) -> None:
    model = ScriptedModel("one", ModelError("down"), "three")
    agent = Agent(model=model, store=store, add_history_to_context=True)
    await agent.arun("q1", session_id="s")
    failed = await agent.arun("q2", session_id="s")
    await agent.arun("q3", session_id="s")

    assert failed.status is RunStatus.ERROR
    assert [m.content for m in model.requests[-1] if m.from_history] == ["q1", "one"]
    stored = await store.get_runs("s")
    assert [r.status for r in stored] == [RunStatus.COMPLETED, RunStatus.ERROR, RunStatus.COMPLETED]


async def test_history_is_off_unless_asked_for(store: SqliteStore) -> None:
    model = ScriptedModel("a", "b")
    agent = Agent(model=model, store=store)
    await agent.arun("first", session_id="s")
    await agent.arun("second", session_id="s")
    assert [m.content for m in model.requests[-1]] == ["second"]


async def test_session_state_changed_by_a_tool_persists_across_runs(store: SqliteStore) -> None:
    @tool
    def count(ctx: RunContext) -> int:
        """Count a visit."""
        ctx.session_state["visits"] = ctx.session_state.get("visits", 0) + 1
        return ctx.session_state["visits"]

    model = ScriptedModel(call("count"), "one", call("count"), "two")
    agent = Agent(model=model, store=store, tools=[count], session_state={"visits": 0, "plan": "free"})
    await agent.arun("visit", session_id="s")
    out = await agent.arun("visit", session_id="s")

    assert out.session_state == {"visits": 2, "plan": "free"}
    session = await store.get_session("s")
    assert session is not None
    assert session.session_state == {"visits": 2, "plan": "free"}


async def test_another_users_session_cannot_be_continued_or_altered(store: SqliteStore) -> None:
    agent = Agent(model=ScriptedModel("hello", "intruder"), store=store)
    await agent.arun("mine", session_id="s", user_id="alice", session_state={"secret": 1})

    out = await agent.arun("let me in", session_id="s", user_id="mallory", session_state={"secret": 2})

    assert out.status is RunStatus.ERROR
    assert out.error_type == "NotFoundError"
    with pytest.raises(NotFoundError):
        out.raise_for_status()
    session = await store.get_session("s")
    assert session is not None
    assert session.user_id == "alice"
    assert session.session_state == {"secret": 1}
    assert len(await store.get_runs("s")) == 1


async def test_instructions_may_be_a_function_of_the_run_context() -> None:
    def instructions(ctx: RunContext) -> list[str]:
        return [f"The user is {ctx.user_id}.", "Be brief."]

    model = ScriptedModel("ok")
    await Agent(model=model, description="A helper.", instructions=instructions).arun("hi", user_id="ann")

    assert model.requests[0][0].content == "A helper.\n\n- The user is ann.\n- Be brief."


# --- events and metrics ---------------------------------------------------------------------------------


async def test_stream_event_order() -> None:
    model = ScriptedModel(call("get_weather", city="Oslo"), "It is sunny")
    events = await collect(Agent(name="Assistant", model=model, tools=[get_weather]), "weather?", session_id="s1")

    kinds = [e.kind for e in events]
    assert kinds == [
        "RunStarted",
        "ModelRequestStarted",
        "ModelRequestCompleted",
        "ToolCallStarted",
        "ToolCallCompleted",
        "ModelRequestStarted",
        "RunContent",
        "RunContent",
        "RunContent",
        "ModelRequestCompleted",
        "RunContentCompleted",
        "RunCompleted",
    ]
    assert "".join(e.content for e in events if isinstance(e, RunContent)) == "It is sunny"
    assert {(e.run_id, e.session_id, e.agent_id, e.agent_name) for e in events} == {
        (events[0].run_id, "s1", "assistant", "Assistant")
    }
    started = next(e for e in events if isinstance(e, ToolCallStarted))
    assert started.to_dict()["tool"]["result"] is None  # a snapshot, not filled in later
    done = events[-1]
    assert isinstance(done, RunCompleted)
    assert done.to_dict()["content"] == "It is sunny"


async def test_each_run_records_tokens_time_to_first_token_and_duration() -> None:
    model = ScriptedModel(call("get_weather", city="Oslo"), "sunny today", delay=0.01)
    out = await Agent(model=model, tools=[get_weather]).arun("weather in Oslo?")

    metrics = out.metrics.to_dict()
    assert metrics["input_tokens"] > 0
    assert metrics["output_tokens"] > 0
    assert metrics["total_tokens"] == metrics["input_tokens"] + metrics["output_tokens"]
    assert 0 < metrics["time_to_first_token"] <= metrics["duration"]
    assert metrics["details"]["model"][0]["id"] == "scripted"
    assistant = [m for m in out.messages if m.role == "assistant"]
    assert all(m.metrics and m.metrics["duration"] > 0 for m in assistant)


def test_the_sync_api_runs_and_streams() -> None:
    agent = Agent(model=ScriptedModel("one two", "three four"))
    assert agent.run("hi").content == "one two"
    kinds = [e.kind for e in agent.run("again", stream=True)]
    assert kinds[0] == "RunStarted"
    assert kinds[-1] == "RunCompleted"


async def test_the_sync_api_also_works_inside_a_running_event_loop() -> None:
    agent = Agent(model=ScriptedModel("inside"))
    out = await asyncio.to_thread(agent.run, "hi")
    assert out.content == "inside"
    # and directly from a coroutine (a notebook cell): the call blocks, but does not deadlock
    assert Agent(model=ScriptedModel("direct")).run("hi").content == "direct"


def test_a_model_may_be_named_by_a_string_and_is_built_on_first_use(tmp_path: Path) -> None:
    agent = Agent(name="My Helper", model="openai:gpt-4o-mini")
    assert agent.id == "my-helper"
    assert agent._resolved_model is None  # nothing built yet
    model = agent.get_model()
    assert (model.provider, model.id) == ("OpenAI", "gpt-4o-mini")


async def test_a_run_that_fails_before_asking_the_model_still_streams_started_then_error() -> None:
    events = await collect(Agent(name="No model"), "hi")

    assert [e.kind for e in events] == ["RunStarted", "RunError"]
    last = events[-1]
    assert isinstance(last, RunError)
    assert last.error_type == "ConfigError"
    assert "has no model" in last.content


async def test_a_toolkit_that_fails_to_start_is_reported_and_the_run_goes_on() -> None:
    from stratus import Toolkit
    from stratus.run import ToolkitUnavailable

    class Unreachable(Toolkit):
        async def aget_tools(self) -> list[Tool]:
            raise ConnectionError("mcp server at localhost:9 refused the connection")

    model = ScriptedModel(call("get_weather", city="Oslo"), "sunny")
    agent = Agent(model=model, tools=[get_weather, Unreachable(name="maps")])

    events = await collect(agent, "weather?")

    unavailable = [e for e in events if isinstance(e, ToolkitUnavailable)]
    assert [(e.toolkit, e.content) for e in unavailable] == [
        ("maps", "ConnectionError: mcp server at localhost:9 refused the connection")
    ]
    assert events[-1].kind == "RunCompleted"
    assert model.tool_names[0] == ["get_weather"]
