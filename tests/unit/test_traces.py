"""`/traces` and `/info` over HTTP: each run's own spans in AgentOS' shapes, scoped to the caller; the spans
stored with the run in both stores."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from stratus import Agent, App, Step, StepInput, Team, Workflow, tool
from stratus.api.auth import ApiKeyAuth, hash_key
from stratus.messages import Message
from stratus.models.base import ModelRequest
from stratus.models.testing import FunctionModel, Reply, call
from stratus.run import RunOutput, RunStatus
from stratus.storage.dynamodb import DynamoStore
from stratus.storage.records import SessionRecord, SessionType
from stratus.storage.sqlite import SqliteStore
from stratus.tracing import run_id_of, trace_id_of


@tool
def add(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: The first.
        b: The second.
    """
    return a + b


@tool
def explode(reason: str) -> str:
    """Always fails.

    Args:
        reason: Why.
    """
    raise RuntimeError(f"boom: {reason}")


def calculator(messages: list[Message], params: ModelRequest) -> Reply:
    last = messages[-1]
    if last.role == "user":
        return call("explode", reason="asked") if "fail" in (last.content or "") else call("add", a=2, b=3)
    return f"the tool said {last.content}"


def echo(agent_id: str) -> Agent:
    return Agent(id=agent_id, name=agent_id.title(), model=FunctionModel(lambda m, p: f"{agent_id}: {m[-1].content}"))


def coordinate(messages: list[Message], params: ModelRequest) -> Reply:
    if messages[-1].role == "user":
        return [
            call("delegate_task_to_member", member_id="writer", task="write a line"),
            call("delegate_task_to_member", member_id="checker", task="check a line"),
        ]
    return " | ".join(m.content or "" for m in messages if m.role == "tool")


def shout(step_input: StepInput) -> str:
    return str(step_input.previous_step_content).upper()


def build_app(store: SqliteStore) -> App:
    studio = Team(
        id="studio", name="Studio", model=FunctionModel(coordinate), members=[echo("writer"), echo("checker")]
    )
    pipeline = Workflow(id="pipeline", name="Pipeline", steps=[Step("draft", agent=echo("drafter")), shout])
    return App(
        agents=[Agent(id="calc", name="Calc Agent", model=FunctionModel(calculator), tools=[add, explode])],
        teams=[studio],
        workflows=[pipeline],
        store=store,
    )


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(build_app(SqliteStore(tmp_path / "t.db")).asgi(auth=None)) as c:
        yield c


def run(client: TestClient, path: str, message: str, session_id: str, user_id: str = "alice") -> dict[str, Any]:
    response = client.post(
        path, data={"message": message, "stream": "false", "session_id": session_id, "user_id": user_id}
    )
    assert response.status_code == 200, response.text
    return response.json()


def nodes(tree: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every node of a span tree, depth first."""
    found: list[dict[str, Any]] = []
    for node in tree:
        found.append(node)
        found.extend(nodes(node.get("spans") or []))
    return found


# --- an agent's trace ---------------------------------------------------------------------------------------------


def test_an_agent_run_is_one_trace_with_its_model_requests_and_tool_call(client: TestClient) -> None:
    out = run(client, "/agents/calc/runs", "what is 2+3?", "s1")

    listing = client.get("/traces", params={"user_id": "alice"})
    assert listing.status_code == 200, listing.text
    body = listing.json()
    assert body["meta"]["total_count"] == 1
    assert body["meta"]["page"] == 1
    [summary] = body["data"]
    assert summary["trace_id"] == trace_id_of(out["run_id"])
    assert summary["run_id"] == out["run_id"]
    assert summary["session_id"] == "s1"
    assert summary["user_id"] == "alice"
    assert summary["agent_id"] == "calc"
    assert summary["name"] == "Calc_Agent.run"
    assert summary["status"] == "OK"
    assert summary["error_count"] == 0
    assert summary["total_spans"] == 4
    assert summary["input"] == "what is 2+3?"
    assert summary["duration"].endswith(("ms", "s"))

    detail = client.get(f"/traces/{summary['trace_id']}").json()
    assert detail["output"] == "the tool said 5"
    [root] = detail["tree"]
    assert root["type"] == "AGENT"
    assert root["name"] == "Calc_Agent.run"
    kids = root["spans"]
    assert [k["type"] for k in kids] == ["LLM", "TOOL", "LLM"]  # in the order they started
    llm, tool_span, _ = kids
    assert llm["name"] == "function.invoke"
    assert llm["metadata"]["model"] == "function"
    assert llm["metadata"]["input_tokens"] > 0
    assert llm["metadata"]["output_tokens"] > 0
    assert tool_span["name"] == "add"
    assert tool_span["output"] == "5"
    assert json.loads(tool_span["input"]) == {"a": 2, "b": 3}
    assert tool_span["metadata"]["tool_name"] == "add"
    # The root's node carries the trace's token totals: the sum of its model requests'.
    llm_in = sum(k["metadata"]["input_tokens"] for k in kids if k["type"] == "LLM")
    assert root["metadata"]["total_input_tokens"] == llm_in == out["metrics"]["input_tokens"]
    for kid in kids:
        assert root["start_time"] <= kid["start_time"] <= kid["end_time"] <= root["end_time"]


def test_a_span_on_its_own_and_what_is_not_found(client: TestClient) -> None:
    out = run(client, "/agents/calc/runs", "what is 2+3?", "s1")
    trace_id = trace_id_of(out["run_id"])
    tool_span = next(n for n in nodes(client.get(f"/traces/{trace_id}").json()["tree"]) if n["type"] == "TOOL")

    one = client.get(f"/traces/{trace_id}", params={"span_id": tool_span["id"]})
    assert one.status_code == 200
    assert one.json()["name"] == "add"
    assert one.json()["type"] == "TOOL"
    assert "spans" not in one.json()

    missing_span = client.get(f"/traces/{trace_id}", params={"span_id": "0" * 16})
    assert missing_span.status_code == 404
    assert missing_span.json()["detail"] == "Span not found"
    assert client.get(f"/traces/{'f' * 32}").status_code == 404
    assert client.get("/traces/not-a-trace").json() == {"detail": "Trace not found"}
    # By the run's id too (AgentOS' `run_id` parameter), and never a run's trace under another trace id.
    assert client.get(f"/traces/{trace_id}", params={"run_id": out["run_id"]}).status_code == 200
    assert client.get(f"/traces/{'a' * 32}", params={"run_id": out["run_id"]}).status_code == 404


def test_a_failing_tool_marks_its_span_and_the_trace_as_errors(client: TestClient) -> None:
    out = run(client, "/agents/calc/runs", "please fail", "s1")
    detail = client.get(f"/traces/{trace_id_of(out['run_id'])}").json()
    failed = next(n for n in nodes(detail["tree"]) if n["type"] == "TOOL")
    assert failed["status"] == "ERROR"
    assert "boom: asked" in failed["error"]
    assert failed.get("output") is None
    assert detail["status"] == "ERROR"
    assert detail["error_count"] == 1
    assert out["status"] == "COMPLETED"  # the run itself went on: the model read the error
    assert client.get("/traces", params={"status": "ERROR"}).json()["meta"]["total_count"] == 1
    assert client.get("/traces", params={"status": "OK"}).json()["meta"]["total_count"] == 0


def test_a_failed_run_ends_its_trace_in_error(tmp_path: Path) -> None:
    broken = Agent(id="broken", model=FunctionModel(lambda m, p: RuntimeError("model down")))
    app = App(agents=[broken], store=SqliteStore(tmp_path / "b.db"))
    with TestClient(app.asgi(auth=None)) as c:
        response = c.post("/agents/broken/runs", data={"message": "hi", "stream": "false", "session_id": "s"})
        run_id = c.get("/sessions/s/runs").json()[0]["run_id"]
        assert response.status_code >= 400
        detail = c.get(f"/traces/{trace_id_of(run_id)}").json()
    assert detail["status"] == "ERROR"
    assert "model down" in detail["error"]
    assert "output" not in detail
    [root] = detail["tree"]
    [llm] = root["spans"]
    assert llm["type"] == "LLM"
    assert llm["status"] == "ERROR"


# --- teams and workflows ------------------------------------------------------------------------------------------


def test_a_team_trace_holds_each_member_run_under_the_call_that_delegated_to_it(client: TestClient) -> None:
    out = run(client, "/teams/studio/runs", "a line please", "t1")
    detail = client.get(f"/traces/{trace_id_of(out['run_id'])}").json()
    [root] = detail["tree"]
    assert root["type"] == "TEAM"
    assert detail["team_id"] == "studio"
    assert "agent_id" not in detail
    delegations = [k for k in root["spans"] if k["type"] == "TOOL"]
    assert len(delegations) == 2
    for delegation in delegations:
        [member] = delegation["spans"]
        member_id = json.loads(delegation["input"])["member_id"]
        assert member["type"] == "AGENT"
        assert member["name"] == f"{member_id.title()}.run"
        assert [s["type"] for s in member["spans"]] == ["LLM"]
        assert member["output"] == f"{member_id}: {json.loads(delegation['input'])['task']}"
        assert delegation["start_time"] <= member["start_time"] <= member["end_time"] <= delegation["end_time"]
    # Member runs are inside the team's trace, not traces of their own.
    assert client.get("/traces").json()["meta"]["total_count"] == 1


def test_a_workflow_trace_has_a_span_per_step_and_the_step_agent_under_its_step(client: TestClient) -> None:
    out = run(client, "/workflows/pipeline/runs", "hello", "w1")
    detail = client.get(f"/traces/{trace_id_of(out['run_id'])}").json()
    [root] = detail["tree"]
    assert root["type"] == "WORKFLOW"
    assert detail["workflow_id"] == "pipeline"
    steps = root["spans"]
    assert [s["type"] for s in steps] == ["STEP", "STEP"]
    assert steps[0]["name"] == "draft"
    [agent_span] = steps[0]["spans"]
    assert agent_span["type"] == "AGENT"
    assert agent_span["output"] == "drafter: hello"
    assert steps[1]["output"] == "DRAFTER: HELLO"
    assert steps[1]["step_type"] == "Step"
    assert detail["output"] == "DRAFTER: HELLO"


# --- listing, filters, search, stats ------------------------------------------------------------------------------


def test_filters_paging_and_session_stats(client: TestClient) -> None:
    first = run(client, "/agents/calc/runs", "what is 2+3?", "s1")
    run(client, "/agents/calc/runs", "again", "s1")
    run(client, "/agents/calc/runs", "once more", "s2")
    run(client, "/teams/studio/runs", "a line", "t1")

    every = client.get("/traces").json()
    assert every["meta"]["total_count"] == 4
    starts = [t["start_time"] for t in every["data"]]
    assert starts == sorted(starts, reverse=True)  # newest first
    paged = client.get("/traces", params={"limit": 3, "page": 2}).json()
    assert paged["meta"] == {**paged["meta"], "page": 2, "limit": 3, "total_pages": 2, "total_count": 4}
    assert [t["trace_id"] for t in paged["data"]] == [every["data"][3]["trace_id"]]

    assert client.get("/traces", params={"session_id": "s1"}).json()["meta"]["total_count"] == 2
    assert client.get("/traces", params={"agent_id": "calc"}).json()["meta"]["total_count"] == 3
    assert client.get("/traces", params={"team_id": "studio"}).json()["meta"]["total_count"] == 1
    [only] = client.get("/traces", params={"run_id": first["run_id"]}).json()["data"]
    assert only["run_id"] == first["run_id"]
    later = client.get("/traces", params={"start_time": every["data"][0]["start_time"]}).json()
    assert [t["trace_id"] for t in later["data"]] == [every["data"][0]["trace_id"]]
    bad = client.get("/traces", params={"start_time": "yesterday"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["query", "start_time"]

    stats = client.get("/trace_session_stats").json()
    by_session = {s["session_id"]: s for s in stats["data"]}
    assert by_session["s1"]["total_traces"] == 2
    assert by_session["s1"]["agent_id"] == "calc"
    assert by_session["t1"]["team_id"] == "studio"
    assert stats["meta"]["total_count"] == 3
    assert by_session["s1"]["first_trace_at"] <= by_session["s1"]["last_trace_at"]
    assert client.get("/trace_session_stats", params={"agent_id": "calc"}).json()["meta"]["total_count"] == 2


def test_search_with_a_filter_expression_by_run_and_by_session(client: TestClient) -> None:
    run(client, "/agents/calc/runs", "what is 2+3?", "s1")
    run(client, "/agents/calc/runs", "please fail", "s2")
    run(client, "/teams/studio/runs", "a line", "t1")

    errors = client.post("/traces/search", json={"filter": {"op": "EQ", "key": "status", "value": "ERROR"}})
    assert errors.status_code == 200, errors.text
    [failed] = errors.json()["data"]
    assert failed["session_id"] == "s2"
    assert failed["tree"][0]["type"] == "AGENT"

    expr = {
        "op": "AND",
        "conditions": [
            {"op": "STARTSWITH", "key": "name", "value": "calc"},
            {"op": "NOT", "condition": {"op": "IN", "key": "session_id", "values": ["s2"]}},
        ],
    }
    [calc] = client.post("/traces/search", json={"filter": expr}).json()["data"]
    assert calc["session_id"] == "s1"
    quick = {"op": "LT", "key": "duration_ms", "value": 60_000}
    assert client.post("/traces/search", json={"filter": quick}).json()["meta"]["total_count"] == 3

    sessions = client.post("/traces/search", json={"group_by": "session", "limit": 2}).json()
    assert sessions["meta"]["total_count"] == 3
    assert len(sessions["data"]) == 2
    assert {"session_id", "total_traces", "first_trace_at", "last_trace_at"} <= set(sessions["data"][0])

    for bad in ({"op": "EQ", "key": "secret", "value": 1}, {"op": "MAYBE"}, {"op": "AND", "conditions": []}):
        response = client.post("/traces/search", json={"filter": bad})
        assert response.status_code == 422, response.text
        [problem] = response.json()["detail"]
        assert problem["loc"] == ["body", "filter"]
        assert problem["msg"].startswith("Invalid filter expression")
    assert client.post("/traces/search", json={"limit": 1000}).status_code == 422


def test_the_filter_schema_lists_the_fields_search_takes(client: TestClient) -> None:
    schema = client.get("/traces/filter-schema").json()
    keys = {f["key"] for f in schema["fields"]}
    assert {"status", "user_id", "agent_id", "duration_ms", "start_time"} <= keys
    assert schema["logical_operators"] == ["AND", "OR"]
    status = next(f for f in schema["fields"] if f["key"] == "status")
    assert status["values"] == ["OK", "ERROR"]
    assert status["type"] == "enum"


# --- who sees what ------------------------------------------------------------------------------------------------


def test_a_user_sees_only_their_own_traces(tmp_path: Path) -> None:
    auth = ApiKeyAuth({hash_key("key-alice"): "alice", hash_key("key-bob"): "bob"})
    with TestClient(build_app(SqliteStore(tmp_path / "a.db")).asgi(auth=auth)) as c:
        alice, bob = {"Authorization": "Bearer key-alice"}, {"Authorization": "Bearer key-bob"}
        response = c.post("/agents/calc/runs", data={"message": "2+3?", "stream": "false"}, headers=alice)
        run_id = response.json()["run_id"]
        trace_id = trace_id_of(run_id)

        assert c.get("/traces", headers=alice).json()["meta"]["total_count"] == 1
        # Bob claims to be alice: the verified identity wins.
        assert c.get("/traces", params={"user_id": "alice"}, headers=bob).json()["meta"]["total_count"] == 0
        assert c.get(f"/traces/{trace_id}", headers=bob).status_code == 404
        assert c.get(f"/traces/{trace_id}", params={"run_id": run_id}, headers=bob).status_code == 404
        assert c.get("/trace_session_stats", headers=bob).json()["data"] == []
        assert c.post("/traces/search", json={}, headers=bob).json()["data"] == []
        assert c.get(f"/traces/{trace_id}", headers=alice).json()["user_id"] == "alice"
        assert c.get("/traces").status_code == 401


# --- the spans are kept with the run ------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "dynamodb"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> SqliteStore | DynamoStore:
    if request.param == "sqlite":
        return SqliteStore(tmp_path / "s.db")
    return request.getfixturevalue("dynamo_store")


async def test_the_spans_go_with_the_stored_run_in_both_stores(any_store: SqliteStore | DynamoStore) -> None:
    agent = Agent(id="calc", model=FunctionModel(calculator), tools=[add], store=any_store)
    out = await agent.arun("2+3?", session_id="s", user_id="u")
    assert out.status is RunStatus.COMPLETED
    assert out.spans is not None
    assert len(out.spans) == 4

    stored = await any_store.get_run(out.run_id, user_id="u")
    assert stored is not None
    assert stored.spans == out.spans
    spans = stored.spans or []
    assert {s["trace_id"] for s in spans} == {trace_id_of(out.run_id)}
    assert run_id_of(trace_id_of(out.run_id)) == out.run_id
    root = next(s for s in spans if s["parent_span_id"] is None)
    assert root["status"] == {"code": "OK", "message": None}
    assert root["attributes"]["stratus.usage.total_tokens"] == out.metrics.usage.total_tokens > 0
    assert all(s["end_time_unix_nano"] >= s["start_time_unix_nano"] for s in spans)
    # The run as AgentOS shows it carries no spans: /traces serves them.
    assert "spans" not in out.to_dict()


async def test_a_run_stored_before_spans_were_recorded_has_no_trace(store: SqliteStore) -> None:
    old = RunOutput(run_id="r-old", session_id="s", user_id="u", agent_id="a", status=RunStatus.COMPLETED)
    session = SessionRecord(session_id="s", session_type=SessionType.AGENT, component_id="a", user_id="u")
    await store.save_run(session, old)
    app = App(agents=[echo("a")], store=store)
    with TestClient(app.asgi(auth=None)) as c:
        assert c.get("/traces").json()["data"] == []
        assert c.get(f"/traces/{trace_id_of('r-old')}", params={"run_id": "r-old"}).status_code == 404


# --- /info --------------------------------------------------------------------------------------------------------


def test_info_describes_the_deployment_as_agentos_does(tmp_path: Path) -> None:
    app = build_app(SqliteStore(tmp_path / "i.db"))
    with TestClient(app.asgi(auth=None)) as c:
        info = c.get("/info").json()
    assert info == {
        "os_id": "stratus",
        "name": "stratus",
        "os_version": info["os_version"],
        "agno_version": "3.1.10",
        "agent_count": 1,
        "team_count": 1,
        "workflow_count": 1,
        "mcp": {"enabled": False, "path": None, "oauth": None, "tool_run_endpoint": False},
        "auth_mode": "none",
        "user_isolation": False,
    }
    auth = ApiKeyAuth({hash_key("k"): "alice"})
    with TestClient(app.asgi(auth=auth)) as c:
        keyed = c.get("/info", headers={"Authorization": "Bearer k"}).json()
    assert keyed["auth_mode"] == "security_key"
    assert keyed["user_isolation"] is True


# --- cost ---------------------------------------------------------------------------------------------------------


def test_recording_and_serving_traces_loads_no_opentelemetry_unless_export_is_configured() -> None:
    code = (
        "import sys\n"
        "from stratus import Agent\n"
        "from stratus.models.testing import FunctionModel\n"
        "out = Agent(id='a', model=FunctionModel(lambda m, p: 'hi')).run('hello')\n"
        "assert out.spans, out\n"
        "import stratus.api.routers.traces\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry.sdk') or 'otlp' in m))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert result.stdout.strip().splitlines()[-1] == "[]"


async def test_a_callers_uuid_run_id_whose_bits_look_packed_still_finds_its_trace(tmp_path: Path) -> None:
    # A UUID4 whose low 12 bits happen to be the packing mark (one in about 4,000): its trace id is its own
    # bits, which also unpack to a UUIDv7 no run has.
    n = uuid.uuid4().int & ~0xFFF & ~(0x3FF << 86) | 0x5A7 | (123 << 86)
    run_id = str(uuid.UUID(int=n))
    assert run_id_of(trace_id_of(run_id)) != run_id
    store = SqliteStore(tmp_path / "u.db")
    agent = Agent(id="calc", model=FunctionModel(calculator), tools=[add], store=store)
    await agent.arun("2+3?", session_id="s", run_id=run_id)
    with TestClient(App(agents=[agent], store=store).asgi(auth=None)) as c:
        response = c.get(f"/traces/{trace_id_of(run_id)}")
    assert response.status_code == 200, response.text
    assert response.json()["run_id"] == run_id
