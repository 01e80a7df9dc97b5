"""Human in the loop: what a paused run waits for, and the decisions that resume it.

A model's call of a tool that needs a person (`Tool.pauses`) stops the run before any call of that round runs:
the round's calls are stored in the run's `tools`, the waiting ones flagged (AgentOS' `requires_confirmation`,
`requires_user_input` with its `user_input_schema`, `external_execution_required`), with one AgentOS
`RunRequirement` each in the run's `requirements`. Nothing is held in memory: `/continue` reads the stored run,
`apply_decisions` writes the person's answers into its calls, and the turns run the round and go on.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from stratus.messages import ToolCall
from stratus.run import RunOutput, ToolExecution
from stratus.tools import Tool

__all__ = [
    "REJECTED",
    "DecisionError",
    "MemberPaused",
    "apply_decisions",
    "by_member_run",
    "flag",
    "pending_round",
    "requirement",
]

REJECTED = "Function call was rejected by the user"
"""The tool result a model reads for a refused call without a note (AgentOS' words)."""


class DecisionError(ValueError):
    """The decisions sent do not resolve the paused run (a 422 on the API)."""


class MemberPaused(Exception):
    """Raised by a team's delegation tool whose member's run paused: the leader's call waits on that run."""

    def __init__(self, member_id: str, member_name: str | None, run: RunOutput) -> None:
        super().__init__(f"member {member_id!r} paused")
        self.member_id, self.member_name, self.run = member_id, member_name, run

    def requirements(self) -> list[dict[str, Any]]:
        """The member's requirements, naming the member and its run (AgentOS' `_propagate_member_pause`)."""
        return [
            {
                **r,
                "member_agent_id": r.get("member_agent_id") or self.member_id,
                "member_agent_name": r.get("member_agent_name") or self.member_name,
                "member_run_id": r.get("member_run_id") or self.run.run_id,
            }
            for r in self.run.requirements or []
        ]


def by_member_run(team_run: RunOutput, sent: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """A paused team run's decisions (`requirements` or `tools` dicts) sorted by the member run each is for;
    `DecisionError` for one that names no requirement of the team run."""
    member_of: dict[str, str] = {}
    for r in team_run.requirements or []:
        run_id = r.get("member_run_id")
        if isinstance(run_id, str):
            member_of[str(r.get("id"))] = run_id
            te = cast(dict[str, Any], r.get("tool_execution") or {})
            member_of[str(te.get("tool_call_id"))] = run_id
    if not member_of:
        raise DecisionError("no tool call of this run awaits a decision")
    out: dict[str, list[Mapping[str, Any]]] = {}
    for item in sent:
        nested = item.get("tool_execution")
        te = cast(dict[str, Any], nested) if isinstance(nested, dict) else item
        key = str(item.get("id")) if str(item.get("id")) in member_of else str(te.get("tool_call_id"))
        if key not in member_of:
            raise DecisionError(f"no requirement of this run has the id {item.get('id') or te.get('tool_call_id')!r}")
        out.setdefault(member_of[key], []).append(item)
    for run_id in set(member_of.values()) - set(out):
        raise DecisionError(f"the member run {run_id!r} still awaits a decision")
    return out


def flag(execution: ToolExecution, tool: Tool | None) -> ToolExecution:
    """`execution` flagged with what its tool waits for (unchanged for a tool that needs nobody)."""
    if tool is None:
        return execution
    if tool.external_execution:
        execution.external_execution_required = True
    elif tool.requires_user_input:
        execution.requires_user_input = True
        execution.user_input_schema = tool.user_input_schema(execution.tool_args)
    elif tool.requires_confirmation:
        execution.requires_confirmation = True
    return execution


def requirement(execution: ToolExecution) -> dict[str, Any]:
    """AgentOS' `RunRequirement.to_dict()` of a waiting call (None values left out, as it does)."""
    out: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "created_at": datetime.now(UTC).isoformat(),
        "tool_execution": execution.to_dict(),
    }
    if execution.user_input_schema is not None:
        out["user_input_schema"] = execution.user_input_schema
    return out


def pending_round(run: RunOutput) -> list[ToolExecution]:
    """The calls of the round a paused run stopped at: its last calls with no result yet."""
    answered = {m.tool_call_id for m in run.messages if m.role == "tool"}
    return [t for t in run.tools if t.result is None and t.tool_call_id not in answered]


def as_call(execution: ToolExecution) -> ToolCall:
    import json

    return ToolCall(id=execution.tool_call_id, name=execution.tool_name, arguments=json.dumps(execution.tool_args))


def apply_decisions(run: RunOutput, sent: Sequence[Mapping[str, Any]]) -> list[ToolExecution]:
    """Write the decisions `sent` (AgentOS' `tools`: `ToolExecution` dicts, or `requirements`: `RunRequirement`
    dicts, matched by `tool_call_id` or requirement `id`) into the paused run's waiting calls; returns the
    round to run. `DecisionError` when a call still waits, or a decision names no waiting call; then nothing
    is changed."""
    pending = pending_round(run)
    waiting = {t.tool_call_id: t for t in pending if t.is_paused}
    if not waiting:
        raise DecisionError("no tool call of this run awaits a decision")
    by_requirement = {
        str(r.get("id")): str(cast(dict[str, Any], r.get("tool_execution") or {}).get("tool_call_id"))
        for r in run.requirements or []
    }
    decisions: dict[str, dict[str, Any]] = {}
    for item in sent:
        nested = item.get("tool_execution")
        te = cast(dict[str, Any], nested) if isinstance(nested, dict) else dict(item)
        call_id = te.get("tool_call_id") or by_requirement.get(str(item.get("id")))
        if not isinstance(call_id, str) or call_id not in waiting:
            raise DecisionError(f"no waiting tool call has the id {call_id!r} (waiting: {', '.join(sorted(waiting))})")
        merged = {**te, **{k: v for k, v in item.items() if k != "tool_execution" and v is not None}}
        decisions[call_id] = merged
    updates: dict[str, dict[str, Any]] = {}
    for call_id, execution in waiting.items():
        decision = decisions.get(call_id)
        if decision is None:
            raise DecisionError(f"tool call {call_id!r} ({execution.tool_name}) still awaits a decision")
        updates[call_id] = _resolve(execution, decision)
    for call_id, update in updates.items():  # every decision checked: now apply them all
        for key, value in update.items():
            setattr(waiting[call_id], key, value)
    run.requirements = None
    return pending


def _resolve(execution: ToolExecution, decision: dict[str, Any]) -> dict[str, Any]:
    name = f"tool call {execution.tool_call_id!r} ({execution.tool_name})"
    if execution.external_execution_required:
        result = _first(decision, "external_execution_result", "result")
        if result is None:
            raise DecisionError(f"{name} runs outside the run: send its result")
        return {"result": result if isinstance(result, str) else _text(result), "external_execution_required": False}
    if execution.requires_user_input:
        given = _values(decision.get("user_input_schema"))
        schema = [dict(f) for f in execution.user_input_schema or []]
        for f in schema:
            if f["name"] in given:
                f["value"] = given[f["name"]]
        missing = [f["name"] for f in schema if f.get("value") is None]
        if missing:
            raise DecisionError(f"{name} needs a value for: {', '.join(missing)}")
        args = {**execution.tool_args, **{f["name"]: f["value"] for f in schema}}
        return {"user_input_schema": schema, "tool_args": args, "requires_user_input": False, "answered": True}
    confirmed = _first(decision, "confirmed", "confirmation")
    if not isinstance(confirmed, bool):
        raise DecisionError(f"{name} needs confirmed: true or false")
    note = decision.get("confirmation_note")
    return {
        "confirmed": confirmed,
        "confirmation_note": note if isinstance(note, str) and note else None,
        "requires_confirmation": False,
    }


def _first(decision: dict[str, Any], *keys: str) -> Any:
    """The first of `keys` set (not None): AgentOS' `ToolExecution` and `RunRequirement` name some alike."""
    return next((decision[k] for k in keys if decision.get(k) is not None), None)


def _values(schema: Any) -> dict[str, Any]:
    if not isinstance(schema, list):
        return {}
    out: dict[str, Any] = {}
    for f in cast(list[Any], schema):
        if isinstance(f, dict) and isinstance(name := cast(dict[str, Any], f).get("name"), str):
            value = cast(dict[str, Any], f).get("value")
            if value is not None:
                out[name] = value
    return out


def _text(value: Any) -> str:
    from stratus._utils import to_text

    return to_text(value)
