"""agno's run controls on stratus' agents and teams, with scripted models: what the model was sent, what
the tools saw, what was stored."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from stratus import Agent, RunStatus, tool
from stratus.exceptions import ConfigError, InputValidationError
from stratus.messages import Message
from stratus.models.base import ModelRequest
from stratus.models.testing import FunctionModel, ScriptedModel, call
from stratus.run import RunContext
from stratus.storage.base import Store
from stratus.storage.sqlite import SqliteStore
from stratus.team import Team

LOOKED_UP: list[str] = []


@tool
def lookup(city: str) -> str:
    """Look a city's weather up.

    Args:
        city: The city.
    """
    LOOKED_UP.append(city)
    return f"sunny in {city}"


@tool
def shout(text: str) -> str:
    """Say it louder.

    Args:
        text: What to say.
    """
    return text.upper()


@pytest.fixture(autouse=True)
def _forget_lookups() -> None:
    LOOKED_UP.clear()


# --- tool_choice -----------------------------------------------------------------------------------------


async def test_tool_choice_none_is_sent_with_every_request() -> None:
    model = ScriptedModel("No tools today.")
    agent = Agent(model=model, tools=[lookup], tool_choice="none")

    out = await agent.arun("Weather in Oslo?")

    assert out.content == "No tools today."
    assert [p.tool_choice for p in model.params] == ["none"]
    assert model.tool_names == [["lookup"]]  # the tools are still declared: the provider says "none"


async def test_a_named_tool_is_forced_on_the_first_request_then_the_model_decides() -> None:
    model = ScriptedModel(call("lookup", city="Oslo"), "Sunny in Oslo.")
    agent = Agent(model=model, tools=[lookup, shout], tool_choice={"type": "function", "function": {"name": "lookup"}})

    out = await agent.arun("Weather in Oslo?")

    assert out.status is RunStatus.COMPLETED, out.error
    assert agent.tool_choice == "lookup"
    assert [p.tool_choice for p in model.params] == ["lookup", "auto"]
    assert LOOKED_UP == ["Oslo"]


async def test_without_a_tool_choice_none_is_sent_and_without_tools_nothing_is_forced() -> None:
    model = ScriptedModel("hi", "hi again")
    await Agent(model=model, tools=[lookup]).arun("hello")
    await Agent(model=model, tool_choice="required").arun("hello")

    assert [p.tool_choice for p in model.params] == [None, None]


async def test_a_tool_choice_naming_no_tool_of_the_agent_fails_the_run_before_any_request() -> None:
    model = ScriptedModel("never")
    out = await Agent(model=model, tools=[lookup], tool_choice="weather").arun("hello")

    assert out.status is RunStatus.ERROR
    assert "tool_choice names 'weather'" in (out.error or "")
    assert model.requests == []


@pytest.mark.parametrize("choice", ["", {"type": "function"}, {"function": {"name": ""}}])
def test_a_tool_choice_that_names_nothing_is_a_config_error(choice: Any) -> None:
    with pytest.raises(ConfigError, match="tool_choice"):
        Agent(model=ScriptedModel(), tool_choice=choice)


async def test_a_teams_tool_choice_reaches_its_leader() -> None:
    leader = ScriptedModel("I answer myself.")
    member = Agent(id="helper", model=ScriptedModel())
    team = Team(id="desk", model=leader, members=[member], tool_choice="none")

    out = await team.arun("hello")

    assert out.status is RunStatus.COMPLETED, out.error
    assert [p.tool_choice for p in leader.params] == ["none"]


# --- tool_call_limit -------------------------------------------------------------------------------------


async def test_calls_past_the_limit_are_not_run_and_the_model_is_told_then_sent_none(store: SqliteStore) -> None:
    model = ScriptedModel(
        [call("lookup", city="Oslo"), call("lookup", city="Bergen"), call("lookup", city="Rome")],
        "Oslo and Bergen are sunny.",
    )
    agent = Agent(model=model, tools=[lookup], tool_call_limit=2, store=store)

    out = await agent.arun("Weather in Oslo, Bergen and Rome?", session_id="s1")

    assert out.status is RunStatus.COMPLETED, out.error
    assert LOOKED_UP == ["Oslo", "Bergen"]
    assert [p.tool_choice for p in model.params] == [None, "none"]
    results = [(m.tool_name, m.content, m.tool_call_error) for m in model.requests[1] if m.role == "tool"]
    assert results == [
        ("lookup", "sunny in Oslo", False),
        ("lookup", "sunny in Bergen", False),
        ("lookup", "Tool call limit reached. Tool call lookup not executed. Don't try to execute it again.", True),
    ]
    stored = await store.get_run(out.run_id)
    assert stored is not None
    assert [t.tool_args for t in stored.tools or []] == [{"city": "Oslo"}, {"city": "Bergen"}]
    assert [m.tool_call_error for m in stored.messages if m.role == "tool"] == [False, False, True]


async def test_the_limit_counts_calls_across_rounds() -> None:
    model = ScriptedModel(call("lookup", city="Oslo"), call("lookup", city="Rome"), "Oslo is sunny.")
    agent = Agent(model=model, tools=[lookup], tool_call_limit=1)

    out = await agent.arun("Weather?")

    assert out.status is RunStatus.COMPLETED, out.error
    assert LOOKED_UP == ["Oslo"]
    assert [p.tool_choice for p in model.params] == [None, "none", "none"]
    assert model.requests[2][-1].tool_call_error is True


async def test_a_limit_of_zero_sends_none_from_the_start() -> None:
    model = ScriptedModel("Without tools.")
    out = await Agent(model=model, tools=[lookup], tool_call_limit=0).arun("Weather?")

    assert out.content == "Without tools."
    assert [p.tool_choice for p in model.params] == ["none"]


def test_a_negative_limit_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="tool_call_limit"):
        Agent(model=ScriptedModel(), tool_call_limit=-1)


# --- input_schema ----------------------------------------------------------------------------------------


class Trip(BaseModel):
    city: str
    days: int
    budget: float | None = None


async def test_a_dict_input_is_validated_and_sent_as_the_schemas_json(store: SqliteStore) -> None:
    model = ScriptedModel("Three days in Oslo.")
    agent = Agent(model=model, input_schema=Trip, store=store)

    out = await agent.arun({"city": "Oslo", "days": "3"}, session_id="s1")  # pyright: ignore[reportArgumentType]

    assert out.status is RunStatus.COMPLETED, out.error
    sent = model.requests[0][-1]
    assert sent.role == "user"
    assert json.loads(sent.content or "") == {"city": "Oslo", "days": 3}
    stored = await store.get_run(out.run_id)
    assert stored is not None
    assert stored.input is not None
    assert json.loads(str(stored.input.input_content)) == {"city": "Oslo", "days": 3}


async def test_a_json_string_or_the_model_itself_is_taken_too() -> None:
    model = ScriptedModel("ok", "ok")
    agent = Agent(model=model, input_schema=Trip)

    await agent.arun('{"city": "Rome", "days": 2, "budget": 500}')
    await agent.arun(Trip(city="Bergen", days=1))  # pyright: ignore[reportArgumentType]

    assert [json.loads(r[-1].content or "") for r in model.requests] == [
        {"city": "Rome", "days": 2, "budget": 500.0},
        {"city": "Bergen", "days": 1},
    ]


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ({"city": "Oslo"}, "days: Field required"),
        ('{"city": "Oslo", "days": "many"}', "days: Input should be a valid integer"),
        ("three days in Oslo", "Invalid JSON"),
    ],
)
async def test_an_input_that_does_not_validate_is_refused_before_the_run_and_nothing_is_stored(
    store: SqliteStore, given: Any, problem: str
) -> None:
    model = ScriptedModel("never")
    agent = Agent(model=model, input_schema=Trip, store=store)

    with pytest.raises(InputValidationError, match="does not match Trip") as raised:
        agent.arun(given, session_id="s1")

    assert problem in str(raised.value)
    assert isinstance(raised.value, ValueError)  # as agno raises it
    assert model.requests == []
    assert await store.get_session("s1") is None


def test_an_agent_without_input_schema_takes_only_text() -> None:
    with pytest.raises(InputValidationError, match="takes text"):
        Agent(model=ScriptedModel()).execution({"city": "Oslo"})  # pyright: ignore[reportArgumentType]


def test_the_api_answers_422_for_an_input_that_does_not_validate_and_stores_nothing(store: SqliteStore) -> None:
    from fastapi.testclient import TestClient

    from stratus import App

    model = ScriptedModel("Two days in Rome.")
    agent = Agent(id="planner", model=model, input_schema=Trip)
    with TestClient(App(agents=[agent], store=store).asgi()) as client:
        bad = client.post("/agents/planner/runs", data={"message": '{"city": "Rome"}', "stream": "false"})
        streamed = client.post("/agents/planner/runs", data={"message": "Rome please", "stream": "true"})
        good = client.post("/agents/planner/runs", data={"message": '{"city": "Rome", "days": 2}', "stream": "false"})
        sessions = client.get("/sessions", params={"type": "agent"}).json()
        described = client.get("/agents/planner").json()

    assert bad.status_code == 422
    assert "days: Field required" in bad.json()["detail"]
    assert streamed.status_code == 422
    assert "Invalid JSON" in streamed.json()["detail"]
    assert good.status_code == 200, good.text
    assert good.json()["content"] == "Two days in Rome."
    assert [s["session_id"] for s in sessions["data"]] == [good.json()["session_id"]]
    assert described["input_schema"]["required"] == ["city", "days"]


# --- dependencies ----------------------------------------------------------------------------------------


async def test_dependencies_are_resolved_per_run_and_reach_tools_instructions_and_the_message() -> None:
    calls: list[str] = []

    def today() -> str:
        calls.append("today")
        return f"day {len(calls)}"

    async def account(run_context: RunContext) -> dict[str, Any]:
        return {"user": run_context.user_id, "plan": "pro"}

    def plan_of(agent: Agent) -> str:
        return f"the plan of {agent.agent_id}"

    seen: list[dict[str, Any]] = []

    @tool
    def quota(dependencies: dict[str, Any]) -> str:
        """How much the user may still use."""
        seen.append(dependencies)
        return f"plenty for {dependencies['account']['user']}"

    def instructions(context: RunContext) -> str:
        return f"Today is {context.dependencies['today']}."

    model = ScriptedModel(call("quota"), "You have plenty.", "Again plenty.")
    agent = Agent(
        id="desk",
        model=model,
        tools=[quota],
        instructions=instructions,
        dependencies={"today": today, "account": account, "plan": plan_of, "region": "eu", "broken": lambda: 1 / 0},
        add_dependencies_to_context=True,
    )

    out = await agent.arun("How much quota is left?", user_id="ada")
    again = await agent.arun("And now?", user_id="bob")

    assert out.status is RunStatus.COMPLETED, out.error
    assert again.status is RunStatus.COMPLETED, again.error
    assert calls == ["today", "today"]  # once per run
    expected = {"today": "day 1", "account": {"user": "ada", "plan": "pro"}, "plan": "the plan of desk", "region": "eu"}
    assert seen == [expected]  # the failing one is left out
    assert quota.definition().parameters.get("properties", {}) == {}  # hidden from the model
    first = model.requests[0]
    assert first[0].content == "Today is day 1."
    user = first[-1].content or ""
    assert user.startswith("How much quota is left?\n\n<additional context>\n")
    assert json.loads(user.split("<additional context>\n")[1].split("\n</additional context>")[0]) == expected
    assert "day 2" in (model.requests[2][0].content or "")
    assert '"user": "bob"' in (model.requests[2][-1].content or "")
    assert out.input is not None
    assert out.input.input_content == "How much quota is left?"  # the stored input is the user's own


async def test_without_add_dependencies_to_context_the_message_is_the_users_alone() -> None:
    model = ScriptedModel("ok")
    await Agent(model=model, dependencies={"region": "eu"}).arun("hello")

    assert model.requests[0][-1].content == "hello"


# --- num_history_messages --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "history"),
    [
        (3, ["assistant: Sunny in Oslo.", "user: And Rome?", "assistant: Rome too."]),
        (4, ["assistant: Sunny in Oslo.", "user: And Rome?", "assistant: Rome too."]),  # its call was cut off
        (
            5,
            [
                "assistant: lookup",
                "tool: sunny in Oslo",
                "assistant: Sunny in Oslo.",
                "user: And Rome?",
                "assistant: Rome too.",
            ],
        ),
        (0, []),
    ],
)
async def test_num_history_messages_sends_the_newest_messages_across_runs(
    store: SqliteStore, count: int, history: list[str]
) -> None:
    model = ScriptedModel(call("lookup", city="Oslo"), "Sunny in Oslo.", "Rome too.", "Noted.")
    agent = Agent(
        model=model,
        tools=[lookup],
        instructions="Be brief.",
        store=store,
        add_history_to_context=True,
        num_history_runs=1,  # the message count rules instead
        num_history_messages=count,
    )
    for text in ("Weather in Oslo?", "And Rome?", "Thanks"):
        out = await agent.arun(text, session_id="s1")
        assert out.status is RunStatus.COMPLETED, out.error

    sent = model.requests[-1]
    assert sent[0].role == "system"
    shown = [f"{m.role}: {m.content or (m.tool_calls or [])[0].name}" for m in sent[1:-1]]
    assert shown == history
    assert sent[-1].content == "Thanks"
    stored = await store.get_runs("s1")
    assert [m.role for m in stored[-1].messages] == ["system", "user", "assistant"]  # history is not stored again


# --- update_session_state, get_chat_history, search_past_sessions ----------------------------------------


@pytest.fixture(params=["sqlite", "dynamodb"])
async def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    s: Store = (
        SqliteStore(tmp_path / "both.db") if request.param == "sqlite" else request.getfixturevalue("dynamo_store")
    )
    yield s
    await s.close()


async def test_the_model_updates_the_session_state_which_is_stored_and_shown_next_run(any_store: Store) -> None:
    model = ScriptedModel(
        call("update_session_state", session_state_updates={"shopping_list": ["milk", "eggs"]}),
        "Added.",
        "You need milk and eggs.",
    )
    agent = Agent(
        model=model,
        store=any_store,
        session_state={"shopping_list": []},
        enable_agentic_state=True,
        add_session_state_to_context=True,
    )

    out = await agent.arun("Add milk and eggs", session_id="s1")
    again = await agent.arun("What do I need?", session_id="s1")

    assert out.status is RunStatus.COMPLETED, out.error
    assert again.status is RunStatus.COMPLETED, again.error
    assert model.tool_names[0] == ["update_session_state"]
    assert model.params[0].tools[0].parameters["required"] == ["session_state_updates"]
    assert (out.tools or [])[0].result == 'Updated session state: {"shopping_list": ["milk", "eggs"]}'
    session = await any_store.get_session("s1")
    assert session is not None
    assert session.session_state == {"shopping_list": ["milk", "eggs"]}
    assert '<session_state>\n{"shopping_list": []}\n</session_state>' in (model.requests[0][0].content or "")
    assert '<session_state>\n{"shopping_list": ["milk", "eggs"]}\n</session_state>' in (
        model.requests[2][0].content or ""
    )


async def test_get_chat_history_reads_the_sessions_messages(any_store: Store) -> None:
    model = ScriptedModel("Hello Ada.", "Oslo is nice.", call("get_chat_history", num_chats=2), "You asked about Oslo.")
    agent = Agent(model=model, store=any_store, instructions="Be kind.", read_chat_history=True)
    for text in ("I am Ada", "Tell me about Oslo", "What did I ask?"):
        out = await agent.arun(text, session_id="s1", user_id="ada")
        assert out.status is RunStatus.COMPLETED, out.error

    result = json.loads((out.tools or [])[0].result or "")
    assert [(m["role"], m["content"]) for m in result] == [
        ("user", "Tell me about Oslo"),
        ("assistant", "Oslo is nice."),
    ]
    model.replies = [call("get_chat_history"), "All of it."]
    out = await agent.arun("Everything?", session_id="s1", user_id="ada")
    everything = json.loads((out.tools or [])[0].result or "")
    roles = ["system", "user", "assistant", "user", "assistant", "user", "assistant", "tool", "assistant"]
    assert [m["role"] for m in everything] == roles  # the earlier runs', each once; the system message once
    assert everything[0]["content"] == "Be kind."


async def test_search_past_sessions_lists_only_the_users_own_sessions_with_this_agent(any_store: Store) -> None:
    chat = ScriptedModel(*["ok"] * 4)
    helper = Agent(id="helper", model=chat, store=any_store)
    await helper.arun("I like tea", session_id="s1", user_id="ada")
    await helper.arun("I like Oslo", session_id="s2", user_id="ada")
    await helper.arun("Bob's secret", session_id="s3", user_id="bob")
    await Agent(id="other", model=chat, store=any_store).arun("Elsewhere", session_id="s4", user_id="ada")

    model = ScriptedModel(
        call("search_past_sessions"),
        [call("read_past_session", session_id="s1"), call("read_past_session", session_id="s3")],
        "You like tea and Oslo.",
        call("search_past_sessions"),
        "Nothing.",
    )
    agent = Agent(
        id="helper", model=model, store=any_store, search_past_sessions=True, num_past_session_runs_in_search=1
    )

    out = await agent.arun("What do I like?", session_id="s5", user_id="ada")
    anonymous = await agent.arun("What do I like?", session_id="s6")

    assert out.status is RunStatus.COMPLETED, out.error
    tools = out.tools or []
    listed = json.loads(tools[0].result or "")
    assert [s["session_id"] for s in listed] == ["s2", "s1"]  # newest first; not s5 (this one), s3 or s4
    assert listed[1]["runs"] == [{"user": "I like tea", "assistant": "ok"}]
    assert "User: I like tea" in (tools[1].result or "")
    assert tools[2].result == "Session not found."  # bob's
    assert anonymous.status is RunStatus.COMPLETED, anonymous.error
    assert (anonymous.tools or [])[0].result == "[]"


# --- enable_agentic_knowledge_filters --------------------------------------------------------------------


async def test_the_model_filters_its_knowledge_search_on_the_metadata_keys_in_use(
    tmp_path: Path, store: SqliteStore
) -> None:
    from stratus.knowledge import Knowledge
    from stratus.knowledge.embedders.testing import HashEmbedder
    from stratus.knowledge.vectordb.embedded import EmbeddedVectorDb

    docs = Knowledge(
        "docs",
        embedder=HashEmbedder(64),
        vector_db=EmbeddedVectorDb("docs", dimensions=64, path=tmp_path / "vectors"),
        store=store,
        per_user=False,
    )
    await docs.add(text="Contract with Acme: payment due in 30 days.", metadata={"doc_type": "contract", "year": 2024})
    await docs.add(text="Invoice for Acme: payment due now.", metadata={"doc_type": "invoice", "region": "eu"})
    model = ScriptedModel(
        call("search_knowledge_base", query="Acme payment", filters=[{"key": "doc_type", "value": "contract"}]),
        call(
            "search_knowledge_base",
            query="Acme payment",
            filters=[{"key": "doc_type", "value": "invoice"}, {"key": "colour", "value": "red"}],
        ),
        "30 days.",
    )
    agent = Agent(
        model=model,
        knowledge=docs,
        enable_agentic_knowledge_filters=True,
        knowledge_filters={"doc_type": "contract"},  # the agent's own filter wins over the model's
    )

    out = await agent.arun("When must Acme pay under the contract?")
    await docs.close()

    assert out.status is RunStatus.COMPLETED, out.error
    definition = model.params[0].tools[0]
    assert definition.name == "search_knowledge_base"
    assert "metadata filter keys: doc_type, region, year." in definition.description
    assert definition.parameters["$defs"]["KnowledgeFilter"]["required"] == ["key", "value"]
    assert definition.parameters["required"] == ["query"]
    first, second = [t.result or "" for t in out.tools or []]
    assert "Contract with Acme" in first
    assert "Invoice" not in first
    assert second.startswith("(Filters on unknown keys were ignored: colour.)")
    assert "Contract with Acme" in second  # doc_type=invoice lost to the agent's doc_type=contract
    assert "Invoice" not in second


async def test_without_agentic_filters_the_search_tool_takes_only_a_query(tmp_path: Path, store: SqliteStore) -> None:
    from stratus.knowledge import Knowledge
    from stratus.knowledge.embedders.testing import HashEmbedder

    docs = Knowledge("docs", embedder=HashEmbedder(16), store=store)
    model = ScriptedModel("ok")
    await Agent(model=model, knowledge=docs).arun("hello")
    await docs.close()

    assert list(model.params[0].tools[0].parameters["properties"]) == ["query"]


# --- enable_session_summaries ----------------------------------------------------------------------------


class Summarizing:
    """A model that chats ("ok"), and summarizes when asked as agno's summary manager asks."""

    def __init__(self, summary: str | None = None) -> None:
        self.systems: list[str] = []
        self.summary = summary
        self.model = FunctionModel(self.answer)

    def answer(self, messages: list[Message], params: ModelRequest) -> str:
        system = messages[0].content or "" if messages[0].role == "system" else ""
        if system.startswith("Analyze the following conversation"):
            said = re.findall(r"User: (.*?)\s*(?:\n|</conversation>)", system)
            if self.summary is not None:
                return self.summary
            return json.dumps({"summary": "The user said: " + " / ".join(said), "topics": ["travel"]})
        self.systems.append(system)
        return "ok"


async def test_a_summary_of_the_session_is_stored_after_each_run_and_shown_in_the_next(store: SqliteStore) -> None:
    chat = Summarizing()
    agent = Agent(id="planner", model=chat.model, store=store, enable_session_summaries=True)

    first = await agent.arun("I plan a trip to Oslo", session_id="s1", user_id="ada")
    session = await store.get_session("s1")
    assert session is not None
    assert session.summary is not None
    assert session.summary["summary"] == "The user said: I plan a trip to Oslo"
    assert session.summary["topics"] == ["travel"]
    second = await agent.arun("In May", session_id="s1", user_id="ada")

    assert first.status is RunStatus.COMPLETED, first.error
    assert second.status is RunStatus.COMPLETED, second.error
    assert "summary_of_previous_interactions" not in chat.systems[0]
    assert "<summary_of_previous_interactions>\nThe user said: I plan a trip to Oslo\n" in chat.systems[1]
    session = await store.get_session("s1")
    assert session is not None
    assert session.summary is not None
    assert session.summary["summary"] == "The user said: I plan a trip to Oslo / In May"

    from fastapi.testclient import TestClient

    from stratus import App

    with TestClient(App(agents=[agent], store=store).asgi()) as client:
        shown = client.get("/sessions/s1", params={"type": "agent", "user_id": "ada"}).json()
    assert shown["session_summary"]["summary"] == "The user said: I plan a trip to Oslo / In May"


async def test_a_summary_model_that_answers_nonsense_leaves_the_run_and_the_session_as_they_were(
    store: SqliteStore,
) -> None:
    chat = Summarizing(summary="I would rather not.")
    agent = Agent(model=chat.model, store=store, enable_session_summaries=True, add_session_summary_to_context=False)

    out = await agent.arun("I plan a trip to Oslo", session_id="s1")

    assert out.status is RunStatus.COMPLETED, out.error
    session = await store.get_session("s1")
    assert session is not None
    assert session.summary is None


async def test_a_separate_summary_model_writes_it(store: SqliteStore) -> None:
    summarizer = ScriptedModel('```json\n{"summary": "Oslo trip.", "topics": null}\n```')
    agent = Agent(
        model=ScriptedModel("ok"), store=store, enable_session_summaries=True, session_summary_model=summarizer
    )

    await agent.arun("I plan a trip to Oslo", session_id="s1")

    session = await store.get_session("s1")
    assert session is not None
    assert session.summary is not None
    assert session.summary["summary"] == "Oslo trip."
    assert "User: I plan a trip to Oslo" in (summarizer.requests[0][0].content or "")


async def test_a_teams_input_schema_validates_its_input_before_the_leader_sees_it(store: SqliteStore) -> None:
    from fastapi.testclient import TestClient

    from stratus import App

    leader = ScriptedModel("Rome it is.", "Rome again.")
    team = Team(id="desk", model=leader, members=[Agent(id="helper", model=ScriptedModel())], input_schema=Trip)

    out = await team.arun({"city": "Rome", "days": 2})  # pyright: ignore[reportArgumentType]
    with pytest.raises(InputValidationError, match="team 'desk': the input does not match Trip"):
        team.arun({"city": "Rome"})  # pyright: ignore[reportArgumentType]
    with TestClient(App(teams=[team], store=store).asgi()) as client:
        bad = client.post("/teams/desk/runs", data={"message": '{"days": 2}', "stream": "false"})
        good = client.post("/teams/desk/runs", data={"message": '{"city": "Rome", "days": 2}', "stream": "false"})
        described = client.get("/teams/desk").json()

    assert out.status is RunStatus.COMPLETED, out.error
    assert json.loads(leader.requests[0][-1].content or "") == {"city": "Rome", "days": 2}
    assert bad.status_code == 422
    assert "city: Field required" in bad.json()["detail"]
    assert good.status_code == 200, good.text
    assert described["input_schema"]["required"] == ["city", "days"]


async def test_a_runs_own_dependencies_win_over_the_agents() -> None:
    seen: list[dict[str, Any]] = []

    @tool
    def where(dependencies: dict[str, Any]) -> str:
        """Where the user is."""
        seen.append(dict(dependencies))
        return str(dependencies["region"])

    async def caller() -> str:
        return "resolved per run"

    model = ScriptedModel(call("where"), "In the US.", call("where"), "In the EU.")
    agent = Agent(model=model, tools=[where], dependencies={"region": "eu", "plan": "free"})

    await agent.arun("Where am I?", dependencies={"region": "us", "who": caller})
    await agent.arun("And now?")

    assert seen == [{"region": "us", "plan": "free", "who": "resolved per run"}, {"region": "eu", "plan": "free"}]
