"""Lambda handlers for the API. A function module in `functions/` is one line that builds its handler:

handler = api_handler("sessions")     # buffered routes: FastAPI router(s) behind Mangum
app = asgi_app("agents")              # streamed routes: served by uvicorn under the Web Adapter
handler = health_handler()            # /health and /config without FastAPI (stratus.aws.health)
handler = run_worker_handler()        # the SQS run worker (stratus.aws.workers)
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from stratus.aws.bootstrap import lambda_app
from stratus.aws.deadlines import LambdaDeadlineMiddleware, invocation_deadline
from stratus.aws.observability import LambdaHandler, ensure_event_loop, instrument, record_run

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["api_handler", "asgi_app", "buffered_fallback"]


def _import_fastapi() -> None:
    """Import FastAPI with the pydantic models of its OpenAPI document (`fastapi.openapi.models`: some forty,
    the largest part of its import) left to build when a document is first made (`defer_build`). No function
    makes one: API Gateway routes no `/openapi.json` to any (`FunctionSpec.paths`). The models declared
    afterwards, this API's own, build as usual."""
    if "fastapi" in sys.modules:
        return
    from pydantic import BaseModel

    config = BaseModel.model_config
    config["defer_build"] = True  # what every model declared until it is restored inherits
    try:
        import fastapi  # noqa: F401  # pyright: ignore[reportUnusedImport]
    finally:
        config.pop("defer_build", None)


_import_fastapi()


def asgi_app(*route_groups: str) -> FastAPI:
    """The FastAPI app for these route groups, with the deployment's auth, for uvicorn under the Lambda Web
    Adapter (streamed responses, runs up to 15 minutes). Metrics flush after each run."""
    from stratus.api import create_app

    app = lambda_app()
    app.run_hooks[:] = [hook for hook in app.run_hooks if hook is not record_run]
    app.run_hooks.append(lambda output: record_run(output, flush=True))
    # API Gateway routes a function only its `FunctionSpec.paths` (no /docs, /openapi.json or /playground); the
    # app still serves none of those without the key.
    # `/health` too: the Web Adapter's readiness check asks it (API Gateway routes it to the health function).
    groups = route_groups if "health" in route_groups else (*route_groups, "health")
    api = create_app(app, routers=groups, docs=False, public_docs=False)
    api.add_middleware(LambdaDeadlineMiddleware)  # runs end before the invocation does
    return api


def api_handler(*route_groups: str) -> LambdaHandler:
    """A buffered Lambda handler serving these route groups through Mangum, with Powertools' logger
    (correlation id = the API Gateway request id), tracer and metrics around each invocation."""
    from mangum import Mangum

    from stratus.api import create_app

    asgi = create_app(lambda_app(), routers=route_groups, docs=False, public_docs=False)
    adapter = Mangum(asgi, lifespan="off")

    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        ensure_event_loop()
        lambda_context: Any = context  # Mangum types the context with its own protocol
        with invocation_deadline(context.get_remaining_time_in_millis() / 1000):  # runs end before the function
            return dict(adapter(event, lambda_context))

    return instrument(handler, correlation_id_path=correlation_paths.API_GATEWAY_REST)


def buffered_fallback(*route_groups: str) -> LambdaHandler:
    """For a streamed function: the same routes buffered, built on first use. On AWS the Web Adapter serves
    the function's `app` and never calls this; `stratus invoke` and direct invocations do."""
    built: list[LambdaHandler] = []

    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        if not built:
            built.append(api_handler(*route_groups))
        return built[0](event, context)

    return handler
