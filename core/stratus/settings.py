"""Names of the environment variables stratus reads, in one place (the CDK stack imports them too)."""

from __future__ import annotations

__all__ = [
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "STRATUS_API_KEY",
    "STRATUS_API_KEYS_SECRET",
    "STRATUS_API_USER",
    "STRATUS_APP",
    "STRATUS_AUTH",
    "STRATUS_CORS_ORIGINS",
    "STRATUS_DB",
    "STRATUS_FETCH_ALLOW",
    "STRATUS_KNOWLEDGE_QUEUE_URL",
    "STRATUS_LEARNING_QUEUE_URL",
    "STRATUS_LOG_LEVEL",
    "STRATUS_MODEL",
    "STRATUS_MODEL_REGION",
    "STRATUS_RUN_QUEUE_URL",
    "STRATUS_SECRETS",
    "STRATUS_USER_CLAIM",
]

STRATUS_APP = "STRATUS_APP"
"""The app to serve, as `module:attribute` (e.g. `examples.demo:app`)."""

STRATUS_DB = "STRATUS_DB"
"""The store's URL (e.g. `sqlite:///.stratus/stratus.db`)."""

STRATUS_CORS_ORIGINS = "STRATUS_CORS_ORIGINS"
"""Browser origins allowed to call the API, comma-separated (`https://ui.example.com,http://localhost:3000`; `*`
for any, without credentials). Unset: local front ends on your machine, none on Lambda (the stack sets it from
its `cors_origins` context)."""

STRATUS_FETCH_ALLOW = "STRATUS_FETCH_ALLOW"
"""Internal hosts the server may fetch URLs from for a user (knowledge added by `url`), comma-separated host
names, addresses or CIDRs (e.g. `wiki.internal,10.1.0.0/16`). Default empty: loopback, private, link-local and
metadata addresses are refused."""

STRATUS_LOG_LEVEL = "STRATUS_LOG_LEVEL"
"""Log level of the `stratus` logger (default INFO)."""

STRATUS_MODEL = "STRATUS_MODEL"
"""The model of agents and teams that name none, as a `"provider:model-id"` string (`bedrock:<model-id>`,
`openai:gpt-4o-mini`, ...). On AWS the stack sets it from the CDK context (`model`): Bedrock by default."""

STRATUS_MODEL_REGION = "STRATUS_MODEL_REGION"
"""The region Bedrock models are called in, when it is not the function's own (CDK context `model_region`)."""

OPENAI_API_KEY = "OPENAI_API_KEY"
OPENAI_BASE_URL = "OPENAI_BASE_URL"

ANTHROPIC_API_KEY = "ANTHROPIC_API_KEY"
"""The secret (`stratus.secrets`; on AWS, Secrets Manager through `STRATUS_SECRETS`) holding Anthropic's key."""
ANTHROPIC_BASE_URL = "ANTHROPIC_BASE_URL"
"""Another endpoint for Anthropic's API (a proxy, a gateway, a test server)."""

STRATUS_AUTH = "STRATUS_AUTH"
"""How callers are authenticated: `none`, `api_key` or `cognito` (default: `api_key` when a key is configured,
else `none`)."""

STRATUS_API_KEY = "STRATUS_API_KEY"
"""Locally: the one API key callers must send as `Authorization: Bearer <key>`. Auth is off when unset."""

STRATUS_API_USER = "STRATUS_API_USER"
"""Locally: the user id the `STRATUS_API_KEY` key stands for (default `default`)."""

STRATUS_API_KEYS_SECRET = "STRATUS_API_KEYS_SECRET"
"""On AWS: the Secrets Manager secret holding the SHA-256 hashes of the API keys and the users they stand for,
as JSON `{"keys": [{"sha256": "<hex>", "user_id": "<user>"}]}`. Keys themselves are never stored."""

STRATUS_USER_CLAIM = "STRATUS_USER_CLAIM"
"""With Cognito auth: the JWT claim that names the user (default `sub`)."""

STRATUS_SECRETS = "STRATUS_SECRETS"
"""On AWS: JSON mapping a setting's name to the Secrets Manager secret that holds it, e.g.
`{"OPENAI_API_KEY": "stratus/openai"}`. Model keys are read from there (cached), never from plain environment
variables."""

STRATUS_RUN_QUEUE_URL = "STRATUS_RUN_QUEUE_URL"
"""The SQS queue of background runs; without it, background runs execute in the serving process."""

STRATUS_LEARNING_QUEUE_URL = "STRATUS_LEARNING_QUEUE_URL"
"""The SQS queue of finished runs awaiting learning extraction."""

STRATUS_KNOWLEDGE_QUEUE_URL = "STRATUS_KNOWLEDGE_QUEUE_URL"
"""The SQS queue of knowledge content awaiting ingestion."""
