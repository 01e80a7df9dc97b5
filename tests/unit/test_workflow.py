"""Workflows with scripted models: every step type (Step with an agent, a team or a function; Steps; Parallel;
Condition; Loop; Router), outputs feeding inputs, shared session state, steps that fail, runs stored with
their step results and child runs, checkpoints, resuming, and a cancel in the middle of a run."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from stratus import (
    Agent,
    Condition,
    ConfigError,
    Loop,
    Parallel,
    Router,
    RunContext,
    RunOptions,
    RunStatus,
    Step,
    StepInput,
    StepOutput,
    Steps,
    Team,
    Workflow,
    tool,
)
from stratus._lifecycle import Resumption, Start
from stratus.component_events import StepCompleted, StepError, WorkflowCompleted, WorkflowError
from stratus.messages import Message
from stratus.models.base import ModelRequest
from stratus.models.testing import FunctionModel, ScriptedModel, call
from stratus.run import RunError, RunEvent, RunOutput
from stratus.storage.sqlite import SqliteStore
from stratus.workflow._run import WorkflowRun


def echo_agent(agent_id: str) -> Agent:
    def answer(messages: list[Message], params: ModelRequest) -> str:
        return f"{agent_id}({messages[-1].content})"

    return Agent(id=agent_id, name=agent_id.title(), model=FunctionModel(answer))


def upper(step_input: StepInput) -> str:
    return str(step_input.previous_step_content).upper()


async def collect(workflow: Workflow, message: str, **options: Any) -> list[RunEvent]:
    return [event async for event in workflow.arun(message, stream=True, **options)]


def top(events: list[RunEvent]) -> list[tuple[str, Any]]:
    """The workflow's own events (those of its run, the first event's): (kind, step name)."""
    return [(e.kind, e.to_dict().get("step_name")) for e in events if e.run_id == events[0].run_id]


def last(events: list[RunEvent]) -> RunOutput:
    end = events[-1]
    assert isinstance(end, WorkflowCompleted | WorkflowError), end.kind
    assert end.output is not None
    return end.output


# --- Step: agent, team, function -----------------------------------------------------------------------------


async def test_each_steps_output_feeds_the_next_and_every_run_is_stored(store: SqliteStore) -> None:
    @tool
    def remember(note: str, ctx: RunContext) -> str:
        """Remember a note.

        Args:
            note: The note.
        """
        ctx.session_state["note"] = note
        return "noted"

    writer = Agent(id="writer", model=ScriptedModel(call("remember", note="draft"), "a draft"), tools=[remember])
    desk = Team(
        name="Desk",
        mode="route",
        model=ScriptedModel(call("route_to_member", member_id="editor")),
        members=[echo_agent("editor")],
    )

    async def sign(step_input: StepInput) -> str:
        return f"{step_input.previous_step_content} -- {step_input.session_state['note']} #{step_input.input}"

    workflow = Workflow(name="Publish", steps=[writer, desk, Step("shout", executor=upper), sign], store=store)

    events = await collect(workflow, "topic", session_id="w1", user_id="ann")

    output = last(events)
    assert output.status is RunStatus.COMPLETED
    assert output.content == "EDITOR(A DRAFT) -- draft #topic"
    assert [r["step_name"] for r in output.step_results or []] == ["writer", "Desk", "shout", "sign"]
    assert [r["executor_type"] for r in output.step_results or []] == ["agent", "team", "function", "function"]
    assert top(events) == [
        ("WorkflowStarted", None),
        ("StepStarted", "writer"),
        ("StepCompleted", "writer"),
        ("StepStarted", "Desk"),
        ("StepCompleted", "Desk"),
        ("StepStarted", "shout"),
        ("StepOutput", "shout"),  # a top-level function step's output, before its StepCompleted (AgentOS')
        ("StepCompleted", "shout"),
        ("StepStarted", "sign"),
        ("StepOutput", "sign"),
        ("StepCompleted", "sign"),
        ("WorkflowCompleted", None),
    ]
    # the steps' agents' and team's events (the team's member's too) name the workflow's run and their step, as
    # AgentOS' do; all at nested_depth 0; the member's names the team's run as its parent, a step's none
    run_id = output.run_id
    inner = [e.to_dict() for e in events if e.run_id != run_id]
    assert {e["nested_depth"] for e in inner} == {0}
    assert {(e["workflow_id"], e["workflow_run_id"]) for e in inner} == {("publish", run_id)}
    by_step = {(e["step_name"], e.get("agent_id") or e.get("team_id"), e.get("parent_run_id")) for e in inner}
    desk_run = next(e["run_id"] for e in inner if e["event"] == "TeamRunStarted")
    assert by_step == {("writer", "writer", None), ("Desk", "desk", None), ("Desk", "editor", desk_run)}
    step_ids = {e["step_name"]: e["step_id"] for e in (x.to_dict() for x in events) if e["event"] == "StepStarted"}
    assert {(e["step_name"], e["step_id"]) for e in inner} == {
        ("writer", step_ids["writer"]),
        ("Desk", step_ids["Desk"]),
    }
    runs = await store.get_runs("w1")
    by_name = {(r.workflow_id or r.team_id or r.agent_id): r for r in runs}
    assert set(by_name) == {"publish", "writer", "desk", "editor"}
    assert by_name["writer"].parent_run_id == run_id
    assert by_name["desk"].parent_run_id == run_id
    assert by_name["editor"].parent_run_id == by_name["desk"].run_id
    assert by_name["publish"].step_results == output.step_results
    assert output.step_results is not None
    assert output.step_results[0]["step_run_id"] == by_name["writer"].run_id
    session = await store.get_session("w1", user_id="ann")
    assert session is not None
    assert (session.session_type.value, session.component_id, session.session_state) == (
        "workflow",
        "publish",
        {"note": "draft"},
    )


async def test_a_step_gets_every_earlier_output_by_name() -> None:
    seen: dict[str, Any] = {}

    def inspect(step_input: StepInput) -> str:
        seen["first"] = step_input.get_step_content("first")
        seen["b"] = step_input.get_step_content("b")
        seen["missing"] = step_input.get_step_output("missing")
        return "ok"

    workflow = Workflow(
        steps=[
            Step("first", executor=lambda si: "one"),
            Parallel(Step("a", executor=lambda si: "A"), Step("b", executor=lambda si: {"b": 2})),
            inspect,
        ]
    )

    output = await workflow.arun("go")

    assert output.status is RunStatus.COMPLETED
    assert seen == {"first": "one", "b": {"b": 2}, "missing": None}


# --- Steps, Parallel -----------------------------------------------------------------------------------------


async def test_steps_run_in_order_as_one_step() -> None:
    workflow = Workflow(
        steps=[
            Steps(
                Step("x", executor=lambda si: "x"),
                Step("y", executor=lambda si: si.previous_step_content + "y"),
                name="xy",
            ),
            upper,
        ]
    )

    events = await collect(workflow, "go")

    assert last(events).content == "XY"
    assert top(events)[1:5] == [
        ("StepsExecutionStarted", "xy"),
        ("StepStarted", "x"),
        ("StepCompleted", "x"),
        ("StepStarted", "y"),
    ]
    completed = next(e for e in events if e.kind == "StepsExecutionCompleted").to_dict()
    assert (completed["steps_count"], completed["executed_steps"]) == (2, 2)
    assert [r["content"] for r in completed["step_results"]] == ["x", "xy"]
    nested = [e.to_dict()["step_index"] for e in events if e.kind == "StepStarted"]
    assert nested == [[0, 0], [0, 1], 1]


async def test_parallel_runs_its_branches_at_once_and_joins_their_content() -> None:
    together = asyncio.Barrier(2)

    async def branch(name: str) -> Any:
        async def run(step_input: StepInput) -> str:
            await asyncio.wait_for(together.wait(), timeout=5)  # only passes if both run at once
            return f"{name} on {step_input.previous_step_content}"

        return run

    workflow = Workflow(
        steps=[
            Step("start", executor=lambda si: "data"),
            Parallel(Step("left", executor=await branch("left")), Step("right", executor=await branch("right"))),
        ]
    )

    events = await collect(workflow, "go")

    assert last(events).content == "=== left ===\nleft on data\n\n=== right ===\nright on data"
    started = next(e for e in events if e.kind == "ParallelExecutionStarted").to_dict()
    assert started["parallel_step_count"] == 2
    done = next(e for e in events if e.kind == "ParallelExecutionCompleted").to_dict()
    assert [r["step_name"] for r in done["step_results"]] == ["left", "right"]


async def test_a_failing_branch_leaves_the_others_running_then_fails_the_workflow(store: SqliteStore) -> None:
    def broken(step_input: StepInput) -> str:
        raise ValueError("no data")

    async def slow(step_input: StepInput) -> str:
        await asyncio.sleep(0.05)  # still running when its sibling fails
        return "slow done"

    never = Step("never", executor=upper)
    workflow = Workflow(
        name="Fan",
        steps=[Parallel(Step("broken", executor=broken), Step("slow", executor=slow), echo_agent("agent")), never],
        store=store,
    )

    events = await collect(workflow, "go", session_id="w1")

    assert ("StepError", "broken") in top(events)
    assert ("StepCompleted", "slow") in top(events)
    assert ("StepCompleted", "Agent") in top(events)
    assert ("StepStarted", "never") not in top(events)
    error = next(e for e in events if isinstance(e, StepError))
    assert error.error == "ValueError: no data"
    end = events[-1]
    assert isinstance(end, WorkflowError)
    assert end.to_dict()["error"] == "step 'parallel' failed: broken: ValueError: no data"
    assert end.to_dict()["workflow_id"] == "fan"
    run = next(r for r in await store.get_runs("w1") if r.workflow_id == "fan")
    assert (run.status, run.error_type) == (RunStatus.ERROR, "StepFailedError")
    (parallel,) = run.step_results or []
    assert [(s["step_name"], s["success"]) for s in parallel["steps"]] == [
        ("broken", False),
        ("slow", True),
        ("Agent", True),
    ]
    agent_run = next(r for r in await store.get_runs("w1") if r.agent_id == "agent")
    assert (agent_run.status, agent_run.parent_run_id) == (RunStatus.COMPLETED, run.run_id)


async def test_a_step_that_may_fail_is_skipped_and_the_next_gets_the_content_before_it() -> None:
    def broken(step_input: StepInput) -> str:
        raise RuntimeError("flaky")

    workflow = Workflow(
        steps=[Step("a", executor=lambda si: "kept"), Step("b", executor=broken, skip_on_failure=True), upper]
    )

    events = await collect(workflow, "go")

    assert ("StepError", "b") in top(events)
    output = last(events)
    assert (output.status, output.content) == (RunStatus.COMPLETED, "KEPT")
    assert [r["success"] for r in output.step_results or []] == [True, False, True]


async def test_a_step_is_retried_up_to_max_retries() -> None:
    attempts: list[int] = []

    def flaky(step_input: StepInput) -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise RuntimeError("not yet")
        return "third time lucky"

    output = await Workflow(steps=[Step("flaky", executor=flaky, max_retries=2)]).arun("go")

    assert (output.status, output.content, len(attempts)) == (RunStatus.COMPLETED, "third time lucky", 3)


async def test_an_agent_step_that_fails_reports_the_agents_error(store: SqliteStore) -> None:
    def down(messages: list[Message], params: ModelRequest) -> str:
        raise RuntimeError("model down")

    workflow = Workflow(name="One", steps=[Agent(id="down", model=FunctionModel(down)), upper], store=store)

    events = await collect(workflow, "go", session_id="w1")

    nested = [e for e in events if isinstance(e, RunError) and not isinstance(e, WorkflowError)]
    assert [(e.agent_id, e.nested_depth, (e.workflow_context or {}).get("step_name")) for e in nested] == [
        ("down", 0, "down")
    ]
    error = next(e for e in events if isinstance(e, StepError))
    assert error.error == "agent 'down' failed: RuntimeError: model down"
    assert isinstance(events[-1], WorkflowError)
    assert [r.status for r in await store.get_runs("w1")] == [RunStatus.ERROR, RunStatus.ERROR]


# --- Condition, Loop, Router ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "branch", "content"),
    [("urgent: fix", "if", "escalated"), ("fyi", "else", "filed"), ("skip me", None, "skip me")],
)
async def test_condition_takes_the_if_or_else_branch_or_lets_the_content_through(
    message: str, branch: str | None, content: str
) -> None:
    async def is_urgent(step_input: StepInput) -> bool:
        return step_input.input.startswith("urgent")

    else_steps = [] if branch is None else [Step("file", executor=lambda si: "filed")]
    workflow = Workflow(
        steps=[
            Step("read", executor=lambda si: si.input),
            Condition(is_urgent, [Step("escalate", executor=lambda si: "escalated")], else_steps=else_steps),
        ]
    )

    events = await collect(workflow, message)

    assert last(events).content == content
    completed = next(e for e in events if e.kind == "ConditionExecutionCompleted").to_dict()
    assert completed.get("branch") == branch  # (left out when None, as AgentOS does)
    assert completed["condition_result"] is message.startswith("urgent")


async def test_a_condition_that_raises_fails_its_step() -> None:
    def broken(step_input: StepInput) -> bool:
        raise KeyError("flag")

    events = await collect(Workflow(steps=[Condition(broken, [upper], name="gate")]), "go")

    error = next(e for e in events if isinstance(e, StepError))
    assert (error.step_name, error.error) == ("gate", "the condition raised KeyError: 'flag'")
    assert isinstance(events[-1], WorkflowError)


async def test_loop_runs_until_its_end_condition_or_its_maximum() -> None:
    def longer(step_input: StepInput) -> str:
        return f"{step_input.previous_step_content}+"

    def long_enough(outputs: list[StepOutput]) -> bool:
        return len(outputs[-1].content) >= 4

    until = Workflow(steps=[Step("seed", executor=lambda si: "x"), Loop([longer], end_condition=long_enough)])
    capped = Workflow(steps=[Step("seed", executor=lambda si: "x"), Loop([longer], max_iterations=2)])

    events = await collect(until, "go")
    assert last(events).content == "x+++"
    iterations = [e.to_dict() for e in events if e.kind == "LoopIterationCompleted"]
    assert [(i["iteration"], i["should_continue"]) for i in iterations] == [(1, True), (2, True), (3, False)]
    completed = next(e for e in events if e.kind == "LoopExecutionCompleted").to_dict()
    assert (completed["total_iterations"], completed["max_iterations"]) == (3, 3)
    assert [[r["content"] for r in round] for round in completed["all_results"]] == [["x+"], ["x++"], ["x+++"]]
    assert (await capped.arun("go")).content == "x++"


async def test_router_runs_what_its_function_picks() -> None:
    billing, tech = echo_agent("billing"), echo_agent("tech")
    summary = Step("summary", executor=lambda si: f"summary of {si.previous_step_content}")

    def pick(step_input: StepInput) -> Any:
        if "invoice" in step_input.input:
            return "billing"  # an agent's id
        if "crash" in step_input.input:
            return [tech, "summary"]  # an agent itself, then a step by name
        return None

    workflow = Workflow(steps=[Router(pick, [billing, tech, summary], name="triage")])

    events = await collect(workflow, "my invoice")
    assert last(events).content == "billing(my invoice)"
    started = next(e for e in events if e.kind == "RouterExecutionStarted").to_dict()
    assert started["selected_steps"] == ["Billing"]
    assert (await workflow.arun("app crash")).content == "summary of tech(app crash)"
    assert (await workflow.arun("hello")).content is None


async def test_a_router_that_picks_an_unknown_step_fails_clearly() -> None:
    events = await collect(Workflow(steps=[Router(lambda si: "nope", [upper])]), "go")

    error = next(e for e in events if isinstance(e, StepError))
    assert error.error == (
        "the router's selector failed: ConfigError: router 'router' picked 'nope', which is none of its choices (upper)"
    )


async def test_a_step_may_stop_the_workflow() -> None:
    workflow = Workflow(
        steps=[Step("check", executor=lambda si: StepOutput(content="nothing to do", stop=True)), upper]
    )

    output = await workflow.arun("go")

    assert (output.status, output.content) == (RunStatus.COMPLETED, "nothing to do")
    assert [r["step_name"] for r in output.step_results or []] == ["check"]


# --- checkpoints, resume, cancel -----------------------------------------------------------------------------


async def test_the_run_is_stored_after_each_step_so_its_progress_shows(store: SqliteStore) -> None:
    progress: list[tuple[RunStatus, list[str]]] = []

    async def look(step_input: StepInput) -> str:
        stored = await store.get_run(step_input.run_id or "", session_id="w1")
        assert stored is not None
        progress.append((stored.status, [r["step_name"] for r in stored.step_results or []]))
        return "looked"

    workflow = Workflow(steps=[Step("one", executor=lambda si: "1"), look], store=store)

    output = await workflow.arun("go", session_id="w1")

    assert progress == [(RunStatus.RUNNING, ["one"])]
    final = await store.get_run(output.run_id)
    assert final is not None
    assert final.status is RunStatus.COMPLETED


async def test_a_run_out_of_time_stops_between_steps_and_resumes_after_the_last_finished_one(
    store: SqliteStore,
) -> None:
    calls: list[str] = []

    def step(name: str) -> Step:
        def run(step_input: StepInput) -> str:
            calls.append(name)
            step_input.session_state[name] = True
            return f"{step_input.previous_step_content or ''}{name}"

        return Step(name, executor=run)

    workflow = Workflow(name="Long", steps=[step("a"), step("b"), step("c")], store=store)
    first = WorkflowRun(workflow, "go", Start(RunOptions(session_id="w1", run_id="r1")), deadline=time.monotonic() + 1)

    events = [e async for e in first.events(stream=True)]

    assert first.suspended
    assert [e.kind for e in events][-1] == "StepCompleted"  # no end: the run goes on elsewhere
    stored = await store.get_run("r1")
    assert stored is not None
    assert (stored.status, [r["step_name"] for r in stored.step_results or []]) == (RunStatus.RUNNING, ["a"])

    second = WorkflowRun(workflow, "go", Start(RunOptions(session_id="w1", run_id="r1"), resume=Resumption(stored)))
    output = await second.result()

    assert calls == ["a", "b", "c"]  # nothing ran twice
    assert (output.status, output.content) == (RunStatus.COMPLETED, "abc")
    assert [r["step_name"] for r in output.step_results or []] == ["a", "b", "c"]
    session = await store.get_session("w1")
    assert session is not None
    assert session.session_state == {"a": True, "b": True, "c": True}
    assert [r.run_id for r in await store.get_runs("w1")] == ["r1"]


async def test_a_cancel_in_the_middle_stops_the_steps_in_flight_and_keeps_what_finished(store: SqliteStore) -> None:
    started = asyncio.Event()

    async def waits(messages: list[Message], params: ModelRequest) -> str:
        started.set()
        await asyncio.sleep(3600)
        return "too late"

    workflow = Workflow(
        name="Slow",
        steps=[
            Step("first", executor=lambda si: "done"),
            Parallel(Agent(id="waiter", model=FunctionModel(waits)), Step("quick", executor=upper)),
            upper,
        ],
        store=store,
    )
    task = asyncio.ensure_future(workflow.arun("go", session_id="w1"))
    await asyncio.wait_for(started.wait(), timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    runs = {(r.workflow_id or r.agent_id): r for r in await store.get_runs("w1")}
    assert runs["slow"].status is RunStatus.CANCELLED
    assert [r["step_name"] for r in runs["slow"].step_results or []] == ["first"]
    assert (runs["waiter"].status, runs["waiter"].parent_run_id) == (RunStatus.CANCELLED, runs["slow"].run_id)


# --- declarations --------------------------------------------------------------------------------------------


def test_the_sync_run() -> None:
    workflow = Workflow(steps=[Step("a", executor=lambda si: "a"), upper])

    assert workflow.run("go").content == "A"
    kinds = [e.kind for e in workflow.run("go", stream=True)]
    assert (kinds[0], kinds[-1]) == ("WorkflowStarted", "WorkflowCompleted")
    assert isinstance(next(e for e in workflow.run("go", stream=True) if e.kind == "StepCompleted"), StepCompleted)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Workflow(steps=[]), "has no steps"),
        (
            lambda: Workflow(steps=[42]),  # pyright: ignore[reportArgumentType]
            "a workflow step is a Step, Agent, Team or function",
        ),
        (lambda: Step("s", executor=upper, agent=echo_agent("a")), "give exactly one of agent=, team= or executor="),
        (lambda: Loop([upper], max_iterations=0), "max_iterations must be at least 1"),
        (lambda: Parallel(), "has no steps"),
        (lambda: Router(lambda si: None, []), "has no choices"),
    ],
)
def test_bad_declarations_fail_at_once(build: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build()
