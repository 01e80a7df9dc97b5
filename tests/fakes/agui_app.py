"""The app the AG-UI tests serve (`App(agui=True)`): scripted models, no network.

- `shop`: puts what the user names in the cart (`add_to_cart`, a tool that writes the session state), then
  answers `added <item>; the cart holds <n> (turn <k>)`, `k` counted from the conversation the server kept.
- `desk`: a route-mode team that hands every message to `shop`.
- `broken`: its model fails. `sleepy`: its model never answers (a run to cancel), but to "nap" (slowly).
- `banker`: calls `transfer`, which waits for a person's confirmation (the run pauses).

With `AGUI_TEST_KEYS` set (`key=user,key=user`), the API keys come from a secrets resolver registered here, the
way a deployment plugs in its secrets store (`STRATUS_API_KEYS_SECRET` names the secret): one server, several
users, each verified by their own key.
"""

from __future__ import annotations

import asyncio
import json
import os

from stratus import Agent, App, Team
from stratus.messages import Message
from stratus.models.base import ModelRequest
from stratus.models.testing import FunctionModel, Reply, call
from stratus.run import RunContext
from stratus.secrets import register_resolver
from stratus.storage.base import Store
from stratus.tools import tool
from tests.fakes.tools import transfer


@tool
def add_to_cart(item: str, run_context: RunContext) -> str:
    """Put an item in the user's cart.

    Args:
        item: What to add.
    """
    cart: list[str] = run_context.session_state.setdefault("cart", [])
    cart.append(item)
    return json.dumps({"added": item, "size": len(cart)})


def _shopper(messages: list[Message], params: ModelRequest) -> Reply:
    last = messages[-1]
    turn = sum(1 for m in messages if m.role == "user")
    if last.role == "tool":
        result = json.loads(str(last.content))
        return f"added {result['added']}; the cart holds {result['size']} (turn {turn})"
    return call("add_to_cart", item=str(last.content))


def _banker(messages: list[Message], params: ModelRequest) -> Reply:
    last = messages[-1]
    return f"done: {last.content}" if last.role == "tool" else call("transfer", amount=10)


def _fail(messages: list[Message], params: ModelRequest) -> Reply:
    raise RuntimeError("the model is down")


async def _sleepy(messages: list[Message], params: ModelRequest) -> Reply:
    """Never answers, except "nap": then, after half a second, "rested"."""
    await asyncio.sleep(0.5 if messages[-1].content == "nap" else 3600)
    return "rested"


def _route_to_shop(messages: list[Message], params: ModelRequest) -> Reply:
    return call("route_to_member", member_id="shop")


def make_app(store: Store | None = None) -> App:
    """A new app each call (serving one gives its agents its store)."""
    shop = Agent(
        id="shop", name="Shop", model=FunctionModel(_shopper), tools=[add_to_cart], add_history_to_context=True
    )
    desk = Team(id="desk", name="Desk", mode="route", members=[shop], model=FunctionModel(_route_to_shop))
    broken = Agent(id="broken", name="Broken", model=FunctionModel(_fail))
    sleepy = Agent(id="sleepy", name="Sleepy", model=FunctionModel(_sleepy))
    banker = Agent(id="banker", name="Banker", model=FunctionModel(_banker), tools=[transfer])
    return App(agents=[shop, broken, sleepy, banker], teams=[desk], store=store, agui=True)


app = make_app()

if keys := os.environ.get("AGUI_TEST_KEYS"):
    from stratus.api.auth import API_KEYS_SECRET_NAME, hash_key

    document = json.dumps(
        {"keys": [{"sha256": hash_key(k), "user_id": u} for k, u in (pair.split("=") for pair in keys.split(","))]}
    )
    register_resolver(lambda name: document if name == API_KEYS_SECRET_NAME else None)
