"""`GET /health` and `GET /config` without FastAPI, Mangum or the X-Ray SDK: the function every load
balancer and uptime check hits stays the fastest to start."""

from __future__ import annotations

import json
from typing import Any, cast

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from stratus.api.auth import AuthError, AuthUnavailableError, authenticator_from_env
from stratus.api.documents import config_document, health_document, utc_now_iso
from stratus.aws import snapstart
from stratus.aws.bootstrap import lambda_app
from stratus.aws.observability import logger

__all__ = ["health_handler"]


def _response(status: int, body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", **(headers or {})},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def health_handler() -> Any:
    """The handler: `/health` always open; `/config` behind the deployment's authentication."""
    app = lambda_app()
    authenticator = authenticator_from_env()
    started = utc_now_iso()

    @snapstart.after_restore
    def restarted() -> None:  # a restore starts this environment: not the snapshot's INIT, hours earlier
        nonlocal started
        started = utc_now_iso()

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        path, method = event.get("path"), event.get("httpMethod")
        if path not in ("/health", "/config"):
            return _response(404, {"detail": "Not Found"})
        if method not in ("GET", "HEAD"):
            return _response(405, {"detail": "Method Not Allowed"})
        if path == "/health":
            return _response(200, health_document(started))
        if authenticator is not None:
            raw = cast(dict[str, Any], event.get("headers") or {})
            headers = {str(k).lower(): str(v) for k, v in raw.items()}
            try:
                authenticator.authenticate({"aws.event": event}, headers)
            except AuthUnavailableError as exc:
                return _response(503, {"detail": str(exc)})
            except AuthError as exc:
                return _response(401, {"detail": str(exc)}, {"www-authenticate": "Bearer"})
        return _response(200, config_document(app))

    return handler
