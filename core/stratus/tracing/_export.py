"""Export a run's spans through OpenTelemetry when configured: OTLP over HTTP to a collector (the ADOT
collector's Lambda extension, an OpenTelemetry Collector, any OTLP backend).

Configured by the standard variables: `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
turns it on (`OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` keeps it off); the exporter reads its
headers, timeout and compression from `OTEL_EXPORTER_OTLP_*`, the batching from `OTEL_BSP_*`, the service
from `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`. Or `set_span_exporter()` installs an exporter in
code. OpenTelemetry (`stratus[otel]`) is imported only once something is to be exported.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor
    from opentelemetry.sdk.trace.export import SpanExporter

    from stratus.tracing._spans import Span

__all__ = ["export_configured", "export_spans", "flush", "set_span_exporter"]

logger = logging.getLogger("stratus.tracing")

_lock = threading.Lock()
_pipeline: _Pipeline | None = None
_failed = False
_from_env: bool | None = None
"""What the environment says, read once (every run asks): `set_span_exporter` reads it again."""


def export_configured() -> bool:
    """Whether spans are exported: an exporter was installed, or the environment names an OTLP endpoint."""
    global _from_env
    if _pipeline is not None:
        return True
    if _from_env is None:
        _from_env = _env_configured()
    return _from_env


def _env_configured() -> bool:
    env = os.environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return bool(env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


class _Pipeline:
    """A batching span processor over one exporter, with the resource every span carries."""

    def __init__(self, exporter: SpanExporter | None) -> None:
        try:
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError as exc:
            raise ImportError(
                "exporting spans needs OpenTelemetry: pip install 'stratus[otel]' (or unset OTEL_EXPORTER_OTLP_*)"
            ) from exc
        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()  # endpoint, headers, timeout, compression: from OTEL_EXPORTER_OTLP_*
        from stratus import __version__

        self.resource = Resource.create(
            {"service.name": os.environ.get("OTEL_SERVICE_NAME") or "stratus", "service.version": __version__}
        )
        self.processor: SpanProcessor = BatchSpanProcessor(exporter)
        atexit.register(self.close)  # a server stopping sends what is still queued

    def close(self) -> None:
        atexit.unregister(self.close)
        self.processor.shutdown()

    def export(self, spans: Sequence[Span]) -> None:
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope
        from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

        from stratus import __version__

        scope = InstrumentationScope("stratus", __version__)
        flags = TraceFlags(TraceFlags.SAMPLED)
        for span in spans:
            trace_id = int(span.trace_id, 16)
            context = SpanContext(trace_id, int(span.span_id, 16), is_remote=False, trace_flags=flags)
            parent = (
                SpanContext(trace_id, int(span.parent_span_id, 16), is_remote=False, trace_flags=flags)
                if span.parent_span_id
                else None
            )
            readable = ReadableSpan(
                name=span.name,
                context=context,
                parent=parent,
                resource=self.resource,
                attributes={k: _attribute(v) for k, v in span.attributes.items() if v is not None},
                kind=SpanKind[span.kind] if span.kind in SpanKind.__members__ else SpanKind.INTERNAL,
                status=Status(
                    StatusCode[span.status_code], span.status_message if span.status_code == "ERROR" else None
                ),
                start_time=span.start_time_unix_nano,
                end_time=span.end_time_unix_nano or span.start_time_unix_nano,
                instrumentation_scope=scope,
            )
            self.processor.on_end(readable)


def _attribute(value: Any) -> Any:
    """An OpenTelemetry attribute value: a str, bool, int or float (or a list of one kind); else JSON text."""
    if isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list | tuple):
        items = list(cast("list[Any] | tuple[Any, ...]", value))
        if all(isinstance(v, str) for v in items):
            return items
    return json.dumps(value, default=str)


def _active() -> _Pipeline | None:
    global _pipeline, _failed
    if _pipeline is not None or _failed:
        return _pipeline
    with _lock:
        if _pipeline is None and not _failed:
            try:
                _pipeline = _Pipeline(None)
            except Exception:
                _failed = True  # said once; the runs go on untraced rather than failing
                logger.exception("OTLP span export is configured but could not start; spans are not exported")
    return _pipeline


def set_span_exporter(exporter: SpanExporter | None) -> None:
    """Export spans through `exporter` (any OpenTelemetry `SpanExporter`), batched; None goes back to what
    the environment configures (read again), flushing what is queued."""
    global _pipeline, _failed, _from_env
    with _lock:
        old, _pipeline, _failed = _pipeline, (_Pipeline(exporter) if exporter is not None else None), False
        _from_env = None
    if old is not None:
        old.close()


def export_spans(spans: Sequence[Span]) -> None:
    """Hand a finished run's spans to the exporter, if export is configured; never raises. On Lambda the
    batch is sent at once, in a thread: an execution environment may be frozen before a timer fires."""
    if not export_configured():
        return
    pipeline = _active()
    if pipeline is None:
        return
    try:
        pipeline.export(spans)
    except Exception:
        logger.exception("could not export the spans of trace %s", spans[0].trace_id if spans else "?")
        return
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        threading.Thread(target=pipeline.processor.force_flush, name="stratus-otlp-flush", daemon=True).start()


def flush(timeout_millis: int = 5000) -> bool:
    """Send every span queued for export now (a Lambda handler calls it before the invocation ends)."""
    pipeline = _pipeline
    return True if pipeline is None else pipeline.processor.force_flush(timeout_millis)
