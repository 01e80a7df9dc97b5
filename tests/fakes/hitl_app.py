"""An app for the human-in-the-loop tests: agents whose scripted model calls a tool that needs a person, then
answers with what the tool gave back (`done: <result>`), so a test sees what the model was told."""

from __future__ import annotations

import os
from pathlib import Path

from stratus import Agent, App, Team
from stratus.messages import Message
from stratus.models.base import ModelRequest
from stratus.models.testing import FunctionModel, Reply, call
from stratus.storage.base import Store
from stratus.tools import tool
from stratus.workflow import Step, StepInput, Workflow


def _ledger() -> Path:
    return Path(os.environ.get("HITL_LEDGER", "hitl-ledger.txt"))


@tool(requires_confirmation=True)
def transfer(amount: int, to: str) -> str:
    """Send money.

    Args:
        amount: How much.
        to: Who gets it.
    """
    with _ledger().open("a") as ledger:  # what a test reads to know the tool really ran (in which process)
        ledger.write(f"transfer {amount} {to}\n")
    return f"sent {amount} to {to}"


@tool(requires_user_input=True, user_input_fields=["address"])
def ship(item: str, address: str) -> str:
    """Ship an item.

    Args:
        item: What to ship.
        address: Where to (the user gives it).
    """
    return f"shipped {item} to {address}"


@tool(external_execution=True)
def lookup(query: str) -> str:
    """Look something up in a system only the caller reaches."""
    raise AssertionError("an external tool never runs in the run")


def _caller(name: str, **arguments: object):
    def answer(messages: list[Message], params: ModelRequest) -> Reply:
        last = messages[-1]
        if last.role == "tool":
            return f"done: {last.content}"
        return call(name, **arguments)

    return answer


def _leader(messages: list[Message], params: ModelRequest) -> Reply:
    last = messages[-1]
    if last.role == "tool":
        return f"team: {last.content}"
    return call("delegate_task_to_member", member_id="banker", task="pay bob")


def _router(messages: list[Message], params: ModelRequest) -> Reply:
    return call("route_to_member", member_id="seer")


def _report(step_input: StepInput) -> str:
    return f"reported: {step_input.previous_step_content}"


def hitl_app(store: Store | None = None) -> App:
    """Agents `banker` (calls `transfer`, which needs a confirmation), `shipper` (calls `ship`, whose address
    the user gives) and `oracle` (calls `lookup`, run outside); a team `bank` whose leader delegates to a
    `banker` of its own and answers `team: <its result>`, and a team `desk` that routes to `seer` (who calls
    `lookup`); workflows `payout` (a `payer` agent step that calls `transfer`, then a function step that
    answers `reported: <its answer>`) and `bank-flow` (the same with the team `bank` as its first step)."""
    banker = Agent(id="banker", model=FunctionModel(_caller("transfer", amount=10, to="bob")), tools=[transfer])
    shipper = Agent(id="shipper", model=FunctionModel(_caller("ship", item="lamp")), tools=[ship])
    oracle = Agent(id="oracle", model=FunctionModel(_caller("lookup", query="weather")), tools=[lookup])
    teller = Agent(
        id="banker", name="Teller", model=FunctionModel(_caller("transfer", amount=10, to="bob")), tools=[transfer]
    )
    bank = Team(id="bank", name="Bank", mode="coordinate", members=[teller], model=FunctionModel(_leader))
    seer = Agent(id="seer", model=FunctionModel(_caller("lookup", query="weather")), tools=[lookup])
    desk = Team(id="desk", mode="route", members=[seer], model=FunctionModel(_router))
    payer = Agent(id="payer", model=FunctionModel(_caller("transfer", amount=10, to="bob")), tools=[transfer])
    payout = Workflow(id="payout", name="Payout", steps=[Step("pay", agent=payer), Step("report", executor=_report)])
    bank_flow = Workflow(id="bank-flow", steps=[Step("pay", team=bank), Step("report", executor=_report)])
    return App(agents=[banker, shipper, oracle], teams=[bank, desk], workflows=[payout, bank_flow], store=store)
