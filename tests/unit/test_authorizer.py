"""The API-key authorizer API Gateway runs before any route's function: a known key is allowed on the whole
stage with its user id, a wrong, malformed or missing one is denied, an unreadable key table fails closed,
and the function starts without FastAPI."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from copy import deepcopy
from pathlib import Path
from typing import Any, cast

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext

from stratus.api.auth import ApiKeyAuth, AuthUnavailableError, hash_key
from stratus.aws import bootstrap
from stratus.aws.authorizer import authorizer_handler, stage_resource
from stratus.cli import LocalContext, invoke
from stratus.exceptions import ConfigError
from tests.aws import MotoServer

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
KEY = "sk-stratus-example-key"  # the key the sample events send
USER = "events-user"
STAGE = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/*"

CONTEXT = cast(LambdaContext, LocalContext(function_name="authorizer"))


def event(name: str = "authorizer", *, authorization: str | None = None, drop: bool = False) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    request = deepcopy(loaded)
    if drop:
        request["headers"].pop("Authorization")
        request["multiValueHeaders"].pop("Authorization")
    elif authorization is not None:
        request["headers"]["Authorization"] = authorization
        request["multiValueHeaders"]["Authorization"] = [authorization]
    return request


def statement(answer: dict[str, Any]) -> dict[str, Any]:
    (only,) = answer["policyDocument"]["Statement"]
    return only


@pytest.fixture
def secret_deployment(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The authorizer's environment on AWS: api_key auth, and the hashed keys in Secrets Manager (moto)."""
    document = {"keys": [{"sha256": hash_key(KEY), "user_id": USER}]}
    arn = moto.client("secretsmanager").create_secret(
        Name=f"api-keys-{uuid.uuid4().hex}", SecretString=json.dumps(document)
    )["ARN"]
    monkeypatch.setenv("STRATUS_AUTH", "api_key")
    monkeypatch.setenv("STRATUS_API_KEYS_SECRET", arn)
    monkeypatch.delenv("STRATUS_API_KEY", raising=False)
    bootstrap.reset()
    yield
    bootstrap.reset()
    sys.modules.pop("functions.authorizer", None)


def test_a_known_key_is_allowed_on_the_whole_stage_with_its_user(secret_deployment: None) -> None:
    # Given the sample event, which sends the key stored (hashed) in the secret
    # When the deployed function module answers it
    answer = invoke("authorizer", event())

    # Then the caller is that key's user, allowed on every method of the stage (so the cached answer serves
    # every route), and the functions behind it are told the user id
    assert answer["principalId"] == USER
    assert statement(answer) == {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": STAGE}
    assert answer["context"] == {"user_id": USER}


@pytest.mark.parametrize(
    ("name", "authorization"),
    [
        ("authorizer_wrong_key", None),
        ("authorizer", f"Bearer {KEY}x"),
        ("authorizer", KEY),  # no scheme
        ("authorizer", f"Basic {KEY}"),
        ("authorizer", "Bearer "),
    ],
    ids=["wrong key", "key with a suffix", "no scheme", "basic scheme", "empty key"],
)
def test_a_wrong_or_malformed_key_is_denied_without_a_user(
    secret_deployment: None, name: str, authorization: str | None
) -> None:
    answer = invoke("authorizer", event(name, authorization=authorization))

    assert answer["principalId"] == "anonymous"
    assert statement(answer) == {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": STAGE}
    assert "context" not in answer


def test_a_request_without_the_header_is_denied(secret_deployment: None) -> None:
    # API Gateway answers 401 itself when the identity source is missing; should one reach us, it is denied.
    answer = authorizer_handler()(event(drop=True), CONTEXT)

    assert statement(answer)["Effect"] == "Deny"


def test_the_user_comes_from_the_key_table_not_from_the_request() -> None:
    handler = authorizer_handler(ApiKeyAuth({hash_key("key-of-bob"): "bob"}))
    request = event(authorization="Bearer key-of-bob")
    request["headers"]["X-User-Id"] = "alice"
    request["queryStringParameters"] = {"user_id": "alice"}

    answer = handler(request, CONTEXT)

    assert (answer["principalId"], answer["context"]) == ("bob", {"user_id": "bob"})


def test_an_unreadable_key_table_fails_closed() -> None:
    def unreadable() -> dict[str, str]:
        raise RuntimeError("Secrets Manager is down")

    handler = authorizer_handler(ApiKeyAuth(unreadable))

    # raising makes API Gateway answer an authorizer failure: never an Allow
    with pytest.raises(AuthUnavailableError):
        handler(event(), CONTEXT)


def test_an_event_without_a_method_arn_is_denied() -> None:
    handler = authorizer_handler(ApiKeyAuth({hash_key(KEY): USER}))
    request = event()
    del request["methodArn"]

    assert statement(handler(request, CONTEXT))["Effect"] == "Deny"


def test_the_stage_resource_covers_every_method_and_path_of_the_stage() -> None:
    assert stage_resource("arn:aws:execute-api:eu-west-1:1:api/prod/POST/agents/a/runs") == (
        "arn:aws:execute-api:eu-west-1:1:api/prod/*"
    )
    with pytest.raises(ValueError, match="method ARN"):
        stage_resource("not-an-arn")


def test_without_api_key_auth_the_authorizer_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("STRATUS_AUTH", "STRATUS_API_KEY", "STRATUS_API_KEYS_SECRET"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="api_key"):
        authorizer_handler()
    monkeypatch.setenv("STRATUS_AUTH", "cognito")
    with pytest.raises(ConfigError, match="api_key"):
        authorizer_handler()
    bootstrap.reset()


def test_the_authorizer_starts_without_fastapi_or_the_app() -> None:
    # A cold start is on the path of the first request of each key: it loads neither the web stack nor the app.
    probe = (
        "import sys, functions.authorizer; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'fastapi', 'starlette', 'mangum', 'examples'}))"
    )
    environment = {
        "PATH": "/usr/bin:/bin",
        "STRATUS_AUTH": "api_key",
        "STRATUS_API_KEYS_SECRET": "arn:aws:secretsmanager:us-east-1:123456789012:secret:keys",
        "STRATUS_APP": "examples.demo:app",
    }
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=environment, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
