"""The app the playground's browser tests serve (`tests.e2e.playground_app:app`): one of each thing the page
shows, each driven by a scripted model, so a test knows what the page must display.

- `assistant` (Assistant): a message with "weather" calls `get_weather` (a long result, to expand) and answers
  in markdown (a table, a list, code) with raw HTML that must never run; "tide" calls `get_tide`, which takes
  a second; "stock" calls `check_stock`, which fails ("warehouse offline"), and the answer says so; "crash"
  makes the model fail (the run ends in an error), "flaky" only the first time it is sent; any other message
  is echoed. It learns from its runs (a scripted extraction: "I like tea" becomes the memory "The user likes
  tea.").
- `storyteller`: a long answer streamed a word every 0.2 s, for Stop.
- `banker`: calls `transfer`, which needs a person's approval, then answers `done: <its result>`.
- team `desk` (Desk, coordinate): the leader delegates to `researcher` (who calls `find_fact`) and `writer` in
  one turn, then sums up.
- team `bank` (Bank, coordinate): the leader hands the payment to `teller`, whose `transfer` needs approval;
  the team answers `team: <the teller's answer>`.
- workflow `pipeline` (Pipeline): the step `draft` (an agent), then `polish` (a function that upper-cases).
- knowledge `handbook`: hash embeddings, so uploads and searches run offline in milliseconds.

Serve it by hand to look at the page: `.venv/bin/stratus dev --app tests.e2e.playground_app:app`.
"""

from __future__ import annotations

import asyncio

from stratus import Agent, App, Step, StepInput, Team, Workflow
from stratus.knowledge import Knowledge
from stratus.knowledge.embedders.testing import HashEmbedder
from stratus.learning import LearningMachine
from stratus.messages import Message
from stratus.models.base import ModelRequest
from stratus.models.testing import FunctionModel, Reply, call
from stratus.tools import tool
from tests.fakes.learning import extract

__all__ = ["FORECAST", "MARKDOWN_ANSWER", "STORY", "app", "make_app", "playground_app"]

# Longer than any collapsed preview; its last words prove a result is shown in full once expanded.
FORECAST = (
    "Oslo: sunny, 21 C. "
    + " ".join(f"hour {h:02d}: clear sky, light breeze from the south-west, humidity {40 + h}%." for h in range(12))
    + " END-OF-FORECAST"
)

# What a user must see rendered (bold, inline code, a code block, a link) and what must never run.
MARKDOWN_ANSWER = (
    "It is **sunny** in `Oslo` today.\n\n"
    "```python\nprint('take sunglasses')\n```\n\n"
    "| hour | sky |\n|---|---|\n| 09 | clear |\n| 15 | cloudy |\n\n"
    "- hat\n- water\n\n"
    "More at [the forecast](https://example.com/forecast). [Free sunglasses](javascript:window.__pwned='link')\n\n"
    "<img src=x onerror=\"window.__pwned = 'img'\"><script>window.__pwned = 'script'</script>"
)

STORY = " ".join(f"word{i}" for i in range(150))


@tool
def get_weather(city: str) -> str:
    """Today's forecast for a city.

    Args:
        city: The city's name.
    """
    return FORECAST.replace("Oslo", city)


@tool
def check_stock(item: str) -> str:
    """How many of an item are in stock.

    Args:
        item: The item.
    """
    raise RuntimeError("warehouse offline")


@tool
async def get_tide(place: str) -> str:
    """When the next high tide is (it takes a second to find out).

    Args:
        place: The harbour.
    """
    await asyncio.sleep(1.0)
    return f"high tide at {place}: 14:10"


@tool(requires_confirmation=True)
def transfer(amount: int, to: str) -> str:
    """Send money (a person approves each transfer).

    Args:
        amount: How much.
        to: Who gets it.
    """
    return f"sent {amount} to {to}"


@tool
def find_fact(topic: str) -> str:
    """Look up one fact.

    Args:
        topic: What about.
    """
    return f"{topic} has 3 moons"


def _assistant(messages: list[Message], params: ModelRequest) -> Reply:
    last = messages[-1]
    if last.role == "tool":
        if last.tool_name == "get_weather":
            return MARKDOWN_ANSWER
        if last.tool_name == "get_tide":
            return f"The tide: {last.content}"
        return f"Sorry, I could not check: {last.content}"
    text = last.content or ""
    if "weather" in text.lower():
        return call("get_weather", city="Oslo")
    if "tide" in text.lower():
        return call("get_tide", place="Bergen")
    if "stock" in text.lower():
        return call("check_stock", item="umbrella")
    if "crash" in text.lower():
        raise RuntimeError("the model is down")
    if "flaky" in text.lower():  # down the first time each message is sent, up when it is tried again
        if text not in _FAILED_ONCE:
            _FAILED_ONCE.add(text)
            raise RuntimeError("the model is briefly down")
        return f"recovered: {text}"
    return f"echo: {text}"


_FAILED_ONCE: set[str] = set()


def _storyteller(messages: list[Message], params: ModelRequest) -> Reply:
    return STORY


def _banker(messages: list[Message], params: ModelRequest) -> Reply:
    last = messages[-1]
    if last.role == "tool":
        return f"done: {last.content}"
    return call("transfer", amount=10, to="bob")


def _researcher(messages: list[Message], params: ModelRequest) -> Reply:
    last = messages[-1]
    if last.role == "tool":
        return f"Researcher found: {last.content}"
    return call("find_fact", topic="Jupiter")


def _writer(messages: list[Message], params: ModelRequest) -> Reply:
    return "Writer drafted: a short note"


def _leader(messages: list[Message], params: ModelRequest) -> Reply:
    if messages[-1].role == "tool":
        return "The desk's answer: both members reported"
    return [
        call("delegate_task_to_member", member_id="researcher", task="find a fact"),
        call("delegate_task_to_member", member_id="writer", task="draft a note"),
    ]


def _bank_leader(messages: list[Message], params: ModelRequest) -> Reply:
    last = messages[-1]
    if last.role == "tool":
        return f"team: {last.content}"
    return call("delegate_task_to_member", member_id="teller", task="pay bob")


def _drafter(messages: list[Message], params: ModelRequest) -> Reply:
    return f"draft of {messages[-1].content}"


def _polish(step_input: StepInput) -> str:
    return str(step_input.previous_step_content).upper()


def make_app() -> App:
    """A fresh app (its own agents and models) each call."""
    handbook = Knowledge("handbook", description="the team handbook", embedder=HashEmbedder(64))
    learning = LearningMachine(model=FunctionModel(extract), embedder=HashEmbedder(64))
    assistant = Agent(
        id="assistant",
        name="Assistant",
        model=FunctionModel(_assistant),
        tools=[get_weather, check_stock, get_tide],
        learning=learning,
        description="answers with tools and markdown",
    )
    storyteller = Agent(id="storyteller", name="Storyteller", model=FunctionModel(_storyteller, chunk_delay=0.2))
    banker = Agent(id="banker", name="Banker", model=FunctionModel(_banker), tools=[transfer])
    researcher = Agent(id="researcher", name="Researcher", model=FunctionModel(_researcher), tools=[find_fact])
    writer = Agent(id="writer", name="Writer", model=FunctionModel(_writer))
    desk = Team(id="desk", name="Desk", mode="coordinate", members=[researcher, writer], model=FunctionModel(_leader))
    teller = Agent(id="teller", name="Teller", model=FunctionModel(_banker), tools=[transfer])
    bank = Team(id="bank", name="Bank", mode="coordinate", members=[teller], model=FunctionModel(_bank_leader))
    drafter = Agent(id="drafter", name="Drafter", model=FunctionModel(_drafter))
    pipeline = Workflow(
        id="pipeline", name="Pipeline", steps=[Step("draft", agent=drafter), Step("polish", executor=_polish)]
    )
    return App(agents=[assistant, storyteller, banker], teams=[desk, bank], workflows=[pipeline], knowledge=[handbook])


playground_app = make_app
app = make_app()
