"""`/approvals`: one tool call a paused run waits on, and their count."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from stratus.api.schemas._common import RanBy
from stratus.run import RunStatus

PauseType = Literal["confirmation", "user_input", "external_execution"]


class ApprovalResponse(RanBy):
    """AgentOS' `ApprovalResponse`: one tool call a paused run waits on."""

    id: str
    run_id: str
    session_id: str
    status: str
    source_type: str
    approval_type: str | None = None
    pause_type: str | None = None
    tool_name: str | None = None
    tool_args: dict[str, Any] | None = None
    source_name: str | None = None
    requirements: list[dict[str, Any]] | None = None
    created_at: int | None = None
    run_status: RunStatus | None = None


class ApprovalCountResponse(BaseModel):
    """AgentOS' count of pending approvals."""

    count: int
