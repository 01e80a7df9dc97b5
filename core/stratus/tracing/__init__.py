"""Observability: each run's spans (model requests, tool calls, members, steps, with timings, status and
token counts) as OpenTelemetry-shaped data kept with the stored run, served by `/traces`, and exported
through OpenTelemetry (OTLP over HTTP) when the standard `OTEL_*` variables configure an endpoint.

Recording needs nothing beyond the standard library; exporting needs `stratus[otel]`, imported only then.
"""

from stratus.tracing._export import export_configured, export_spans, flush, set_span_exporter
from stratus.tracing._spans import Span, SpanRecorder, run_id_of, trace_id_of

__all__ = [
    "Span",
    "SpanRecorder",
    "export_configured",
    "export_spans",
    "flush",
    "run_id_of",
    "set_span_exporter",
    "trace_id_of",
]
