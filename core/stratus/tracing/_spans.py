"""A run's spans, OpenTelemetry-shaped, built from the events the run emits (`SpanRecorder`).

A top-level run (an agent's, a team's or a workflow's) records one trace: a span for the run, for each model
request, tool call, member run and workflow step, with their start and end times, status and token counts.
The trace id is made from the run id and back (`trace_id_of`, `run_id_of`), beginning with the run's start in
Unix seconds as AWS X-Ray wants.

Attribute names follow OpenInference (`openinference.span.kind`, `input.value`, `llm.token_count.prompt`, ...),
which AgentOS' `/traces` reads, plus the GenAI semantic conventions (`gen_ai.usage.input_tokens`, ...) that
OpenTelemetry backends know. Standard library only: recording costs no import of OpenTelemetry.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, cast

from stratus.run import (
    ModelRequestCompleted,
    ModelRequestStarted,
    RunCancelled,
    RunCompleted,
    RunError,
    RunEvent,
    RunOutput,
    RunStarted,
    RunStatus,
    ToolCallCompleted,
    ToolCallStarted,
    ToolExecution,
    run_tree,
)
from stratus.tracing._export import export_spans

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Span", "SpanRecorder", "run_id_of", "trace_id_of"]

_KIND: Final = "openinference.span.kind"
_MAX_VALUE_CHARS: Final = 4096
"""Inputs and outputs kept on a span are cut to this many characters (the run itself keeps them whole)."""


_MARK: Final = 0x5A7
"""The low 12 bits of a trace id packed from a UUIDv7 run id (`trace_id_of`)."""
_BITS_62: Final = (1 << 62) - 1


def trace_id_of(run_id: str) -> str:
    """The trace id (32 hex digits) of the run `run_id`.

    A UUIDv7 (what stratus makes run ids) is packed so that the trace id begins with the run's start in Unix
    seconds, as AWS X-Ray requires of the ids it accepts (its collector drops others): 32 bits of seconds, then
    the milliseconds and the UUID's 74 random bits, then a mark; `run_id_of` unpacks it. Another UUID gives
    its own bits; an id that is no UUID, a hash of it."""
    try:
        run = uuid.UUID(run_id)
    except ValueError:
        return hashlib.sha256(run_id.encode()).hexdigest()[:32]
    if run.version == 7 and str(run) == run_id.lower():
        n = run.int
        seconds, millis = divmod(n >> 80, 1000)
        if seconds < 1 << 32:
            packed = seconds << 96 | millis << 86 | ((n >> 64) & 0xFFF) << 74 | (n & _BITS_62) << 12 | _MARK
            return f"{packed:032x}"
    return run.hex


def run_id_of(trace_id: str) -> str | None:
    """The run id `trace_id_of` made this trace id from, when the run id is a UUID (as stratus makes them);
    else None."""
    if len(trace_id) != 32:
        return None
    try:
        n = int(trace_id, 16)
    except ValueError:
        return None
    if n & 0xFFF == _MARK and (n >> 86) & 0x3FF < 1000:
        ms = (n >> 96) * 1000 + ((n >> 86) & 0x3FF)
        bits = ms << 80 | 0x7 << 76 | ((n >> 74) & 0xFFF) << 64 | 0b10 << 62 | (n >> 12) & _BITS_62
        return str(uuid.UUID(int=bits))
    return str(uuid.UUID(int=n))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        dump = getattr(value, "model_dump", None)
        value = json.dumps(dump(mode="json") if callable(dump) else value, default=str, ensure_ascii=False)
    return value[:_MAX_VALUE_CHARS]


@dataclass(slots=True)
class Span:
    """One span, as OpenTelemetry has it. Times are Unix nanoseconds; `status_code` is OK, ERROR or UNSET;
    `kind` an OpenTelemetry span kind (INTERNAL, CLIENT, ...)."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    start_time_unix_nano: int
    end_time_unix_nano: int | None = None
    kind: str = "INTERNAL"
    attributes: dict[str, Any] = field(default_factory=dict[str, Any])
    status_code: str = "UNSET"
    status_message: str | None = None

    @property
    def duration_ms(self) -> int:
        end = self.end_time_unix_nano if self.end_time_unix_nano is not None else self.start_time_unix_nano
        return (end - self.start_time_unix_nano) // 1_000_000

    def end(self, status: str, message: str | None = None, at: int | None = None) -> None:
        self.end_time_unix_nano = at if at is not None else time.time_ns()
        self.status_code, self.status_message = status, message

    def to_dict(self) -> dict[str, Any]:
        return {
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "parent_span_id": self.parent_span_id,
            "name": self.name,
            "kind": self.kind,
            "start_time_unix_nano": self.start_time_unix_nano,
            "end_time_unix_nano": self.end_time_unix_nano,
            "attributes": self.attributes,
            "status": {"code": self.status_code, "message": self.status_message},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Span:
        status = cast(dict[str, Any], data.get("status") or {})
        return cls(
            trace_id=str(data["trace_id"]),
            span_id=str(data["span_id"]),
            parent_span_id=data.get("parent_span_id"),
            name=str(data["name"]),
            start_time_unix_nano=int(data["start_time_unix_nano"]),
            end_time_unix_nano=data.get("end_time_unix_nano"),
            kind=str(data.get("kind") or "INTERNAL"),
            attributes=cast(dict[str, Any], data.get("attributes") or {}),
            status_code=str(status.get("code") or "UNSET"),
            status_message=status.get("message"),
        )


def _identity(run: RunOutput) -> dict[str, Any]:
    if run.workflow_id is not None:
        return {_KIND: "CHAIN", "agno.workflow.id": run.workflow_id, "agno.workflow.name": run.workflow_name}
    if run.team_id is not None:
        return {_KIND: "AGENT", "agno.team.id": run.team_id, "agno.team.name": run.team_name}
    return {_KIND: "AGENT", "agno.agent.id": run.agent_id, "agno.agent.name": run.agent_name}


def _run_name(run: RunOutput) -> str:
    name = run.workflow_name or run.workflow_id or run.team_name or run.team_id or run.agent_name or run.agent_id
    return f"{(name or 'run').replace(' ', '_')}.run"


def _status_of(run: RunOutput) -> tuple[str, str | None]:
    if run.status is RunStatus.COMPLETED:
        return "OK", None
    if run.status in (RunStatus.ERROR, RunStatus.CANCELLED):
        return "ERROR", run.error or f"run ended {run.status.value}"
    return "UNSET", None


class SpanRecorder:
    """Builds the spans of a top-level run and of every run it starts, from the events its lifecycle passes
    on (`observe`), and writes them to the run (`record`) whenever the run is stored.

    The trace begins with the first event (or store): a run that goes on from a stored one (a paused run
    resumed, a workflow given again where it stopped) has the stored spans in `output.spans` by then, and
    keeps them, its own span open again until it ends."""

    __slots__ = (
        "_created",
        "_exported",
        "_models",
        "_runs",
        "_steps",
        "_tools",
        "output",
        "root",
        "spans",
        "trace_id",
    )

    def __init__(self, output: RunOutput) -> None:
        self.output = output
        self._created = time.time_ns()  # the run's span starts here: opening its session is part of it
        self.trace_id = trace_id_of(output.run_id)
        self.spans: list[Span] = []
        self.root: Span | None = None
        self._exported = False
        self._runs: dict[str, Span] = {}
        self._models: dict[str, Span] = {}
        self._tools: dict[str, tuple[str, Span, dict[str, Any]]] = {}
        self._steps: dict[tuple[str, str], Span] = {}

    def _begin(self) -> Span:
        output = self.output
        earlier = [Span.from_dict(s) for s in output.spans or []]
        if earlier:
            self.trace_id = earlier[0].trace_id
        self.spans = earlier
        root = next((s for s in earlier if s.parent_span_id is None), None)
        if root is not None:  # the run goes on: its span is open again until it ends
            root.end_time_unix_nano, root.status_code, root.status_message = None, "UNSET", None
        else:
            root = self._open(_run_name(output), None, self._run_attributes(output))
            root.start_time_unix_nano = self._created
        self.root = self._runs[output.run_id] = root
        return root

    def _open(self, name: str, parent: Span | None, attributes: dict[str, Any], kind: str = "INTERNAL") -> Span:
        span = Span(
            trace_id=self.trace_id,
            span_id=f"{random.getrandbits(64) | 1:016x}",  # unique within its trace is all a span id needs
            parent_span_id=parent.span_id if parent is not None else None,
            name=name,
            start_time_unix_nano=time.time_ns(),
            kind=kind,
            attributes={k: v for k, v in attributes.items() if v is not None},
        )
        self.spans.append(span)
        return span

    @staticmethod
    def _run_attributes(run: RunOutput) -> dict[str, Any]:
        return {
            **_identity(run),
            "agno.run.id": run.run_id,
            "agno.parent_run.id": run.parent_run_id,
            "session.id": run.session_id,
            "user.id": run.user_id,
            "input.value": _text(run.input.input_content) if run.input else None,
        }

    # --- events -------------------------------------------------------------------------------------------

    def observe(self, event: RunEvent) -> None:
        """Note one event of the run or of a run it started."""
        if self.root is None:
            self._begin()
        handler = _HANDLERS.get(type(event))
        if handler is None:
            handler = _HANDLERS[type(event)] = self._handler_for(type(event))
        handler(self, event)

    def _on_started(self, event: RunEvent) -> None:
        if event.run_id in self._runs:
            return
        child = self._find(event.run_id)
        parent_id = event.parent_run_id or self.output.run_id
        parent = self._parent_of(parent_id, event.agent_id)
        attributes = self._run_attributes(child) if child is not None else {"agno.run.id": event.run_id}
        name = _run_name(child) if child is not None else f"{event.agent_name or event.agent_id or 'run'}.run"
        self._runs[event.run_id] = self._open(name, parent, attributes)

    def _on_ended(self, event: RunEvent) -> None:
        span = self._runs.get(event.run_id)
        if span is None or span is self.root or span.end_time_unix_nano is not None:
            return  # the top run's own span ends when the run is stored (`record`)
        output = cast(RunOutput | None, getattr(event, "output", None)) or self._find(event.run_id)
        if output is not None:
            self._end_run(span, output)
        else:
            span.end("ERROR" if isinstance(event, RunError | RunCancelled) else "OK")

    def _on_model_started(self, event: RunEvent) -> None:
        assert isinstance(event, ModelRequestStarted)
        earlier = self._models.pop(event.run_id, None)
        if earlier is not None:  # no answer came: the fallback model is asked next
            earlier.end("ERROR", "the model failed; a fallback model was asked")
        attributes = {
            _KIND: "LLM",
            "llm.model_name": event.model,
            "llm.provider": event.model_provider,
            "gen_ai.request.model": event.model,
            "gen_ai.system": event.model_provider,
        }
        name = f"{event.model or 'model'}.invoke"
        self._models[event.run_id] = self._open(name, self._run_span(event.run_id), attributes, kind="CLIENT")

    def _on_model_completed(self, event: RunEvent) -> None:
        assert isinstance(event, ModelRequestCompleted)
        span = self._models.pop(event.run_id, None)
        if span is None:
            return
        u = event.usage
        span.attributes.update(
            {
                "llm.token_count.prompt": u.input_tokens,
                "llm.token_count.completion": u.output_tokens,
                "llm.token_count.total": u.total_tokens,
                "gen_ai.usage.input_tokens": u.input_tokens,
                "gen_ai.usage.output_tokens": u.output_tokens,
            }
        )
        if event.time_to_first_token is not None:
            span.attributes["llm.time_to_first_token"] = event.time_to_first_token
        span.end("OK")

    def _on_tool_started(self, event: RunEvent) -> None:
        assert isinstance(event, ToolCallStarted)
        tool = event.tool
        args = _text(tool.tool_args)
        attributes = {
            _KIND: "TOOL",
            "tool.name": tool.tool_name,
            "tool.parameters": args,
            "input.value": args,
            "tool.call.id": tool.tool_call_id,
        }
        span = self._open(tool.tool_name, self._run_span(event.run_id), attributes)
        if tool.start_time is not None:
            span.start_time_unix_nano = int(tool.start_time * 1e9)
        self._tools[tool.tool_call_id] = (event.run_id, span, tool.tool_args)

    def _on_tool_completed(self, event: RunEvent) -> None:
        assert isinstance(event, ToolCallCompleted)
        found = self._tools.pop(event.tool.tool_call_id, None)
        if found is not None:
            self._end_tool(found[1], event.tool)

    @staticmethod
    def _end_tool(span: Span, tool: ToolExecution) -> None:
        if tool.start_time is not None:
            span.start_time_unix_nano = int(tool.start_time * 1e9)
        span.attributes["output.value"] = _text(tool.result)
        end = int(tool.end_time * 1e9) if tool.end_time is not None else None
        if tool.tool_call_error:
            span.end("ERROR", _text(tool.result), at=end)
        else:
            span.end("OK", at=end)

    def _on_step_started(self, event: RunEvent) -> None:
        name, index = getattr(event, "step_name", None), getattr(event, "step_index", None)
        attributes = {_KIND: "CHAIN", "agno.step.name": name, "agno.step.index": _text(index)}
        span = self._open(str(name or "step"), self._run_span(event.run_id), attributes)
        self._steps[(event.run_id, f"{name}#{index}")] = span

    def _on_step_ended(self, event: RunEvent) -> None:
        name, index = getattr(event, "step_name", None), getattr(event, "step_index", None)
        span = self._steps.pop((event.run_id, f"{name}#{index}"), None)
        if span is None:
            return
        error = getattr(event, "error", None)
        if error is not None or event.kind == "StepError":
            span.end("ERROR", str(error or "step failed"))
        else:
            span.attributes["output.value"] = _text(getattr(event, "content", None))
            span.end("OK")

    # --- where spans go -----------------------------------------------------------------------------------

    def _find(self, run_id: str) -> RunOutput | None:
        for run in run_tree(self.output):
            if run.run_id == run_id:
                return run
        return None

    def _run_span(self, run_id: str) -> Span:
        return self._runs.get(run_id) or self.root or self._begin()

    def _parent_of(self, parent_run_id: str, member_id: str | None) -> Span:
        """The span a child run hangs under: the delegation tool call that named it, else the one step or tool
        call of its parent that is open, else its parent's run."""
        open_tools = [(span, args) for run_id, span, args in self._tools.values() if run_id == parent_run_id]
        named = [span for span, args in open_tools if member_id is not None and args.get("member_id") == member_id]
        if named:
            return named[0]
        open_steps = [span for (run_id, _), span in self._steps.items() if run_id == parent_run_id]
        if len(open_steps) == 1:
            return open_steps[0]
        if len(open_tools) == 1:
            return open_tools[0][0]
        return self._run_span(parent_run_id)

    @staticmethod
    def _end_run(span: Span, run: RunOutput, at: int | None = None) -> None:
        u = run.metrics.usage
        span.attributes.update(
            {
                "output.value": _text(run.content_dict()) if run.status is RunStatus.COMPLETED else None,
                "agno.run.status": run.status.value,
                "llm.model_name": run.model,
                "stratus.usage.input_tokens": u.input_tokens,
                "stratus.usage.output_tokens": u.output_tokens,
                "stratus.usage.total_tokens": u.total_tokens,
            }
        )
        span.attributes = {k: v for k, v in span.attributes.items() if v is not None}
        status, message = _status_of(run)
        span.end(status, message, at=at)

    @staticmethod
    def _handler_for(event_class: type[RunEvent]) -> Callable[[SpanRecorder, RunEvent], None]:
        """The recorder's method for an event class (looked up once per class, by what the class is)."""
        if issubclass(event_class, ModelRequestStarted):
            return SpanRecorder._on_model_started
        if issubclass(event_class, ModelRequestCompleted):
            return SpanRecorder._on_model_completed
        if issubclass(event_class, ToolCallStarted):
            return SpanRecorder._on_tool_started
        if issubclass(event_class, ToolCallCompleted):
            return SpanRecorder._on_tool_completed
        if issubclass(event_class, RunStarted) or event_class.kind == "WorkflowStarted":
            return SpanRecorder._on_started
        if issubclass(event_class, RunCompleted | RunError | RunCancelled):
            return SpanRecorder._on_ended
        if event_class.kind == "StepStarted":
            return SpanRecorder._on_step_started
        if event_class.kind in ("StepCompleted", "StepError"):
            return SpanRecorder._on_step_ended
        return lambda recorder, event: None

    # --- writing ------------------------------------------------------------------------------------------

    def record(self, output: RunOutput) -> None:
        """Write the spans to `output.spans`. Once the run has ended its spans are closed and exported (once),
        if export is configured. A run that goes on later (a checkpoint, a pause) is written with its open
        spans ending now; a pause closes what it was doing, the run's own span stays open here."""
        root = self.root or self._begin()
        at = time.time_ns()
        if output.status is RunStatus.PAUSED:
            for span in [*self._models.values(), *(s for _, s, _ in self._tools.values()), *self._steps.values()]:
                span.end("UNSET", at=at)
            self._models.clear()
            self._tools.clear()
            self._steps.clear()
        if output.status in (RunStatus.COMPLETED, RunStatus.ERROR, RunStatus.CANCELLED):
            status, message = _status_of(output)
            for span in [*self._models.values(), *(s for _, s, _ in self._tools.values()), *self._steps.values()]:
                span.end(status if status == "ERROR" else "UNSET", message, at=at)
            self._models.clear()
            self._tools.clear()
            self._steps.clear()
            for run_id, span in self._runs.items():
                if span is not root and span.end_time_unix_nano is None:
                    child = self._find(run_id)
                    if child is not None:
                        self._end_run(span, child, at=at)
                    else:
                        span.end(status, message, at=at)
            self._end_run(root, output, at=at)
            output.spans = [s.to_dict() for s in self.spans]
            if not self._exported:
                self._exported = True
                export_spans(self.spans)
            return
        output.spans = [
            s.to_dict() if s.end_time_unix_nano is not None else {**s.to_dict(), "end_time_unix_nano": at}
            for s in self.spans
        ]


_HANDLERS: dict[type[RunEvent], Callable[[SpanRecorder, RunEvent], None]] = {}
