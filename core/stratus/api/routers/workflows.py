"""`/workflows`: list and describe workflows, run them (buffered, streamed or in the background), read and
cancel their runs. A streamed run carries `WorkflowStarted`, the steps' events (`StepStarted`,
`StepOutput`, `StepCompleted`, `StepError`, `ParallelExecutionStarted`, ...) with the events of the steps' agents
and teams (naming the workflow's run and their step), and `WorkflowCompleted` (or `WorkflowError` /
`WorkflowCancelled`). The routes are
`_components`' (the same for agents and teams); this is what is the workflows'."""

from __future__ import annotations

from stratus.api.routers._components import ComponentKind, Operation, Operations, component_router
from stratus.api.schemas import WorkflowResponse, WorkflowSummaryResponse, workflow_response, workflow_summary
from stratus.app import App
from stratus.storage.records import SessionType

__all__ = ["WORKFLOWS", "router"]

WORKFLOWS = ComponentKind(
    prefix="/workflows",
    tag="Workflows",
    id_field="workflow_id",
    session_type=SessionType.WORKFLOW,
    find=App.get_workflow,
    every=lambda app: app.workflows.values(),
    row=workflow_summary,
    row_model=WorkflowSummaryResponse,
    detail=workflow_response,
    detail_model=WorkflowResponse,
    child_runs=True,
    operations=Operations(
        list_components=Operation("get_workflows", "List All Workflows", "Every workflow this deployment serves."),
        get_component=Operation(
            "get_workflow", "Get Workflow Details", "One workflow and its steps (with their agents and teams)."
        ),
        create_run=Operation(
            "create_workflow_run",
            "Execute Workflow",
            "Run the workflow on a message.\n\n"
            "`stream=true` (the default) answers with Server-Sent Events, from `WorkflowStarted` to "
            "`WorkflowCompleted` (or `WorkflowError` / `WorkflowCancelled`). `stream=false` answers with the "
            "finished run as JSON: the last step's `content`, every step's `step_results`, the agents' and teams' "
            "runs in `step_executor_runs`. `background=true` answers 202 at once with the run id, status PENDING; "
            "poll `GET /workflows/{workflow_id}/runs/{run_id}` (a background run is stored after each step, so "
            "the poll shows its progress).",
        ),
        list_runs=Operation(
            "list_workflow_runs", "List Workflow Runs", "The workflow's runs in one session, oldest first."
        ),
        get_run=Operation(
            "get_workflow_run",
            "Get Workflow Run",
            "A run's status and output (in flight, its step results so far). Use it to poll background runs.",
        ),
        cancel_run=Operation(
            "cancel_workflow_run",
            "Cancel Workflow Run",
            "Stop a run in flight, and the steps in flight. The run and their agents' and teams' runs are stored "
            "with status CANCELLED, and the stream ends with `WorkflowCancelled`.",
        ),
    ),
)

router = component_router(WORKFLOWS)
