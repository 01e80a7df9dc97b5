"""Lambda SnapStart's runtime hooks for the functions that run under it (`infra.lambdas` says which).

With SnapStart, Lambda runs a function's INIT once, when a version is published, snapshots the microVM and
resumes every new execution environment from that snapshot: hours or days later, and many at once. So what
INIT leaves in memory must be safe to share and to age:

- before the snapshot, `prime` imports what the first request would otherwise import (boto3 and botocore,
  Powertools' Secrets Manager provider), building no client and opening no connection;
- after each restore, `refresh` reseeds `random` (its state is in the snapshot, so every restored environment
  would draw the same numbers), forgets boto3's default session and the SDK clients of the app's store and
  queues (connection pools and credentials of the snapshot's time), and forgets Powertools' cached secrets
  and their client (a key rotated or revoked since the snapshot is read again), then runs the callbacks
  registered with `after_restore`.

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

__all__ = ["INITIALIZATION_TYPE", "SNAP_START", "after_restore", "install", "prime", "refresh"]

INITIALIZATION_TYPE = "AWS_LAMBDA_INITIALIZATION_TYPE"
"""Set by Lambda for INIT: `on-demand`, `provisioned-concurrency`, or `snap-start` when a snapshot follows."""

SNAP_START = "snap-start"

_RUNTIME_HOOKS = "snapshot_restore_py"
"""The Lambda Python runtime's hook registry (PyPI `snapshot-restore-py`): it runs what is registered."""

_PRIMED_MODULES = ("boto3", "botocore.config", "aws_lambda_powertools.utilities.parameters")
"""What the first request imports when it first reads the table, a queue or a secret."""

_callbacks: list[Callable[[], None]] = []
_installed = False


def after_restore(callback: Callable[[], None]) -> Callable[[], None]:
    """Run `callback` after each restore, after `refresh`'s own work (e.g. to drop a client an app module
    built at import). Usable as a decorator; harmless where there is no SnapStart."""
    _callbacks.append(callback)
    return callback


def install() -> bool:
    """Register `prime` and `refresh` with the runtime when this INIT precedes a snapshot (once; later calls do
    nothing). Returns whether they are registered."""
    global _installed
    if _installed:
        return True
    if os.environ.get(INITIALIZATION_TYPE) != SNAP_START:
        return False
    hooks: Any = importlib.import_module(_RUNTIME_HOOKS)  # only present in Lambda's Python runtimes
    hooks.register_before_snapshot(prime)
    hooks.register_after_restore(refresh)
    _installed = True
    return True


def prime() -> None:
    """Import, before the snapshot, what the first request would (modules only: nothing is opened)."""
    for module in _PRIMED_MODULES:
        try:
            importlib.import_module(module)
        except ImportError:  # a deployment without the module simply never imports it
            continue


def refresh() -> None:
    """Make a restored environment its own: new randomness, new SDK clients and secrets on first use."""
    random.seed()  # from os.urandom: the generator's state in the snapshot is shared by every restore
    boto3: Any = sys.modules.get("boto3")
    if boto3 is not None:
        boto3.DEFAULT_SESSION = None  # rebuilt on the next boto3.client(), with credentials resolved anew
    parameters: Any = sys.modules.get("aws_lambda_powertools.utilities.parameters")
    if parameters is not None:
        parameters.clear_caches()  # cached secrets and the Secrets Manager client that fetched them
    _forget_app_clients()
    for callback in _callbacks:
        callback()


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
