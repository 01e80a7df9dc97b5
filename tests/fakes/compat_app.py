"""The app tests/compat/ serves to agno's own `AgentOSClient`: one of each kind of component and store-backed
feature, with models that answer in process."""

from __future__ import annotations

from typing import Any

from stratus import Agent, App, Step, Team, Workflow, tool
from stratus.knowledge import Knowledge
from stratus.knowledge.embedders.testing import HashEmbedder
from stratus.learning import LearningMachine
from stratus.messages import Message
from stratus.models.base import ModelRequest
from stratus.models.testing import FunctionModel, Reply, call
from tests.fakes.apps import _echo, _echo_or_hang, _route_to_assistant, _shout
from tests.fakes.optimize import extract_or_consolidate

__all__ = ["compat_app"]


@tool
def get_weather(city: str, dependencies: dict[str, Any] | None = None) -> str:
    """Get the weather for a city (in the run's `units`, when its dependencies name them)."""
    units = (dependencies or {}).get("units")
    return f"sunny in {city}" + (f", in {units}" if units else "")


async def _assistant(messages: list[Message], params: ModelRequest) -> Reply:
    """Asks `get_weather` when the user says "weather in <city>" and answers with what it said; otherwise
    echoes (and never answers "hang")."""
    last = messages[-1]
    if last.role == "tool":
        return f"The weather: {last.content}"
    text = last.content or ""
    if text.startswith("weather in "):
        return call("get_weather", city=text.removeprefix("weather in "))
    return await _echo_or_hang(messages, params)


def compat_app() -> App:
    """`assistant` (echoes, calls `get_weather` for "weather in <city>", never answers "hang"); `learner`, which
    learns memories from its runs (a scripted extraction model, which also consolidates them for
    `/optimize-memories`); the route team `desk` (hands every message to the assistant); the workflow
    `pipeline` (the assistant, then a function step that shouts its answer); and the knowledge base `docs`
    (hash embeddings, in the vector store `STRATUS_VECTOR_DB` names)."""
    docs = Knowledge("docs", description="uploaded documents", embedder=HashEmbedder(64))
    assistant = Agent(
        id="assistant", name="Assistant", model=FunctionModel(_assistant, id="scripted"), tools=[get_weather]
    )
    learner = Agent(
        id="learner",
        name="Learner",
        model=FunctionModel(_echo, id="scripted"),
        learning=LearningMachine(model=FunctionModel(extract_or_consolidate), embedder=HashEmbedder(64)),
    )
    desk = Team(
        id="desk",
        name="Desk",
        mode="route",
        members=[assistant],
        model=FunctionModel(_route_to_assistant, id="scripted"),
    )
    pipeline = Workflow(id="pipeline", name="Pipeline", steps=[assistant, Step("shout", executor=_shout)])
    return App(agents=[assistant, learner], knowledge=[docs], teams=[desk], workflows=[pipeline])
