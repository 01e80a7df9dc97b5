"""An app with hooks and guardrails, for the tests of them on the real server: an agent `guarded` behind the
prompt-injection guardrail and the PII mask (on its input and its answer), and a team `desk` whose pre-hook
refuses off-topic messages."""

from __future__ import annotations

from stratus import Agent, App, Team
from stratus.exceptions import CheckTrigger, InputCheckError
from stratus.guardrails import PIIDetectionGuardrail, PromptInjectionGuardrail
from stratus.messages import Message
from stratus.models.base import ModelRequest
from stratus.models.testing import FunctionModel
from stratus.run import RunInput
from stratus.storage.base import Store


def echo(messages: list[Message], params: ModelRequest) -> str:
    return f"echo: {messages[-1].content}; reach me at help@example.com"


def on_topic(run_input: RunInput) -> None:
    if "weather" in run_input.input_content.lower():
        raise InputCheckError("the desk only answers billing questions", check_trigger=CheckTrigger.OFF_TOPIC)


def guarded_app(store: Store | None = None) -> App:
    pii = PIIDetectionGuardrail(mask_pii=True, placeholder=True)
    guarded = Agent(
        id="guarded", model=FunctionModel(echo), pre_hooks=[PromptInjectionGuardrail(), pii], post_hooks=[pii]
    )
    member = Agent(id="billing", model=FunctionModel(echo))
    desk = Team(id="desk", mode="route", model=FunctionModel(echo), members=[member], pre_hooks=[on_topic])
    return App(agents=[guarded], teams=[desk], store=store)
