"""The app tests/e2e/test_a2a.py serves over A2A: an agent `echo` that echoes word by word (but never answers
"hang", and fails on "fail"), a team `desk` that routes every message to it, and an agent `banker` that calls
`transfer`, which waits for a person's confirmation.

With `A2A_E2E_KEYS` set (a JSON object of API key -> user id) and `STRATUS_API_KEYS_SECRET` naming any secret,
the server checks those keys, one user each, as the AWS deployment checks the keys in its secret.
"""

from __future__ import annotations

import asyncio
import json
import os

from stratus import Agent, App, Team
from stratus.api.auth import API_KEYS_SECRET_NAME, hash_key
from stratus.messages import Message
from stratus.models.base import ModelRequest
from stratus.models.testing import FunctionModel, Reply, call
from stratus.secrets import register_resolver
from tests.fakes.tools import transfer  # a tool that waits for a person's confirmation


async def _echo(messages: list[Message], params: ModelRequest) -> str:
    if messages[-1].content == "hang":
        await asyncio.sleep(3600)
    if messages[-1].content == "fail":
        raise RuntimeError("the model is down")
    return f"echo: {messages[-1].content}"


def _pay(messages: list[Message], params: ModelRequest) -> Reply:
    return f"done: {messages[-1].content}" if messages[-1].role == "tool" else call("transfer", amount=10)


def _route(messages: list[Message], params: ModelRequest) -> Reply:
    return call("route_to_member", member_id="echo")


echo = Agent(id="echo", name="Echo", description="Says back what it is told.", model=FunctionModel(_echo))
a2a_app = App(
    agents=[echo, Agent(id="banker", model=FunctionModel(_pay), tools=[transfer])],
    teams=[Team(id="desk", name="Desk", mode="route", members=[echo], model=FunctionModel(_route))],
    a2a=True,
)

if keys := os.environ.get("A2A_E2E_KEYS"):
    document = json.dumps({"keys": [{"sha256": hash_key(k), "user_id": u} for k, u in json.loads(keys).items()]})
    register_resolver(lambda name: document if name == API_KEYS_SECRET_NAME else None)
