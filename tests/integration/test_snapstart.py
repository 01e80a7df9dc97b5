"""The SnapStart hooks (`stratus.aws.snapstart`) with the Lambda runtime's hook registry simulated as the
runtime drives it (`snapshot_restore_py`: before the snapshot the hooks run in reverse order of registration,
after a restore in order), against a deployment in moto: after a restore the randomness is new, the store's
and queue's clients are new ones that work, and a secret rotated since the snapshot is read again. Off
Lambda the module registers nothing and imports nothing heavy."""

from __future__ import annotations

import ast
import json
import os
import random
import subprocess
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from stratus.aws import bootstrap, snapstart
from stratus.aws.queues import SqsRunQueue
from stratus.cli import LocalContext
from stratus.secrets import get_secret
from stratus.storage.dynamodb import DynamoStore
from tests.aws import MotoServer
from tests.integration.test_lambda_handlers import Deployment, event

LAMBDA_ENVIRONMENT = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}

Hook = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class Runtime:
    """The Lambda Python runtime's side of `snapshot_restore_py`: what is registered, and when it runs."""

    def __init__(self) -> None:
        self.before: list[Hook] = []
        self.after: list[Hook] = []
        self.module = types.ModuleType("snapshot_restore_py")
        setattr(self.module, "register_before_snapshot", self._register(self.before))  # noqa: B010
        setattr(self.module, "register_after_restore", self._register(self.after))  # noqa: B010

    @staticmethod
    def _register(hooks: list[Hook]) -> Callable[..., Any]:
        def register(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
            hooks.append((func, args, kwargs))
            return func

        return register

    def snapshot(self) -> None:
        while self.before:
            func, args, kwargs = self.before.pop()
            func(*args, **kwargs)

    def restore(self) -> None:
        for func, args, kwargs in self.after:
            func(*args, **kwargs)


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    """An INIT that precedes a snapshot: Lambda's variables set, the runtime's hook module importable, and the
    SDK state the hooks build (boto3's default session, Powertools' providers) this test's own."""
    import boto3
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

    simulated = Runtime()
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", simulated.module)
    monkeypatch.setenv(snapstart.INITIALIZATION_TYPE, snapstart.SNAP_START)
    for name, value in LAMBDA_ENVIRONMENT.items():  # what Lambda's INIT always has (moto's fixture sets its own)
        if name not in os.environ:
            monkeypatch.setenv(name, value)
    monkeypatch.setattr(snapstart, "_installed", False)
    monkeypatch.setattr(snapstart, "_callbacks", [])
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    providers = dict(DEFAULT_PROVIDERS)
    DEFAULT_PROVIDERS.clear()
    yield simulated
    DEFAULT_PROVIDERS.clear()
    DEFAULT_PROVIDERS.update(providers)


def test_the_bootstrap_registers_the_hooks_once_when_a_snapshot_follows(runtime: Runtime) -> None:
    bootstrap.configure_secrets()
    bootstrap.configure_secrets()
    assert [hook[0] for hook in runtime.before] == [snapstart.before_snapshot]
    assert [hook[0] for hook in runtime.after] == [snapstart.refresh]


def test_without_snapstart_nothing_is_registered(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    for initialization in ("on-demand", "provisioned-concurrency"):
        monkeypatch.setenv(snapstart.INITIALIZATION_TYPE, initialization)
        assert snapstart.install() is False
    monkeypatch.delenv(snapstart.INITIALIZATION_TYPE)
    assert snapstart.install() is False
    assert (runtime.before, runtime.after) == ([], [])


def test_after_a_restore_two_environments_draw_different_numbers(runtime: Runtime) -> None:
    assert snapstart.install()
    runtime.snapshot()
    snapshot = random.getstate()  # what every environment restored from one snapshot starts with
    draws: list[int] = []
    for _ in range(2):
        random.setstate(snapshot)
        runtime.restore()
        draws.append(random.getrandbits(64))
    assert draws[0] != draws[1]
    # without the hook, both would have drawn the same
    random.setstate(snapshot)
    unseeded = random.getrandbits(64)
    random.setstate(snapshot)
    assert random.getrandbits(64) == unseeded


def test_after_a_restore_the_clients_are_new_and_a_rotated_secret_is_read_again(
    runtime: Runtime, deployment: Deployment, moto: MotoServer
) -> None:
    import boto3

    app = bootstrap.lambda_app()  # INIT: registers the hooks, reads nothing yet
    assert [hook[0] for hook in runtime.after] == [snapstart.refresh]
    restored_callbacks: list[str] = []
    snapstart.after_restore(lambda: restored_callbacks.append("app"))
    # What INIT (or an app module at import) might have left in the snapshot: built clients, a read secret.
    store, queue = app.store, app.run_queue
    assert isinstance(store, DynamoStore)
    assert isinstance(queue, SqsRunQueue)
    table_client, queue_client = store.client, queue.client
    assert get_secret("OPENAI_API_KEY") == "sk-from-secrets-manager"
    runtime.snapshot()

    # Hours later the key is rotated; a restored environment must not keep the snapshot's copy.
    model_secret = json.loads(os.environ["STRATUS_SECRETS"])["OPENAI_API_KEY"]
    moto.client("secretsmanager").put_secret_value(SecretId=model_secret, SecretString="sk-rotated")
    assert get_secret("OPENAI_API_KEY") == "sk-from-secrets-manager"  # cached for SECRET_MAX_AGE_SECONDS
    default_session = boto3.DEFAULT_SESSION
    runtime.restore()

    assert get_secret("OPENAI_API_KEY") == "sk-rotated"  # read again, through the same provider's new connection
    assert store.client is not table_client
    assert queue.client is not queue_client
    assert boto3.DEFAULT_SESSION is default_session  # with the models the snapshot loaded
    assert restored_callbacks == ["app"]
    # the new clients work
    assert store.client.describe_table(TableName=store.table)["Table"].get("TableStatus") == "ACTIVE"
    assert queue.client.get_queue_url(QueueName=deployment.queue_url.rsplit("/", 1)[-1])["QueueUrl"] == queue.url


def test_after_a_restore_health_reports_the_restore_as_its_start(
    runtime: Runtime, deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stratus.aws import health

    monkeypatch.setattr(health, "utc_now_iso", lambda: "2026-12-01T08:00:00Z")  # the snapshot's INIT
    handler = health.health_handler()
    request, context = event("health"), LocalContext(function_name="health")
    assert json.loads(handler(request, context)["body"])["instantiated_at"] == "2026-12-01T08:00:00Z"
    runtime.snapshot()

    monkeypatch.setattr(health, "utc_now_iso", lambda: "2026-12-01T14:30:00Z")  # restored hours later
    runtime.restore()

    assert json.loads(handler(request, context)["body"])["instantiated_at"] == "2026-12-01T14:30:00Z"


def test_off_lambda_the_module_registers_nothing_and_imports_nothing_heavy() -> None:
    script = (
        "import sys\n"
        "import stratus.aws\n"
        "before = set(sys.modules)\n"
        "from stratus.aws import snapstart\n"
        "assert snapstart.install() is False\n"
        "snapstart.refresh()\n"  # a restore hook run where nothing is loaded touches nothing
        "print('\\n'.join(sorted(set(sys.modules) - before)))\n"
    )
    environment = {k: v for k, v in os.environ.items() if k != snapstart.INITIALIZATION_TYPE}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=environment, check=True, timeout=60
    )
    loaded = set(result.stdout.split())
    assert "stratus.aws.snapstart" in loaded
    outside_stdlib = {
        name for name in loaded - {"stratus.aws.snapstart"} if name.split(".")[0] not in sys.stdlib_module_names
    }
    assert outside_stdlib == set()


def test_before_the_snapshot_the_sdk_models_are_loaded_and_after_it_the_secrets_provider_shares_them() -> None:
    script = (
        "import boto3\n"
        "from aws_lambda_powertools.utilities import parameters\n"
        "from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS\n"
        "from stratus.aws import snapstart\n"
        "snapstart.before_snapshot()\n"
        "assert DEFAULT_PROVIDERS == {}\n"  # no client before the snapshot: no credentials resolved
        "loader = boto3.DEFAULT_SESSION._session.get_component('data_loader')\n"  # what it has read, by call
        "loaded = {key[1:3] for key in loader._cache if key[0] == 'load_service_model'}\n"
        "snapstart.refresh()\n"
        "provider = DEFAULT_PROVIDERS['secrets']\n"  # the one parameters.get_secret will use
        "assert isinstance(provider, parameters.SecretsProvider)\n"
        "assert provider.client.meta.config.region_name == 'eu-west-1'\n"
        "print(provider.store, sorted(loaded))\n"
    )
    environment = {k: v for k, v in os.environ.items() if k != snapstart.INITIALIZATION_TYPE}
    # Any request would fail: no credentials, and an endpoint where nothing listens.
    environment |= {
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        environment.pop(name, None)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=environment, check=True, timeout=60
    )
    cached, loaded = result.stdout.split(" ", 1)
    assert cached == "{}"  # no secret read
    services = ("dynamodb", "s3", "sqs", "secretsmanager")
    expected = {(service, part) for service in services for part in ("api_version", "endpoint-rule-set-1")}
    assert expected <= {tuple(pair) for pair in ast.literal_eval(loaded)}
