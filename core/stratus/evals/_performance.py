"""Performance: the component's run time and peak memory over timed runs, after optional warm-up runs;
`eval_data` is what AgentOS stores of a `PerformanceResult` (`result` statistics and the `runs`)."""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from typing import Any

from stratus.evals._component import Component, EvalRun
from stratus.storage.records import EvalRecord, EvalType

__all__ = ["performance_result", "run_performance_eval"]

_MIB = 1024 * 1024


def _stats(values: list[float], prefix: str) -> dict[str, float]:
    names = ("avg", "min", "max", "std_dev", "median", "p95")
    if not values:
        return {f"{n}_{prefix}": 0.0 for n in names}
    ordered = sorted(values)
    p95 = statistics.quantiles(ordered, n=100, method="inclusive")[94] if len(ordered) > 1 else ordered[0]
    found = (
        statistics.mean(ordered),
        ordered[0],
        ordered[-1],
        statistics.stdev(ordered) if len(ordered) > 1 else 0.0,
        statistics.median(ordered),
        p95,
    )
    return {f"{n}_{prefix}": float(v) for n, v in zip(names, found, strict=True)}


def performance_result(run_times: list[float], memory_usages: list[float]) -> dict[str, Any]:
    """AgentOS' stored performance data: seconds and MiB statistics, and each run's pair."""
    return {
        "result": {**_stats(run_times, "run_time"), **_stats(memory_usages, "memory_usage")},
        "runs": [
            {"runtime": runtime, "memory": memory} for runtime, memory in zip(run_times, memory_usages, strict=False)
        ],
    }


async def run_performance_eval(
    component: Component,
    *,
    input: str,
    num_iterations: int = 1,
    warmup_runs: int = 0,
    name: str | None = None,
    user_id: str | None = None,
) -> EvalRecord:
    """Run `component` on `input`: `warmup_runs` untimed, then `num_iterations` timed, then `num_iterations`
    with their peak memory traced (as AgentOS measures them apart, so tracing does not slow the timed runs).
    Memory is the peak of Python allocations during the run, in MiB, over an idle baseline."""
    eval_run = EvalRun(component, name, user_id)
    counter = iter(range(1, 2 + warmup_runs + 2 * num_iterations))

    async def once() -> None:
        await eval_run.arun(input, next(counter))

    for _ in range(warmup_runs):
        await once()
    run_times: list[float] = []
    for _ in range(num_iterations):
        started = time.perf_counter()
        await once()
        run_times.append(time.perf_counter() - started)
    memory_usages: list[float] = []
    tracing_before = tracemalloc.is_tracing()
    for _ in range(num_iterations):
        gc.collect()
        if not tracing_before:
            tracemalloc.start()
        tracemalloc.reset_peak()
        baseline = tracemalloc.get_traced_memory()[0]
        try:
            await once()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            if not tracing_before:
                tracemalloc.stop()
        memory_usages.append(max(0.0, (peak - baseline) / _MIB))
    eval_input = {"num_iterations": num_iterations, "warmup_runs": warmup_runs}
    result = performance_result(run_times, memory_usages)
    return eval_run.record(EvalType.PERFORMANCE, result, eval_input, component_name=component.name)
