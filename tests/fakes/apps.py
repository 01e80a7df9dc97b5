"""Small apps for tests of the CLI and the server: deterministic models, no network."""

from __future__ import annotations

from stratus import Agent, App
from stratus.messages import Message
from stratus.models.base import ModelRequest
from stratus.models.testing import FunctionModel


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


def lambda_test_app() -> App:
    """The app the Lambda handler tests deploy: the demo's agent id (`assistant`), a model that echoes."""
    return App(agents=[Agent(id="assistant", name="Assistant", model=FunctionModel(_echo))])
