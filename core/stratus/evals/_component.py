"""What an eval runs: an agent or a team, and how its record names it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stratus._utils import new_id
from stratus.agent import Agent
from stratus.models.base import Model
from stratus.run import RunOutput
from stratus.storage.records import EvalRecord, EvalType
from stratus.team import Team

__all__ = ["Component", "EvalRun", "identity"]

Component = Agent | Team
"""An eval's target."""


def identity(component: Component) -> tuple[str | None, str | None]:
    """The record's `agent_id` and `team_id` (one of them is None)."""
    if isinstance(component, Team):
        return None, component.team_id
    return component.agent_id, None


@dataclass(frozen=True, slots=True)
class EvalRun:
    """One eval of `component`: its id, the sessions its iterations run in, and the record it ends in (named
    `name`, owned by `user_id`)."""

    component: Component
    name: str | None
    user_id: str | None
    id: str = field(default_factory=new_id)

    async def arun(self, input: str, iteration: int) -> RunOutput:
        """Run the component on `input` in the session of `iteration` (AgentOS' `eval_<run id>_<n>`)."""
        return await self.component.arun(input, session_id=f"eval_{self.id}_{iteration}", user_id=self.user_id)

    def record(
        self,
        eval_type: EvalType,
        eval_data: dict[str, Any],
        eval_input: dict[str, Any],
        *,
        model: Model | None = None,
        component_name: str | None = None,
    ) -> EvalRecord:
        """The eval's record, not yet stored; it names `model` (by default the component's)."""
        model = model or self.component.get_model()
        agent_id, team_id = identity(self.component)
        return EvalRecord(
            eval_id=self.id,
            eval_type=eval_type,
            eval_data=eval_data,
            eval_input=eval_input,
            name=self.name,
            model_id=model.id,
            model_provider=model.provider,
            evaluated_component_name=component_name,
            user_id=self.user_id,
            agent_id=agent_id,
            team_id=team_id,
        )
