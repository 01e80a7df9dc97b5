"""`SpanRecorder`: a run's spans from its events, as the run is stored at a checkpoint, a pause and its end;
exported once, when it ends, through whatever OpenTelemetry exporter is installed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import stratus.tracing
from stratus import RunOptions, Step, Workflow
from stratus._lifecycle import Resumption, Start
from stratus._utils import time_ordered_id
from stratus.messages import Usage
from stratus.run import (
    ModelRequestCompleted,
    ModelRequestStarted,
    RunInput,
    RunOutput,
    RunStarted,
    RunStatus,
    ToolCallCompleted,
    ToolCallStarted,
    ToolExecution,
)
from stratus.storage.sqlite import SqliteStore
from stratus.tracing import SpanRecorder, run_id_of, trace_id_of
from stratus.workflow._run import WorkflowRun

RUN_ID = "0190f0c8-6a5e-7000-8000-000000000001"


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    stratus.tracing.set_span_exporter(exporter)
    yield exporter
    stratus.tracing.set_span_exporter(None)


def a_run() -> RunOutput:
    return RunOutput(
        run_id=RUN_ID,
        session_id="s",
        user_id="u",
        agent_id="a",
        agent_name="Helper Bot",
        input=RunInput(input_content="hello"),
    )


def base(out: RunOutput) -> dict[str, Any]:
    return {"run_id": out.run_id, "session_id": out.session_id, "agent_id": "a"}


def test_checkpoint_pause_resume_end_make_one_trace_exported_once(exported: InMemorySpanExporter) -> None:
    out = a_run()
    before = time.time_ns()
    recorder = SpanRecorder(out)
    time.sleep(0.02)  # opening the session, loading history: before the run's first event, inside its span
    recorder.observe(RunStarted(**base(out)))
    recorder.observe(ModelRequestStarted(**base(out), model="m1", model_provider="p"))

    out.status = RunStatus.RUNNING
    recorder.record(out)  # a checkpoint: stored with the open spans ending now, nothing exported
    stratus.tracing.flush()
    assert out.spans is not None
    assert [s["name"] for s in out.spans] == ["Helper_Bot.run", "m1.invoke"]
    run_span, model_span = out.spans
    assert before <= run_span["start_time_unix_nano"] <= model_span["start_time_unix_nano"] - 20_000_000
    assert all(s["end_time_unix_nano"] >= s["start_time_unix_nano"] for s in out.spans)
    assert exported.get_finished_spans() == ()

    recorder.observe(ModelRequestCompleted(**base(out), model="m1", usage=Usage(3, 4, 7)))
    tool = ToolExecution(tool_call_id="t1", tool_name="ask_a_person", tool_args={"q": "ok?"}, start_time=1.0)
    recorder.observe(ToolCallStarted(**base(out), tool=tool))
    out.status = RunStatus.PAUSED
    recorder.record(out)  # paused: what it was doing ends, the run's own span waits
    stratus.tracing.flush()
    assert exported.get_finished_spans() == ()
    stored = list(out.spans)
    assert stored[2]["status"]["code"] == "UNSET"

    resumed = SpanRecorder(out)  # a new lifecycle over the stored run
    tool2 = ToolExecution(tool_call_id="t2", tool_name="lookup", tool_args={}, result="x", start_time=2.0, end_time=2.5)
    resumed.observe(ToolCallStarted(**base(out), tool=tool2))
    resumed.observe(ToolCallCompleted(**base(out), tool=tool2))
    out.status = RunStatus.COMPLETED
    out.content = "done"
    resumed.record(out)
    resumed.record(out)  # stored again: exported still once

    spans = out.spans or []
    roots = [s for s in spans if s["parent_span_id"] is None]
    assert len(roots) == 1
    assert roots[0]["span_id"] == stored[0]["span_id"]  # the same run span, open again, ended now
    assert roots[0]["status"]["code"] == "OK"
    assert roots[0]["attributes"]["output.value"] == "done"
    assert {s["trace_id"] for s in spans} == {trace_id_of(out.run_id)}
    assert [s["name"] for s in spans] == ["Helper_Bot.run", "m1.invoke", "ask_a_person", "lookup"]

    assert stratus.tracing.flush()
    finished = exported.get_finished_spans()
    assert [s.name for s in finished] == ["Helper_Bot.run", "m1.invoke", "ask_a_person", "lookup"]
    by_name = {s.name: s for s in finished}
    assert by_name["m1.invoke"].kind is SpanKind.CLIENT
    assert by_name["m1.invoke"].attributes is not None
    assert by_name["m1.invoke"].attributes["llm.token_count.total"] == 7
    assert by_name["lookup"].start_time == 2_000_000_000
    assert by_name["lookup"].end_time == 2_500_000_000
    assert by_name["Helper_Bot.run"].status.status_code is StatusCode.OK
    assert by_name["Helper_Bot.run"].parent is None
    assert by_name["lookup"].parent is not None
    assert by_name["lookup"].parent.span_id == int(stored[0]["span_id"], 16)


def test_a_fallback_model_ends_the_failed_request_in_error() -> None:
    out = a_run()
    recorder = SpanRecorder(out)
    recorder.observe(ModelRequestStarted(**base(out), model="primary"))
    recorder.observe(ModelRequestStarted(**base(out), model="fallback"))
    recorder.observe(ModelRequestCompleted(**base(out), model="fallback", usage=Usage(1, 1, 2)))
    out.status = RunStatus.COMPLETED
    recorder.record(out)
    by_name = {s["name"]: s for s in out.spans or []}
    assert by_name["primary.invoke"]["status"]["code"] == "ERROR"
    assert by_name["fallback.invoke"]["status"]["code"] == "OK"
    assert by_name["fallback.invoke"]["attributes"]["gen_ai.usage.input_tokens"] == 1


def test_a_long_input_is_cut_on_the_span_but_not_on_the_run() -> None:
    out = a_run()
    out.input = RunInput(input_content="x" * 10_000)
    recorder = SpanRecorder(out)
    out.status = RunStatus.COMPLETED
    recorder.record(out)
    [root] = out.spans or []
    assert len(root["attributes"]["input.value"]) == 4096
    assert len(out.input.input_content) == 10_000


async def test_a_workflow_given_again_where_it_stopped_goes_on_in_one_trace(
    store: SqliteStore, exported: InMemorySpanExporter
) -> None:
    def step(name: str) -> Step:
        return Step(name, executor=lambda step_input: f"{step_input.previous_step_content or ''}{name}")

    workflow = Workflow(id="long", name="Long", steps=[step("a"), step("b")], store=store)
    first = WorkflowRun(
        workflow, "go", Start(RunOptions(session_id="w1", run_id=RUN_ID)), deadline=time.monotonic() + 1
    )
    await first.result()
    assert first.suspended
    stratus.tracing.flush()
    assert exported.get_finished_spans() == ()  # not yet: the run goes on elsewhere
    stored = await store.get_run(RUN_ID)
    assert stored is not None
    assert [s["name"] for s in stored.spans or []] == ["Long.run", "a"]

    second = WorkflowRun(workflow, "go", Start(RunOptions(session_id="w1", run_id=RUN_ID), resume=Resumption(stored)))
    output = await second.result()
    assert output.status is RunStatus.COMPLETED

    final = await store.get_run(RUN_ID)
    assert final is not None
    spans = final.spans or []
    assert [s["name"] for s in spans] == ["Long.run", "a", "b"]
    [root] = [s for s in spans if s["parent_span_id"] is None]
    assert all(s["parent_span_id"] == root["span_id"] for s in spans if s is not root)
    assert root["status"]["code"] == "OK"
    assert stratus.tracing.flush()
    assert [s.name for s in exported.get_finished_spans()] == ["Long.run", "a", "b"]


def test_a_trace_id_begins_with_the_runs_start_and_gives_back_the_run_id() -> None:
    for _ in range(1000):
        run_id = time_ordered_id()
        trace_id = trace_id_of(run_id)
        assert len(trace_id) == 32
        assert abs(int(trace_id[:8], 16) - time.time()) < 60  # X-Ray's epoch seconds, then 96 bits
        assert run_id_of(trace_id) == run_id
    other = "8d6f3c0e-2f4b-4c1e-9a55-0c3f6e1d2b7a"  # a caller's UUID4 run id: its own bits
    assert trace_id_of(other) == other.replace("-", "")
    assert run_id_of(trace_id_of(other)) == other
    assert len(trace_id_of("my-run-1")) == 32  # no UUID: a hash, found again through ?run_id=
    assert run_id_of("z" * 32) is None  # 32 characters, not hex
    assert run_id_of("abc") is None
