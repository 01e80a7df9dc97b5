"""Cross-origin requests, configured like AgentOS: browser front ends served from another origin (agno's Agent
UI, a playground of your own) call the API, streamed answers included.

The origins resolve as: `App(cors_allowed_origins=[...])`, then `STRATUS_CORS_ORIGINS` (comma-separated),
then a default. On your machine the default admits local front ends: `http://localhost:<any port>` and
`http://127.0.0.1:<any port>`. On Lambda it admits none: the stack sets `STRATUS_CORS_ORIGINS` from its
`cors_origins` context, and API Gateway answers the preflights with the same origins.

Preflights are answered before authentication, as browsers send them without the `Authorization` header.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from stratus.settings import STRATUS_CORS_ORIGINS

__all__ = ["LOCAL_ORIGINS", "CorsPolicy", "cors_policy", "install_cors"]

LOCAL_ORIGINS = r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$"
"""Any port on this machine: the development default."""


@dataclass(frozen=True, slots=True)
class CorsPolicy:
    """Which origins may call the API from a browser."""

    origins: tuple[str, ...] = ()
    pattern: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.origins) or self.pattern is not None


def cors_policy(configured: Sequence[str] | None) -> CorsPolicy:
    """The policy for an app whose `cors_allowed_origins` is `configured`."""
    if configured is None:
        raw = os.environ.get(STRATUS_CORS_ORIGINS)
        if raw is not None:
            configured = raw.split(",")
    if configured is not None:
        origins = tuple(dict.fromkeys(o.strip().rstrip("/") for o in configured if o.strip()))
        return CorsPolicy(origins=origins)
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return CorsPolicy()  # deployed: only the origins the stack names
    return CorsPolicy(pattern=LOCAL_ORIGINS)


def install_cors(api: FastAPI, policy: CorsPolicy) -> None:
    """Answer preflights and add the CORS headers to every response (SSE streams too). Install it last, so
    it wraps authentication: a preflight carries no credentials."""
    if not policy.enabled:
        return
    anyone = "*" in policy.origins
    api.add_middleware(
        CORSMiddleware,
        allow_origins=["*"] if anyone else list(policy.origins),
        allow_origin_regex=policy.pattern,
        allow_credentials=not anyone,  # a wildcard origin may not carry credentials (the CORS standard)
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=["*"],
        max_age=600,
    )
