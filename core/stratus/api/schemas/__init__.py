"""Request models and response shapes of the HTTP API, following AgentOS' (shared/reference/), one module per
route group; every name is importable from here, and loads its module on first use: a function serving one
route group does not build the pydantic models of the others at its cold start."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the type checker sees; at run time __getattr__ imports a name's module when asked
    from stratus.api.schemas._common import (
        IsoTime as IsoTime,
    )
    from stratus.api.schemas._common import (
        UnixSeconds as UnixSeconds,
    )
    from stratus.api.schemas._common import (
        UtcTime as UtcTime,
    )
    from stratus.api.schemas._common import (
        iso as iso,
    )
    from stratus.api.schemas._common import (
        utc as utc,
    )
    from stratus.api.schemas.approvals import (
        ApprovalCountResponse as ApprovalCountResponse,
    )
    from stratus.api.schemas.approvals import (
        ApprovalResponse as ApprovalResponse,
    )
    from stratus.api.schemas.approvals import (
        PauseType as PauseType,
    )
    from stratus.api.schemas.components import (
        AgentResponse as AgentResponse,
    )
    from stratus.api.schemas.components import (
        ModelResponse as ModelResponse,
    )
    from stratus.api.schemas.components import (
        TeamResponse as TeamResponse,
    )
    from stratus.api.schemas.components import (
        WorkflowResponse as WorkflowResponse,
    )
    from stratus.api.schemas.components import (
        WorkflowSummaryResponse as WorkflowSummaryResponse,
    )
    from stratus.api.schemas.components import (
        agent_response as agent_response,
    )
    from stratus.api.schemas.components import (
        team_response as team_response,
    )
    from stratus.api.schemas.components import (
        workflow_response as workflow_response,
    )
    from stratus.api.schemas.components import (
        workflow_summary as workflow_summary,
    )
    from stratus.api.schemas.errors import (
        ErrorDetail as ErrorDetail,
    )
    from stratus.api.schemas.errors import (
        FieldError as FieldError,
    )
    from stratus.api.schemas.errors import (
        RunErrorDetail as RunErrorDetail,
    )
    from stratus.api.schemas.errors import (
        ValidationErrorDetail as ValidationErrorDetail,
    )
    from stratus.api.schemas.evals import (
        DeleteEvalRunsRequest as DeleteEvalRunsRequest,
    )
    from stratus.api.schemas.evals import (
        EvalFilters as EvalFilters,
    )
    from stratus.api.schemas.evals import (
        EvalListing as EvalListing,
    )
    from stratus.api.schemas.evals import (
        EvalParams as EvalParams,
    )
    from stratus.api.schemas.evals import (
        EvalRunInput as EvalRunInput,
    )
    from stratus.api.schemas.evals import (
        EvalSchema as EvalSchema,
    )
    from stratus.api.schemas.evals import (
        UpdateEvalRunRequest as UpdateEvalRunRequest,
    )
    from stratus.api.schemas.info import (
        ConfigResponse as ConfigResponse,
    )
    from stratus.api.schemas.info import (
        HealthResponse as HealthResponse,
    )
    from stratus.api.schemas.knowledge import (
        ChunkerSchema as ChunkerSchema,
    )
    from stratus.api.schemas.knowledge import (
        ContentResponseSchema as ContentResponseSchema,
    )
    from stratus.api.schemas.knowledge import (
        ContentStatusResponse as ContentStatusResponse,
    )
    from stratus.api.schemas.knowledge import (
        KnowledgeConfigResponse as KnowledgeConfigResponse,
    )
    from stratus.api.schemas.knowledge import (
        ReaderSchema as ReaderSchema,
    )
    from stratus.api.schemas.knowledge import (
        RemoteContentSourceSchema as RemoteContentSourceSchema,
    )
    from stratus.api.schemas.knowledge import (
        VectorDbSchema as VectorDbSchema,
    )
    from stratus.api.schemas.knowledge import (
        VectorSearchResult as VectorSearchResult,
    )
    from stratus.api.schemas.learnings import (
        LearningCreate as LearningCreate,
    )
    from stratus.api.schemas.learnings import (
        LearningFilters as LearningFilters,
    )
    from stratus.api.schemas.learnings import (
        LearningListing as LearningListing,
    )
    from stratus.api.schemas.learnings import (
        LearningPage as LearningPage,
    )
    from stratus.api.schemas.learnings import (
        LearningParams as LearningParams,
    )
    from stratus.api.schemas.learnings import (
        LearningResponse as LearningResponse,
    )
    from stratus.api.schemas.learnings import (
        LearningUpdate as LearningUpdate,
    )
    from stratus.api.schemas.learnings import (
        LearningUserFilters as LearningUserFilters,
    )
    from stratus.api.schemas.learnings import (
        LearningUserParams as LearningUserParams,
    )
    from stratus.api.schemas.learnings import (
        LearningUserStats as LearningUserStats,
    )
    from stratus.api.schemas.memories import (
        MEMORIES_USER as MEMORIES_USER,
    )
    from stratus.api.schemas.memories import (
        DeleteMemoriesRequest as DeleteMemoriesRequest,
    )
    from stratus.api.schemas.memories import (
        MemoryFilters as MemoryFilters,
    )
    from stratus.api.schemas.memories import (
        MemoryListing as MemoryListing,
    )
    from stratus.api.schemas.memories import (
        MemoryParams as MemoryParams,
    )
    from stratus.api.schemas.memories import (
        MemoryRequest as MemoryRequest,
    )
    from stratus.api.schemas.memories import (
        UserMemorySchema as UserMemorySchema,
    )
    from stratus.api.schemas.memories import (
        UserStatsSchema as UserStatsSchema,
    )
    from stratus.api.schemas.metrics import (
        ALREADY_RUNNING as ALREADY_RUNNING,
    )
    from stratus.api.schemas.metrics import (
        DayAggregatedMetrics as DayAggregatedMetrics,
    )
    from stratus.api.schemas.metrics import (
        MetricsRefreshResponse as MetricsRefreshResponse,
    )
    from stratus.api.schemas.metrics import (
        MetricsRefreshStatusResponse as MetricsRefreshStatusResponse,
    )
    from stratus.api.schemas.metrics import (
        MetricsResponse as MetricsResponse,
    )
    from stratus.api.schemas.runs import (
        AnyRunSchema as AnyRunSchema,
    )
    from stratus.api.schemas.runs import (
        CancelResponse as CancelResponse,
    )
    from stratus.api.schemas.runs import (
        RunAccepted as RunAccepted,
    )
    from stratus.api.schemas.runs import (
        RunErrorInfo as RunErrorInfo,
    )
    from stratus.api.schemas.runs import (
        RunRequest as RunRequest,
    )
    from stratus.api.schemas.runs import (
        RunResponse as RunResponse,
    )
    from stratus.api.schemas.runs import (
        RunSchema as RunSchema,
    )
    from stratus.api.schemas.runs import (
        SessionRunPreviewSchema as SessionRunPreviewSchema,
    )
    from stratus.api.schemas.runs import (
        TeamRunSchema as TeamRunSchema,
    )
    from stratus.api.schemas.runs import (
        WorkflowRunSchema as WorkflowRunSchema,
    )
    from stratus.api.schemas.runs import (
        run_schema as run_schema,
    )
    from stratus.api.schemas.sessions import (
        SESSION_TYPE as SESSION_TYPE,
    )
    from stratus.api.schemas.sessions import (
        AgentSessionDetailSchema as AgentSessionDetailSchema,
    )
    from stratus.api.schemas.sessions import (
        CreateSessionRequest as CreateSessionRequest,
    )
    from stratus.api.schemas.sessions import (
        DeleteSessionsRequest as DeleteSessionsRequest,
    )
    from stratus.api.schemas.sessions import (
        RenameSessionRequest as RenameSessionRequest,
    )
    from stratus.api.schemas.sessions import (
        SessionDetail as SessionDetail,
    )
    from stratus.api.schemas.sessions import (
        SessionFilters as SessionFilters,
    )
    from stratus.api.schemas.sessions import (
        SessionListing as SessionListing,
    )
    from stratus.api.schemas.sessions import (
        SessionParams as SessionParams,
    )
    from stratus.api.schemas.sessions import (
        SessionSchema as SessionSchema,
    )
    from stratus.api.schemas.sessions import (
        TeamSessionDetailSchema as TeamSessionDetailSchema,
    )
    from stratus.api.schemas.sessions import (
        UpdateSessionRequest as UpdateSessionRequest,
    )
    from stratus.api.schemas.sessions import (
        WorkflowSessionDetailSchema as WorkflowSessionDetailSchema,
    )
    from stratus.api.schemas.sessions import (
        session_detail as session_detail,
    )
    from stratus.api.schemas.traces import (
        FILTER_SCHEMA as FILTER_SCHEMA,
    )
    from stratus.api.schemas.traces import (
        FilterFieldSchema as FilterFieldSchema,
    )
    from stratus.api.schemas.traces import (
        FilterSchemaResponse as FilterSchemaResponse,
    )
    from stratus.api.schemas.traces import (
        TraceDetail as TraceDetail,
    )
    from stratus.api.schemas.traces import (
        TraceNode as TraceNode,
    )
    from stratus.api.schemas.traces import (
        TraceSearchGroupBy as TraceSearchGroupBy,
    )
    from stratus.api.schemas.traces import (
        TraceSearchRequest as TraceSearchRequest,
    )
    from stratus.api.schemas.traces import (
        TraceSessionStats as TraceSessionStats,
    )
    from stratus.api.schemas.traces import (
        TraceSummary as TraceSummary,
    )

_EXPORTS: dict[str, tuple[str, ...]] = {
    "_common": ("IsoTime", "UnixSeconds", "UtcTime", "iso", "utc"),
    "approvals": ("ApprovalCountResponse", "ApprovalResponse", "PauseType"),
    "components": (
        "AgentResponse",
        "ModelResponse",
        "TeamResponse",
        "WorkflowResponse",
        "WorkflowSummaryResponse",
        "agent_response",
        "team_response",
        "workflow_response",
        "workflow_summary",
    ),
    "errors": ("ErrorDetail", "FieldError", "RunErrorDetail", "ValidationErrorDetail"),
    "evals": (
        "DeleteEvalRunsRequest",
        "EvalFilters",
        "EvalListing",
        "EvalParams",
        "EvalRunInput",
        "EvalSchema",
        "UpdateEvalRunRequest",
    ),
    "info": ("ConfigResponse", "HealthResponse"),
    "knowledge": (
        "ChunkerSchema",
        "ContentResponseSchema",
        "ContentStatusResponse",
        "KnowledgeConfigResponse",
        "ReaderSchema",
        "RemoteContentSourceSchema",
        "VectorDbSchema",
        "VectorSearchResult",
    ),
    "learnings": (
        "LearningCreate",
        "LearningFilters",
        "LearningListing",
        "LearningPage",
        "LearningParams",
        "LearningResponse",
        "LearningUpdate",
        "LearningUserFilters",
        "LearningUserParams",
        "LearningUserStats",
    ),
    "memories": (
        "MEMORIES_USER",
        "DeleteMemoriesRequest",
        "MemoryFilters",
        "MemoryListing",
        "MemoryParams",
        "MemoryRequest",
        "UserMemorySchema",
        "UserStatsSchema",
    ),
    "metrics": (
        "ALREADY_RUNNING",
        "DayAggregatedMetrics",
        "MetricsRefreshResponse",
        "MetricsRefreshStatusResponse",
        "MetricsResponse",
    ),
    "runs": (
        "AnyRunSchema",
        "CancelResponse",
        "RunAccepted",
        "RunErrorInfo",
        "RunRequest",
        "RunResponse",
        "RunSchema",
        "SessionRunPreviewSchema",
        "TeamRunSchema",
        "WorkflowRunSchema",
        "run_schema",
    ),
    "sessions": (
        "SESSION_TYPE",
        "AgentSessionDetailSchema",
        "CreateSessionRequest",
        "DeleteSessionsRequest",
        "RenameSessionRequest",
        "SessionDetail",
        "SessionFilters",
        "SessionListing",
        "SessionParams",
        "SessionSchema",
        "TeamSessionDetailSchema",
        "UpdateSessionRequest",
        "WorkflowSessionDetailSchema",
        "session_detail",
    ),
    "traces": (
        "FILTER_SCHEMA",
        "FilterFieldSchema",
        "FilterSchemaResponse",
        "TraceDetail",
        "TraceNode",
        "TraceSearchGroupBy",
        "TraceSearchRequest",
        "TraceSessionStats",
        "TraceSummary",
    ),
}
"""What each module exports: the one list of its public names (the modules keep no `__all__` of their own)."""

_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # found at once next time
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_MODULE_OF])
