"""`GET /approvals` and `GET /approvals/count`: what the caller's paused runs wait for, one row per tool call.

AgentOS serves these paths for its approval records; stratus keeps no record beside the run: a paused run is
stored PAUSED with its `requirements` (see `stratus.agent._pause`), and a row here is one of them, in AgentOS'
`ApprovalResponse` shape (its `id` the requirement's). Resolving one is `/agents/{id}/runs/{run_id}/continue`.
Only the caller's runs are listed (the verified user's, with authentication on). The listing reads the
caller's agent, team and workflow sessions, then each one's paused runs: its cost grows with the number of
sessions. A paused workflow's row is a call its paused step's agent or team waits on, resolved through
`/workflows/{id}/runs/{run_id}/continue`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any, Literal

from fastapi import Query, Request

from stratus.api._deps import AppDep, caller_of, resolve_user_id
from stratus.api._openapi import Router
from stratus.api._paging import PaginatedResponse, paginate
from stratus.api.schemas.approvals import ApprovalCountResponse, ApprovalResponse, PauseType
from stratus.app import App
from stratus.run import RunOutput, RunStatus
from stratus.storage.base import Store
from stratus.storage.records import SessionQuery, SessionType

__all__ = ["router"]

router = Router(tags=["Approvals"])

_USER = Query(default=None, description="The user (the verified one, with authentication on)")


@router.operation("GET", "/approvals", "List Approvals", "list_approvals")
async def list_approvals(
    request: Request,
    app: AppDep,
    status: Literal["pending", "approved", "rejected", "expired", "cancelled"] | None = Query(
        default=None, description="Only `pending` ones exist here: a decided call's run goes on"
    ),
    pause_type: PauseType | None = Query(default=None, description="What the call waits for"),
    agent_id: str | None = Query(default=None, description="Only this agent's runs"),
    team_id: str | None = Query(default=None, description="Only this team's runs"),
    workflow_id: str | None = Query(default=None, description="Only this workflow's runs"),
    run_id: str | None = Query(default=None, description="Only this run's calls"),
    user_id: str | None = _USER,
    limit: int = Query(default=100, ge=1, le=1000),
    page: int = Query(default=1, ge=1),
) -> PaginatedResponse[ApprovalResponse]:
    """The tool calls the caller's paused runs wait on (a confirmation, input, an outside result), newest first."""
    started = time.perf_counter()
    rows: list[ApprovalResponse] = []
    if status in (None, "pending"):
        rows = await _pending(app, resolve_user_id(request, user_id))
    rows = [
        r
        for r in rows
        if (pause_type is None or r.pause_type == pause_type)
        and (agent_id is None or r.agent_id == agent_id)
        and (team_id is None or r.team_id == team_id)
        and (workflow_id is None or r.workflow_id == workflow_id)
        and (run_id is None or r.run_id == run_id)
    ]
    return paginate(rows, ApprovalResponse.model_validate, page=page, limit=limit, started=started)


@router.operation("GET", "/approvals/count", "Get Pending Approval Count", "get_approval_count")
async def approval_count(app: AppDep, caller: Annotated[str | None, caller_of(_USER)]) -> ApprovalCountResponse:
    """How many tool calls the caller's paused runs wait on."""
    return ApprovalCountResponse(count=len(await _pending(app, caller)))


async def _pending(app: App, user_id: str | None) -> list[ApprovalResponse]:
    own = [c.store for c in [*app.agents.values(), *app.teams.values()] if c.store is not None]
    stores = {id(s): s for s in [app.store, *own]}
    runs: list[RunOutput] = []
    for store in stores.values():
        runs.extend(await _paused_runs(store, user_id))
    rows = [row for run in runs for row in _rows(run)]
    rows.sort(key=lambda r: r.created_at or 0, reverse=True)
    return rows


async def _paused_runs(store: Store, user_id: str | None) -> list[RunOutput]:
    found: list[RunOutput] = []
    for kind in (SessionType.AGENT, SessionType.TEAM, SessionType.WORKFLOW):
        cursor: str | None = None
        while True:
            query = SessionQuery(session_type=kind, user_id=user_id, limit=100, cursor=cursor)
            sessions = await store.list_sessions(query)
            batches = await asyncio.gather(
                *(store.get_runs(s.session_id, statuses=[RunStatus.PAUSED], user_id=user_id) for s in sessions.items)
            )
            # A paused team (or workflow) run lists its members' (steps') calls; the member's own run is continued
            # through the team (workflow).
            found.extend(r for batch in batches for r in batch if r.parent_run_id is None)
            cursor = sessions.next_cursor
            if cursor is None:
                break
    return found


def _rows(run: RunOutput) -> list[ApprovalResponse]:
    if run.workflow_id is not None:
        return _step_rows(run)
    return [_row(run, requirement, [requirement]) for requirement in run.requirements or []]


def _step_rows(run: RunOutput) -> list[ApprovalResponse]:
    """A paused workflow run's rows: one per call its paused step's agent or team waits on. Each carries the
    step's whole requirement, what the workflow's `/continue` takes back (as `step_requirements`) with the
    decisions in its `executor_requirements`."""
    rows: list[ApprovalResponse] = []
    for step in run.requirements or []:
        executor: list[dict[str, Any]] = step.get("executor_requirements") or []
        rows.extend(_row(run, requirement, [step]) for requirement in executor)
    return rows


def _row(run: RunOutput, requirement: dict[str, Any], sent_back: list[dict[str, Any]]) -> ApprovalResponse:
    te: dict[str, Any] = requirement.get("tool_execution") or {}
    source = "workflow" if run.workflow_id is not None else "team" if run.team_id is not None else "agent"
    return ApprovalResponse(
        id=str(requirement.get("id")),
        run_id=run.run_id,
        session_id=run.session_id,
        status="pending",
        source_type=source,
        approval_type="required",
        pause_type=_pause_type(te),
        tool_name=te.get("tool_name"),
        tool_args=te.get("tool_args"),
        agent_id=run.agent_id,
        team_id=run.team_id,
        workflow_id=run.workflow_id,
        user_id=run.user_id,
        source_name=run.workflow_name or run.team_name or run.agent_name,
        requirements=sent_back,
        created_at=te.get("created_at") or run.created_at,
        run_status=run.status,
    )


def _pause_type(te: dict[str, Any]) -> PauseType:
    # AgentOS' order: the most specific wins.
    if te.get("external_execution_required"):
        return "external_execution"
    if te.get("requires_user_input"):
        return "user_input"
    return "confirmation"
