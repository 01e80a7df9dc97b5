"""A run's own `dependencies` over the HTTP API, as AgentOS takes them: a form field holding a JSON object (or
a member of a JSON body), merged over the agent's for that run, buffered, streamed and in the background
(through the queue too); a value that is not a bounded JSON object is a 422 and nothing is stored."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from stratus import Agent, App, tool
from stratus.background import BackgroundRun, RunQueue, execute_run
from stratus.limits import MAX_JSON_DEPTH
from stratus.models.testing import ScriptedModel, call
from stratus.storage.sqlite import SqliteStore


class Recorded(RunQueue):
    """A run queue that keeps what is published, for the test to hand to the worker."""

    def __init__(self) -> None:
        self.jobs: list[BackgroundRun] = []

    async def publish(self, job: BackgroundRun) -> None:
        self.jobs.append(job)


Build = Callable[..., tuple[TestClient, list[dict[str, Any]]]]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Build]:
    """An app serving agent `assistant` whose tool `where` records the dependencies it is given."""
    clients: list[TestClient] = []

    def build(turns: int = 1, run_queue: RunQueue | None = None) -> tuple[TestClient, list[dict[str, Any]]]:
        seen: list[dict[str, Any]] = []

        @tool
        def where(dependencies: dict[str, Any]) -> str:
            """Where the user is."""
            seen.append(dict(dependencies))
            return str(dependencies["region"])

        script = [step for _ in range(turns) for step in (call("where"), "Noted.")]
        agent = Agent(
            id="assistant", model=ScriptedModel(*script), tools=[where], dependencies={"region": "eu", "plan": "free"}
        )
        app = App(agents=[agent], store=SqliteStore(tmp_path / f"api{len(clients)}.db"), run_queue=run_queue)
        client = TestClient(app.asgi())
        client.__enter__()
        clients.append(client)
        return client, seen

    yield build
    for client in clients:
        client.__exit__(None, None, None)


OWN = {"region": "us", "who": {"name": "Ada"}}
MERGED = {"region": "us", "plan": "free", "who": {"name": "Ada"}}
"""The run's keys over the agent's, as agno merges them."""


def test_a_form_fields_dependencies_reach_the_tool_buffered_and_streamed(served: Build) -> None:
    client, seen = served(turns=3)
    form = {"message": "Where am I?", "dependencies": json.dumps(OWN)}

    buffered = client.post("/agents/assistant/runs", data={**form, "stream": "false"})
    streamed = client.post("/agents/assistant/runs", data=form)
    as_json = client.post("/agents/assistant/runs", json={"message": "And now?", "stream": False, "dependencies": OWN})

    assert buffered.status_code == 200, buffered.text
    assert buffered.json()["content"] == "Noted."
    assert streamed.status_code == 200, streamed.text
    assert "event: RunCompleted" in streamed.text
    assert as_json.status_code == 200, as_json.text
    assert seen == [MERGED, MERGED, MERGED]


def test_without_the_field_the_agents_own_dependencies_hold(served: Build) -> None:
    client, seen = served()

    response = client.post("/agents/assistant/runs", data={"message": "Where?", "stream": "false", "dependencies": ""})

    assert response.status_code == 200, response.text
    assert seen == [{"region": "eu", "plan": "free"}]


def test_a_background_runs_dependencies_reach_the_tool(served: Build) -> None:
    client, seen = served()
    form = {"message": "Where am I?", "background": "true", "dependencies": json.dumps(OWN)}

    accepted = client.post("/agents/assistant/runs", data=form)

    assert accepted.status_code == 202, accepted.text
    path = f"/agents/assistant/runs/{accepted.json()['run_id']}"
    deadline = time.monotonic() + 10
    while client.get(path).json()["status"] in ("PENDING", "RUNNING") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert client.get(path).json()["status"] == "COMPLETED"
    assert seen == [MERGED]


def test_a_queued_runs_dependencies_travel_in_its_message_to_the_worker(served: Build) -> None:
    queue = Recorded()
    client, seen = served(run_queue=queue)

    accepted = client.post(
        "/agents/assistant/runs", data={"message": "Where?", "background": "true", "dependencies": json.dumps(OWN)}
    )

    assert accepted.status_code == 202, accepted.text
    [job] = queue.jobs
    received = BackgroundRun.from_json(job.to_json())  # as the worker reads it off the queue
    assert received.dependencies == OWN
    ran = asyncio.run(execute_run(client.app.state.stratus, received))  # type: ignore[attr-defined]
    assert ran is not None
    assert ran.content == "Noted."
    assert seen == [MERGED]


def test_a_message_without_dependencies_reads_as_before_and_one_with_them_reads_back() -> None:
    plain = BackgroundRun(agent_id="a", run_id="r", session_id="s", user_id=None, message="hi", input_content="hi")
    older = json.loads(plain.to_json())

    assert "dependencies" not in older  # a worker of the release before reads it too
    assert BackgroundRun.from_json(json.dumps(older)).dependencies is None
    with_them = BackgroundRun(**{**older, "dependencies": {"region": "us"}})
    assert BackgroundRun.from_json(with_them.to_json()) == with_them


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("{not json", "value_error"),
        ('["region", "us"]', "dict_type"),
        ('"us"', "dict_type"),
        (_nested(MAX_JSON_DEPTH + 1), "json_too_deep"),
    ],
    ids=["not-json", "a-list", "a-string", "too-deep"],
)
def test_dependencies_that_are_not_a_bounded_json_object_are_a_422_and_nothing_is_stored(
    served: Build, value: str, kind: str
) -> None:
    client, seen = served()

    response = client.post(
        "/agents/assistant/runs",
        data={"message": "Where?", "stream": "false", "session_id": "s1", "dependencies": value},
    )

    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert (error["type"], error["loc"]) == (kind, ["body", "dependencies"])
    assert seen == []
    assert client.get("/sessions/s1").status_code == 404
    assert client.get("/agents/assistant/runs", params={"session_id": "s1"}).json() == []


def test_the_run_routes_document_the_field(served: Build) -> None:
    client, _ = served()
    spec = client.get("/openapi.json").json()

    content = spec["paths"]["/agents/{agent_id}/runs"]["post"]["requestBody"]["content"]
    assert content["multipart/form-data"]["schema"]["properties"]["dependencies"]["type"] == "string"
    assert "dependencies" in content["application/json"]["schema"]["properties"]
