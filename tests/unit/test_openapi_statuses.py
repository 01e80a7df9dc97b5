"""The OpenAPI document is honest about errors: every status the API answers to a bad request is declared
for that operation, with a schema its body validates against; and on AWS the document needs the key."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator

from stratus.api import create_app
from tests.fakes.apps import lambda_test_app

KEY = "sk-stratus-test-key"


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(lambda_test_app(), auth=None)) as c:
        yield c


def _operation(spec: dict[str, Any], method: str, template: str) -> dict[str, Any]:
    return spec["paths"][template][method.lower()]


def _schema(spec: dict[str, Any], operation: dict[str, Any], status: int) -> dict[str, Any]:
    declared = operation["responses"][str(status)]
    schema = declared["content"]["application/json"]["schema"]
    return {**schema, "components": spec["components"]}  # `#/components/...` refs resolve in this document


def _run(client: TestClient, agent: str = "assistant") -> dict[str, Any]:
    response = client.post(f"/agents/{agent}/runs", json={"message": "hi", "stream": False})
    assert response.status_code == 200
    return response.json()


BIG_FILE = {"files": ("big.txt", b"x" * 1_000_001, "text/plain")}

# (method, template, concrete path, request keywords): each a request the API refuses.
BAD_REQUESTS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("GET", "/agents/{agent_id}", "/agents/nope", {}),
    ("POST", "/agents/{agent_id}/runs", "/agents/nope/runs", {"json": {"message": "hi"}}),
    ("POST", "/agents/{agent_id}/runs", "/agents/assistant/runs", {"json": {"stream": False}}),
    ("POST", "/agents/{agent_id}/runs", "/agents/assistant/runs", {"content": b"hi"}),
    ("POST", "/agents/{agent_id}/runs", "/agents/assistant/runs", {"data": {"message": "x"}, "files": BIG_FILE}),
    ("GET", "/agents/{agent_id}/runs", "/agents/assistant/runs", {"params": {"session_id": "s", "status": ""}}),
    ("GET", "/agents/{agent_id}/runs", "/agents/assistant/runs", {}),
    ("GET", "/agents/{agent_id}/runs/{run_id}", "/agents/assistant/runs/nope", {}),
    ("POST", "/agents/{agent_id}/runs/{run_id}/cancel", "/agents/assistant/runs/nope/cancel", {}),
    ("GET", "/teams/{team_id}", "/teams/nope", {}),
    ("POST", "/teams/{team_id}/runs", "/teams/nope/runs", {"json": {"message": "hi"}}),
    ("POST", "/teams/{team_id}/runs", "/teams/desk/runs", {"content": b"hi", "headers": {"content-type": "a/b"}}),
    ("GET", "/teams/{team_id}/runs", "/teams/desk/runs", {"params": {"session_id": "s", "status": ""}}),
    ("GET", "/teams/{team_id}/runs/{run_id}", "/teams/desk/runs/nope", {}),
    ("POST", "/teams/{team_id}/runs/{run_id}/cancel", "/teams/desk/runs/nope/cancel", {}),
    ("GET", "/workflows/{workflow_id}", "/workflows/nope", {}),
    ("POST", "/workflows/{workflow_id}/runs", "/workflows/pipeline/runs", {"json": []}),
    ("GET", "/workflows/{workflow_id}/runs", "/workflows/pipeline/runs", {"params": {"session_id": "s", "status": ""}}),
    ("GET", "/workflows/{workflow_id}/runs/{run_id}", "/workflows/pipeline/runs/nope", {}),
    ("GET", "/sessions", "/sessions", {"params": {"limit": 0}}),
    ("POST", "/sessions", "/sessions", {"json": {"agent_id": "nope"}}),
    ("POST", "/sessions", "/sessions", {"json": {"session_state": "not an object"}}),
    ("GET", "/sessions/{session_id}", "/sessions/nope", {}),
    ("PATCH", "/sessions/{session_id}", "/sessions/nope", {"json": {"session_name": "n"}}),
    ("POST", "/sessions/{session_id}/rename", "/sessions/nope/rename", {"json": {"session_name": "n"}}),
    ("DELETE", "/sessions/{session_id}", "/sessions/nope", {}),
    ("GET", "/sessions/{session_id}/runs", "/sessions/nope/runs", {}),
    ("GET", "/sessions/{session_id}/runs/{run_id}", "/sessions/nope/runs/nope", {}),
    ("POST", "/memories", "/memories", {"json": {}}),
    ("GET", "/memories/{memory_id}", "/memories/nope", {}),
    ("PATCH", "/memories/{memory_id}", "/memories/nope", {"json": {"memory": "m"}}),
    ("DELETE", "/memories/{memory_id}", "/memories/nope", {}),
    ("POST", "/knowledge/content", "/knowledge/content", {"json": {"text_content": "x"}}),
    ("POST", "/knowledge/content", "/knowledge/content", {"data": {"text_content": "x", "url": "http://a"}}),
    ("POST", "/knowledge/content", "/knowledge/content", {"files": {"file": ("a.png", b"\x89PNG\r\n", "image/png")}}),
    ("GET", "/knowledge/content", "/knowledge/content", {"params": {"knowledge_id": "nope"}}),
    ("GET", "/knowledge/content/{content_id}", "/knowledge/content/nope", {}),
    ("GET", "/knowledge/content/{content_id}/status", "/knowledge/content/nope/status", {}),
    ("DELETE", "/knowledge/content/{content_id}", "/knowledge/content/nope", {}),
    ("POST", "/knowledge/search", "/knowledge/search", {"json": {}}),
    ("POST", "/knowledge/search", "/knowledge/search", {"json": []}),
    ("GET", "/learnings", "/learnings", {"params": {"limit": "many"}}),
    ("POST", "/learnings", "/learnings", {"json": {}}),
    ("GET", "/learnings/{learning_id}", "/learnings/nope", {}),
    ("PATCH", "/learnings/{learning_id}", "/learnings/nope", {"json": {}}),
    ("DELETE", "/learnings/{learning_id}", "/learnings/nope", {}),
]


def test_every_status_a_bad_request_gets_is_declared_with_the_body_it_has(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    answered: set[int] = set()

    for method, template, path, kwargs in BAD_REQUESTS:
        response = client.request(method, path, **kwargs)

        assert response.status_code >= 400, f"{method} {path}"
        operation = _operation(spec, method, template)
        assert str(response.status_code) in operation["responses"], f"{method} {template}: {response.status_code}"
        Draft202012Validator(_schema(spec, operation, response.status_code)).validate(response.json())
        answered.add(response.status_code)

    assert {404, 413, 415, 422} <= answered


def test_conflicts_are_declared_with_their_bodies(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    run = _run(client)
    taken = f"taken-{uuid4().hex}"  # the app's store may outlive one test
    assert client.post("/sessions", json={"session_id": taken}).status_code == 201

    for method, template, path, kwargs in [
        ("POST", "/sessions", "/sessions", {"json": {"session_id": taken}}),
        ("POST", "/agents/{agent_id}/runs/{run_id}/cancel", f"/agents/assistant/runs/{run['run_id']}/cancel", {}),
    ]:
        response = client.request(method, path, **kwargs)

        assert response.status_code == 409
        Draft202012Validator(_schema(spec, _operation(spec, method, template), 409)).validate(response.json())


def test_the_validation_error_body_is_this_apis_not_fastapis_default(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()

    assert "HTTPValidationError" not in spec["components"]["schemas"]
    field_error = spec["components"]["schemas"]["FieldError"]
    assert set(field_error["properties"]) == {"type", "loc", "msg"}
    body = client.get("/sessions", params={"limit": 0}).json()
    assert set(body["detail"][0]) == {"type", "loc", "msg"}


def test_every_operation_declares_the_errors_its_parameters_can_cause(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()

    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            declared = set(operation["responses"])
            where = f"{method.upper()} {path}"
            assert "500" in declared, where
            assert "401" not in declared, where  # no authenticator: no 401
            if re.search(r"\{[^}]+\}", path) and path != "/learnings/users/{user_id}":
                assert "404" in declared, where
            if operation.get("parameters") or "requestBody" in operation:
                assert "422" in declared, where
            if path.endswith("/runs") and method == "post":
                assert {"409", "413", "415", "422", "502", "503", "504"} <= declared, where
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert response["content"]["application/json"]["schema"], where


def test_with_a_key_every_operation_but_health_declares_401(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATUS_API_KEY", KEY)
    with TestClient(create_app(lambda_test_app())) as client:
        spec = client.get("/openapi.json").json()  # locally the document stays open

    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert ("401" in operation["responses"]) is (path != "/health"), f"{method.upper()} {path}"


def test_without_public_docs_the_document_and_pages_need_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATUS_API_KEY", KEY)
    with TestClient(create_app(lambda_test_app(), docs=False, public_docs=False)) as client:
        for path in ("/openapi.json", "/playground", "/", "/docs", "/redoc", "/docs/assets/swagger-ui.css"):
            response = client.get(path)
            assert response.status_code == 401, path
            assert response.headers["www-authenticate"] == "Bearer"

        headers = {"authorization": f"Bearer {KEY}"}
        assert client.get("/health").status_code == 200
        assert client.get("/openapi.json", headers=headers).status_code == 200
        assert client.get("/playground", headers=headers).status_code == 200
