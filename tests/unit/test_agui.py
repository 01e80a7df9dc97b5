"""`/agui/...` with authentication off (the local default): the caller is the user `forwardedProps.user_id` names,
as a REST run's `user_id`, and a thread is theirs alone; the state sent is merged over the session's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from stratus.api import create_app
from stratus.storage.sqlite import SqliteStore
from tests.fakes import agui_app


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = agui_app.make_app(SqliteStore(tmp_path / "agui.db"))
    with TestClient(create_app(app, auth=None)) as client:
        yield client


def run(client: TestClient, text: str, user: str | None, **more: Any) -> Any:
    body = {"threadId": "t1", "runId": "x", "messages": [{"id": "m", "role": "user", "content": text}], **more}
    return client.post("/agui/agents/shop", json={**body, "forwardedProps": {"user_id": user}})


def events(answer: Any) -> list[dict[str, Any]]:
    assert answer.status_code == 200, answer.text
    return [json.loads(line[len("data: ") :]) for line in answer.text.splitlines() if line.startswith("data: ")]


def test_the_claimed_user_owns_the_thread_and_the_state_merges_over_the_sessions(client: TestClient) -> None:
    first = events(run(client, "tea", "ann", state={"theme": "dark"}))
    assert first[-2] == {"type": "STATE_SNAPSHOT", "snapshot": {"theme": "dark", "cart": ["tea"]}}

    second = events(run(client, "jam", "ann", state={"theme": "light"}))  # a key the client left out stays
    assert second[-2]["snapshot"] == {"theme": "light", "cart": ["tea", "jam"]}

    assert run(client, "jam", "bob").status_code == 404
    assert run(client, "jam", None).status_code == 404  # no user: not ann's either
    session = client.get("/sessions/t1", params={"user_id": "ann"}).json()
    assert (session["user_id"], session["agent_id"]) == ("ann", "shop")
    assert len(client.get("/sessions/t1/runs", params={"user_id": "ann"}).json()) == 2
