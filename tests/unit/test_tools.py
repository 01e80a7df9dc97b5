"""`@tool` and `Toolkit`: schemas come from type hints and Google docstrings; calls are validated."""

from __future__ import annotations

import asyncio
import threading
from enum import Enum
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from stratus import RunContext, Tool, ToolDefinitionError, ToolError, Toolkit, tool
from stratus.tools import ToolArgumentsError


class Unit(Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


class Address(BaseModel):
    street: str
    city: str = Field(description="City name")


@tool
def forecast(city: str, days: int = 3, unit: Unit = Unit.CELSIUS, detailed: bool = False) -> str:
    """Get the weather forecast for a city.

    Uses the national weather service.

    Args:
        city: The city to look up, e.g. "Oslo".
        days (int): How many days ahead,
            from 1 to 10.
        unit: Temperature unit.
        detailed: Include hourly detail.

    Returns:
        The forecast as text.
    """
    return f"{city}:{days}:{unit.value}:{detailed}"


def test_schema_comes_from_hints_and_docstring() -> None:
    assert forecast.name == "forecast"
    assert forecast.description == "Get the weather forecast for a city.\n\nUses the national weather service."
    params = forecast.parameters
    assert params["type"] == "object"
    assert params["required"] == ["city"]
    props = params["properties"]
    assert props["city"] == {"type": "string", "description": 'The city to look up, e.g. "Oslo".'}
    assert props["days"] == {"type": "integer", "default": 3, "description": "How many days ahead, from 1 to 10."}
    assert props["detailed"]["type"] == "boolean"
    # the enum is described by its values; no pydantic-generated titles anywhere
    assert "title" not in str(params)
    assert params["$defs"]["Unit"]["enum"] == ["celsius", "fahrenheit"]


def test_pydantic_models_lists_and_literals_are_described() -> None:
    @tool
    def ship(to: Address, items: list[str], speed: Literal["slow", "fast"] = "slow") -> str:
        """Ship items.

        Args:
            to: Where to.
            items: What to ship.
            speed: How fast.
        """
        return f"{len(items)} to {to.city} ({speed})"

    props = ship.parameters["properties"]
    assert props["items"] == {"type": "array", "items": {"type": "string"}, "description": "What to ship."}
    assert props["speed"]["enum"] == ["slow", "fast"]
    assert ship.parameters["$defs"]["Address"]["properties"]["city"]["description"] == "City name"


async def test_arguments_are_validated_and_coerced_before_the_call() -> None:
    result = await forecast.execute({"city": "Oslo", "days": "5", "unit": "fahrenheit"})
    assert result == "Oslo:5:fahrenheit:False"


async def test_invalid_arguments_raise_a_clear_error_naming_the_field() -> None:
    with pytest.raises(ToolArgumentsError) as info:
        await forecast.execute({"days": "many"})
    message = str(info.value)
    assert "forecast" in message
    assert "city: Field required" in message
    assert "days:" in message


async def test_nested_pydantic_arguments_arrive_as_model_instances() -> None:
    seen: list[Address] = []

    @tool
    def deliver(to: Address) -> str:
        """Deliver a parcel."""
        seen.append(to)
        return to.street

    assert await deliver.execute({"to": {"street": "Main 1", "city": "Oslo"}}) == "Main 1"
    assert isinstance(seen[0], Address)


async def test_async_and_sync_functions_both_work_and_sync_ones_run_off_the_event_loop() -> None:
    loop_thread = threading.get_ident()
    threads: list[int] = []

    @tool
    def sync_tool() -> str:
        """Sync."""
        threads.append(threading.get_ident())
        return "sync"

    @tool
    async def async_tool() -> str:
        """Async."""
        await asyncio.sleep(0)
        return "async"

    assert await sync_tool.execute({}) == "sync"
    assert await async_tool.execute({}) == "async"
    assert threads[0] != loop_thread


async def test_run_context_is_injected_and_hidden_from_the_model() -> None:
    @tool
    def remember(fact: str, ctx: RunContext) -> str:
        """Remember a fact.

        Args:
            fact: The fact.
        """
        ctx.session_state.setdefault("facts", []).append(fact)
        return "ok"

    assert list(remember.parameters["properties"]) == ["fact"]
    context = RunContext(run_id="r", session_id="s")
    await remember.execute({"fact": "sky is blue"}, context)
    assert context.session_state == {"facts": ["sky is blue"]}


async def test_options_name_description_and_timeout() -> None:
    @tool(name="slow-op", description="Something slow.", timeout=0.05)
    async def slow() -> str:
        await asyncio.sleep(1)
        return "never"

    assert slow.name == "slow-op"
    assert slow.description == "Something slow."
    with pytest.raises(ToolError, match=r"timed out after 0\.05s"):
        await slow.execute({})


async def test_parameter_names_that_clash_with_pydantic_still_work() -> None:
    @tool
    def query(schema: str, json: bool = False) -> str:
        """Query.

        Args:
            schema: Database schema name.
            json: Return JSON.
        """
        return f"{schema}/{json}"

    assert set(query.parameters["properties"]) == {"schema", "json"}
    assert await query.execute({"schema": "public", "json": True}) == "public/True"


def test_a_tool_stays_callable_like_the_function() -> None:
    assert forecast("Oslo", days=1) == "Oslo:1:celsius:False"


def test_functions_that_cannot_be_described_are_refused() -> None:
    def variadic(*args: int) -> int:
        return sum(args)

    with pytest.raises(ToolDefinitionError, match=r"\*args"):
        _ = Tool(variadic).parameters
    with pytest.raises(ToolDefinitionError, match="must be 1-64"):
        Tool(lambda: None, name="has spaces")


class Counter(Toolkit):
    def __init__(self, start: int = 0, **options: object) -> None:
        super().__init__(name="counter", instructions="Count things.", **options)  # type: ignore[arg-type]
        self.value = start

    @tool
    def increment(self, by: int = 1) -> int:
        """Add to the counter.

        Args:
            by: How much to add.
        """
        self.value += by
        return self.value

    @tool
    def read(self) -> int:
        """Read the counter."""
        return self.value


async def test_toolkit_methods_are_bound_to_their_instance() -> None:
    first, second = Counter(10), Counter(100)
    tools = {t.name: t for t in first.get_tools()}
    assert set(tools) == {"increment", "read"}
    assert list(tools["increment"].parameters["properties"]) == ["by"]
    assert await tools["increment"].execute({"by": 5}) == 15
    assert first.value == 15
    assert second.value == 100


def test_toolkit_from_a_list_with_include_and_exclude() -> None:
    def a() -> str:
        """A."""
        return "a"

    def b() -> str:
        """B."""
        return "b"

    assert [t.name for t in Toolkit([a, b], exclude=["b"]).get_tools()] == ["a"]
    assert [t.name for t in Toolkit([a, b], include=["b"]).get_tools()] == ["b"]
    with pytest.raises(ToolDefinitionError, match="no tools named"):
        Toolkit([a], include=["zzz"]).get_tools()
