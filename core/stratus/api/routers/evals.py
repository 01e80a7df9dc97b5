"""`/eval-runs`: run an eval of one of the app's agents or teams (accuracy, agent as judge, performance,
reliability) and keep its result, then list, read, rename and delete the results, as AgentOS serves them.

Scoped like memories: to the verified user with authentication on, to the `user_id` the request names with
it off. An eval runs its target as that user (its runs are stored in `eval_<id>_<n>` sessions of theirs);
another user's eval run is a 404.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Query, Response

from stratus.api._deps import AppDep, caller_of, found
from stratus.api._openapi import Router
from stratus.api._paging import CursorPaginatedResponse, listed
from stratus.api.schemas import (
    DeleteEvalRunsRequest,
    EvalParams,
    EvalRunInput,
    EvalSchema,
    UpdateEvalRunRequest,
)
from stratus.app import App
from stratus.evals import (
    Component,
    run_accuracy_eval,
    run_agent_as_judge_eval,
    run_performance_eval,
    run_reliability_eval,
)
from stratus.exceptions import ConfigError
from stratus.models import Model, requested_model
from stratus.storage import EvalQuery, EvalRecord, EvalType, SessionType

__all__ = ["router"]

router = Router(tags=["Evals"])


_USER = Query(default=None, description="Whose eval runs (with authentication on: the caller's)")
CallerDep = Annotated[str | None, caller_of(_USER, agentos_db=True)]

T = TypeVar("T")


def _not_found(eval_run_id: str) -> str:
    return f"Eval run with id '{eval_run_id}' not found"


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


def _given(value: T | None, detail: str) -> T:
    """`value`, which the eval type needs: a 422 saying `detail` if the request left it out (or empty)."""
    if value is None or value == "":
        raise HTTPException(status_code=422, detail=detail)
    return value


def _runner(body: EvalRunInput, judge: Model) -> Callable[..., Awaitable[EvalRecord]]:
    """The eval the request asks for, with the options of its type bound (a judging eval judged by `judge`);
    a 422 if the request lacks what its type needs."""
    match body.eval_type:
        case EvalType.ACCURACY:
            return partial(
                run_accuracy_eval,
                expected_output=_given(body.expected_output, "expected_output is required for accuracy evaluation"),
                judge=judge,
                num_iterations=body.num_iterations,
                additional_guidelines=body.additional_guidelines,
                additional_context=body.additional_context,
            )
        case EvalType.AGENT_AS_JUDGE:
            return partial(
                run_agent_as_judge_eval,
                criteria=_given(body.criteria, "criteria is required for agent-as-judge evaluation"),
                judge=judge,
                scoring_strategy=body.scoring_strategy or "binary",
                threshold=body.threshold or 7,
                additional_guidelines=body.additional_guidelines,
            )
        case EvalType.PERFORMANCE:
            return partial(run_performance_eval, num_iterations=body.num_iterations, warmup_runs=body.warmup_runs)
        case EvalType.RELIABILITY:
            return partial(
                run_reliability_eval,
                expected_tool_calls=_given(
                    body.expected_tool_calls, "expected_tool_calls is required for reliability evaluations"
                ),
                allow_additional_tool_calls=body.allow_additional_tool_calls,
                expected_tool_call_arguments=body.expected_tool_call_arguments,
            )


@router.operation("POST", "/eval-runs", "Execute Evaluation", "run_eval", 404, 422, run=True)
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
    runner = _runner(body, served.get_model())
    component = _with_model(served, body)
    try:
        record = await runner(component, input=body.input, name=body.name, user_id=caller)
    finally:
        if component is not served:  # the named model's client is this eval's own
            await component.get_model().aclose()
    return EvalSchema.model_validate(await app.store.put_eval(record))


def _eval_types(value: str | None) -> list[EvalType] | None:
    if not value:
        return None
    try:
        return [EvalType(item.strip()) for item in value.split(",") if item.strip()] or None
    except ValueError as exc:
        valid = ", ".join(t.value for t in EvalType)
        raise HTTPException(status_code=422, detail=f"Invalid eval_type: {exc}. Valid types: {valid}") from None


def _listing(params: Annotated[EvalParams, Query()], caller: CallerDep) -> EvalQuery:
    kind = None if params.component_type is None else SessionType(params.component_type)
    return params.query(EvalQuery, user_id=caller, component_type=kind, eval_types=_eval_types(params.eval_types))


_Listing = Annotated[EvalQuery, Depends(_listing)]


@router.operation("GET", "/eval-runs", "List Evaluation Runs", "get_eval_runs", 422)
async def list_eval_runs(app: AppDep, query: _Listing) -> CursorPaginatedResponse[EvalSchema]:
    """One page of eval runs, newest first by default (`meta.next_cursor` continues it)."""
    return await listed(app.store.list_evals, query, EvalSchema.model_validate)


@router.operation("GET", "/eval-runs/{eval_run_id}", "Get Evaluation Run", "get_eval_run", 404, 422)
async def get_eval_run(
    eval_run_id: str,
    app: AppDep,
    caller: CallerDep,
) -> EvalSchema:
    return EvalSchema.model_validate(
        found(await app.store.get_eval(eval_run_id, user_id=caller), _not_found(eval_run_id))
    )


@router.operation("DELETE", "/eval-runs", "Delete Evaluation Runs", "delete_eval_runs", 422, status_code=204)
async def delete_eval_runs(
    body: DeleteEvalRunsRequest,
    app: AppDep,
    caller: CallerDep,
) -> Response:
    """Delete the listed eval runs; ids that do not exist or belong to someone else are skipped."""
    await app.store.delete_evals(body.eval_run_ids, user_id=caller)
    return Response(status_code=204)


@router.operation("PATCH", "/eval-runs/{eval_run_id}", "Update Evaluation Run", "update_eval_run", 404, 422)
async def update_eval_run(
    eval_run_id: str,
    body: UpdateEvalRunRequest,
    app: AppDep,
    caller: CallerDep,
) -> EvalSchema:
    """Rename an eval run."""
    record = await app.store.rename_eval(eval_run_id, body.name, user_id=caller)
    return EvalSchema.model_validate(found(record, _not_found(eval_run_id)))
