"""Lambda SnapStart's runtime hooks for the functions that run under it (`infra.lambdas` says which).

With SnapStart, Lambda runs a function's INIT once, when a version is published, snapshots the microVM and
resumes every new execution environment from that snapshot: hours or days later, and many at once. So what
INIT leaves in memory must be safe to share and to age:

- before the snapshot, `before_snapshot` does what the first request would otherwise pay for (a few hundred
  ms here): `prime`'s imports (boto3, botocore, Powertools' parameters), then boto3's default session with the
  service models of DynamoDB, S3, SQS and Secrets Manager loaded, so a client built after the restore loads
  nothing again. It builds no client: no credentials are resolved, no connection opened, no secret read;
- after each restore, `refresh` reseeds `random` (its state is in the snapshot, so every restored environment
  would draw the same numbers), drops the SDK clients of the app's store and queues (a connection pool from
  before the snapshot is dead), empties Powertools' secret caches and closes their client's connections (a key
  rotated or revoked since the snapshot is read again), puts Powertools' Secrets Manager provider on the
  primed session (by default it builds a session of its own, models and all), then runs the callbacks
  registered with `after_restore`. The session stays: its models are data.

Ids need nothing: `uuid4`, `secrets` and the run ids' random bits read the kernel's generator on each call.
The hooks are registered with the `snapshot_restore_py` module the Lambda Python runtime provides; elsewhere
(locally, in tests, on a function without SnapStart) `install` reads one environment variable and imports
nothing.
"""

from __future__ import annotations

import importlib
import os
import random
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["INITIALIZATION_TYPE", "SNAP_START", "after_restore", "before_snapshot", "install", "prime", "refresh"]

INITIALIZATION_TYPE = "AWS_LAMBDA_INITIALIZATION_TYPE"
"""Set by Lambda for INIT: `on-demand`, `provisioned-concurrency`, or `snap-start` when a snapshot follows."""

SNAP_START = "snap-start"

_RUNTIME_HOOKS = "snapshot_restore_py"
"""The Lambda Python runtime's hook registry (PyPI `snapshot-restore-py`): it runs what is registered."""

_PRIMED_MODULES = ("boto3", "botocore.config", "aws_lambda_powertools.utilities.parameters")
"""What the first request imports when it first reads the table, a queue or a secret."""

_PRIMED_SERVICES = ("dynamodb", "s3", "sqs", "secretsmanager")
"""The services whose models a function's first client would load: the store, the queues, the secrets."""

_SECRETS_PROVIDER = "secrets"
"""Where Powertools keeps the provider `parameters.get_secret` uses (`parameters.constants.DEFAULT_PROVIDERS`)."""

_callbacks: list[Callable[[], None]] = []
_installed = False


def after_restore(callback: Callable[[], None]) -> Callable[[], None]:
    """Run `callback` after each restore, after `refresh`'s own work (e.g. to drop a client an app module
    built at import). Usable as a decorator; harmless where there is no SnapStart."""
    _callbacks.append(callback)
    return callback


def install() -> bool:
    """Register `before_snapshot` and `refresh` with the runtime when this INIT precedes a snapshot (once;
    later calls do nothing). Returns whether they are registered."""
    global _installed
    if _installed:
        return True
    if os.environ.get(INITIALIZATION_TYPE) != SNAP_START:
        return False
    hooks: Any = importlib.import_module(_RUNTIME_HOOKS)  # only present in Lambda's Python runtimes
    hooks.register_before_snapshot(before_snapshot)
    hooks.register_after_restore(refresh)
    _installed = True
    return True


def prime() -> bool:
    """Import what the first request would (modules only: no client, no network); whether they all are."""
    try:
        for module in _PRIMED_MODULES:
            importlib.import_module(module)
    except ImportError:  # a deployment without the AWS SDK never uses it
        return False
    return True


def before_snapshot() -> None:
    """`prime`, then the SDK's models the first request's clients would otherwise load: worth its INIT time
    only when that INIT is not on a request's path."""
    if not prime():
        return
    import boto3
    import botocore.session

    if boto3.DEFAULT_SESSION is None:
        sdk = botocore.session.get_session()
        loader: Any = sdk.get_component("data_loader")
        for service in _PRIMED_SERVICES:
            sdk.get_service_model(service)
            loader.load_service_model(service, "endpoint-rule-set-1")
        boto3.setup_default_session(botocore_session=sdk)


def refresh() -> None:
    """Make a restored environment its own: new randomness, new SDK clients and secrets on first use."""
    random.seed()  # from os.urandom: the generator's state in the snapshot is shared by every restore
    constants: Any = sys.modules.get("aws_lambda_powertools.utilities.parameters.constants")
    for provider in constants.DEFAULT_PROVIDERS.values() if constants is not None else ():
        provider.clear_cache()  # the secrets read before the snapshot, however fresh their timestamps look
        client: Any = getattr(provider, "client", None)
        if client is not None:
            client.close()  # its connections; the next call opens new ones
    _secrets_provider_on_the_primed_session()
    _forget_app_clients()
    for callback in _callbacks:
        callback()


def _secrets_provider_on_the_primed_session() -> None:
    """The provider `parameters.get_secret` uses, on boto3's default session when `before_snapshot` loaded it
    (built here, after the restore, so its credentials are resolved now)."""
    boto3: Any = sys.modules.get("boto3")
    constants: Any = sys.modules.get("aws_lambda_powertools.utilities.parameters.constants")
    if boto3 is None or boto3.DEFAULT_SESSION is None or constants is None:
        return
    if _SECRETS_PROVIDER not in constants.DEFAULT_PROVIDERS:
        from aws_lambda_powertools.utilities.parameters import SecretsProvider

        constants.DEFAULT_PROVIDERS[_SECRETS_PROVIDER] = SecretsProvider(boto3_session=boto3.DEFAULT_SESSION)


def _forget_app_clients() -> None:
    """Drop the boto3 clients of the loaded app's store, queues and blob store (each `forget_clients`): they
    build new ones on their next call. Nothing is loaded if the app is not (the authorizer loads none)."""
    bootstrap = sys.modules.get("stratus.aws.bootstrap")
    if bootstrap is None or bootstrap.lambda_app.cache_info().currsize == 0:
        return
    app = bootstrap.lambda_app()
    holders: list[object] = [app.store, app.run_queue, app.blob_store, app.knowledge_queue]
    holders += [agent.learning_machine.queue for agent in app.all_agents() if agent.learning_machine is not None]
    for holder in holders:
        forget: Any = getattr(holder, "forget_clients", None)
        if callable(forget):
            forget()
