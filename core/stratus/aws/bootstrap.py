"""What every Lambda function does once per cold start: read secrets from Secrets Manager (not from plain
environment variables), load the app `STRATUS_APP` names, and connect its queues and metrics."""

from __future__ import annotations

import json
import os
from functools import cache
from typing import Any, cast

from stratus.api.auth import API_KEYS_SECRET_NAME
from stratus.app import App, load_app
from stratus.exceptions import ConfigError
from stratus.secrets import register_resolver
from stratus.settings import (
    STRATUS_API_KEYS_SECRET,
    STRATUS_APP,
    STRATUS_DB,
    STRATUS_KNOWLEDGE_QUEUE_URL,
    STRATUS_LEARNING_QUEUE_URL,
    STRATUS_RUN_QUEUE_URL,
    STRATUS_SECRETS,
)

__all__ = ["configure_secrets", "lambda_app", "reset"]

SECRET_MAX_AGE_SECONDS = 300
"""How long a secret is cached: also how long a rotated model key or a revoked API key takes to apply."""


def configure_secrets() -> dict[str, str]:
    """Map setting names to Secrets Manager secrets (`STRATUS_SECRETS`, plus the API keys secret), and register
    a resolver that reads them through Powertools Parameters, cached. Returns the mapping.

    Every function runs this at INIT, so it also registers the SnapStart hooks where a snapshot follows, and
    imports what the first request would (boto3, Powertools' secrets provider): INIT runs on a boosted CPU,
    the first request would not."""
    from stratus.aws.snapstart import install, prime

    install()  # under SnapStart: cached secrets, clients and randomness made new after each restore
    prime()  # modules only: no client is built, no secret read
    mapping: dict[str, str] = {}
    raw = os.environ.get(STRATUS_SECRETS)
    if raw:
        try:
            loaded = json.loads(raw)
        except ValueError:
            raise ConfigError(f"{STRATUS_SECRETS} must be a JSON object of name -> secret id") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{STRATUS_SECRETS} must be a JSON object of name -> secret id")
        mapping.update({str(k): str(v) for k, v in loaded.items()})  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
    api_keys = os.environ.get(STRATUS_API_KEYS_SECRET)
    if api_keys:
        mapping[API_KEYS_SECRET_NAME] = api_keys
    if mapping:

        def resolve(name: str) -> str | None:
            secret_id = mapping.get(name)
            if secret_id is None:
                return None
            from aws_lambda_powertools.utilities import parameters

            fetch: Any = cast(Any, parameters).get_secret  # cached by Powertools for max_age seconds
            value: Any = fetch(secret_id, max_age=SECRET_MAX_AGE_SECONDS)
            return value if isinstance(value, str) else None

        register_resolver(resolve)
    return mapping


@cache
def lambda_app() -> App:
    """The deployment's App, loaded once per execution environment."""
    from stratus.aws.observability import record_run

    configure_secrets()  # before the app module is imported: it may read its model keys at import
    spec = os.environ.get(STRATUS_APP)
    if not spec:
        raise ConfigError(f"{STRATUS_APP} is not set: name the app module, e.g. examples.demo:app")
    app = load_app(spec)
    app.attach_store()
    queue_url = os.environ.get(STRATUS_RUN_QUEUE_URL)
    if queue_url:
        from stratus.aws.queues import SqsRunQueue

        app.run_queue = SqsRunQueue(queue_url)
    bucket = _bucket_of(os.environ.get(STRATUS_DB, ""))
    if bucket:
        from stratus.aws.queues import S3BlobStore

        app.blob_store = S3BlobStore(bucket)
    learning_queue = os.environ.get(STRATUS_LEARNING_QUEUE_URL)
    if learning_queue:
        from stratus.aws.queues import SqsLearningQueue

        sqs_learning = SqsLearningQueue(learning_queue)
        for agent in app.all_agents():  # members of teams and workflows learn too
            machine = agent.learning_machine
            if machine is not None:
                machine.queue = sqs_learning
    knowledge_queue = os.environ.get(STRATUS_KNOWLEDGE_QUEUE_URL)
    if knowledge_queue:
        from stratus.aws.queues import SqsIngestionQueue

        app.knowledge_queue = SqsIngestionQueue(knowledge_queue)
    app.run_hooks.append(record_run)
    return app


def _bucket_of(url: str) -> str | None:
    """The S3 bucket a `dynamodb://table?bucket=...` store URL names (uploads wait there for the worker)."""
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(url)
    return parse_qs(parts.query).get("bucket", [None])[-1] if parts.scheme == "dynamodb" else None


def reset() -> None:
    """Forget the loaded app and secret resolvers (tests that change the environment)."""
    from stratus.secrets import clear_resolvers

    lambda_app.cache_clear()
    clear_resolvers()
