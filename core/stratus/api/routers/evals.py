"""`/eval-runs`: run an eval of one of the app's agents or teams (accuracy, agent as judge, performance,
reliability) and keep its result, then list, read, rename and delete the results, as AgentOS serves them.

Scoped like memories: to the verified user with authentication on, to the `user_id` the request names with
it off. An eval runs its target as that user (its runs are stored in `eval_<id>_<n>` sessions of theirs);
another user's eval run is a 404.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from stratus.api._deps import AppDep, resolve_user_id
from stratus.api._limits import page_query
from stratus.api._openapi import errors
from stratus.api._paging import CursorPaginatedResponse, cursor_query, paged
from stratus.app import App
from stratus.evals import (
    Component,
    run_accuracy_eval,
    run_agent_as_judge_eval,
    run_performance_eval,
    run_reliability_eval,
)
from stratus.exceptions import ConfigError
from stratus.models import requested_model
from stratus.storage import EvalQuery, EvalRecord, EvalType, SessionType

__all__ = ["DeleteEvalRunsRequest", "EvalRunInput", "EvalSchema", "UpdateEvalRunRequest", "router"]

router = APIRouter(tags=["Evals"])


def _caller(
    request: Request,
    user_id: str | None = Query(default=None, description="Whose eval runs (with authentication on: the caller's)"),
    db_id: str | None = Query(default=None, description="AgentOS' database id; stratus serves its one store"),
    table: str | None = Query(default=None, description="AgentOS' table name; not used by stratus"),
) -> str | None:
    """The user the request acts for (see `resolve_user_id`), taking AgentOS' `db_id` and `table` too."""
    return resolve_user_id(request, user_id)


CallerDep = Annotated[str | None, Depends(_caller)]


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


class EvalSchema(BaseModel):
    """One eval run and its result (AgentOS' `EvalSchema`)."""

    id: str
    agent_id: str | None = None
    model_id: str | None = None
    model_provider: str | None = None
    team_id: str | None = None
    workflow_id: str | None = None
    name: str | None = None
    evaluated_component_name: str | None = None
    user_id: str | None = None
    eval_type: EvalType
    eval_data: dict[str, Any] = Field(description="The result, in AgentOS' shape for the eval type")
    eval_input: dict[str, Any] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def of(cls, record: EvalRecord) -> EvalSchema:
        return cls(
            id=record.eval_id,
            agent_id=record.agent_id,
            model_id=record.model_id,
            model_provider=record.model_provider,
            team_id=record.team_id,
            workflow_id=record.workflow_id,
            name=record.name,
            evaluated_component_name=record.evaluated_component_name,
            user_id=record.user_id,
            eval_type=record.eval_type,
            eval_data=record.eval_data,
            eval_input=record.eval_input,
            created_at=datetime.fromtimestamp(record.created_at, UTC),
            updated_at=datetime.fromtimestamp(record.updated_at, UTC),
        )


class DeleteEvalRunsRequest(BaseModel):
    eval_run_ids: list[str] = Field(min_length=1, description="The eval runs to delete")


class UpdateEvalRunRequest(BaseModel):
    name: str = Field(min_length=1, max_length=255, description="The eval run's new name")


def _not_found(eval_run_id: str) -> HTTPException:
    return HTTPException(status_code=404, detail=f"Eval run with id '{eval_run_id}' not found")


def _served(app: App, body: EvalRunInput) -> Component:
    """The agent or team the request names, as the app serves it."""
    if body.agent_id and body.team_id:
        raise HTTPException(status_code=422, detail="Only one of agent_id or team_id must be provided")
    if body.agent_id:
        if body.agent_id not in app.agents:
            raise HTTPException(status_code=404, detail=f"Agent with id '{body.agent_id}' not found")
        return app.agents[body.agent_id]
    if body.team_id:
        if body.team_id not in app.teams:
            raise HTTPException(status_code=404, detail=f"Team with id '{body.team_id}' not found")
        return app.teams[body.team_id]
    raise HTTPException(status_code=422, detail="One of agent_id or team_id must be provided")


def _with_model(served: Component, body: EvalRunInput) -> Component:
    """`served` as the eval runs it: a copy on the model the request names, if it names another (the served
    one is shared by every request)."""
    if not (body.model_id and body.model_provider):
        return served
    current = served.get_model()
    if (current.id, current.provider.lower()) == (body.model_id, body.model_provider.lower()):
        return served
    try:
        model = requested_model(body.model_provider, body.model_id)
    except ConfigError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    return dataclasses.replace(served, model=model)


async def _evaluate(body: EvalRunInput, served: Component, component: Component, caller: str | None) -> EvalRecord:
    """Run the eval the request asks for on `component`, judged by `served`'s model."""
    if body.eval_type is EvalType.ACCURACY:
        assert body.expected_output is not None
        return await run_accuracy_eval(
            component,
            input=body.input,
            expected_output=body.expected_output,
            judge=served.get_model(),
            num_iterations=body.num_iterations,
            additional_guidelines=body.additional_guidelines,
            additional_context=body.additional_context,
            name=body.name,
            user_id=caller,
        )
    if body.eval_type is EvalType.AGENT_AS_JUDGE:
        assert body.criteria is not None
        return await run_agent_as_judge_eval(
            component,
            input=body.input,
            criteria=body.criteria,
            judge=served.get_model(),
            scoring_strategy=body.scoring_strategy or "binary",
            threshold=body.threshold or 7,
            additional_guidelines=body.additional_guidelines,
            name=body.name,
            user_id=caller,
        )
    if body.eval_type is EvalType.PERFORMANCE:
        return await run_performance_eval(
            component,
            input=body.input,
            num_iterations=body.num_iterations,
            warmup_runs=body.warmup_runs,
            name=body.name,
            user_id=caller,
        )
    assert body.expected_tool_calls is not None
    return await run_reliability_eval(
        component,
        input=body.input,
        expected_tool_calls=body.expected_tool_calls,
        allow_additional_tool_calls=body.allow_additional_tool_calls,
        expected_tool_call_arguments=body.expected_tool_call_arguments,
        name=body.name,
        user_id=caller,
    )


@router.post(
    "/eval-runs",
    summary="Execute Evaluation",
    operation_id="run_eval",
    response_model=EvalSchema,
    responses=errors(404, 422, run=True),
)
async def run_eval(
    body: EvalRunInput,
    app: AppDep,
    caller: CallerDep,
) -> EvalSchema:
    """Run the eval on the agent or team and keep its result. Accuracy needs `expected_output`, agent as
    judge `criteria` (either judge is the target's own model; a `model_id` with `model_provider` runs the
    target with that model instead), reliability `expected_tool_calls`; performance times `num_iterations`
    runs after `warmup_runs`."""
    served = _served(app, body)
    if body.eval_type is EvalType.ACCURACY and not body.expected_output:
        raise HTTPException(status_code=422, detail="expected_output is required for accuracy evaluation")
    if body.eval_type is EvalType.RELIABILITY and body.expected_tool_calls is None:
        raise HTTPException(status_code=422, detail="expected_tool_calls is required for reliability evaluations")
    if body.eval_type is EvalType.AGENT_AS_JUDGE and not body.criteria:
        raise HTTPException(status_code=422, detail="criteria is required for agent-as-judge evaluation")
    component = _with_model(served, body)
    try:
        record = await _evaluate(body, served, component, caller)
    finally:
        if component is not served:  # the named model's client is this eval's own
            await component.get_model().aclose()
    return EvalSchema.of(await app.store.put_eval(record))


def _eval_types(value: str | None) -> list[EvalType] | None:
    if not value:
        return None
    try:
        return [EvalType(item.strip()) for item in value.split(",") if item.strip()] or None
    except ValueError as exc:
        valid = ", ".join(t.value for t in EvalType)
        raise HTTPException(status_code=422, detail=f"Invalid eval_type: {exc}. Valid types: {valid}") from None


@router.get(
    "/eval-runs",
    summary="List Evaluation Runs",
    operation_id="get_eval_runs",
    response_model=CursorPaginatedResponse[EvalSchema],
    responses=errors(422),
)
async def list_eval_runs(
    app: AppDep,
    caller: CallerDep,
    agent_id: str | None = Query(default=None, description="Agent ID"),
    team_id: str | None = Query(default=None, description="Team ID"),
    workflow_id: str | None = Query(default=None, description="Workflow ID"),
    model_id: str | None = Query(default=None, description="Model ID"),
    filter_type: Literal["agent", "team", "workflow"] | None = Query(
        default=None, alias="type", description="Only evals of this kind of component"
    ),
    eval_types: str | None = Query(
        default=None, description="Comma-separated eval types (accuracy,agent_as_judge,performance,reliability)"
    ),
    limit: int = Query(default=20, ge=1, le=1000),
    page: int = page_query(),
    sort_by: Literal["created_at", "updated_at"] = Query(default="created_at"),
    sort_order: Literal["asc", "desc"] = Query(default="desc"),
    cursor: str | None = cursor_query(),
) -> CursorPaginatedResponse[EvalSchema]:
    """One page of eval runs, newest first by default (`meta.next_cursor` continues it)."""
    started = time.perf_counter()
    query = EvalQuery(
        user_id=caller,
        agent_id=agent_id,
        team_id=team_id,
        workflow_id=workflow_id,
        model_id=model_id,
        component_type=None if filter_type is None else SessionType(filter_type),
        eval_types=_eval_types(eval_types),
        sort_by=sort_by,
        sort_order=sort_order,
        page=page,
        limit=limit,
        cursor=cursor,
    )
    found = await app.store.list_evals(query)
    return paged([EvalSchema.of(r) for r in found.items], found, limit=limit, started=started)


@router.get(
    "/eval-runs/{eval_run_id}",
    summary="Get Evaluation Run",
    operation_id="get_eval_run",
    response_model=EvalSchema,
    responses=errors(404, 422),
)
async def get_eval_run(
    eval_run_id: str,
    app: AppDep,
    caller: CallerDep,
) -> EvalSchema:
    record = await app.store.get_eval(eval_run_id, user_id=caller)
    if record is None:
        raise _not_found(eval_run_id)
    return EvalSchema.of(record)


@router.delete(
    "/eval-runs",
    status_code=204,
    summary="Delete Evaluation Runs",
    operation_id="delete_eval_runs",
    responses=errors(422),
)
async def delete_eval_runs(
    body: DeleteEvalRunsRequest,
    app: AppDep,
    caller: CallerDep,
) -> Response:
    """Delete the listed eval runs; ids that do not exist or belong to someone else are skipped."""
    await app.store.delete_evals(body.eval_run_ids, user_id=caller)
    return Response(status_code=204)


@router.patch(
    "/eval-runs/{eval_run_id}",
    summary="Update Evaluation Run",
    operation_id="update_eval_run",
    response_model=EvalSchema,
    responses=errors(404, 422),
)
async def update_eval_run(
    eval_run_id: str,
    body: UpdateEvalRunRequest,
    app: AppDep,
    caller: CallerDep,
) -> EvalSchema:
    """Rename an eval run."""
    record = await app.store.rename_eval(eval_run_id, body.name, user_id=caller)
    if record is None:
        raise _not_found(eval_run_id)
    return EvalSchema.of(record)
