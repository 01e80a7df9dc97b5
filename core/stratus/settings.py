"""Names of the environment variables stratus reads, in one place (the CDK stack imports them too)."""

from __future__ import annotations

__all__ = ["OPENAI_API_KEY", "OPENAI_BASE_URL", "STRATUS_APP", "STRATUS_DB", "STRATUS_LOG_LEVEL"]

STRATUS_APP = "STRATUS_APP"
"""The app to serve, as `module:attribute` (e.g. `examples.demo:app`)."""

STRATUS_DB = "STRATUS_DB"
"""The store's URL (e.g. `sqlite:///.stratus/stratus.db`)."""

STRATUS_LOG_LEVEL = "STRATUS_LOG_LEVEL"
"""Log level of the `stratus` logger (default INFO)."""

OPENAI_API_KEY = "OPENAI_API_KEY"
OPENAI_BASE_URL = "OPENAI_BASE_URL"
