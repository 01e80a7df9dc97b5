"""Runs in flight in this process: each run is a task of its own, so a client that disconnects does not kill
it (it finishes and is stored), a background run outlives its request, and a cancel request can reach it."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from stratus._runnable import Execution
from stratus._utils import dumps
from stratus.run import RunCancelled, RunCompleted, RunError, RunEvent, RunOutput, cancelled_event, run_tree

__all__ = ["SAFE_ERRORS", "ActiveRun", "Execution", "RunRegistry", "respond", "sse"]

logger = logging.getLogger("stratus.api")

_END = object()


@dataclass(eq=False)
class ActiveRun:
    """A run being executed, and the queue its events go to (when someone is streaming it)."""

    run: Execution
    task: asyncio.Task[None] | None = None
    queue: asyncio.Queue[RunEvent | object] | None = None
    cancel_requested: bool = False
    started: bool = False
    """Whether its task has begun: a task cancelled before that never runs a line, so it is not cancelled then
    but asked to stop as it starts (`stop_on_start`), and its run ends, CANCELLED and stored, as any other."""
    stop_on_start: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def output(self) -> RunOutput:
        return self.run.output


class RunRegistry:
    """The runs this process is executing, by run id."""

    def __init__(self, on_end: Callable[[RunOutput], None] | None = None) -> None:
        self._active: dict[str, ActiveRun] = {}
        self._on_end = on_end

    def get(self, run_id: str) -> ActiveRun | None:
        return self._active.get(run_id)

    def start(self, run: Execution, *, stream: bool) -> ActiveRun:
        """Start executing `run` in its own task; with `stream`, its events are queued for `events()`."""
        active = ActiveRun(run=run, queue=asyncio.Queue() if stream else None)
        self._active[run.output.run_id] = active
        active.task = asyncio.create_task(self._drive(active, stream), name=f"run-{run.output.run_id}")
        return active

    async def _drive(self, active: ActiveRun, stream: bool) -> None:
        run = active.run
        active.started = True
        try:
            if active.stop_on_start:
                _stop(active)  # raised at its first wait, inside the run: its lifecycle stores it as CANCELLED
            async for event in run.events(stream=stream):
                if active.queue is not None:
                    active.queue.put_nowait(event)
        except asyncio.CancelledError:
            # The loop has stored the run as CANCELLED; tell the stream, and end quietly if we asked for it.
            if active.queue is not None:
                reason = "cancelled by request" if active.cancel_requested else "server shutting down"
                active.queue.put_nowait(cancelled_event(run.output, reason))
            if not active.cancel_requested:
                raise
        except Exception:  # pragma: no cover - the loop reports its own errors as events
            logger.exception("run %s crashed", run.output.run_id)
        finally:
            if active.queue is not None:
                active.queue.put_nowait(_END)
            self._active.pop(run.output.run_id, None)
            active.done.set()
            if self._on_end is not None:
                for ended in run_tree(run.output):  # a team's members and a workflow's steps ran too
                    self._on_end(ended)

    async def wait(self, active: ActiveRun) -> RunOutput:
        """Wait for the run to end (a client going away does not cancel it) and return its output."""
        await asyncio.shield(active.done.wait())
        return active.output

    async def events(self, active: ActiveRun) -> AsyncIterator[RunEvent]:
        """The run's events as they happen, until its last one."""
        async for batch in self.batches(active):
            for event in batch:
                yield event

    async def batches(self, active: ActiveRun) -> AsyncIterator[list[RunEvent]]:
        """The run's events as they happen, until its last one, in batches: each as soon as its first event is
        there, with the events queued behind it (one write to the client for them all, not one each)."""
        assert active.queue is not None
        own = active.output.run_id
        while True:
            batch: list[RunEvent] = []
            item = await active.queue.get()
            while True:
                if item is _END:
                    if batch:
                        yield batch
                    return
                assert isinstance(item, RunEvent)
                batch.append(item)
                # A team's or a workflow's stream carries its members' ends too; only its own ends it.
                if isinstance(item, RunCompleted | RunError | RunCancelled) and item.run_id == own:
                    yield batch
                    return
                if active.queue.empty():
                    break
                item = active.queue.get_nowait()
            yield batch

    def cancel(self, run_id: str) -> bool:
        """Ask a running run to stop; False when this process is not running it."""
        active = self._active.get(run_id)
        if active is None or active.task is None or active.task.done():
            return False
        active.cancel_requested = True
        _stop(active)
        return True

    async def shutdown(self) -> None:
        """Cancel what is still running (each run is stored as CANCELLED) and wait for it."""
        actives = [a for a in self._active.values() if a.task is not None]
        for active in actives:
            _stop(active)
        await asyncio.gather(*(a.task for a in actives if a.task is not None), return_exceptions=True)


def _stop(active: ActiveRun) -> None:
    """Cancel the run's task, or, before it has started (a PENDING run), have it stop as it starts."""
    if active.started:
        assert active.task is not None
        active.task.cancel()
    else:
        active.stop_on_start = True


async def sse(batches: AsyncIterator[list[RunEvent]]) -> AsyncIterator[str]:
    """Format events as Server-Sent Events: `event:` with the AgentOS name, `data:` with its JSON; a batch of
    events that were ready together in one chunk."""
    async for batch in batches:
        yield "".join(f"event: {event.kind}\ndata: {dumps(event.to_dict())}\n\n" for event in batch)


SAFE_ERRORS = frozenset(
    {
        "RunLimitExceeded",
        "RunTimeoutError",
        "InputLimitError",
        "InputCheckError",
        "OutputCheckError",
        "OutputValidationError",
        "ModelError",
        "ModelTimeoutError",
        "ConfigError",
        "ToolDefinitionError",
        "NotFoundError",
        "RunCancelledError",
        "StepFailedError",
    }
)
"""Errors whose message is about the run, not the server's insides, so they are safe to show the caller."""


@cache
def _run_json() -> Any:
    """The buffered run's response: JSON as FastAPI answers it, without the `jsonable_encoder` pass it makes
    over every value first (a tenth of a buffered run's CPU time over HTTP): only what orjson cannot encode
    goes through it. A class made on first use: FastAPI is imported only where a route is served."""
    import orjson
    from fastapi.encoders import jsonable_encoder
    from fastapi.responses import JSONResponse

    class RunJSON(JSONResponse):
        def render(self, content: Any) -> bytes:
            try:  # faster than the json module (a run: 17 -> 4 us); the same JSON (NaN, which that refused, as null)
                return orjson.dumps(content, default=jsonable_encoder, option=orjson.OPT_NON_STR_KEYS)
            except orjson.JSONEncodeError:  # e.g. an int wider than 64 bits
                return json.dumps(
                    content, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=jsonable_encoder
                ).encode("utf-8")

    return RunJSON


async def respond(registry: RunRegistry, run: Execution, *, stream: bool) -> Any:
    """Start `run` and answer the request: Server-Sent Events while it runs, or, buffered, the finished run
    as JSON (an error status with a JSON `detail` when it did not complete)."""
    from fastapi.responses import JSONResponse, StreamingResponse

    from stratus.api._errors import status_for
    from stratus.run import RunStatus

    if stream:
        active = registry.start(run, stream=True)
        return StreamingResponse(
            sse(registry.batches(active)),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    out = await registry.wait(registry.start(run, stream=False))
    if out.status in (RunStatus.COMPLETED, RunStatus.PAUSED):  # a paused run waits, with what for in its body
        return _run_json()(out.to_dict())
    status = 409 if out.status is RunStatus.CANCELLED else status_for(out.exception or Exception())
    detail = out.error if out.error_type in SAFE_ERRORS else "Internal server error"
    return JSONResponse(
        {
            "detail": detail,
            "error_type": out.error_type,
            "run_id": out.run_id,
            "session_id": out.session_id,
            "status": out.status.value,
        },
        status_code=status,
    )
