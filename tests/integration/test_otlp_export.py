"""Each run's spans go out through OpenTelemetry's own OTLP/HTTP exporter, configured by the standard OTEL_*
variables, to a real OTLP receiver: an HTTP server here that decodes the protobuf requests with
opentelemetry-proto, as a collector (the ADOT collector's Lambda extension) would."""

from __future__ import annotations

import gzip
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status

import stratus.tracing
from stratus import Agent, Team, tool
from stratus.messages import Message
from stratus.models.base import ModelRequest
from stratus.models.testing import FunctionModel, Reply, call
from stratus.tracing import trace_id_of
from tests.integration.test_lambda_handlers import USER, Deployment, body_of, event, with_path
from tests.integration.test_lambda_handlers import call as call_function


@dataclass
class Received:
    """One span as the receiver decoded it, with the resource it came with."""

    span: ProtoSpan
    resource: dict[str, Any]

    @property
    def attributes(self) -> dict[str, Any]:
        return {a.key: _value(a.value) for a in self.span.attributes}


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


@dataclass
class Receiver:
    """An OTLP/HTTP trace receiver on a free local port."""

    url: str
    spans: list[Received] = field(default_factory=list[Received])
    paths: list[str] = field(default_factory=list[str])
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.spans) >= count, timeout), f"got {len(self.spans)} spans"
            return list(self.spans)


@contextmanager
def serve_receiver() -> Iterator[Receiver]:
    """An OTLP/HTTP trace receiver running in a thread for the `with` block."""
    box: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            request = ExportTraceServiceRequest.FromString(body)
            got = box[0]
            with got.arrived:
                got.paths.append(self.path)
                for resource_spans in request.resource_spans:
                    resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
                    for scope_spans in resource_spans.scope_spans:
                        got.spans.extend(Received(span, resource) for span in scope_spans.spans)
                got.arrived.notify_all()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()
            self.wfile.write(b"")

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box.append(Receiver(url=f"http://127.0.0.1:{server.server_address[1]}"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box[0]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serve_receiver() as running:
        yield running


@pytest.fixture
def otlp_env(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """The standard variables point the export at the receiver; the exporter is rebuilt from them."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "stratus-otlp-test")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    stratus.tracing.set_span_exporter(None)
    yield receiver
    stratus.tracing.set_span_exporter(None)


@tool
def lookup(city: str) -> str:
    """The weather in a city.

    Args:
        city: The city.
    """
    return f"sunny in {city}"


def weather(messages: list[Message], params: ModelRequest) -> Reply:
    return call("lookup", city="Oslo") if messages[-1].role == "user" else f"It is {messages[-1].content}."


def test_a_runs_spans_reach_an_otlp_receiver_with_their_tree_timings_and_tokens(otlp_env: Receiver) -> None:
    agent = Agent(id="weather", name="Weather", model=FunctionModel(weather), tools=[lookup])
    out = agent.run("weather in Oslo?", user_id="u1", session_id="s1")
    assert stratus.tracing.flush()

    received = otlp_env.wait_for(4)
    assert set(otlp_env.paths) == {"/v1/traces"}  # the standard path under OTEL_EXPORTER_OTLP_ENDPOINT
    assert len(received) == 4
    by_name = {r.span.name: r for r in received}
    assert set(by_name) == {"Weather.run", "function.invoke", "lookup"}
    assert {r.span.trace_id.hex() for r in received} == {trace_id_of(out.run_id)}
    assert [s["span_id"] for s in out.spans or []] == [r.span.span_id.hex() for r in received]

    root = by_name["Weather.run"]
    assert root.span.parent_span_id == b""
    assert root.span.status.code == Status.STATUS_CODE_OK
    assert root.attributes["agno.run.id"] == out.run_id
    assert root.attributes["user.id"] == "u1"
    assert root.attributes["session.id"] == "s1"
    assert root.attributes["input.value"] == "weather in Oslo?"
    assert root.attributes["output.value"] == "It is sunny in Oslo."
    assert root.attributes["stratus.usage.total_tokens"] == out.metrics.usage.total_tokens
    assert root.resource["service.name"] == "stratus-otlp-test"

    models = [r for r in received if r.span.name == "function.invoke"]
    assert all(m.span.kind == ProtoSpan.SPAN_KIND_CLIENT for m in models)
    assert sum(m.attributes["gen_ai.usage.input_tokens"] for m in models) == out.metrics.usage.input_tokens
    assert all(m.attributes["openinference.span.kind"] == "LLM" for m in models)
    tool_span = by_name["lookup"]
    assert tool_span.attributes["tool.name"] == "lookup"
    assert tool_span.attributes["output.value"] == "sunny in Oslo"
    for child in [*models, tool_span]:
        assert child.span.parent_span_id == root.span.span_id
        assert root.span.start_time_unix_nano <= child.span.start_time_unix_nano
        assert child.span.start_time_unix_nano <= child.span.end_time_unix_nano <= root.span.end_time_unix_nano


def test_a_team_exports_its_members_spans_in_its_own_trace(otlp_env: Receiver) -> None:
    member = Agent(id="scout", name="Scout", model=FunctionModel(weather), tools=[lookup])

    def delegate(messages: list[Message], params: ModelRequest) -> Reply:
        if messages[-1].role == "user":
            return call("delegate_task_to_member", member_id="scout", task="weather in Oslo")
        return f"team: {messages[-1].content}"

    team = Team(id="desk", name="Desk", model=FunctionModel(delegate), members=[member])
    out = team.run("what is the weather?")
    stratus.tracing.flush()

    received = otlp_env.wait_for(len(out.spans or []))
    assert {r.span.trace_id.hex() for r in received} == {trace_id_of(out.run_id)}
    by_id = {r.span.span_id: r for r in received}
    scout = next(r for r in received if r.span.name == "Scout.run")
    delegation = by_id[scout.span.parent_span_id]
    assert delegation.attributes["tool.name"] == "delegate_task_to_member"
    assert by_id[delegation.span.parent_span_id].span.name == "Desk.run"
    assert by_id[delegation.span.parent_span_id].attributes["agno.team.id"] == "desk"


def test_a_failed_run_exports_an_error_status(otlp_env: Receiver) -> None:
    agent = Agent(id="broken", model=FunctionModel(lambda m, p: RuntimeError("model down")))
    out = agent.run("hi")
    stratus.tracing.flush()

    received = otlp_env.wait_for(2)
    root = next(r for r in received if not r.span.parent_span_id)
    assert root.span.trace_id.hex() == trace_id_of(out.run_id)
    assert root.span.status.code == Status.STATUS_CODE_ERROR
    assert "model down" in root.span.status.message


def test_with_no_endpoint_configured_nothing_is_exported(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    stratus.tracing.set_span_exporter(None)
    assert not stratus.tracing.export_configured()
    out = Agent(id="a", model=FunctionModel(lambda m, p: "hi")).run("hello")
    assert out.spans  # still recorded with the run
    assert stratus.tracing.flush()
    assert receiver.spans == []

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    stratus.tracing.set_span_exporter(None)
    assert stratus.tracing.export_configured()
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")  # the standard switch wins
    stratus.tracing.set_span_exporter(None)
    assert not stratus.tracing.export_configured()
    stratus.tracing.set_span_exporter(None)


@pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")  # a function that ran no model
def test_a_lambda_function_exports_to_the_collector_before_its_invocation_ends(
    deployment: Deployment, otlp_env: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As on Lambda, where the ADOT collector extension listens on localhost:4318 and the environment is
    # frozen once the handler returns: the batch must be out by then, without waiting for its timer.
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "600000")
    stratus.tracing.set_span_exporter(None)
    response = call_function("agent_runs", event("agent_run"))
    assert response["statusCode"] == 200, response["body"]
    run = body_of(response)
    with otlp_env.arrived:
        assert otlp_env.spans, "the spans were not sent before the invocation ended"
    received = otlp_env.wait_for(1)
    root = next(r for r in received if not r.span.parent_span_id)
    assert root.span.trace_id.hex() == trace_id_of(run["run_id"])
    assert root.attributes["user.id"] == USER

    # The same trace, stored with the run in DynamoDB, through the traces function.
    listed = call_function("traces", event("traces_list"))
    assert listed["statusCode"] == 200, listed["body"]
    [summary] = body_of(listed)["data"]
    assert (summary["trace_id"], summary["user_id"]) == (trace_id_of(run["run_id"]), USER)
    detail = body_of(call_function("traces", with_path(event("agents_list"), f"/traces/{summary['trace_id']}")))
    assert detail["total_spans"] == len(received)
    info = body_of(call_function("traces", event("info")))
    assert info["auth_mode"] == "security_key"


def test_a_script_that_ends_sends_what_is_still_queued(receiver: Receiver) -> None:
    code = (
        "from stratus import Agent\n"
        "from stratus.models.testing import FunctionModel\n"
        "print(Agent(id='a', model=FunctionModel(lambda m, p: 'hi')).run('hello').run_id)\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(Path.home()),
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_BSP_SCHEDULE_DELAY": "600000",  # no timer fires before the interpreter ends
    }
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip().splitlines()[-1]
    received = receiver.wait_for(2)
    assert {r.span.trace_id.hex() for r in received} == {trace_id_of(run_id)}
