"""What an eval runs: an agent or a team, and how its record names it."""

from __future__ import annotations

from typing import Any

from stratus.agent import Agent
from stratus.models.base import Model
from stratus.storage.records import EvalRecord, EvalType
from stratus.team import Team

__all__ = ["Component", "eval_record", "eval_session", "identity"]

Component = Agent | Team
"""An eval's target."""


def identity(component: Component) -> tuple[str | None, str | None]:
    """The record's `agent_id` and `team_id` (one of them is None)."""
    if isinstance(component, Team):
        return None, component.team_id
    return component.agent_id, None


def eval_record(
    eval_id: str,
    component: Component,
    eval_type: EvalType,
    eval_data: dict[str, Any],
    eval_input: dict[str, Any],
    *,
    model: Model | None,
    name: str | None,
    user_id: str | None,
    component_name: str | None = None,
) -> EvalRecord:
    """A new eval run's record, not yet stored."""
    agent_id, team_id = identity(component)
    return EvalRecord(
        eval_id=eval_id,
        eval_type=eval_type,
        eval_data=eval_data,
        eval_input=eval_input,
        name=name,
        model_id=None if model is None else model.id,
        model_provider=None if model is None else model.provider,
        evaluated_component_name=component_name,
        user_id=user_id,
        agent_id=agent_id,
        team_id=team_id,
    )


def eval_session(eval_id: str, iteration: int) -> str:
    """The session one iteration of an eval runs in (AgentOS' `eval_<run id>_<n>`)."""
    return f"eval_{eval_id}_{iteration}"
