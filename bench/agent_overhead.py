"""Framework overhead of an agent: instantiation time, memory per agent, and time per run with a model that
answers instantly, so every microsecond measured is stratus' own.

    python bench/agent_overhead.py            # prints the figures (and the targets they are held to)

Targets (issue 2): instantiation <= 3 us, memory <= 3 KiB per agent, framework time per run <= 500 us.
"""

from __future__ import annotations

import asyncio
import gc
import os
import platform
import statistics
import sys
import tempfile
import time
import timeit
import tracemalloc
from collections.abc import Sequence
from typing import ClassVar

from stratus import Agent, tool
from stratus.messages import Message, ToolCall, Usage
from stratus.models.base import Model, ModelRequest, ModelResponse
from stratus.models.openai import OpenAIChat

TARGET_INSTANTIATION_US = 3.0
TARGET_MEMORY_KIB = 3.0
TARGET_RUN_US = 500.0


@tool
def get_weather(city: str) -> str:
    """Get the weather for a city.

    Args:
        city: The city.
    """
    return f"sunny in {city}"


class InstantModel(Model):
    """Answers at once with a fixed reply (optionally after one fixed tool call): zero model latency."""

    provider: ClassVar[str] = "Bench"

    def __init__(self, *, call_tool: bool = False) -> None:
        self.id = "instant"
        self.call_tool = call_tool
        self._answer = ModelResponse(content="It is sunny.", usage=Usage(10, 4, 14))
        self._call = ModelResponse(
            tool_calls=[ToolCall(id="call_1", name="get_weather", arguments='{"city": "Oslo"}')],
            usage=Usage(10, 4, 14),
        )

    async def request(self, messages: Sequence[Message], params: ModelRequest) -> ModelResponse:
        if self.call_tool and messages[-1].role == "user":
            return self._call
        return self._answer


def per_call_us(fn: object, number: int, repeat: int = 7) -> float:
    times = timeit.repeat(fn, number=number, repeat=repeat)  # type: ignore[arg-type]
    return min(times) / number * 1e6


def instantiation() -> tuple[float, float]:
    model = OpenAIChat(id="gpt-4o")
    tools = [get_weather]
    given = per_call_us(lambda: Agent(model=model, tools=tools), 200_000)
    inline = per_call_us(lambda: Agent(model=OpenAIChat(id="gpt-4o"), tools=tools), 100_000)
    return given, inline


def memory_per_agent_kib(count: int = 20_000) -> float:
    model = OpenAIChat(id="gpt-4o")
    tools = [get_weather]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    agents = [Agent(model=model, tools=tools) for _ in range(count)]
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    size = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    del agents
    return size / count / 1024


async def run_us(agent: Agent, runs: int, *, stream: bool = False) -> tuple[float, float]:
    async def once() -> None:
        if stream:
            async for _ in agent.arun("What is the weather in Oslo?", stream=True):
                pass
        else:
            await agent.arun("What is the weather in Oslo?")

    for _ in range(200):  # warm up: schemas built, code paths hot
        await once()
    samples: list[float] = []
    batch = 50
    for _ in range(runs // batch):
        started = time.perf_counter()
        for _ in range(batch):
            await once()
        samples.append((time.perf_counter() - started) / batch * 1e6)
    return statistics.median(samples), min(samples)


async def runs() -> dict[str, tuple[float, float]]:
    from stratus.storage.sqlite import SqliteStore

    results = {
        "run, answer only": await run_us(Agent(model=InstantModel(), tools=[get_weather]), 5_000),
        "run, one tool call": await run_us(Agent(model=InstantModel(call_tool=True), tools=[get_weather]), 5_000),
        "run, streamed": await run_us(Agent(model=InstantModel(), tools=[get_weather]), 5_000, stream=True),
    }
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteStore(os.path.join(folder, "bench.db"))
        agent = Agent(model=InstantModel(), tools=[get_weather], store=store, add_history_to_context=True)
        results["run + SQLite session (history 3)"] = await run_us(agent, 1_000)
        await store.close()
    return results


def main() -> int:
    print(
        f"stratus agent overhead, {time.strftime('%Y-%m-%d')}, Python {platform.python_version()}, "
        f"{platform.machine()} x{os.cpu_count()} ({platform.processor() or platform.platform()})"
    )
    given, inline = instantiation()
    memory = memory_per_agent_kib()
    timings = asyncio.run(runs())
    rows = [
        (
            "instantiation, model and tool given",
            f"{given:.2f} us",
            f"<= {TARGET_INSTANTIATION_US} us",
            given <= TARGET_INSTANTIATION_US,
        ),
        ("instantiation, incl. OpenAIChat()", f"{inline:.2f} us", "", None),
        ("memory per agent", f"{memory:.2f} KiB", f"<= {TARGET_MEMORY_KIB} KiB", memory <= TARGET_MEMORY_KIB),
    ]
    for name, (median, best) in timings.items():
        target_ok = median <= TARGET_RUN_US if name == "run, answer only" else None
        target = f"<= {TARGET_RUN_US:.0f} us" if name == "run, answer only" else ""
        rows.append((f"framework time per {name}", f"{median:.0f} us (best {best:.0f})", target, target_ok))
    width = max(len(r[0]) for r in rows)
    for name, value, target, ok in rows:
        verdict = "" if ok is None else ("ok" if ok else "MISSED")
        print(f"  {name:<{width}}  {value:>22}  {target:>12}  {verdict}")
    return 1 if any(r[3] is False for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
