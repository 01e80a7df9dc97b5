"""Authentication: every route of the app but /health refuses a missing or wrong key; a valid key's user is
the caller, whatever user a request claims; Cognito claims name the user; secrets fail closed."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from stratus import Agent, App
from stratus.api import create_app
from stratus.api.auth import (
    ApiKeyAuth,
    AuthError,
    AuthUnavailableError,
    ClaimsAuth,
    authenticator_from_env,
    hash_key,
    new_api_key,
)
from stratus.models.testing import ScriptedModel
from stratus.storage.sqlite import SqliteStore

KEY = "sk-stratus-test-key"


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("STRATUS_API_KEY", KEY)
    monkeypatch.setenv("STRATUS_API_USER", "alice")
    app = App(
        agents=[Agent(id="assistant", model=ScriptedModel("hi", "hi", "hi"))], store=SqliteStore(tmp_path / "a.db")
    )
    with TestClient(create_app(app)) as c:
        yield c


def every_route(client: TestClient) -> list[tuple[str, str]]:
    """Every operation the API documents, path parameters filled in, and the root."""
    spec = client.get("/openapi.json").json()
    routes = [("GET", "/")]
    for path, operations in spec["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        routes.extend((method.upper(), concrete) for method in operations)
    return routes


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "Bearer ", "Token " + KEY, KEY])
def test_every_route_but_health_refuses_a_missing_or_wrong_key(client: TestClient, authorization: str | None) -> None:
    headers = {"authorization": authorization} if authorization is not None else {}
    routes = every_route(client)
    assert len(routes) > 25

    for method, path in routes:
        response = client.request(method, path, headers=headers, json={})
        if path == "/health":
            assert response.status_code == 200
        else:
            assert response.status_code == 401, f"{method} {path}"
            assert response.json()["detail"]
            assert response.headers["www-authenticate"] == "Bearer"


def test_a_valid_key_is_its_user_whatever_user_the_request_claims(client: TestClient) -> None:
    headers = {"authorization": f"Bearer {KEY}"}

    run = client.post(
        "/agents/assistant/runs", headers=headers, json={"message": "hi", "stream": False, "user_id": "mallory"}
    )

    assert run.status_code == 200
    assert run.json()["user_id"] == "alice"
    assert client.get("/sessions", headers=headers, params={"user_id": "mallory"}).json()["meta"]["total_count"] == 1
    assert client.get("/health").status_code == 200
    assert client.get("/docs").status_code == 200  # static pages hold no data


def test_api_keys_are_checked_against_their_hashes() -> None:
    auth = ApiKeyAuth({hash_key("k1"): "alice", hash_key("k2"): "bob"})
    assert auth.authenticate({}, {"authorization": "Bearer k2"}) == "bob"
    assert auth.authenticate({}, {"authorization": "bearer  k1 "}) == "alice"
    with pytest.raises(AuthError, match="invalid API key"):
        auth.authenticate({}, {"authorization": "Bearer k3"})
    with pytest.raises(AuthError, match="missing API key"):
        auth.authenticate({}, {})
    assert new_api_key() != new_api_key()
    assert new_api_key().startswith("sk-stratus-")


def test_a_keys_secret_that_cannot_be_read_fails_closed() -> None:
    def broken() -> dict[str, str]:
        raise ConnectionError("secrets manager unreachable")

    with pytest.raises(AuthUnavailableError):
        ApiKeyAuth(broken).authenticate({}, {"authorization": "Bearer k1"})


def test_cognito_claims_name_the_user_from_either_transport() -> None:
    auth = ClaimsAuth("sub")
    event: dict[str, Any] = {"requestContext": {"authorizer": {"claims": {"sub": "user-123", "email": "a@b.c"}}}}
    assert auth.authenticate({"aws.event": event}, {}) == "user-123"  # Mangum
    header = json.dumps(event["requestContext"])
    assert auth.authenticate({}, {"x-amzn-request-context": header}) == "user-123"  # Lambda Web Adapter
    assert ClaimsAuth("email").authenticate({"aws.event": event}, {}) == "a@b.c"
    with pytest.raises(AuthError, match="no verified identity"):
        auth.authenticate({"aws.event": {"requestContext": {}}}, {})
    with pytest.raises(AuthError):
        auth.authenticate({}, {"x-amzn-request-context": "not json"})


def test_auth_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from stratus import ConfigError

    assert authenticator_from_env() is None  # locally, off unless a key is set
    monkeypatch.setenv("STRATUS_API_KEY", "k")
    assert isinstance(authenticator_from_env(), ApiKeyAuth)
    monkeypatch.setenv("STRATUS_AUTH", "cognito")
    assert isinstance(authenticator_from_env(), ClaimsAuth)
    monkeypatch.setenv("STRATUS_AUTH", "none")
    assert authenticator_from_env() is None
    monkeypatch.setenv("STRATUS_AUTH", "magic")
    with pytest.raises(ConfigError, match="none, api_key or cognito"):
        authenticator_from_env()
    monkeypatch.setenv("STRATUS_AUTH", "api_key")
    monkeypatch.delenv("STRATUS_API_KEY")
    with pytest.raises(ConfigError, match="needs STRATUS_API_KEY"):
        authenticator_from_env()


def test_the_apikey_command_prints_a_secret_entry(capsys: pytest.CaptureFixture[str]) -> None:
    from stratus.cli import main

    assert main(["apikey", "--user", "alice", "--key", "k1"]) == 0
    assert json.loads(capsys.readouterr().out) == {"sha256": hash_key("k1"), "user_id": "alice"}
    assert main(["apikey", "--user", "bob"]) == 0
    captured = capsys.readouterr()
    key = captured.err.split(": ")[-1].strip()
    assert json.loads(captured.out) == {"sha256": hash_key(key), "user_id": "bob"}
