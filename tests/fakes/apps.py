"""Small apps for tests of the CLI and the server: deterministic models, no network."""

from __future__ import annotations

import asyncio

from stratus import Agent, App, Step, StepInput, Team, Workflow
from stratus.messages import Message
from stratus.models.base import ModelRequest
from stratus.models.testing import FunctionModel, Reply, call


def _echo(messages: list[Message], params: ModelRequest) -> str:
    return f"echo: {messages[-1].content}"


def _fail(messages: list[Message], params: ModelRequest) -> str:
    raise RuntimeError("the model is down")


echo_app = App(
    agents=[
        Agent(id="echo", name="Echo", model=FunctionModel(_echo)),
        Agent(id="broken", name="Broken", model=FunctionModel(_fail)),
    ]
)


def make_app() -> App:
    """A factory: `module:make_app` works where `module:app` does."""
    return echo_app


not_an_app = 42


def fresh_echo_app() -> App:
    """A new App each call (tests that give each app its own store need unshared agents)."""
    return App(
        agents=[
            Agent(id="echo", name="Echo", model=FunctionModel(_echo)),
            Agent(id="broken", name="Broken", model=FunctionModel(_fail)),
        ]
    )


def _route_to_assistant(messages: list[Message], params: ModelRequest) -> Reply:
    """A team leader that hands every message to its one member, `assistant`."""
    return call("route_to_member", member_id="assistant")


async def _echo_or_hang(messages: list[Message], params: ModelRequest) -> str:
    """Echoes, except that it never answers "hang" (a model provider that accepts and then goes quiet)."""
    if messages[-1].content == "hang":
        await asyncio.sleep(3600)
    return _echo(messages, params)


def _shout(step_input: StepInput) -> str:
    return str(step_input.previous_step_content).upper()


def lambda_test_app() -> App:
    """The app the Lambda handler tests deploy: the demo's agent id (`assistant`), a model that echoes (and
    never answers "hang"), and a knowledge base `docs` (hash embeddings, the vector store `STRATUS_VECTOR_DB`
    names); a team `desk` that routes every message to the assistant, and a workflow `pipeline`: the
    assistant, then a function that shouts its answer; and an agent `learner` that learns from its runs (a
    scripted extraction model)."""
    from stratus.knowledge import Knowledge
    from stratus.knowledge.embedders.testing import HashEmbedder
    from stratus.learning import LearningMachine
    from tests.fakes.learning import extract

    docs = Knowledge("docs", description="uploaded documents", embedder=HashEmbedder(64))
    assistant = Agent(id="assistant", name="Assistant", model=FunctionModel(_echo_or_hang))
    desk = Team(id="desk", name="Desk", mode="route", members=[assistant], model=FunctionModel(_route_to_assistant))
    pipeline = Workflow(id="pipeline", name="Pipeline", steps=[assistant, Step("shout", executor=_shout)])
    learner = Agent(
        id="learner",
        name="Learner",
        model=FunctionModel(_echo),
        learning=LearningMachine(model=FunctionModel(extract), embedder=HashEmbedder(64)),
    )
    return App(agents=[assistant, learner], knowledge=[docs], teams=[desk], workflows=[pipeline])


def _librarian(messages: list[Message], params: ModelRequest) -> Reply:
    """Searches the knowledge base for the question, then answers with the best passage it got back."""
    last = messages[-1]
    if last.role == "user":
        return call("search_knowledge_base", query=last.content or "")
    best = (last.content or "").split("\n\n")[0]  # "[1] (name, page n)\n<text>"
    return "From the documents: " + " ".join(best.split("\n")[1:])


def knowledge_app() -> App:
    """An app with a knowledge base (embedder and vector store from STRATUS_EMBEDDER / STRATUS_VECTOR_DB)
    and a librarian agent whose scripted model searches it before answering."""
    from stratus.knowledge import Knowledge

    docs = Knowledge("docs", description="uploaded documents")
    return App(agents=[Agent(id="librarian", name="Librarian", model=FunctionModel(_librarian), knowledge=docs)])


def learning_against_a_dead_model_app() -> App:
    """An agent that answers at once (an echo) and learns from each run with an extraction model that has gone
    away: `STRATUS_TEST_LEARNING_MODEL_URL` names a server that accepts connections and never answers, so each
    learning job waits on it, times out, and is retried. For the shutdown test: SIGTERM must not wait for it."""
    import os

    from stratus.knowledge.embedders.testing import HashEmbedder
    from stratus.learning import LearningMachine
    from stratus.models.openai import OpenAIChat

    extractor = OpenAIChat(id="gone", base_url=os.environ["STRATUS_TEST_LEARNING_MODEL_URL"], api_key="x", timeout=60)
    learner = Agent(
        id="learner",
        name="Learner",
        model=FunctionModel(_echo),
        learning=LearningMachine(model=extractor, embedder=HashEmbedder(64)),
    )
    return App(agents=[learner])


def reliability_app() -> App:
    """The app the reliability suite fuzzes and breaks: every kind of component and store-backed feature (an
    echoing agent with a knowledge base and tools, a learner, a team, a workflow), models that answer in
    process, and deadlines short enough that nothing a fuzzer sends can hold a worker for long."""
    from stratus.knowledge import Knowledge
    from stratus.knowledge.embedders.testing import HashEmbedder
    from stratus.learning import LearningMachine
    from tests.fakes.optimize import extract_or_consolidate

    docs = Knowledge("docs", description="uploaded documents", embedder=HashEmbedder(64))
    assistant = Agent(id="assistant", name="Assistant", model=FunctionModel(_echo), knowledge=docs, run_timeout=20)
    learner = Agent(
        id="learner",
        name="Learner",
        model=FunctionModel(_echo),
        learning=LearningMachine(model=FunctionModel(extract_or_consolidate), embedder=HashEmbedder(64)),
        run_timeout=20,
    )
    desk = Team(
        id="desk",
        name="Desk",
        mode="route",
        members=[assistant],
        model=FunctionModel(_route_to_assistant),
        run_timeout=20,
    )
    pipeline = Workflow(
        id="pipeline", name="Pipeline", steps=[assistant, Step("shout", executor=_shout)], run_timeout=20
    )
    return App(agents=[assistant, learner], knowledge=[docs], teams=[desk], workflows=[pipeline])


def faulty_model_app() -> App:
    """Agents whose model is the fake OpenAI server `STRATUS_TEST_MODEL_URL` names, scripted by the test to
    fail: `remote` with a short request timeout and deadline (4 s) and two retries; `bounded` with patient
    requests but a whole-run deadline (3 s), for faults no single wait exposes (a slow drip)."""
    import os

    from stratus.models.openai import OpenAIChat

    url = os.environ["STRATUS_TEST_MODEL_URL"]
    quick = OpenAIChat(id="fake", base_url=url, api_key="x", timeout=2, deadline=4, max_retries=2, backoff=0.1)
    patient = OpenAIChat(id="fake", base_url=url, api_key="x", timeout=30, deadline=None, max_retries=0)
    return App(
        agents=[
            Agent(id="remote", name="Remote", model=quick),
            Agent(id="bounded", name="Bounded", model=patient, run_timeout=3),
        ]
    )


def _tool_from_message(messages: list[Message], params: ModelRequest) -> Reply:
    """A model that does what the user's message says: `{"tool": name, "args": {...}}` calls that tool, and the
    tool's answer is the reply, so a test drives one tool call per run, over HTTP."""
    import json

    last = messages[-1]
    if last.role == "tool":
        return last.content or ""
    request = json.loads(last.content or "{}")
    return call(request["tool"], **request["args"])


def files_app() -> App:
    """An agent with FileTools on the folder `STRATUS_TEST_FILES_BASE` names (writable), and one on the same
    folder read-only; their model calls whatever tool the message asks for, with its arguments."""
    import os

    from stratus.tools.files import FileTools

    base = os.environ["STRATUS_TEST_FILES_BASE"]
    return App(
        agents=[
            Agent(id="files", name="Files", model=FunctionModel(_tool_from_message), tools=[FileTools(base)]),
            Agent(
                id="reader",
                name="Reader",
                model=FunctionModel(_tool_from_message),
                tools=[FileTools(base, read_only=True)],
            ),
        ]
    )
