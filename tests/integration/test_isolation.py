"""Isolation over the HTTP API, on both stores: user B lists, reads, changes and deletes nothing of user A's,
and learns nothing about it either (404, never 403).

Two ways of naming the caller are checked: the `user_id` a request carries (authentication off, the local
default) and a verified identity set by an authentication layer, which must win over any `user_id` the
request claims.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from starlette.middleware.base import RequestResponseEndpoint
from starlette.responses import Response

from stratus import Agent, App
from stratus.messages import Message
from stratus.models.base import ModelRequest
from stratus.models.testing import FunctionModel
from stratus.storage import Store
from stratus.storage.sqlite import SqliteStore


def echo(messages: list[Message], params: ModelRequest) -> str:
    return f"echo: {messages[-1].content}"


def verified_identity(api: FastAPI) -> None:
    """Stand-in for the authentication layer: the caller's verified id arrives in a header."""

    @api.middleware("http")
    async def identify(request: Request, call_next: RequestResponseEndpoint) -> Response:
        user = request.headers.get("x-verified-user")
        if user:
            request.state.user_id = user
        return await call_next(request)


@pytest.fixture(params=["sqlite", "dynamodb"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    store: Store = (
        SqliteStore(tmp_path / "isolation.db") if request.param == "sqlite" else request.getfixturevalue("dynamo_store")
    )
    app = App(agents=[Agent(id="assistant", name="Assistant", model=FunctionModel(echo))], store=store)
    fastapi_app = app.asgi()
    verified_identity(fastapi_app)
    with TestClient(fastapi_app) as client:
        yield client


Caller = Callable[..., Any]


def _claim(path: str, body: Any, user: str) -> Any:
    """Put `user_id` in the bodies that carry one (runs, memories, a new session); others name it in the query."""
    if isinstance(body, dict) and (
        path.startswith(("/agents", "/memories")) or (path == "/sessions" and "session_id" in body)
    ):
        return {**body, "user_id": user}
    return body


def as_claimed(client: TestClient, user: str) -> Caller:
    """Requests that name their user in the query or body (authentication off)."""

    def call(method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None) -> Any:
        return client.request(method, path, params={**(params or {}), "user_id": user}, json=_claim(path, json, user))

    return call


def as_verified(client: TestClient, user: str, *, claims: str | None = None) -> Caller:
    """Requests from an authenticated user, who may also (wrongly) claim to be someone else."""

    def call(method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None) -> Any:
        if claims is not None:
            params = {**(params or {}), "user_id": claims}
            json = _claim(path, json, claims)
        return client.request(method, path, params=params, json=json, headers={"x-verified-user": user})

    return call


def alice_owns_things(alice: Caller) -> dict[str, str]:
    created = alice(
        "POST", "/agents/assistant/runs", json={"message": "my secret plan", "stream": False, "session_id": "alice-s1"}
    )
    assert created.status_code == 200, created.text
    memory = alice("POST", "/memories", json={"memory": "Alice's bank is ACME", "topics": ["finance"]})
    assert memory.status_code == 200, memory.text
    return {"session": "alice-s1", "run": created.json()["run_id"], "memory": memory.json()["memory_id"]}


def assert_bob_cannot_touch(bob: Caller, owned: dict[str, str]) -> None:
    session, run_id, memory = owned["session"], owned["run"], owned["memory"]

    # lists show nothing of Alice's
    assert bob("GET", "/sessions").json()["data"] == []
    assert bob("GET", "/memories").json()["data"] == []
    assert bob("GET", "/memory_topics").json() == []
    assert bob("GET", "/user_memory_stats").json()["data"] == []
    # reads are 404, as if nothing were there
    for path in (
        f"/sessions/{session}",
        f"/sessions/{session}/runs",
        f"/sessions/{session}/run-previews",
        f"/sessions/{session}/runs/{run_id}",
        f"/agents/assistant/runs/{run_id}",
        f"/memories/{memory}",
    ):
        response = bob("GET", path)
        assert response.status_code == 404, f"GET {path}: {response.status_code}"
        assert "secret" not in response.text
    assert bob("GET", "/agents/assistant/runs", params={"session_id": session}).json() == []
    # writes are 404 too, and change nothing
    assert bob("POST", f"/sessions/{session}/rename", json={"session_name": "pwned"}).status_code == 404
    assert bob("PATCH", f"/sessions/{session}", json={"session_state": {"pwned": True}}).status_code == 404
    assert (
        bob(
            "POST", "/agents/assistant/runs", json={"message": "hi", "stream": False, "session_id": session}
        ).status_code
        == 404
    )
    assert bob("POST", f"/agents/assistant/runs/{run_id}/cancel").status_code == 404
    assert bob("PATCH", f"/memories/{memory}", json={"memory": "pwned"}).status_code == 404
    assert bob("DELETE", f"/sessions/{session}").status_code == 404
    assert bob("DELETE", f"/memories/{memory}").status_code == 404
    assert bob("DELETE", "/sessions", json={"session_ids": [session]}).status_code == 204
    assert bob("DELETE", "/memories", json={"memory_ids": [memory]}).status_code == 204
    # and creating a session with Alice's id answers exactly as reading it does: absent, not "taken"
    taken = bob("POST", "/sessions", json={"session_id": session, "session_name": "pwned"})
    absent = bob("GET", f"/sessions/{session}")
    assert (taken.status_code, taken.json()) == (404, {"detail": f"session {session!r} not found"})
    assert (absent.status_code, absent.json()) == (taken.status_code, taken.json())
    # the same for a team or workflow session of that id, and for an id of Bob's own it is a plain conflict
    assert bob("POST", "/sessions", params={"type": "team"}, json={"session_id": session}).status_code == 404
    assert bob("POST", "/sessions", json={"session_id": "bob-s1"}).status_code == 201
    assert bob("POST", "/sessions", json={"session_id": "bob-s1"}).status_code == 409


def assert_alice_still_has_everything(alice: Caller, owned: dict[str, str]) -> None:
    detail = alice("GET", f"/sessions/{owned['session']}").json()
    assert detail["session_name"] == "my secret plan"
    assert detail["session_state"] == {}
    assert [m["content"] for m in detail["chat_history"]] == ["my secret plan", "echo: my secret plan"]
    assert alice("GET", f"/memories/{owned['memory']}").json()["memory"] == "Alice's bank is ACME"


def test_users_named_in_requests_are_isolated(api: TestClient) -> None:
    alice, bob = as_claimed(api, "alice"), as_claimed(api, "bob")
    owned = alice_owns_things(alice)

    assert_bob_cannot_touch(bob, owned)
    assert_alice_still_has_everything(alice, owned)


def test_a_verified_identity_wins_over_the_user_a_request_claims(api: TestClient) -> None:
    alice = as_verified(api, "alice")
    owned = alice_owns_things(alice)

    # Bob is authenticated as bob but claims to be alice in every request.
    assert_bob_cannot_touch(as_verified(api, "bob", claims="alice"), owned)
    assert_alice_still_has_everything(alice, owned)
    # Alice's own requests, even claiming to be bob, still see her things.
    assert as_verified(api, "alice", claims="bob")("GET", "/sessions").json()["meta"]["total_count"] == 1
