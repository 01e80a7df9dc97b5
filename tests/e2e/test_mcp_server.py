"""`App(mcp=True)` served by the real server (`stratus dev`, uvicorn), driven by the `mcp` SDK's own client: it
lists the tools and resources, runs an agent, a team and a workflow with their progress streamed, reads the
sessions back, and user B, with a key of their own, sees none of user A's sessions or runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent, TextResourceContents

from tests.e2e.conftest import Server, start_server, stop_server
from tests.fakes.mcp_app import ANN_KEY, BOB_KEY

pytestmark = pytest.mark.e2e

TOOLS = {
    "get_agentos_config",
    "run_agent",
    "run_team",
    "run_workflow",
    "continue_run",
    "cancel_run",
    "get_sessions",
    "get_session_runs",
}
"""AgentOS' MCP tools, each served."""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = start_server(tmp_path, app="tests.fakes.mcp_app:mcp_app")
    yield running
    stop_server(running)


@pytest.fixture
def keyed_server(tmp_path: Path) -> Iterator[Server]:
    """The same app behind two API keys: ann's and bob's."""
    running = start_server(
        tmp_path, app="tests.fakes.mcp_app:keyed_app", env={"STRATUS_AUTH": "api_key", "STRATUS_API_KEYS_SECRET": "x"}
    )
    yield running
    stop_server(running)


@asynccontextmanager
async def as_user(server: Server, key: str) -> AsyncIterator[Client]:
    """The SDK's client, sending `key` with every request."""
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30) as http,
        Client(streamable_http_client(f"{server.url}/mcp", http_client=http)) as client,
    ):
        yield client


def text(result: CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


async def call(client: Client, tool: str, **arguments: Any) -> tuple[dict[str, Any], list[str]]:
    """The tool's structured result, and the messages of the progress notifications it sent meanwhile."""
    notes: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        notes.append(message or "")

    result = await client.call_tool(tool, arguments, progress_callback=on_progress)
    assert not result.is_error, text(result)
    assert result.structured_content is not None
    return result.structured_content, notes


async def refused(client: Client, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error
    return text(result)


async def test_the_mcp_client_runs_agents_teams_and_workflows_with_their_progress(server: Server) -> None:
    async with Client(f"{server.url}/mcp") as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) == TOOLS
        assert tools["run_agent"].input_schema["required"] == ["agent_id", "message"]
        reads = tools["get_sessions"].annotations
        assert reads is not None
        assert reads.read_only_hint

        config, _ = await call(client, "get_agentos_config")
        assert [a["id"] for a in config["agents"]] == ["assistant", "banker", "broken"]
        assert ([t["id"] for t in config["teams"]], [w["id"] for w in config["workflows"]]) == (["desk"], ["pipeline"])

        run, notes = await call(client, "run_agent", agent_id="assistant", message="tea", user_id="ann")
        assert (run["status"], run["content"], run["agent_id"]) == ("COMPLETED", "answer: found tea", "assistant")
        assert notes == [
            "RunStarted: Assistant",
            "ToolCallStarted: lookup",
            "ToolCallCompleted: lookup",
            "RunContentCompleted: Assistant",
            "RunCompleted: Assistant",
        ]
        # Stored as a REST run is: in the caller's session, read back over REST.
        async with httpx.AsyncClient(base_url=server.url) as rest:
            stored = await rest.get(f"/sessions/{run['session_id']}/runs", params={"user_id": "ann"})
        assert [(r["run_id"], r["content"]) for r in stored.json()] == [(run["run_id"], "answer: found tea")]

        team, notes = await call(client, "run_team", team_id="desk", message="coffee", user_id="ann")
        assert (team["status"], team["content"], team["team_id"]) == ("COMPLETED", "answer: found coffee", "desk")
        assert "ToolCallStarted: lookup" in notes  # the member's tool call, as it happened
        assert (notes[0], notes[-1]) == ("TeamRunStarted: Desk", "TeamRunCompleted: Desk")

        flow, notes = await call(client, "run_workflow", workflow_id="pipeline", message="milk", user_id="ann")
        assert (flow["status"], flow["content"], flow["workflow_id"]) == ("COMPLETED", "ANSWER: FOUND MILK", "pipeline")
        assert [n for n in notes if n.startswith("Step")] == [
            "StepStarted: Assistant",
            "StepCompleted: Assistant",
            "StepStarted: shout",
            "StepOutput: shout",
            "StepCompleted: shout",
        ]

        # A follow-up to the agent's completed run, in its session; a run that ended cannot be cancelled.
        more, _ = await call(
            client,
            "continue_run",
            run_id=run["run_id"],
            session_id=run["session_id"],
            agent_id="assistant",
            input="sugar",
            user_id="ann",
        )
        assert (more["session_id"], more["content"]) == (run["session_id"], "answer: found sugar")
        assert more["run_id"] != run["run_id"]
        message = await refused(client, "cancel_run", run_id=run["run_id"], agent_id="assistant")
        assert "already ended with status COMPLETED" in message

        sessions, _ = await call(client, "get_sessions", session_type="agent", user_id="ann")
        assert [(s["session_id"], s["agent_id"]) for s in sessions["data"]] == [(run["session_id"], "assistant")]
        assert sessions["meta"]["total_count"] == 1
        history, _ = await call(client, "get_session_runs", session_id=run["session_id"], user_id="ann")
        assert [(r["run_input"], r["content"], r["status"]) for r in history["result"]] == [
            ("tea", "answer: found tea", "COMPLETED"),
            ("sugar", "answer: found sugar", "COMPLETED"),
        ]
        full, _ = await call(
            client, "get_session_runs", session_id=run["session_id"], run_id=run["run_id"], user_id="ann"
        )
        assert [t["tool_name"] for t in full["result"][0]["tools"]] == ["lookup"]

        templates = (await client.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == ["stratus://sessions/{session_id}"]
        read = (await client.read_resource(f"stratus://sessions/{run['session_id']}")).contents[0]
        assert isinstance(read, TextResourceContents)
        assert '"answer: found sugar"' in read.text
        resources = (await client.list_resources()).resources
        assert [str(r.uri) for r in resources] == ["stratus://config"]


async def test_a_paused_run_goes_on_with_continue_run_and_a_failed_run_is_a_tool_error(server: Server) -> None:
    async with Client(f"{server.url}/mcp") as client:
        paused, _ = await call(client, "run_agent", agent_id="banker", message="pay", user_id="ann")
        assert (paused["status"], paused["content"]) == ("PAUSED", "Run paused: 1 requirement(s) awaiting resolution.")
        [requirement] = paused["requirements"]
        assert requirement["tool_execution"]["tool_name"] == "transfer"

        # Undecided, the run stays paused: a tool error saying what is missing.
        undecided = await refused(
            client, "continue_run", run_id=paused["run_id"], session_id=paused["session_id"], agent_id="banker"
        )
        assert "awaits" in undecided
        done, notes = await call(
            client,
            "continue_run",
            run_id=paused["run_id"],
            session_id=paused["session_id"],
            agent_id="banker",
            requirements=[{**requirement, "confirmation": True}],
            user_id="ann",
        )
        assert (done["run_id"], done["status"], done["content"]) == (paused["run_id"], "COMPLETED", "done: sent 10")
        assert "ToolCallCompleted: transfer" in notes

        result = await client.call_tool("run_agent", {"agent_id": "broken", "message": "hi", "user_id": "ann"})
        assert result.is_error
        assert result.structured_content is not None
        assert (result.structured_content["status"], result.structured_content["agent_id"]) == ("ERROR", "broken")
        stored, _ = await call(client, "get_session_runs", session_id=result.structured_content["session_id"])
        assert [r["status"] for r in stored["result"]] == ["ERROR"]  # stored as a REST run's error is


async def test_bad_arguments_are_tool_errors_and_store_nothing(server: Server) -> None:
    async with Client(f"{server.url}/mcp") as client:
        assert "agent 'nobody' not found" in await refused(client, "run_agent", agent_id="nobody", message="hi")
        assert "message" in await refused(client, "run_agent", agent_id="assistant", message="")
        assert "agent_id" in await refused(client, "run_agent", message="hi")
        assert "exactly one of" in await refused(
            client, "continue_run", run_id="r", session_id="s", agent_id="assistant", team_id="desk"
        )
        assert "run 'r' not found" in await refused(
            client, "continue_run", run_id="r", session_id="s", agent_id="assistant", input="more"
        )
        assert "session 'nowhere' not found" in await refused(client, "get_session_runs", session_id="nowhere")
        assert "unknown db_id" in await refused(client, "get_sessions", db_id="other")
        listed, _ = await call(client, "get_sessions")
        assert listed["data"] == []
    async with httpx.AsyncClient(base_url=server.url) as rest:
        over_rest = await rest.get("/sessions")
    assert over_rest.status_code == 200, over_rest.text
    assert over_rest.json()["data"] == []


async def test_user_b_sees_none_of_user_as_sessions_over_mcp(keyed_server: Server) -> None:
    async with as_user(keyed_server, ANN_KEY) as ann:
        # The verified identity wins over the user a tool call claims, as over REST.
        run, _ = await call(ann, "run_agent", agent_id="assistant", message="tea", user_id="bob")
        mine, _ = await call(ann, "get_sessions")
        assert [(s["session_id"], s["user_id"]) for s in mine["data"]] == [(run["session_id"], "ann")]
    session_id, run_id = run["session_id"], run["run_id"]

    async with as_user(keyed_server, BOB_KEY) as bob:
        theirs, _ = await call(bob, "get_sessions", user_id="ann")
        assert theirs["data"] == []
        assert "not found" in await refused(bob, "get_session_runs", session_id=session_id, user_id="ann")
        assert "not found" in await refused(
            bob, "get_session_runs", session_id=session_id, run_id=run_id, session_type="agent"
        )
        # Nor run in it, continue or cancel its runs: absent to bob, and nothing is stored for the attempts.
        assert f"session {session_id!r} not found" in await refused(
            bob, "run_agent", agent_id="assistant", message="hi", session_id=session_id
        )
        assert "not found" in await refused(
            bob, "continue_run", run_id=run_id, session_id=session_id, agent_id="assistant", input="more"
        )
        assert "not found" in await refused(
            bob, "cancel_run", run_id=run_id, session_id=session_id, agent_id="assistant"
        )
        with pytest.raises(Exception, match="not found"):
            await bob.read_resource(f"stratus://sessions/{session_id}")
        nothing, _ = await call(bob, "get_sessions")
        assert nothing["data"] == []

    async with as_user(keyed_server, ANN_KEY) as ann:
        history, _ = await call(ann, "get_session_runs", session_id=session_id)
        assert [r["run_id"] for r in history["result"]] == [run_id]

    # No key, no MCP: the REST API's authentication runs before /mcp.
    async with httpx.AsyncClient(base_url=keyed_server.url) as rest:
        anonymous = await rest.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"Accept": "application/json, text/event-stream"},
        )
    assert anonymous.status_code == 401
