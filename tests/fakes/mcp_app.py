"""Apps served over MCP (`App(mcp=True)`) for the MCP server tests: scripted models, no network.

- `assistant`: looks the message up with its `lookup` tool, then answers with what the tool found.
- `desk`: a team that routes every message to `assistant`.
- `pipeline`: a workflow: `assistant`, then a function step that shouts its answer.
- `banker`: calls `transfer`, which needs a person's confirmation (the run pauses), then answers with its result.
- `broken`: its model fails.

`keyed_app` is the same app behind two API keys, `ANN_KEY` (user `ann`) and `BOB_KEY` (user `bob`): run it
with `STRATUS_API_KEYS_SECRET` set (to anything) and the keys document comes from a resolver, as on AWS.
"""

from __future__ import annotations

import json

from stratus import Agent, App, Step, StepInput, Team, Workflow
from stratus.api.auth import API_KEYS_SECRET_NAME, hash_key
from stratus.messages import Message
from stratus.models.base import ModelRequest
from stratus.models.testing import FunctionModel, Reply, call
from tests.fakes.tools import transfer

ANN_KEY = "sk-stratus-ann"
BOB_KEY = "sk-stratus-bob"


def lookup(query: str) -> str:
    """Look a word up.

    Args:
        query: The word.
    """
    return f"found {query}"


def _uses(tool_name: str, prefix: str, **arguments: object) -> FunctionModel:
    """A scripted model that calls the tool (with `arguments`, else the user's message as `query`), then
    answers `<prefix>: <what the tool gave back>`."""

    def answer(messages: list[Message], params: ModelRequest) -> Reply | str:
        last = messages[-1]
        if last.role == "tool":
            return f"{prefix}: {last.content}"
        return call(tool_name, **(arguments or {"query": last.content or ""}))

    return FunctionModel(answer)


def _fail(messages: list[Message], params: ModelRequest) -> str:
    raise RuntimeError("the model is down")


def _route(messages: list[Message], params: ModelRequest) -> Reply:
    return call("route_to_member", member_id="assistant")


def _shout(step_input: StepInput) -> str:
    return str(step_input.previous_step_content).upper()


def mcp_app() -> App:
    assistant = Agent(id="assistant", name="Assistant", model=_uses("lookup", "answer"), tools=[lookup])
    desk = Team(id="desk", name="Desk", mode="route", members=[assistant], model=FunctionModel(_route))
    pipeline = Workflow(id="pipeline", name="Pipeline", steps=[assistant, Step("shout", executor=_shout)])
    banker = Agent(id="banker", name="Banker", model=_uses("transfer", "done", amount=10), tools=[transfer])
    broken = Agent(id="broken", name="Broken", model=FunctionModel(_fail))
    return App(name="MCP test", agents=[assistant, banker, broken], teams=[desk], workflows=[pipeline], mcp=True)


def keyed_app() -> App:
    from stratus.secrets import register_resolver

    document = json.dumps(
        {"keys": [{"sha256": hash_key(ANN_KEY), "user_id": "ann"}, {"sha256": hash_key(BOB_KEY), "user_id": "bob"}]}
    )
    register_resolver(lambda name: document if name == API_KEYS_SECRET_NAME else None)
    return mcp_app()
