"""Apps for the tests of `/continue` and of the memory events: models that answer with the whole conversation
they were sent, so a follow-up shows what context it got."""

from __future__ import annotations

import asyncio
import threading

from stratus import Agent, App, Step, StepInput, Team, Workflow
from stratus.messages import Message
from stratus.models.base import ModelRequest
from stratus.models.testing import FunctionModel, Reply, call
from stratus.storage.base import Store


def seen(messages: list[Message], params: ModelRequest) -> str:
    """Answers with every user message it was sent, oldest first: `seen: a | b`."""
    return "seen: " + " | ".join(m.content or "" for m in messages if m.role == "user")


GATE = threading.Event()
"""Until a test sets it, the agent `waiter` does not answer."""


async def _wait_then_answer(messages: list[Message], params: ModelRequest) -> str:
    await asyncio.to_thread(GATE.wait, 30)
    return seen(messages, params)


def _to_learner(messages: list[Message], params: ModelRequest) -> Reply:
    return call("route_to_member", member_id="learner")


def _shout(step_input: StepInput) -> str:
    return str(step_input.previous_step_content).upper()


def continue_app(store: Store | None = None) -> App:
    """An agent `recall`, a team `desk` whose leader answers itself (with `recall` as its member), a workflow
    `pipeline` (`recall`, then a function that shouts its answer), an agent `learner` that learns, and a team
    `tutors` that routes every message to it; an agent `waiter` that answers once `GATE` is set."""
    from stratus.knowledge.embedders.testing import HashEmbedder
    from stratus.learning import LearningMachine
    from tests.fakes.learning import extract

    recall = Agent(id="recall", name="Recall", model=FunctionModel(seen))
    desk = Team(id="desk", name="Desk", mode="coordinate", members=[recall], model=FunctionModel(seen))
    pipeline = Workflow(id="pipeline", name="Pipeline", steps=[recall, Step("shout", executor=_shout)])
    learner = Agent(
        id="learner",
        name="Learner",
        model=FunctionModel(seen),
        learning=LearningMachine(model=FunctionModel(extract), embedder=HashEmbedder(64)),
    )
    tutors = Team(id="tutors", name="Tutors", mode="route", members=[learner], model=FunctionModel(_to_learner))
    waiter = Agent(id="waiter", name="Waiter", model=FunctionModel(_wait_then_answer))
    return App(agents=[recall, learner, waiter], teams=[desk, tutors], workflows=[pipeline], store=store)
