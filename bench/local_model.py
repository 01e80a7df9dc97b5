"""The offline model as a user meets it: how long its llama.cpp server takes to start, how fast it answers,
and how long the first request after a crash waits for a new server.

    .venv/bin/python bench/local_model.py

Prints one table; the figures depend on the CPU (the model runs on it) and on what else the machine does.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stratus.messages import Message
from stratus.models.base import ModelRequest
from stratus.models.llama_cpp import LlamaCpp, stop_local_servers

PROMPT = [Message(role="user", content="Tell me a short story about a lighthouse keeper.")]
ROUNDS = 5


async def main() -> None:
    model = LlamaCpp(max_tokens=128, temperature=0.0, seed=1, n_ctx=1024)
    started = time.perf_counter()
    await asyncio.to_thread(model.load)
    start_s = time.perf_counter() - started

    first_token: list[float] = []
    rates: list[float] = []
    for _ in range(ROUNDS):
        sent = time.perf_counter()
        first: float | None = None
        tokens = 0
        async for delta in model.stream(PROMPT, ModelRequest()):
            if delta.content and first is None:
                first = time.perf_counter() - sent
            if delta.usage is not None:
                tokens = delta.usage.output_tokens
        took = time.perf_counter() - sent
        first_token.append(first or took)
        rates.append(tokens / max(took - (first or 0.0), 1e-9))

    pid = model.server.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    await asyncio.to_thread(model.server.exit_reason, 5.0)
    sent = time.perf_counter()
    await model.request([Message(role="user", content="Hi")], ModelRequest())
    recovery_s = time.perf_counter() - sent

    await model.aclose()
    stop_local_servers()
    print(
        f"offline model {model.id} (llama.cpp server, {os.cpu_count()} CPUs), {ROUNDS} streamed answers of 128 tokens"
    )
    print("| measure | result |")
    print("|---|---|")
    print(f"| server start (spawn, load the model, warm up) | {start_s:.2f} s |")
    print(f"| time to first token, median | {statistics.median(first_token) * 1000:.0f} ms |")
    print(f"| generation, median | {statistics.median(rates):.0f} tokens/s |")
    print(f"| first answer after the server was killed (a new server, then the answer) | {recovery_s:.2f} s |")


if __name__ == "__main__":
    asyncio.run(main())
