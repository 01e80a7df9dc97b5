"""Loading a session's history (what a run does before it asks the model: the session's metadata and its last
`num_history_runs=3` completed runs) with 10 and with 10,000 earlier runs in the session, on both stores.

    python bench/session_load.py

The target (issue 3): the 10,000-run load takes at most 1.2 times the 10-run load.

SQLite is measured in wall time: it is the real engine. DynamoDB runs here as moto's server, whose Query
walks every item of the table in Python (real DynamoDB reads only the items a query returns, so its latency
does not grow with the partition); moto's wall time would measure moto. For DynamoDB the figure held to the
target is therefore the work the service is asked to do, which is what its latency and cost follow: requests
per load and items read (`ScannedCount`), counted from the responses. moto's wall time is printed beside it.
"""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.aws (moto's server)

from stratus._utils import time_ordered_id
from stratus.messages import Message, Usage
from stratus.run import RunInput, RunOutput, RunStatus
from stratus.storage import SessionRecord, Store
from stratus.storage._dynamo_items import to_item
from stratus.storage.dynamodb import DynamoStore
from stratus.storage.sqlite import SqliteStore

SIZES = (10, 10_000)
HISTORY = 3
TARGET_RATIO = 1.2


def make_run(session_id: str, n: int) -> RunOutput:
    run = RunOutput(
        run_id=time_ordered_id(),
        session_id=session_id,
        agent_id="assistant",
        user_id="u1",
        status=RunStatus.ERROR if n % 10 == 9 else RunStatus.COMPLETED,  # some failures for the filter to skip
        input=RunInput(input_content=f"question {n}"),
        messages=[
            Message(role="user", content=f"question {n}: what is the weather like in Oslo today?"),
            Message(role="assistant", content="It is sunny in Oslo today, 21 degrees, light wind. " * 8),
        ],
    )
    run.metrics.usage = Usage(input_tokens=40, output_tokens=80, total_tokens=120)
    return run


async def load_history(store: Store, session_id: str) -> list[RunOutput]:
    session = await store.get_session(session_id, user_id="u1")
    assert session is not None
    return await store.get_runs(session_id, last=HISTORY, statuses=[RunStatus.COMPLETED])


async def timed(fn: Callable[[], Any], repeat: int) -> float:
    for _ in range(5):
        await fn()
    samples: list[float] = []
    for _ in range(repeat):
        started = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e3


async def sqlite_figures(folder: str) -> dict[int, float]:
    store = SqliteStore(os.path.join(folder, "bench.db"))
    results: dict[int, float] = {}
    for size in SIZES:
        session_id = f"s{size}"
        session = SessionRecord(session_id=session_id, user_id="u1", component_id="assistant")
        for n in range(size):
            await store.save_run(session, make_run(session_id, n))
        runs = await load_history(store, session_id)
        assert len(runs) == HISTORY
        results[size] = await timed(lambda sid=session_id: load_history(store, sid), 300)
    await store.close()
    return results


class CallCounter:
    """Counts DynamoDB requests and the items each read, from botocore's after-call events."""

    def __init__(self) -> None:
        self.requests = 0
        self.items_read = 0

    def __call__(self, http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        self.requests += 1
        if "ScannedCount" in parsed:
            self.items_read += int(parsed["ScannedCount"])
        elif "Item" in parsed:
            self.items_read += 1


async def dynamodb_figures() -> dict[int, tuple[float, float, float]]:
    from tests.aws import REGION, moto_server

    results: dict[int, tuple[float, float, float]] = {}
    with moto_server():
        store = DynamoStore("bench-sessions", region=REGION)
        store.create_table()
        client = store.client
        for size in SIZES:
            session_id = f"s{size}"
            session = await store.create_session(
                SessionRecord(session_id=session_id, user_id="u1", component_id="assistant")
            )
            items = [to_item(store.run_item(session, make_run(session_id, n))) for n in range(size)]
            for start in range(0, len(items), 25):  # seed in bulk; the measured read path is the real one
                batch = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
                client.batch_write_item(RequestItems={store.table: batch})  # type: ignore[arg-type]
            runs = await load_history(store, session_id)
            assert len(runs) == HISTORY
            counter = CallCounter()
            client.meta.events.register("after-call.dynamodb.*", counter)
            loads = 20
            for _ in range(loads):
                await load_history(store, session_id)
            client.meta.events.unregister("after-call.dynamodb.*", counter)
            wall = await timed(lambda sid=session_id: load_history(store, sid), 20)
            results[size] = (counter.requests / loads, counter.items_read / loads, wall)
    return results


def main() -> int:
    print(
        f"stratus session load, {time.strftime('%Y-%m-%d')}, Python {platform.python_version()}, "
        f"{platform.machine()} x{os.cpu_count()}; history = last {HISTORY} completed runs"
    )
    with tempfile.TemporaryDirectory() as folder:
        sqlite = asyncio.run(sqlite_figures(folder))
    dynamo = asyncio.run(dynamodb_figures())
    small, big = SIZES
    sqlite_ratio = sqlite[big] / sqlite[small]
    items_ratio = dynamo[big][1] / dynamo[small][1]
    requests_ratio = dynamo[big][0] / dynamo[small][0]
    print(
        f"  SQLite    {small:>6} runs: {sqlite[small]:7.3f} ms   {big:>6} runs: {sqlite[big]:7.3f} ms   "
        f"ratio {sqlite_ratio:.2f}"
    )
    print(
        f"  DynamoDB  {small:>6} runs: {dynamo[small][0]:.0f} requests, {dynamo[small][1]:.0f} items read   "
        f"{big:>6} runs: {dynamo[big][0]:.0f} requests, {dynamo[big][1]:.0f} items read   "
        f"ratio {max(items_ratio, requests_ratio):.2f}"
    )
    print(f"  (moto's wall time, which grows with the table: {dynamo[small][2]:.1f} ms and {dynamo[big][2]:.1f} ms)")
    ok = sqlite_ratio <= TARGET_RATIO and max(items_ratio, requests_ratio) <= TARGET_RATIO
    print(f"  target: ratio <= {TARGET_RATIO} on both: {'ok' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
