"""`/eval-runs`: what to evaluate, an eval run's result, and the listing's page."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from stratus.api._paging import Listing
from stratus.api.schemas._common import RECORD, RanBy, UtcTime
from stratus.storage import EvalType


class EvalRunInput(BaseModel):
    """What to evaluate and how (AgentOS' `EvalRunInput`)."""

    agent_id: str | None = Field(default=None, description="Agent ID to evaluate")
    team_id: str | None = Field(default=None, description="Team ID to evaluate")
    model_id: str | None = Field(default=None, description="Run the target with this model (with model_provider)")
    model_provider: str | None = Field(default=None, description="The provider of model_id")
    eval_type: EvalType = Field(description="accuracy, agent_as_judge, performance or reliability")
    input: str = Field(min_length=1, description="The input the target runs on")
    additional_guidelines: str | None = Field(default=None, description="More guidelines for the accuracy judge")
    additional_context: str | None = Field(default=None, description="More context for the accuracy judge")
    num_iterations: int = Field(default=1, ge=1, le=100, description="How many times to run the target")
    name: str | None = Field(default=None, description="Name for this evaluation run")
    expected_output: str | None = Field(default=None, description="The expected answer (accuracy)")
    criteria: str | None = Field(default=None, description="Criteria of an agent-as-judge eval")
    scoring_strategy: Literal["numeric", "binary"] | None = Field(default="binary")
    threshold: int | None = Field(default=7, ge=1, le=10)
    warmup_runs: int = Field(default=0, ge=0, le=10, description="Untimed runs before the timed ones (performance)")
    expected_tool_calls: list[str] | None = Field(default=None, description="The tools expected (reliability)")
    allow_additional_tool_calls: bool = Field(default=False, description="Other tools may be called too")
    expected_tool_call_arguments: dict[str, dict[str, Any] | list[dict[str, Any]]] | None = Field(
        default=None, description='Arguments expected per tool: {"add": {"a": 1}} or {"add": [{"a": 1}, {"a": 2}]}'
    )


class EvalSchema(RanBy):
    """One eval run and its result (AgentOS' `EvalSchema`)."""

    model_config = RECORD

    id: str = Field(validation_alias="eval_id")
    model_id: str | None = None
    model_provider: str | None = None
    name: str | None = None
    evaluated_component_name: str | None = None
    eval_type: EvalType
    eval_data: dict[str, Any] = Field(description="The result, in AgentOS' shape for the eval type")
    eval_input: dict[str, Any] | None = None
    created_at: UtcTime | None = None
    updated_at: UtcTime | None = None


class DeleteEvalRunsRequest(BaseModel):
    eval_run_ids: list[str] = Field(min_length=1, description="The eval runs to delete")


class UpdateEvalRunRequest(BaseModel):
    name: str = Field(min_length=1, max_length=255, description="The eval run's new name")


class EvalFilters(BaseModel):
    """The filters of `GET /eval-runs` (`type` and `eval_types` as the request gives them)."""

    agent_id: str | None = Field(default=None, description="Agent ID")
    team_id: str | None = Field(default=None, description="Team ID")
    workflow_id: str | None = Field(default=None, description="Workflow ID")
    model_id: str | None = Field(default=None, description="Model ID")
    component_type: Literal["agent", "team", "workflow"] | None = Field(
        default=None, alias="type", description="Only evals of this kind of component"
    )
    eval_types: str | None = Field(
        default=None, description="Comma-separated eval types (accuracy,agent_as_judge,performance,reliability)"
    )


EvalSort = Literal["created_at", "updated_at"]


class EvalListing(Listing[EvalSort]):
    """The page and sort of `GET /eval-runs`."""

    sort_by: EvalSort = "created_at"


class EvalParams(EvalListing, EvalFilters):
    """The query parameters of `GET /eval-runs`: its filters, then its page and sort."""
