"""Powertools for the Lambda functions: one Logger (with correlation ids), one Metrics, the Tracer, and the
metrics every run reports: runs, errors, tokens, latency.

Tracing: each run's own spans (`stratus.tracing`) go out over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set,
to the ADOT collector's Lambda extension (`http://localhost:4318`), which forwards them to X-Ray or any OTLP
backend; every handler `instrument` wraps sends what is queued before its invocation ends. Then the X-Ray
SDK's Tracer is not built. Without OTLP, the Tracer is built where tracing is on (`POWERTOOLS_TRACE_DISABLED`
unset), patching botocore only: the AWS calls these functions make. Left to itself it patches every library
the X-Ray SDK supports that is installed, importing each at INIT (SQLAlchemy, which a2a-sdk brings, httpx,
requests, sqlite3...), though no buffered route calls them; stratus' own spans already time the model and
tool calls. The health function and the streamed run functions build no Tracer.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from stratus.run import RunOutput, RunStatus
from stratus.tracing import export_configured, flush

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

__all__ = [
    "TRACED_MODULES",
    "LambdaHandler",
    "ensure_event_loop",
    "instrument",
    "logger",
    "metrics",
    "record_run",
    "tracer",
]

LambdaHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "stratus"))
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Stratus"))

TRACED_MODULES = ("botocore",)
"""The libraries the Tracer patches, so that their calls show as X-Ray subsegments: the AWS SDK's."""


@cache
def tracer() -> Tracer | None:
    """The Powertools Tracer, or None when tracing is disabled or goes out over OTLP instead."""
    if os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() in ("1", "true", "yes") or export_configured():
        return None
    from aws_lambda_powertools import Tracer

    return Tracer(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "stratus"), patch_modules=TRACED_MODULES)


def record_run(output: RunOutput, *, flush: bool = False) -> None:
    """Count a finished run. `flush` writes the metrics out at once: needed where no handler decorator
    flushes them at the end of an invocation (the streamed function, served by uvicorn)."""
    metrics.add_metric(name="Runs", unit=MetricUnit.Count, value=1)
    if output.status is RunStatus.ERROR:
        metrics.add_metric(name="RunErrors", unit=MetricUnit.Count, value=1)
    if output.status is RunStatus.CANCELLED:
        metrics.add_metric(name="RunsCancelled", unit=MetricUnit.Count, value=1)
    usage = output.metrics.usage
    metrics.add_metric(name="InputTokens", unit=MetricUnit.Count, value=usage.input_tokens)
    metrics.add_metric(name="OutputTokens", unit=MetricUnit.Count, value=usage.output_tokens)
    if output.metrics.duration is not None:
        metrics.add_metric(name="RunDuration", unit=MetricUnit.Milliseconds, value=output.metrics.duration * 1000)
    if output.metrics.time_to_first_token is not None:
        metrics.add_metric(
            name="TimeToFirstToken", unit=MetricUnit.Milliseconds, value=output.metrics.time_to_first_token * 1000
        )
    logger.info(
        "run ended",
        extra={
            "run_id": output.run_id,
            "agent_id": output.agent_id,
            "session_id": output.session_id,
            "status": output.status.value,
            "error_type": output.error_type,
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
        },
    )
    if flush:
        metrics.flush_metrics()


def _flushing_spans(handler: LambdaHandler) -> LambdaHandler:
    """`handler`, sending the spans its runs queued for OTLP export before the invocation ends (an execution
    environment is frozen between invocations, so a batch left queued would wait for the next one)."""

    def handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        try:
            return handler(event, context)
        finally:
            if export_configured():
                flush()

    return handle


def instrument(handler: LambdaHandler, *, correlation_id_path: str | None = None) -> LambdaHandler:
    """Wrap a handler in Powertools: logger context (and correlation id), tracer if on, metrics flushed; and
    the run spans queued for OTLP export sent."""
    wrapped = metrics.log_metrics(capture_cold_start_metric=True)(_flushing_spans(handler))
    active = tracer()
    if active is not None:
        wrapped = active.capture_lambda_handler(wrapped)
    return logger.inject_lambda_context(correlation_id_path=correlation_id_path, clear_state=True)(wrapped)


def ensure_event_loop() -> None:
    """Mangum and Powertools run each invocation on the thread's current event loop. Keep one for the life of
    the execution environment (clients bound to it stay valid between invocations); make one if there is none."""
    try:
        loop: asyncio.AbstractEventLoop | None = asyncio.get_event_loop()
    except RuntimeError:
        loop = None
    if loop is None or loop.is_closed():
        asyncio.set_event_loop(asyncio.new_event_loop())
