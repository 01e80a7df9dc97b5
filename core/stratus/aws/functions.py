"""Which Lambda function serves which routes and queues, and what each may touch: one constant shared by the
handler modules in `functions/`, the CDK stack in `infra/` and the tests, so they cannot disagree.

Pure data: importing it loads no AWS SDK.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

__all__ = ["FUNCTIONS", "QUEUES", "Access", "FunctionKind", "FunctionSpec", "QueueSpec", "function"]


class FunctionKind(StrEnum):
    API = "api"
    """A buffered route group: its FastAPI routers wrapped with Mangum."""

    STREAM = "stream"
    """A streamed route group: the FastAPI app served by uvicorn under the AWS Lambda Web Adapter, behind an
    API Gateway integration with `responseTransferMode=STREAM` (also lifts the 29 s limit, up to 15 min)."""

    QUEUE = "queue"
    """An SQS consumer with partial batch failures."""

    AUTHORIZER = "authorizer"
    """API Gateway's Lambda REQUEST authorizer (with `auth=api_key`): it verifies the caller before any route's
    function runs, so anonymous requests never reach (or bill) them."""


class Access(StrEnum):
    """What a function may do; the stack turns each into the narrowest IAM grant."""

    TABLE_READ = "table:read"
    TABLE_WRITE = "table:write"
    BUCKET_READ = "bucket:read"
    BUCKET_WRITE = "bucket:write"
    RUN_QUEUE_SEND = "run_queue:send"
    KNOWLEDGE_QUEUE_SEND = "knowledge_queue:send"
    LEARNING_QUEUE_SEND = "learning_queue:send"
    EMBEDDINGS_INVOKE = "bedrock:embed"
    """Invoke the Titan text-embedding model on Bedrock (the default embedder on AWS)."""
    MODEL_INVOKE = "bedrock:model"
    """Invoke the deployment's chat model (`STRATUS_MODEL`) when it is on Bedrock: that model only."""
    COLLECTION_READ = "collection:read"
    COLLECTION_WRITE = "collection:write"
    API_KEYS_READ = "secret:api_keys"
    MODEL_SECRETS_READ = "secret:models"
    """Read the model provider's key (only deployments whose model needs one, e.g. OpenAI's, have it)."""


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """One Lambda function.

    Attributes:
        name: The function's name, also its module in `functions/` (`functions/<name>.py`).
        kind: How it is invoked.
        routers: The route groups (`stratus.api.ROUTERS` names) it serves.
        paths: The API Gateway resources it answers: every method on each, and on everything below a path
            ending in `/{proxy+}`.
        access: What it may touch.
        queue: For a queue consumer, the queue (a `QUEUES` key) it reads.
        timeout_seconds: Its timeout (a streamed or queued run may take up to 15 minutes).
        memory_mb: Its memory, which also buys CPU.
    """

    name: str
    kind: FunctionKind
    routers: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    access: frozenset[Access] = field(default_factory=frozenset[Access])
    queue: str | None = None
    timeout_seconds: int = 29
    memory_mb: int = 1024

    @property
    def module(self) -> str:
        return f"functions.{self.name}"

    @property
    def handler(self) -> str:
        """The Lambda handler string (for STREAM functions the Web Adapter runs `run.sh` instead)."""
        return f"{self.module}.handler"


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """One SQS queue with its dead-letter queue.

    Attributes:
        name: The queue's short name.
        url_variable: The environment variable that carries its URL to the functions that send to it.
        max_receive_count: Deliveries before a message that keeps failing moves to the dead-letter queue.
        visibility_timeout_seconds: How long a message stays hidden while a consumer works on it; at least
            the consumer's timeout, so a slow run is never handed to a second worker.
    """

    name: str
    url_variable: str
    max_receive_count: int = 3
    visibility_timeout_seconds: int = 6 * 900


_READ_WRITE: Final = frozenset({Access.TABLE_READ, Access.TABLE_WRITE, Access.BUCKET_READ, Access.BUCKET_WRITE})
_RUNS_AGENTS: Final = frozenset(
    {Access.MODEL_INVOKE, Access.MODEL_SECRETS_READ, Access.COLLECTION_READ, Access.EMBEDDINGS_INVOKE}
)
"""What running an agent takes: its model, and searching its knowledge (embed the query, read the collection)."""
_INDEXES: Final = frozenset({Access.EMBEDDINGS_INVOKE, Access.COLLECTION_READ, Access.COLLECTION_WRITE})
"""What indexing text takes: embed it, then read and write the collection."""


_ONE_VCPU: Final = 1769
"""The memory (MB) that buys one full vCPU: what running agents and working a queue take."""


def _under(*prefixes: str) -> tuple[str, ...]:
    """The API Gateway resources of route groups mounted at `prefixes`: each one and everything below it."""
    return tuple(path for prefix in prefixes for path in (prefix, f"{prefix}/{{proxy+}}"))


def _runs(name: str, router: str) -> FunctionSpec:
    """The streamed function that runs one kind of component (agents, teams or workflows): they all run
    models, tools, knowledge and learning alike, so they get the same grants and limits."""
    return FunctionSpec(
        name=name,
        kind=FunctionKind.STREAM,
        routers=(router,),
        paths=_under(f"/{router}"),
        access=_READ_WRITE | _RUNS_AGENTS | {Access.RUN_QUEUE_SEND, Access.LEARNING_QUEUE_SEND, Access.API_KEYS_READ},
        timeout_seconds=900,
        memory_mb=_ONE_VCPU,
    )


def _protocol(name: str) -> FunctionSpec:
    """The streamed function serving a protocol besides REST (`stratus.interfaces`) at `/<name>` and below: it runs
    agents and teams inline, up to 15 minutes, so it gets agent runs' grants, but no run queue (none of these
    protocols has background runs)."""
    return FunctionSpec(
        name=name,
        kind=FunctionKind.STREAM,
        routers=(name,),
        paths=_under(f"/{name}"),
        access=_READ_WRITE | _RUNS_AGENTS | {Access.LEARNING_QUEUE_SEND, Access.API_KEYS_READ},
        timeout_seconds=900,
        memory_mb=_ONE_VCPU,
    )


def _worker(name: str, queue: str, access: frozenset[Access], *, timeout_seconds: int = 900) -> FunctionSpec:
    """The SQS consumer of `queue` (a `QUEUES` key), on one full vCPU."""
    return FunctionSpec(
        name=name,
        kind=FunctionKind.QUEUE,
        queue=queue,
        access=access,
        timeout_seconds=timeout_seconds,
        memory_mb=_ONE_VCPU,
    )


FUNCTIONS: Final[tuple[FunctionSpec, ...]] = (
    FunctionSpec(
        name="authorizer",
        kind=FunctionKind.AUTHORIZER,
        access=frozenset({Access.API_KEYS_READ}),
        timeout_seconds=10,  # a cold start reads the keys secret once; API Gateway waits at most 29 s
        memory_mb=512,
    ),
    FunctionSpec(
        name="health",
        kind=FunctionKind.API,
        routers=("health",),
        paths=("/health", "/config"),
        access=frozenset({Access.API_KEYS_READ}),
        memory_mb=512,
    ),
    _runs("agent_runs", "agents"),
    _runs("team_runs", "teams"),
    _runs("workflow_runs", "workflows"),
    _protocol("a2a"),  # message:stream streams; a task runs its agent or team inline
    _protocol("agui"),  # the AG-UI events stream
    FunctionSpec(
        name="sessions",
        kind=FunctionKind.API,
        # A run's media are read from the bucket; /approvals lists the paused runs of the caller's sessions.
        routers=("sessions", "media", "approvals"),
        paths=(*_under("/sessions"), "/media/{proxy+}", *_under("/approvals")),
        access=_READ_WRITE | {Access.API_KEYS_READ},
    ),
    FunctionSpec(
        name="mcp",
        kind=FunctionKind.API,
        # The MCP server: a tool call runs an agent, a team or a workflow inline (buffered, within the gateway's
        # 29 s) and reads the caller's sessions; an agent that learns queues its runs for the learning worker.
        routers=("mcp",),
        paths=("/mcp",),
        access=_READ_WRITE | _RUNS_AGENTS | {Access.LEARNING_QUEUE_SEND, Access.API_KEYS_READ},
        memory_mb=_ONE_VCPU,
    ),
    FunctionSpec(
        name="memories",
        kind=FunctionKind.API,
        routers=("memories", "learnings"),
        paths=(*_under("/memories"), "/memory_topics", "/user_memory_stats", *_under("/learnings")),
        # Shared insights edited over the API are re-embedded (Titan on Bedrock) and re-indexed.
        access=_INDEXES | {Access.TABLE_READ, Access.TABLE_WRITE, Access.API_KEYS_READ},
    ),
    FunctionSpec(
        name="knowledge",
        kind=FunctionKind.API,
        routers=("knowledge",),
        paths=_under("/knowledge"),
        access=_READ_WRITE | _INDEXES | {Access.KNOWLEDGE_QUEUE_SEND, Access.API_KEYS_READ, Access.MODEL_SECRETS_READ},
    ),
    FunctionSpec(
        name="traces",
        kind=FunctionKind.API,
        routers=("traces", "info"),
        paths=(*_under("/traces"), "/trace_session_stats", "/info"),
        # Traces are the stored runs' spans: reading them reads the table (and any run offloaded to the bucket).
        access=frozenset({Access.TABLE_READ, Access.BUCKET_READ, Access.API_KEYS_READ}),
        memory_mb=512,
    ),
    FunctionSpec(
        name="metrics",
        kind=FunctionKind.API,
        routers=("metrics",),
        paths=_under("/metrics"),
        # A refresh aggregates the stored runs (any offloaded to the bucket too) into the daily records.
        access=frozenset({Access.TABLE_READ, Access.TABLE_WRITE, Access.BUCKET_READ, Access.API_KEYS_READ}),
    ),
    FunctionSpec(
        name="evals",
        kind=FunctionKind.STREAM,  # an eval runs its agent or team, maybe many times: past the gateway's 29 s
        # /optimize-memories asks a model too: it is served here, where the model grants are, not by memories.
        routers=("evals", "optimize_memories"),
        paths=(*_under("/eval-runs"), "/optimize-memories"),
        access=_READ_WRITE | _RUNS_AGENTS | {Access.LEARNING_QUEUE_SEND, Access.API_KEYS_READ},
        timeout_seconds=900,
        memory_mb=_ONE_VCPU,
    ),
    # RUN_QUEUE_SEND: a workflow out of time goes on in a new invocation (stratus.background).
    _worker("run_worker", "runs", _READ_WRITE | _RUNS_AGENTS | {Access.RUN_QUEUE_SEND, Access.LEARNING_QUEUE_SEND}),
    # The extraction model is the agent's own (or the machine's): the deployment's model by default.
    _worker("learning_worker", "learning", _READ_WRITE | _RUNS_AGENTS | {Access.COLLECTION_WRITE}, timeout_seconds=300),
    _worker("knowledge_worker", "knowledge", _READ_WRITE | _INDEXES | {Access.MODEL_SECRETS_READ}),
)
"""Every function of a deployment."""

QUEUES: Final[dict[str, QueueSpec]] = {
    "runs": QueueSpec(name="runs", url_variable="STRATUS_RUN_QUEUE_URL"),
    "learning": QueueSpec(
        name="learning", url_variable="STRATUS_LEARNING_QUEUE_URL", visibility_timeout_seconds=6 * 300
    ),
    "knowledge": QueueSpec(name="knowledge", url_variable="STRATUS_KNOWLEDGE_QUEUE_URL"),
}
"""Every queue of a deployment, each with a dead-letter queue."""


def function(name: str) -> FunctionSpec:
    """The spec of the function called `name`."""
    for spec in FUNCTIONS:
        if spec.name == name:
            return spec
    raise KeyError(f"no function named {name!r}; known: {', '.join(s.name for s in FUNCTIONS)}")
