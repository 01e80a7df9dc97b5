"""`/workflows`: list and describe workflows, run them (buffered, streamed or in the background), read and
cancel their runs. A streamed run carries `WorkflowStarted`, the steps' events (`StepStarted`,
`StepOutput`, `StepCompleted`, `StepError`, `ParallelExecutionStarted`, ...) with the events of the steps' agents
and teams (naming the workflow's run and their step), and `WorkflowCompleted` (or `WorkflowError` /
`WorkflowCancelled`). The routes are
`_components`' (the same for agents and teams); this is what is the workflows'."""

from __future__ import annotations

from stratus.api.routers._components import ComponentKind, component_router
from stratus.api.schemas import WorkflowResponse, WorkflowSummaryResponse, workflow_response, workflow_summary
from stratus.storage.records import SessionType

__all__ = ["WORKFLOWS", "router"]

WORKFLOWS = ComponentKind(
    SessionType.WORKFLOW,
    lambda app: app.workflows,
    (workflow_summary, WorkflowSummaryResponse),
    details=(workflow_response, WorkflowResponse),
    create_run_summary="Execute Workflow",
)

router = component_router(WORKFLOWS)
