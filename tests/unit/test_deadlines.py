"""Run deadlines: whatever a run waits for (a model that never answers, a drip of chunks, a tool, a member, a
step), it ends by its deadline with a stored RunError naming what it waited for, and over the API a 504."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient

from stratus import Agent, App, RunStatus, Step, StepInput, Team, Workflow, run_deadline, tool
from stratus.exceptions import ConfigError
from stratus.messages import Message
from stratus.models.base import Model, ModelDelta, ModelRequest, ModelResponse
from stratus.models.testing import FunctionModel, ScriptedModel, call
from stratus.run import RunError, RunOutput
from stratus.storage.sqlite import SqliteStore

# Generous: a deadline of 0.3 s must end the run well within this, on a loaded 2-core machine too.
PROMPTLY = 5.0


class HangingModel(Model):
    """Accepts the request and never answers (or, streamed, sends one piece and then nothing)."""

    provider: ClassVar[str] = "Test"
    id = "hanging"

    async def request(self, messages: Sequence[Message], params: ModelRequest) -> ModelResponse:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async def stream(self, messages: Sequence[Message], params: ModelRequest) -> AsyncIterator[ModelDelta]:
        yield ModelDelta(content="Let me think")
        await asyncio.sleep(3600)


class DripModel(Model):
    """Streams a piece every 50 ms, forever: no gap is long, the whole answer is endless."""

    provider: ClassVar[str] = "Test"
    id = "drip"

    async def request(self, messages: Sequence[Message], params: ModelRequest) -> ModelResponse:
        raise AssertionError("only streamed here")

    async def stream(self, messages: Sequence[Message], params: ModelRequest) -> AsyncIterator[ModelDelta]:
        while True:
            await asyncio.sleep(0.05)
            yield ModelDelta(content="la ")


@tool
async def wait_for_ever(reason: str) -> str:
    """Wait.

    Args:
        reason: Why.
    """
    await asyncio.sleep(3600)
    return "never"


async def timed(agent: Agent | Team | Workflow, message: str = "hi", **kwargs: Any) -> tuple[RunOutput, float]:
    started = time.monotonic()
    output = await agent.arun(message, **kwargs)
    return output, time.monotonic() - started


@pytest.mark.parametrize("stream", [False, True])
async def test_a_model_that_never_answers_ends_the_run_at_its_deadline(tmp_path: Path, stream: bool) -> None:
    store = SqliteStore(tmp_path / "runs.db")
    agent = Agent(id="a", model=HangingModel(), store=store, run_timeout=0.3)

    started = time.monotonic()
    events = [e async for e in agent.arun("hi", stream=True, session_id="s1")] if stream else []
    output = events[-1].output if stream else await agent.arun("hi", session_id="s1")  # type: ignore[union-attr]
    elapsed = time.monotonic() - started

    assert elapsed < PROMPTLY
    assert output is not None
    assert output.status is RunStatus.ERROR
    assert output.error_type == "RunTimeoutError"
    assert "run_timeout=0.3s" in (output.error or "")
    assert "'hanging'" in (output.error or "")
    if stream:
        assert isinstance(events[-1], RunError)
        assert events[-1].additional_data == {"limit": "deadline"}
    (stored,) = await store.get_runs("s1")
    assert (stored.run_id, stored.status, stored.error_type) == (output.run_id, RunStatus.ERROR, "RunTimeoutError")


async def test_an_endless_drip_of_chunks_ends_at_the_deadline_though_no_gap_is_long() -> None:
    agent = Agent(id="a", model=DripModel(), run_timeout=0.4)
    started = time.monotonic()
    events = [e async for e in agent.arun("hi", stream=True)]
    assert time.monotonic() - started < PROMPTLY
    assert isinstance(events[-1], RunError)
    assert events[-1].error_type == "RunTimeoutError"
    assert "was answering" in (events[-1].content or "")


async def test_a_tool_that_never_returns_ends_the_run_naming_the_tool() -> None:
    agent = Agent(
        id="a", model=ScriptedModel(call("wait_for_ever", reason="x"), "done"), tools=[wait_for_ever], run_timeout=0.3
    )
    output, elapsed = await timed(agent)
    assert elapsed < PROMPTLY
    assert (output.status, output.error_type) == (RunStatus.ERROR, "RunTimeoutError")
    assert "running tools: wait_for_ever" in (output.error or "")


async def test_run_deadline_bounds_runs_started_inside_it_and_only_shortens() -> None:
    agent = Agent(id="a", model=HangingModel())  # no run_timeout of its own
    with run_deadline(0.3, source="the test's budget"):
        output, elapsed = await timed(agent)
        with run_deadline(60):  # an inner, later deadline does not extend the outer one
            again, elapsed_again = await timed(agent)
    assert elapsed < PROMPTLY
    assert elapsed_again < PROMPTLY
    assert "the test's budget" in (output.error or "")
    assert again.status is RunStatus.ERROR


async def test_a_run_with_time_enough_is_untouched() -> None:
    agent = Agent(id="a", model=ScriptedModel("fine"), run_timeout=30)
    with run_deadline(30):
        output, _ = await timed(agent)
    assert (output.status, output.content) == (RunStatus.COMPLETED, "fine")


async def test_a_team_member_inherits_the_team_deadline(tmp_path: Path) -> None:
    member = Agent(id="slow", name="Slow", model=HangingModel())
    team = Team(
        id="t",
        mode="route",
        members=[member],
        model=ScriptedModel(call("route_to_member", member_id="slow")),
        store=SqliteStore(tmp_path / "team.db"),
        run_timeout=0.3,
    )
    output, elapsed = await timed(team, session_id="s-team")
    assert elapsed < PROMPTLY
    assert (output.status, output.error_type) == (RunStatus.ERROR, "RunTimeoutError")
    assert output.children
    assert all(c.status is not RunStatus.RUNNING for c in output.children)


def _sleepy(step_input: StepInput) -> str:
    time.sleep(0.05)
    return "slept"


async def _hang(step_input: StepInput) -> str:
    await asyncio.sleep(3600)
    return "never"


async def test_a_workflow_step_past_the_workflow_deadline_ends_the_run() -> None:
    stuck = Workflow(id="w", steps=[Step("nap", executor=_sleepy), Step("hang", executor=_hang)], run_timeout=0.4)
    output, elapsed = await timed(stuck)
    assert elapsed < PROMPTLY
    assert (output.status, output.error_type) == (RunStatus.ERROR, "RunTimeoutError")
    assert "step 'hang'" in (output.error or "")

    agent_step = Workflow(id="w2", steps=[Agent(id="slow", model=HangingModel())], run_timeout=0.3)
    output, elapsed = await timed(agent_step)
    assert elapsed < PROMPTLY
    assert (output.status, output.error_type) == (RunStatus.ERROR, "RunTimeoutError")


@pytest.mark.parametrize("bad", [0, -1, float("nan")])
def test_run_timeout_must_be_positive(bad: float) -> None:
    with pytest.raises(ConfigError, match="run_timeout"):
        Agent(id="a", run_timeout=bad)
    with pytest.raises(ConfigError, match="run_timeout"):
        Workflow(id="w", steps=[Step("s", executor=_sleepy)], run_timeout=bad)
    with pytest.raises(ConfigError, match="run_timeout"):
        Team(id="t", members=[Agent(id="m")], run_timeout=bad)


def test_over_the_api_a_deadline_is_a_504_and_the_run_is_stored(tmp_path: Path) -> None:
    agent = Agent(id="slow", model=HangingModel(), run_timeout=0.3)
    app = App(agents=[agent], store=SqliteStore(tmp_path / "api.db"))
    with TestClient(app.asgi()) as client:
        response = client.post("/agents/slow/runs", data={"message": "hi", "stream": "false", "session_id": "s1"})
        assert response.status_code == 504, response.text
        body = response.json()
        assert body["error_type"] == "RunTimeoutError"
        assert "deadline" in body["detail"]
        runs = client.get("/sessions/s1/runs").json()
        assert [(r["status"], r["content"]) for r in runs] == [("ERROR", body["detail"])]

        streamed = client.post("/agents/slow/runs", data={"message": "hi", "stream": "true", "session_id": "s2"})
        assert streamed.status_code == 200
        assert "event: RunError" in streamed.text
        assert "RunTimeoutError" in streamed.text


def test_function_model_is_not_bounded_when_no_deadline_is_set() -> None:
    """No deadline anywhere: nothing wraps the model (a run bounded by nothing behaves as before)."""
    agent = Agent(id="a", model=FunctionModel(lambda messages, params: "plain"))
    assert agent.run("hi").content == "plain"
