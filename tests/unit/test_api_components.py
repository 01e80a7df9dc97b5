"""`/agents`, `/teams` and `/workflows` are one router (`routers/_components.py`): every test here runs
against all three kinds and expects the same behaviour. AgentOS' operation ids and paths; typed responses in
/openapi.json that the answers validate against, with no field dropped or added; background runs accepted as
PENDING (in this process and through a queue); the session check, 404s, 409s and in-flight reads."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator

from stratus import Agent, App, Team, Workflow
from stratus._runnable import RunOptions
from stratus.api._runs import RunRegistry
from stratus.api.routers._components import ComponentKind
from stratus.api.routers.agents import AGENTS
from stratus.api.routers.teams import TEAMS
from stratus.api.routers.workflows import WORKFLOWS
from stratus.background import BackgroundRun, RunQueue, execute_run
from stratus.messages import Message
from stratus.models.base import ModelRequest
from stratus.models.testing import FunctionModel, Reply, call
from stratus.run import RunStatus
from stratus.storage.sqlite import SqliteStore

REFERENCE = json.loads((Path(__file__).resolve().parents[1] / "reference" / "agentos-openapi.json").read_text())

GATE = threading.Event()
"""Released by a test: until then a run asked to `hold` waits."""
HOLDING = threading.Event()
"""Set once a run asked to `hold` has reached its model."""


async def answer(messages: list[Message], params: ModelRequest) -> str:
    text = messages[-1].content or ""
    if "hold" in text:
        HOLDING.set()
        await asyncio.to_thread(GATE.wait, 30)
    return f"echo: {text}"


def route_to_helper(messages: list[Message], params: ModelRequest) -> Reply:
    return call("route_to_member", member_id="helper")


@dataclass(frozen=True)
class Case:
    kind: ComponentKind[Any]
    component_id: str

    @property
    def base(self) -> str:
        return f"{self.kind.prefix}/{self.component_id}"


CASES = [
    pytest.param(Case(AGENTS, "helper"), id="agents"),
    pytest.param(Case(TEAMS, "desk"), id="teams"),
    pytest.param(Case(WORKFLOWS, "pipeline"), id="workflows"),
]


class Recorded(RunQueue):
    """A run queue that keeps what is published, for the test to hand to the worker."""

    def __init__(self) -> None:
        self.jobs: list[BackgroundRun] = []

    async def publish(self, job: BackgroundRun) -> None:
        self.jobs.append(job)


def build_app(store: SqliteStore, run_queue: RunQueue | None = None) -> App:
    helper = Agent(id="helper", name="Helper", description="echoes", model=FunctionModel(answer))
    desk = Team(id="desk", name="Desk", mode="route", model=FunctionModel(route_to_helper), members=[helper])
    pipeline = Workflow(id="pipeline", name="Pipeline", description="one step", steps=[helper])
    return App(agents=[helper], teams=[desk], workflows=[pipeline], store=store, run_queue=run_queue)


ClientFactory = Callable[..., TestClient]


@pytest.fixture
def client_for(tmp_path: Path) -> Iterator[ClientFactory]:
    GATE.clear()
    HOLDING.clear()
    clients: list[TestClient] = []

    def build(run_queue: RunQueue | None = None) -> TestClient:
        client = TestClient(build_app(SqliteStore(tmp_path / f"api{len(clients)}.db"), run_queue).asgi())
        client.__enter__()
        clients.append(client)
        return client

    yield build
    GATE.set()  # a run still held must not outlive its test
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(client_for: ClientFactory) -> TestClient:
    return client_for()


def app_of(client: TestClient) -> App:
    return client.app.state.stratus  # type: ignore[attr-defined]


def validator(spec: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator({**schema, "components": spec["components"]})


def response_schema(spec: dict[str, Any], method: str, path: str, status: int = 200) -> dict[str, Any]:
    return spec["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def plain(value: Any) -> Any:
    """`value` as it reads once through JSON."""
    return json.loads(json.dumps(value))


# --- the OpenAPI document ----------------------------------------------------------------------------------


def test_the_component_routes_keep_agentos_paths_operation_ids_and_summaries(client: TestClient) -> None:
    ours = client.get("/openapi.json").json()["paths"]
    compared = 0

    for prefix in ("/agents", "/teams", "/workflows"):
        for path, operations in REFERENCE["paths"].items():
            if path != prefix and not path.startswith(f"{prefix}/{{"):
                continue
            for method, reference in operations.items():
                if path.endswith("/continue") or method not in ours.get(path, {}):
                    continue  # continuing a paused run is not served yet
                operation = ours[path][method]
                assert (operation["operationId"], operation["summary"]) == (
                    reference["operationId"],
                    reference["summary"],
                ), f"{method} {path}"
                compared += 1

    assert compared == 18  # list, get, create run, list runs, get run, cancel run: for each of the three


@pytest.mark.parametrize(
    ("path", "listed", "described"),
    [
        ("/agents", "AgentResponse", "AgentResponse"),
        ("/teams", "TeamResponse", "TeamResponse"),
        ("/workflows", "WorkflowSummaryResponse", "WorkflowResponse"),
    ],
)
def test_openapi_declares_the_typed_responses_of_the_component_routes(
    client: TestClient, path: str, listed: str, described: str
) -> None:
    spec = client.get("/openapi.json").json()
    one = f"{path}/{{{path[1:-1]}_id}}"

    assert response_schema(spec, "get", path)["items"] == {"$ref": f"#/components/schemas/{listed}"}
    assert response_schema(spec, "get", path)["type"] == "array"
    assert response_schema(spec, "get", one) == {"$ref": f"#/components/schemas/{described}"}
    assert response_schema(spec, "get", f"{one}/runs")["items"] == {"$ref": "#/components/schemas/RunResponse"}
    assert response_schema(spec, "get", f"{one}/runs/{{run_id}}") == {"$ref": "#/components/schemas/RunResponse"}
    cancel = response_schema(spec, "post", f"{one}/runs/{{run_id}}/cancel")
    assert cancel == {"$ref": "#/components/schemas/CancelResponse"}
    create = spec["paths"][f"{one}/runs"]["post"]["responses"]
    assert "text/event-stream" in create["200"]["content"]  # the streamed answer keeps its declaration
    assert create["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/RunResponse"}
    assert create["202"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/RunAccepted"}


@pytest.mark.parametrize("name", ["AgentResponse", "TeamResponse", "WorkflowResponse", "WorkflowSummaryResponse"])
def test_the_component_schemas_have_agentos_fields(client: TestClient, name: str) -> None:
    ours = client.get("/openapi.json").json()["components"]["schemas"][name]

    assert set(ours["properties"]) == set(REFERENCE["components"]["schemas"][name]["properties"])


def test_the_run_schemas_name_what_a_client_reads(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]

    assert {"run_id", "session_id", "status", "created_at"} <= set(schemas["RunResponse"]["required"])
    assert {"agent_id", "team_id", "workflow_id", "content", "messages", "member_responses", "step_results"} <= set(
        schemas["RunResponse"]["properties"]
    )
    assert set(schemas["RunAccepted"]["properties"]) == {
        "run_id",
        "session_id",
        "agent_id",
        "team_id",
        "workflow_id",
        "status",
    }
    assert set(schemas["CancelResponse"]["required"]) == {"run_id", "session_id", "status"}
    assert "PENDING" in schemas["RunStatus"]["enum"]


# --- the same behaviour for agents, teams and workflows ----------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_listing_and_describing_answer_what_the_schema_functions_give(client: TestClient, case: Case) -> None:
    spec = client.get("/openapi.json").json()
    app = app_of(client)
    component = case.kind.find(app, case.component_id)

    listed = client.get(case.kind.prefix)
    described = client.get(case.base)

    # through the response models, nothing is dropped, and no key that was left out comes back as a null
    assert listed.json() == plain([case.kind.row(c, app.store.id) for c in case.kind.every(app)])
    assert described.json() == plain(case.kind.detail(component, app.store.id))
    validator(spec, response_schema(spec, "get", case.kind.prefix)).validate(listed.json())
    one = f"{case.kind.prefix}/{{{case.kind.id_field}}}"
    validator(spec, response_schema(spec, "get", one)).validate(described.json())


@pytest.mark.parametrize("case", CASES)
def test_a_run_reads_back_with_every_field_it_was_stored_with(client: TestClient, case: Case) -> None:
    spec = client.get("/openapi.json").json()
    store = app_of(client).store

    answered = client.post(f"{case.base}/runs", json={"message": "hi", "stream": False, "session_id": "s1"})
    run_id = answered.json()["run_id"]
    fetched = client.get(f"{case.base}/runs/{run_id}")
    listed = client.get(f"{case.base}/runs", params={"session_id": "s1"})

    assert answered.status_code == fetched.status_code == listed.status_code == 200
    assert (answered.json()[case.kind.id_field], answered.json()["status"]) == (case.component_id, "COMPLETED")
    stored = asyncio.run(store.get_run(run_id))
    assert stored is not None
    runs = asyncio.run(store.get_runs("s1"))
    if case.kind.child_runs:
        stored.children = [r for r in runs if r.parent_run_id == run_id]
        assert stored.children  # the member's or the step's run
    assert fetched.json() == plain(stored.to_dict())
    assert [r["run_id"] for r in listed.json()] == [run_id]  # its own runs only, not its members' or steps'
    run_schema = {"$ref": "#/components/schemas/RunResponse"}
    for body in (answered.json(), fetched.json(), *listed.json()):
        validator(spec, run_schema).validate(body)


@pytest.mark.parametrize("case", CASES)
def test_a_background_run_is_accepted_as_pending_then_runs_to_its_end(client: TestClient, case: Case) -> None:
    spec = client.get("/openapi.json").json()

    accepted = client.post(f"{case.base}/runs", json={"message": "hold", "background": True, "session_id": "s1"})

    assert accepted.status_code == 202
    body = accepted.json()
    assert body == {
        "run_id": body["run_id"],
        "session_id": "s1",
        case.kind.id_field: case.component_id,
        "status": "PENDING",
    }
    validator(spec, {"$ref": "#/components/schemas/RunAccepted"}).validate(body)
    path = f"{case.base}/runs/{body['run_id']}"
    assert HOLDING.wait(5)
    in_flight = client.get(path).json()  # read from the run in memory, not the store
    assert (in_flight["status"], in_flight[case.kind.id_field]) == ("RUNNING", case.component_id)
    GATE.set()
    wait_for(lambda: client.get(path).json()["status"] == "COMPLETED")
    assert client.get(path).json()["content"] == "echo: hold"


@pytest.mark.parametrize("case", CASES)
def test_a_queued_background_run_is_pending_until_a_worker_runs_it(client_for: ClientFactory, case: Case) -> None:
    queue = Recorded()
    client = client_for(queue)
    app = app_of(client)

    accepted = client.post(f"{case.base}/runs", json={"message": "hi", "background": True, "session_id": "s1"})

    assert accepted.status_code == 202
    assert accepted.json()["status"] == "PENDING"
    [job] = queue.jobs
    assert (getattr(job, case.kind.id_field), job.run_id, job.input_content) == (
        case.component_id,
        accepted.json()["run_id"],
        "hi",
    )
    path = f"{case.base}/runs/{job.run_id}"
    assert client.get(path).json()["status"] == "PENDING"  # stored before it was queued
    assert [r["status"] for r in client.get(f"{case.base}/runs", params={"session_id": "s1"}).json()] == ["PENDING"]
    ran = asyncio.run(execute_run(app, job))
    assert ran is not None
    assert ran.status is RunStatus.COMPLETED
    assert client.get(path).json()["status"] == "COMPLETED"


@pytest.mark.parametrize("case", CASES)
def test_a_queued_run_cancelled_before_a_worker_takes_it_never_runs(client_for: ClientFactory, case: Case) -> None:
    queue = Recorded()
    client = client_for(queue)
    run_id = client.post(f"{case.base}/runs", json={"message": "hi", "background": True}).json()["run_id"]

    cancelled = client.post(f"{case.base}/runs/{run_id}/cancel")

    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "CANCELLED")
    assert asyncio.run(execute_run(app_of(client), queue.jobs[0])) is None
    assert client.get(f"{case.base}/runs/{run_id}").json()["status"] == "CANCELLED"
    assert client.post(f"{case.base}/runs/{run_id}/cancel").status_code == 409


@pytest.mark.parametrize("case", CASES)
def test_a_run_in_flight_is_cancelled_and_a_second_cancel_is_a_409(client: TestClient, case: Case) -> None:
    spec = client.get("/openapi.json").json()
    run_id = client.post(f"{case.base}/runs", json={"message": "hold", "background": True}).json()["run_id"]
    assert HOLDING.wait(5)

    cancelled = client.post(f"{case.base}/runs/{run_id}/cancel")

    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "CANCELLED")
    validator(spec, {"$ref": "#/components/schemas/CancelResponse"}).validate(cancelled.json())
    assert client.get(f"{case.base}/runs/{run_id}").json()["status"] == "CANCELLED"
    again = client.post(f"{case.base}/runs/{run_id}/cancel")
    assert (again.status_code, again.json()["detail"]) == (409, f"run {run_id!r} already ended with status CANCELLED")
    assert client.post(f"{case.base}/runs/nope/cancel").status_code == 404


@pytest.mark.parametrize("case", CASES)
def test_another_users_or_another_components_session_is_not_found(client: TestClient, case: Case) -> None:
    mine = {"message": "hi", "stream": False, "session_id": "s1", "user_id": "u1"}
    assert client.post(f"{case.base}/runs", json=mine).status_code == 200
    other_kind = "/agents/helper" if case.kind is not AGENTS else "/teams/desk"
    assert client.post(f"{other_kind}/runs", json={**mine, "session_id": "s2"}).status_code == 200

    foreign_user = client.post(f"{case.base}/runs", json={**mine, "user_id": "u2"})
    foreign_component = client.post(f"{case.base}/runs", json={**mine, "session_id": "s2"})
    listed = client.get(f"{case.base}/runs", params={"session_id": "s2", "user_id": "u1"})

    assert (foreign_user.status_code, foreign_user.json()["detail"]) == (404, "session 's1' not found")
    assert foreign_component.status_code == 404
    assert (listed.status_code, listed.json()) == (200, [])  # none of its runs are there
    runs = client.get(f"{case.base}/runs", params={"session_id": "s1", "user_id": "u1"}).json()
    assert len(runs) == 1  # nothing was run for the refused requests


@pytest.mark.parametrize("case", CASES)
def test_an_unknown_component_or_run_is_a_404_on_every_route(client: TestClient, case: Case) -> None:
    unknown = f"{case.kind.prefix}/nope"
    for response in (
        client.get(unknown),
        client.post(f"{unknown}/runs", json={"message": "hi"}),
        client.get(f"{unknown}/runs", params={"session_id": "s1"}),
        client.get(f"{unknown}/runs/r1"),
        client.post(f"{unknown}/runs/r1/cancel"),
        client.get(f"{case.base}/runs/r1"),
    ):
        assert response.status_code == 404
        assert "nope" in response.json()["detail"] or "r1" in response.json()["detail"]


@pytest.mark.parametrize("case", CASES)
def test_bad_run_requests_are_refused_alike(client: TestClient, case: Case) -> None:
    big = {"files": ("big.txt", b"x" * 1_000_001, "text/plain")}

    assert client.post(f"{case.base}/runs", json={"stream": False}).status_code == 422
    assert client.post(f"{case.base}/runs", data={"message": "x"}, files=big).status_code == 413
    assert client.post(f"{case.base}/runs", content=b"hi", headers={"content-type": "a/b"}).status_code == 415
    assert client.get(f"{case.base}/runs", params={"session_id": "s1", "status": "sideways"}).status_code == 422


# --- the run registry --------------------------------------------------------------------------------------


async def test_a_run_cancelled_before_its_task_starts_ends_cancelled_and_is_stored(tmp_path: Path) -> None:
    app = build_app(SqliteStore(tmp_path / "r.db"))
    app.attach_store()
    registry = RunRegistry()
    run = app.get_agent("helper").execution("hi", RunOptions(session_id="s1"))

    active = registry.start(run, stream=False)
    assert registry.cancel(run.output.run_id)  # in the same tick: its task has not run a line yet
    out = await asyncio.wait_for(registry.wait(active), 5)

    assert out.status is RunStatus.CANCELLED
    stored = await app.store.get_run(out.run_id)
    assert stored is not None
    assert stored.status is RunStatus.CANCELLED
    assert registry.get(out.run_id) is None
