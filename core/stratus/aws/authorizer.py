"""API Gateway's Lambda REQUEST authorizer for `STRATUS_AUTH=api_key`: it checks `Authorization: Bearer <key>`
against the SHA-256 hashes in the `STRATUS_API_KEYS_SECRET` secret (the same `ApiKeyAuth` the functions use)
before any route's function runs, so anonymous or wrongly keyed requests never reach, or bill, them.

The answer is an IAM policy on the whole stage (`<api>/<stage>/*`, not the one method asked for): API Gateway
caches it per Authorization header for the authorizer's TTL, so one key is verified once for every route.
A known key gets Allow with `context.user_id`; a wrong or malformed one gets Deny (the gateway answers 401
without calling any function). A key table that cannot be read raises: the gateway fails closed (503).

No FastAPI, no app module, no X-Ray SDK: on a cache miss a cold start is on the request's path.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, cast

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from stratus.api.auth import ApiKeyAuth, Authenticator, AuthError, authenticator_from_env
from stratus.aws.bootstrap import configure_secrets
from stratus.exceptions import ConfigError
from stratus.settings import STRATUS_AUTH

__all__ = ["ANONYMOUS", "AuthorizerHandler", "authorizer_handler", "policy", "stage_resource"]

ANONYMOUS = "anonymous"
"""The principal of a Deny answer."""

AuthorizerHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "stratus-authorizer"))


def stage_resource(method_arn: str) -> str:
    """Every method of the stage `method_arn` belongs to:
    `arn:aws:execute-api:<region>:<account>:<api>/<stage>/GET/sessions` -> `...:<api>/<stage>/*`."""
    api, _, rest = method_arn.partition("/")
    stage = rest.partition("/")[0]
    if not api.startswith("arn:") or not stage:
        raise ValueError(f"not an execute-api method ARN: {method_arn!r}")
    return f"{api}/{stage}/*"


def policy(principal: str, effect: str, resource: str, context: Mapping[str, str] | None = None) -> dict[str, Any]:
    """An authorizer's answer: `effect` (Allow or Deny) on execute-api:Invoke of `resource`."""
    answer: dict[str, Any] = {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
    }
    if context:
        answer["context"] = dict(context)
    return answer


def authorizer_handler(authenticator: Authenticator | None = None) -> AuthorizerHandler:
    """The handler. `authenticator` defaults to the one the environment asks for (`STRATUS_AUTH=api_key` with
    `STRATUS_API_KEYS_SECRET`, read through Secrets Manager and cached like every secret)."""
    if authenticator is None:
        configure_secrets()
        authenticator = authenticator_from_env()
        if not isinstance(authenticator, ApiKeyAuth):
            # An authorizer that lets everyone in (auth off) would be worse than none: refuse to start.
            raise ConfigError(f"the authorizer serves {STRATUS_AUTH}=api_key with the API keys secret only")
    verify = authenticator

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        method_arn = str(event.get("methodArn") or "")
        try:
            resource = stage_resource(method_arn)
        except ValueError:
            logger.warning("refused: the event names no method ARN", extra={"method_arn": method_arn})
            return policy(ANONYMOUS, "Deny", method_arn or "*")
        raw = cast(dict[str, Any], event.get("headers") or {})
        headers = {str(name).lower(): str(value) for name, value in raw.items()}
        try:
            # AuthUnavailableError (the keys cannot be read) propagates: the gateway then fails closed.
            user = verify.authenticate({"aws.event": event}, headers)
        except AuthError as exc:
            logger.info("refused", extra={"reason": str(exc), "path": event.get("path")})  # never the key
            return policy(ANONYMOUS, "Deny", resource)
        return policy(user, "Allow", resource, {"user_id": user})

    return handler
