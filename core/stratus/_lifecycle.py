"""One run's life, the same for an agent's, a team's and a workflow's run, and for a member's or a step's.

```
            start                  complete
  PENDING ────────▶ RUNNING ─────────────────▶ COMPLETED
     │               │  ▲  │  fail / cancel
     │         pause │  │  └──────────────────▶ ERROR | CANCELLED
     │               ▼  │ resume
     │              PAUSED ───────────────────▶ ERROR | CANCELLED
     └─────────────────────────────────────────▶ ERROR | CANCELLED
```

`RunLifecycle.drive(body)` runs an executor's body, an async iterator of its events, and owns everything
around it: the moves between states (an impossible move is a bug, `LifecycleError`), the end event
(completed or error; a cancelled run's stream is ended by whoever cancelled it), the run's duration, and
saving it, once when it ends (and at the checkpoints the body asks for). The body opens the run's session
through `open()` and announces the start with `started()`; the rest is its own business.

What differs between a top-level run, a member's run and a step's run is passed in as values, not
overridden: `place` (a `Placement`: where the run reads its state and history and is saved) and `kinds`
(`EventKinds`: the names its start and end events go by).

Where each executor plugs in: `AgentRun`, `TeamRun` and `WorkflowRun` are `ComponentRun`s, each made from its
component, the input and a `Start` (the caller's `RunOptions`; `scope`, the parent run of a member or a step;
`resume`, a `Resumption`: the stored run going on, with the decisions that resume it). Each hands `begin()` its
`Component` (session type, id, store, default state, timeout, `EventKinds`) and what it does at the edges
(`describe` the session's component data, `settle` its children, `after_save` the agent's learning), then gives
`drive()` its body: the agent's turns, the team's leader and members, the workflow's steps.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar

from stratus._runnable import Driven, RunOptions
from stratus._utils import new_id, time_ordered_id
from stratus.deadline import Deadline, deadline_for
from stratus.exceptions import RunLimitExceeded, StratusError
from stratus.limits import check_final_state, check_json
from stratus.run import RunContext, RunEvent, RunInput, RunOutput, RunStatus, ToolExecution
from stratus.tracing import SpanRecorder

if TYPE_CHECKING:
    from stratus._nesting import RunScope, SessionWriter
    from stratus.storage.base import Store
    from stratus.storage.records import SessionRecord, SessionType
    from stratus.workflow.steps import StepResumption

__all__ = [
    "TOP_LEVEL",
    "Component",
    "ComponentRun",
    "EventKinds",
    "LifecycleError",
    "Placement",
    "Resumption",
    "RunLifecycle",
    "Start",
    "begin",
]

logger = logging.getLogger("stratus.run")

T = TypeVar("T")

_S = RunStatus
_MOVES: Final[dict[RunStatus, frozenset[RunStatus]]] = {
    _S.PENDING: frozenset({_S.RUNNING, _S.ERROR, _S.CANCELLED}),
    _S.RUNNING: frozenset({_S.PAUSED, _S.COMPLETED, _S.ERROR, _S.CANCELLED}),
    _S.PAUSED: frozenset({_S.RUNNING, _S.ERROR, _S.CANCELLED}),
    _S.COMPLETED: frozenset(),
    _S.ERROR: frozenset(),
    _S.CANCELLED: frozenset(),
}
"""The moves a run may make; an ended run (completed, error, cancelled) makes none."""


class LifecycleError(StratusError):
    """A run was asked to make a move its state does not allow (e.g. to complete a cancelled run)."""


class Placement(Protocol):
    """Where a run lives: a session of its own (`SessionWriter`) or its parent's (`ChildPlacement`)."""

    @property
    def record(self) -> SessionRecord | None:
        """The session as last read or written (None before it exists, and for a child run)."""
        ...

    @property
    def writer(self) -> SessionWriter:
        """The writer of the session the run is stored in (its parent's, for a child): its children's too."""
        ...

    async def open(self, defaults: dict[str, Any] | None, override: dict[str, Any] | None) -> dict[str, Any]:
        """The run's session state (checking the session is the caller's); raises `NotFoundError` if not."""
        ...

    async def history(self, count: int, belongs: Callable[[RunOutput], bool] | None) -> list[RunOutput]:
        """The last `count` completed top-level runs of the session (for which `belongs` holds)."""
        ...

    async def save(self, run: RunOutput, state: dict[str, Any], component_data: dict[str, Any] | None) -> bool:
        """Store the run (and, for a top-level run, the session's new state); whether it was stored. Never
        raises: the run's answer exists whatever happens to its record."""
        ...


@dataclass(frozen=True, slots=True)
class EventKinds:
    """How a kind of run announces its start and end (AgentOS names them per component)."""

    started: Callable[[dict[str, Any], RunOutput], RunEvent]
    completed: Callable[[dict[str, Any], RunOutput], RunEvent]
    error: Callable[[dict[str, Any], RunOutput, dict[str, Any] | None], RunEvent]
    """Given the event base, the run and the error's additional data (the limit a run hit)."""
    continued: Callable[[dict[str, Any], RunOutput], RunEvent] | None = None
    """The start event of a run that goes on from a stored one (`RunOptions.continues`); `started` if None."""


@dataclass(frozen=True, slots=True)
class Resumption:
    """A stored run going on under its own id: a PAUSED one with the decisions that resume it (`/continue`'s),
    or a workflow's that ran out of time (RUNNING: it goes on after the last step it finished)."""

    run: RunOutput
    decided: Sequence[ToolExecution] = ()
    """An agent's: the round it paused at, with the decisions in it (`_pause.apply_decisions`)."""
    members: Mapping[str, Resumption] | None = None
    """A team's: its members' paused runs, by run id, each with its own decisions."""
    step: StepResumption | None = None
    """A workflow's: its paused step's agent or team run, with its decisions."""


@dataclass(frozen=True, slots=True)
class Start:
    """How one run begins, besides its component and input: the caller's `options`; `scope`, the run it is a
    child of (a team's member, a workflow's step), if any; `resume`, the paused run it goes on with, if any."""

    options: RunOptions | None = None
    scope: RunScope | None = None
    resume: Resumption | None = None


TOP_LEVEL: Final = Start()
"""A new top-level run with no options."""


def _itself(exc: Exception) -> BaseException:
    return exc


@dataclass(frozen=True, slots=True)
class Component:
    """What a run's lifecycle knows of the agent, team or workflow whose run it is."""

    session_type: SessionType
    id: str
    name: str | None
    store: Store | None
    session_state: dict[str, Any] | None
    """The default state of its sessions."""
    run_timeout: float | None
    kinds: EventKinds

    @classmethod
    def of(cls, session_type: SessionType, id: str, declared: _Declared, kinds: EventKinds) -> Component:
        """The agent, team or workflow `declared`, as its runs' lifecycle knows it."""
        return cls(session_type, id, declared.name, declared.store, declared.session_state, declared.run_timeout, kinds)


class _Declared(Protocol):
    """What an agent, a team and a workflow are all declared with."""

    @property
    def name(self) -> str | None: ...
    @property
    def store(self) -> Store | None: ...
    @property
    def session_state(self) -> dict[str, Any] | None: ...
    @property
    def run_timeout(self) -> float | None: ...


def begin(
    component: Component,
    input: str,
    start: Start,
    *,
    describe: Callable[[], dict[str, Any] | None],
    settle: Callable[[], Awaitable[None]] | None = None,
    after_save: Callable[[], AsyncIterator[RunEvent]] | None = None,
    exception_of: Callable[[Exception], BaseException] | None = None,
) -> RunLifecycle:
    """The lifecycle of a new run of `component` on `input`: its output (named after the component), its
    place (a session of its own, or with `start.scope` its parent's, as a child run) and its event base. The
    caller's session state is checked here, before anything is stored. With `start.resume` (a stored PAUSED run
    of the component) it is that run's, going on under its own id: its stream opens with the `continued` event."""
    from stratus._nesting import ChildPlacement, SessionWriter

    scope, resumed = start.scope, start.resume.run if start.resume is not None else None
    options = start.options
    if resumed is not None:
        options = RunOptions(session_id=resumed.session_id, user_id=resumed.user_id, run_id=resumed.run_id)
    o = options or RunOptions()
    override = check_json(o.session_state, "session_state")
    continues = o.continues
    if scope is not None:
        session_id, user_id = scope.session.session_id, scope.session.user_id
    elif continues is not None:  # a follow-up: in the session, and for the user, of the run it continues
        session_id, user_id = continues.session_id, continues.user_id
    else:
        session_id, user_id = o.session_id or new_id(), o.user_id
    kind = component.session_type.value
    output = resumed or RunOutput(
        run_id=o.run_id or time_ordered_id(),
        session_id=session_id,
        user_id=user_id,
        parent_run_id=scope.parent.run_id if scope is not None else None,
        input=RunInput(input_content=input),
        forked_from_run_id=continues.run_id if continues is not None else None,
    )
    setattr(output, f"{kind}_id", component.id)  # agent_id, team_id or workflow_id: what names the run
    setattr(output, f"{kind}_name", component.name)
    place: Placement = (
        ChildPlacement(scope)
        if scope is not None
        else SessionWriter(
            component.store,
            session_id=session_id,
            user_id=user_id,
            session_type=component.session_type,
            component_id=component.id,
            session_name=(o.session_name or input)[:120].strip() or None,
        )
    )
    base = {
        "run_id": output.run_id,
        "session_id": session_id,
        "agent_id": component.id,
        "agent_name": component.name,
        "parent_run_id": output.parent_run_id,
    }
    timeout = component.run_timeout
    return RunLifecycle(
        output=output,
        place=place,
        kinds=component.kinds,
        base=base,
        label=f"{kind} {component.id!r}",
        defaults=component.session_state,
        override=override,
        deadline=deadline_for(timeout, f"run_timeout={timeout:g}s" if timeout else ""),
        describe=describe,
        settle=settle,
        after_save=after_save,
        exception_of=exception_of or _itself,
        continues=continues if scope is None else None,
    )


@dataclass(eq=False, kw_only=True)
class RunLifecycle:
    """The state machine of one run, and the one place that ends it: see the module's docstring."""

    output: RunOutput
    place: Placement
    kinds: EventKinds
    base: dict[str, Any]
    """The fields every event of the run carries."""
    label: str
    """Names the run in the log: `agent 'support'`, `team 'desk'`, ..."""
    defaults: dict[str, Any] | None = None
    """The component's default session state."""
    override: dict[str, Any] | None = None
    """The caller's session state, applied over the session's for this run."""
    deadline: Deadline | None = None
    """When the run must end (its `run_timeout`, or the one it inherited), if ever."""
    describe: Callable[[], dict[str, Any] | None] = lambda: None
    """The session's component data, read when the run is saved."""
    settle: Callable[[], Awaitable[None]] | None = None
    """Waits for the runs this one started to end and store themselves."""
    after_save: Callable[[], AsyncIterator[RunEvent]] | None = None
    """Iterated once a completed run is stored, its events sent before the completed one (the agent queues
    the run for learning, between `MemoryUpdateStarted` and `MemoryUpdateCompleted`)."""
    continues: RunOutput | None = None
    """The stored run this one follows up on (`RunOptions.continues`): its conversation is the context."""
    exception_of: Callable[[Exception], BaseException] = _itself
    """The exception a failed run reports (a workflow reports its failed step's)."""
    state: dict[str, Any] = field(default_factory=lambda: dict[str, Any](), init=False)
    _opened: bool = field(default=False, init=False)
    _unopenable: bool = field(default=False, init=False)
    _announced: bool = field(default=False, init=False)
    _suspended: bool = field(default=False, init=False)
    _clock: float = field(default_factory=time.perf_counter, init=False)
    _spans: SpanRecorder | None = field(default=None, init=False)
    _kept: Callable[[RunEvent], bool] | None = field(default=None, init=False)
    _resumed: bool = field(default=False, init=False)
    _paused_with: RunEvent | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._resumed = self.output.status is _S.PAUSED
        if not self._resumed:
            self.output.status = _S.PENDING
        if self.output.parent_run_id is None:  # a top-level run traces the runs it starts too
            self._spans = SpanRecorder(self.output)

    @property
    def status(self) -> RunStatus:
        return self.output.status

    @property
    def suspended(self) -> bool:
        """True when the run stopped for now with its progress stored (`suspend()`), its status RUNNING."""
        return self._suspended

    def move(self, to: RunStatus) -> None:
        """Change the run's status; `LifecycleError` if its state does not allow that move."""
        if to not in _MOVES[self.output.status]:
            raise LifecycleError(f"run {self.output.run_id}: cannot go from {self.output.status} to {to}")
        self.output.status = to

    # --- what the body calls ----------------------------------------------------------------------------

    async def open(self) -> dict[str, Any]:
        """Open the run's session; returns its state (the same dict the run saves). Another user's session, or
        another component's, raises `NotFoundError`: the run then fails and nothing is written into it."""
        try:
            self.state = await self.place.open(self.defaults, self.override)
        except Exception:  # (a cancel while opening is not the session's fault: the save opens it again)
            self._unopenable = True
            raise
        self._opened = True
        return self.state

    def bounded(self, awaitable: Awaitable[T], waiting_for: str) -> Awaitable[T]:
        """`awaitable`, within the run's deadline (if it has one): await what this returns."""
        if self.deadline is None:
            return awaitable  # no wrapper to pay for on every run without a deadline
        return self.deadline.bound(awaitable, waiting_for)

    def started(self) -> RunEvent:
        """The run is running: its start event, for the body to yield (or emit)."""
        self.move(_S.RUNNING)
        self._announced = True
        if (self.continues is not None or self._resumed) and self.kinds.continued is not None:
            return self.kinds.continued(self.base, self.output)
        return self.kinds.started(self.base, self.output)

    async def checkpoint(self) -> None:
        """Store the run as it is so far (status RUNNING): a run cut off later shows how far it got."""
        await self._save()

    async def suspend(self) -> None:
        """Stop for now with the progress stored, to be given again later (a workflow out of time)."""
        self._suspended = True
        self.output.metrics.duration = self._elapsed()
        await self._save()

    async def pause(self, event: RunEvent) -> RunEvent:
        """Stop and wait with nothing held in memory: the run is stored PAUSED, `event` (its stream's last, for
        the body to yield) with it; a new lifecycle over the stored output resumes it (`started()` moves it
        back to RUNNING)."""
        self._keep(event)
        self._paused_with = event
        self.move(_S.PAUSED)
        self.output.metrics.duration = self._elapsed()
        await self._save()
        return event

    # --- driving ----------------------------------------------------------------------------------------

    async def drive(
        self, body: AsyncIterator[RunEvent], *, keep: Callable[[RunEvent], bool] | None = None
    ) -> AsyncIterator[RunEvent]:
        """Run `body`, yielding its events, then end the run: completed if the body returned with the run
        still running, error if it raised; cancelled (stored, then re-raised) if it was cancelled. With `keep`,
        a top-level run stores the events it yields for which `keep` holds, its end event too, in
        `output.events` (AgentOS' `store_events`, which its routes turn on for streamed teams and workflows)."""
        self._clock = time.perf_counter()
        spans = self._spans
        if keep is not None and self.output.parent_run_id is None:
            self._kept = keep
            if self.output.events is None or not self._resumed:  # a resumed run's go on after those it stored
                self.output.events = []
        try:
            async for event in body:
                if spans is not None:
                    spans.observe(event)
                self._keep(event)
                yield event
            if self.output.status is _S.RUNNING and not self._suspended:
                async for event in self._complete():
                    yield event
        except asyncio.CancelledError:
            await asyncio.shield(self._end_cancelled())
            raise
        except Exception as exc:
            for event in await self._end_failed(exc):
                yield event

    async def _complete(self) -> AsyncIterator[RunEvent]:
        check_final_state(self.state)  # a state no store could keep fails the run, not its save
        self.move(_S.COMPLETED)
        self.output.metrics.duration = self._elapsed()
        completed = self.kinds.completed(self.base, self.output)
        self._keep(completed)  # (stored with the run, as AgentOS stores its end event)
        if await self._save() and self.after_save is not None:
            async for event in self.after_save():
                yield event
        yield completed

    async def _end_cancelled(self) -> None:
        out = self.output
        if out.status in (_S.COMPLETED, _S.ERROR, _S.CANCELLED):
            return
        self.move(_S.CANCELLED)
        out.error, out.error_type = "run was cancelled", "RunCancelledError"
        out.metrics.duration = self._elapsed()
        await self._settle_and_save()

    async def _end_failed(self, exc: Exception) -> list[RunEvent]:
        out = self.output
        if out.status is _S.COMPLETED:  # failed after it was stored as completed (a learning hook): it stands
            logger.exception("run %s of %s failed after it completed", out.run_id, self.label)
            return [self.kinds.completed(self.base, out)]
        out.status = _S.ERROR  # from any live state; a failure is always a legal end
        out.error = str(exc) if isinstance(exc, StratusError) else f"{type(exc).__name__}: {exc}"
        out.error_type = type(exc).__name__
        out.exception = self.exception_of(exc)
        out.content = out.error
        out.metrics.duration = self._elapsed()
        if isinstance(exc, StratusError):
            logger.warning("run %s of %s failed: %s", out.run_id, self.label, out.error)
        else:
            logger.exception("run %s of %s failed", out.run_id, self.label)
        events: list[RunEvent] = []
        if not self._announced:  # every stream opens with its start event, even one that fails at once
            events.append(self.kinds.started(self.base, out))
        additional = {"limit": exc.limit} if isinstance(exc, RunLimitExceeded) else None
        events.append(self.kinds.error(self.base, out, additional))
        await self._settle_and_save(events)
        return events

    async def _settle_and_save(self, last: Sequence[RunEvent] = ()) -> None:
        if self.settle is not None:
            await self.settle()
        for event in last:  # the run's last events, once its children's have all come
            self._keep(event)
        await self._save()

    def _keep(self, event: RunEvent) -> None:
        if event is self._paused_with:
            return  # kept when the run paused, before it was stored
        if self._kept is not None and self.output.events is not None and self._kept(event):
            self.output.events.append(event.to_dict())

    async def _save(self) -> bool:
        if self._spans is not None:
            self._spans.record(self.output)  # the spans so far go with the run (and out, once it ends)
        if not self._opened:
            if self._unopenable:
                return False  # never write into a session we cannot read or may not touch
            try:  # the run ended before it opened its session (an early cancel): open it now to store the run
                await self.open()
            except Exception as exc:
                logger.info("run %s not stored: %s", self.output.run_id, exc)
                return False
        return await self.place.save(self.output, self.state, self.describe())

    def _elapsed(self) -> float:
        return time.perf_counter() - self._clock


class ComponentRun(Driven):
    """What an agent's, a team's and a workflow's run (`AgentRun`, `TeamRun`, `WorkflowRun`) share: the
    lifecycle `begin()` made, the output it ends, the `RunContext` its tools see, the scope of the runs it
    starts (`children`, once it starts any), and `result()` over its `events()`."""

    def __init__(self, lifecycle: RunLifecycle, *, agent_id: str | None = None) -> None:
        self.lifecycle = lifecycle
        self.output = out = lifecycle.output
        self.context = RunContext(run_id=out.run_id, session_id=out.session_id, user_id=out.user_id, agent_id=agent_id)
        self.children: RunScope | None = None

    def session_read(self, store: Store, session: SessionRecord | None) -> None:
        """The caller has just read this run's session from `store` (the API does, to refuse another user's
        before a stream starts): a top-level run checks that read as its own and does not read it again."""
        place = self.lifecycle.place
        if place.writer is place:
            place.writer.read_before(store, session)

    async def settle(self) -> None:
        """Wait for the runs this one started to end and store themselves (a cancelled run's, say)."""
        if self.children is not None:
            await self.children.settle()
