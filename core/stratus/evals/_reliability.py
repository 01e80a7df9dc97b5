"""Reliability: the tools a run was expected to call against those it called, and their arguments;
`eval_data` is AgentOS' `ReliabilityResult`. An expectation is met only by a clean execution (one whose
`tool_call_error` is not true); a team's run counts its members' executions, at every depth."""

from __future__ import annotations

from typing import Any

from stratus.evals._component import Component, EvalRun
from stratus.messages import Message
from stratus.run import RunOutput, ToolExecution
from stratus.storage.records import EvalRecord, EvalType

__all__ = ["reliability_of", "run_reliability_eval"]

ArgumentSpecs = dict[str, dict[str, Any] | list[dict[str, Any]]]


def _evidence(run: RunOutput, executions: list[ToolExecution], messages: list[Message]) -> None:
    executions.extend(run.tools)
    messages.extend(run.messages)
    for child in run.children:
        _evidence(child, executions, messages)


def reliability_of(
    run: RunOutput,
    expected_tool_calls: list[str],
    *,
    allow_additional_tool_calls: bool = False,
    expected_tool_call_arguments: ArgumentSpecs | None = None,
    run_id: str = "",
) -> dict[str, Any]:
    """AgentOS' `ReliabilityResult` of one run: which calls passed, failed, were additional or missing, and
    which argument checks passed or failed; `eval_status` PASSED when nothing failed or is missing."""
    executions: list[ToolExecution] = []
    messages: list[Message] = []
    _evidence(run, executions, messages)
    # Requests the model made this run (not history), for calls that never ran (refused or limited).
    requested = {c.name for m in messages if not m.from_history for c in m.tool_calls or [] if c.name}
    expected = set(expected_tool_calls)
    clean = [t for t in executions if t.tool_name and not t.tool_call_error]
    clean_names = {t.tool_name for t in clean}
    executed = {t.tool_name for t in executions if t.tool_name}
    attempted = executed | requested

    failed: list[str] = []
    passed: list[str] = []
    additional: list[str] = []
    missing: list[str] = []
    failed_args: list[str] = []
    passed_args: list[str] = []
    for t in executions:
        if not t.tool_name:
            continue
        if t.tool_name not in expected:
            (additional if allow_additional_tool_calls else failed).append(t.tool_name)
        elif not t.tool_call_error:
            passed.append(t.tool_name)
    for name in sorted(requested - executed):
        if name not in expected:
            (additional if allow_additional_tool_calls else failed).append(name)
    missing_names: set[str] = set()
    for name in expected_tool_calls:
        if name not in clean_names:
            missing_names.add(name)
            missing.append(f"{name} (requested but refused/errored)" if name in attempted else name)
    for name, specs in (expected_tool_call_arguments or {}).items():
        if name in missing_names:
            continue
        wanted = specs if isinstance(specs, list) else [specs]
        actual = [dict(t.tool_args or {}) for t in clean if t.tool_name == name]
        matched = bool(actual) and all(
            any(all(key in args and args[key] == value for key, value in spec.items()) for args in actual)
            for spec in wanted
        )
        (passed_args if matched else failed_args).append(name)
    return {
        "run_id": run_id,
        "eval_status": "PASSED" if not failed and not missing and not failed_args else "FAILED",
        "failed_tool_calls": failed,
        "passed_tool_calls": passed,
        "additional_tool_calls": additional,
        "missing_tool_calls": missing,
        "failed_argument_checks": failed_args,
        "passed_argument_checks": passed_args,
    }


async def run_reliability_eval(
    component: Component,
    *,
    input: str,
    expected_tool_calls: list[str],
    allow_additional_tool_calls: bool = False,
    expected_tool_call_arguments: ArgumentSpecs | None = None,
    name: str | None = None,
    user_id: str | None = None,
) -> EvalRecord:
    """Run `component` on `input` once and check the tools it called (see `reliability_of`)."""
    eval_run = EvalRun(component, name, user_id)
    run = await eval_run.arun(input, 1)
    data = reliability_of(
        run,
        expected_tool_calls,
        allow_additional_tool_calls=allow_additional_tool_calls,
        expected_tool_call_arguments=expected_tool_call_arguments,
        run_id=eval_run.id,
    )
    eval_input = {
        "expected_tool_calls": expected_tool_calls,
        "allow_additional_tool_calls": allow_additional_tool_calls,
        "expected_tool_call_arguments": expected_tool_call_arguments,
    }
    record = eval_run.record(EvalType.RELIABILITY, data, eval_input)
    if run.model is not None:  # the model that answered (a fallback, maybe)
        record.model_id, record.model_provider = run.model, run.model_provider
    return record
