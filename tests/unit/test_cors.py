"""CORS like AgentOS: local front ends by default, the configured origins otherwise, preflights answered
before authentication, SSE answers carrying the headers too; nothing for an origin not admitted."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from stratus import Agent, App
from stratus.api import create_app
from stratus.api.auth import ApiKeyAuth, hash_key
from stratus.models.testing import ScriptedModel

PREFLIGHT = {"access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type"}


def client_for(app: App, **options: object) -> Iterator[TestClient]:
    with TestClient(create_app(app, **options)) as client:  # type: ignore[arg-type]
        yield client


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.delenv("STRATUS_CORS_ORIGINS", raising=False)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    app = App(agents=[Agent(id="a", model=ScriptedModel(*["hello"] * 5))])
    yield from client_for(app, auth=ApiKeyAuth({hash_key("k"): "alice"}))


@pytest.mark.parametrize("origin", ["http://localhost:3000", "http://127.0.0.1:5173", "http://localhost"])
def test_local_front_ends_are_admitted_by_default_even_before_authentication(local: TestClient, origin: str) -> None:
    preflight = local.options("/agents/a/runs", headers={"origin": origin, **PREFLIGHT})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == origin
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    # the real call carries the header too, its error included (the browser can read the 401)
    refused = local.get("/agents", headers={"origin": origin})
    assert (refused.status_code, refused.headers["access-control-allow-origin"]) == (401, origin)
    listed = local.get("/agents", headers={"origin": origin, "authorization": "Bearer k"})
    assert (listed.status_code, listed.headers["access-control-allow-origin"]) == (200, origin)


def test_a_streamed_answer_carries_the_cors_headers(local: TestClient) -> None:
    origin = "http://localhost:3000"
    with local.stream(
        "POST",
        "/agents/a/runs",
        data={"message": "hi", "stream": "true"},
        headers={"origin": origin, "authorization": "Bearer k"},
    ) as response:
        assert response.headers["access-control-allow-origin"] == origin
        assert "text/event-stream" in response.headers["content-type"]
        assert "RunCompleted" in "".join(response.iter_text())


@pytest.mark.parametrize("origin", ["https://evil.example", "http://localhost.evil.example", "null"])
def test_other_origins_get_no_cors_headers(local: TestClient, origin: str) -> None:
    preflight = local.options("/agents", headers={"origin": origin, **PREFLIGHT})
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in local.get("/health", headers={"origin": origin}).headers


def test_configured_origins_replace_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATUS_CORS_ORIGINS", "https://ui.example.com, https://other.example.com/")
    app = App(agents=[Agent(id="a", model=ScriptedModel("x"))])
    with TestClient(create_app(app, auth=None)) as client:
        ok = client.get("/health", headers={"origin": "https://other.example.com"})
        assert ok.headers["access-control-allow-origin"] == "https://other.example.com"
        assert (
            "access-control-allow-origin"
            not in client.get("/health", headers={"origin": "http://localhost:3000"}).headers
        )
    # the App's own list wins over the environment
    mine = App(agents=[Agent(id="a", model=ScriptedModel("x"))], cors_allowed_origins=["https://mine.example"])
    with TestClient(create_app(mine, auth=None)) as client:
        assert (
            client.get("/health", headers={"origin": "https://mine.example"}).headers["access-control-allow-origin"]
            == "https://mine.example"
        )
        assert (
            "access-control-allow-origin"
            not in client.get("/health", headers={"origin": "https://ui.example.com"}).headers
        )


def test_on_lambda_no_origin_is_admitted_unless_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRATUS_CORS_ORIGINS", raising=False)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "agent_runs")
    app = App(agents=[Agent(id="a", model=ScriptedModel("x"))])
    with TestClient(create_app(app, auth=None)) as client:
        assert (
            "access-control-allow-origin"
            not in client.get("/health", headers={"origin": "http://localhost:3000"}).headers
        )


def test_a_wildcard_admits_anyone_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    app = App(agents=[Agent(id="a", model=ScriptedModel("x"))], cors_allowed_origins=["*"])
    with TestClient(create_app(app, auth=None)) as client:
        response = client.get("/health", headers={"origin": "https://anyone.example"})
        assert response.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in response.headers
