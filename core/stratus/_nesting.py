"""Where runs live and how they nest: the session a top-level run writes into (`SessionWriter`), the place of
a run started by another (`ChildPlacement`), what such a child inherits from its parent (`RunScope`), and the
pump that merges a run's own events with its children's into one stream (`pump`).

A team's member runs and a workflow's step runs are stored as runs of their own in the parent's session, with
`parent_run_id` naming the parent's run. They share one session state: the same dict, saved with the top run.
Their events reach the parent's stream as they are (`nested_depth` stays 0, as in AgentOS): a member's with
`parent_run_id` naming the team's run, a step's with `workflow_context` naming the workflow's. Both placements
are `stratus._lifecycle.Placement`s: the run's lifecycle reads and saves through whichever it is given.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import KW_ONLY, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from stratus.deadline import Deadline, inherited_by
from stratus.exceptions import NotFoundError
from stratus.limits import storable_state
from stratus.run import RunEvent, RunOutput, RunStatus

if TYPE_CHECKING:
    from stratus._lifecycle import Resumption
    from stratus._runnable import Execution
    from stratus.storage.base import Store
    from stratus.storage.records import SessionRecord, SessionType

__all__ = ["ChildPlacement", "Emit", "Member", "RunScope", "SessionWriter", "pump"]

logger = logging.getLogger("stratus.nesting")

Emit = Callable[[RunEvent], None]


class Member(Protocol):
    """What a team or a workflow can start as a child run: an agent or a team."""

    def child_execution(self, input: str, scope: RunScope, resume: Resumption | None = None) -> Execution:
        """An execution of this component as a child of the run `scope` belongs to (with `resume`, its paused
        run going on)."""
        ...


@dataclass(eq=False)
class SessionWriter:
    """The session a top-level run (an agent's, a team's or a workflow's) writes into, with every child run
    it starts: the `Placement` of a run of its own.

    `open()` checks the session is the caller's and this component's, and returns its state; `save()` writes
    the run with the state (merged with concurrent writers' changes, see `Store.save_run`), `save_child()` a
    child run without touching the state. Without a store nothing is read or written.
    """

    store: Store | None
    _: KW_ONLY
    session_id: str
    user_id: str | None
    session_type: SessionType
    component_id: str
    session_name: str | None
    record: SessionRecord | None = None
    state_base: dict[str, Any] = field(default_factory=lambda: dict[str, Any]())
    """The state as stored when this writer last read or wrote it."""
    opened: bool = False
    _lock: asyncio.Lock | None = field(default=None, repr=False)  # made when first saving: most runs never do
    _read: tuple[SessionRecord | None] | None = field(default=None, repr=False)  # see `read_before`

    @property
    def writer(self) -> SessionWriter:
        return self

    def _saving(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    def read_before(self, store: Store, session: SessionRecord | None) -> None:
        """The caller has just read this writer's session from `store` (None: there is none): `open()` checks
        that read as it checks its own, and does not read the session again. A read of another session, or
        from another store, is ignored."""
        if store is self.store and not self.opened and (session is None or session.session_id == self.session_id):
            self._read = (session,)

    async def open(self, defaults: dict[str, Any] | None, override: dict[str, Any] | None) -> dict[str, Any]:
        """The run's starting state: `defaults`, then the stored session's state, then `override`. Another
        user's (or another component's) session reads as absent: `NotFoundError`."""
        state: dict[str, Any] = copy.deepcopy(defaults) if defaults else {}  # an append must not change the default
        if self.store is not None:
            read, self._read = self._read, None
            session = read[0] if read is not None else await self.store.get_session(self.session_id)
            if session is not None:
                if (
                    session.user_id != self.user_id
                    or session.session_type is not self.session_type
                    or (session.component_id is not None and session.component_id != self.component_id)
                ):
                    raise NotFoundError(f"session {self.session_id!r} not found")
                # The run changes its own copy: the state as read stays as read, to merge against (a list the
                # run appends to must not be the same list object as the one in `state_base`).
                state.update(copy.deepcopy(session.session_state))
                self.record = session
                self.state_base = dict(session.session_state)
        if override:
            state.update(override)
        self.opened = True
        return state

    async def history(self, count: int, belongs: Callable[[RunOutput], bool] | None) -> list[RunOutput]:
        """The last `count` completed top-level runs for which `belongs` holds. Without `belongs` (an agent's
        session, which holds no child runs) one query of `count` runs; with it, child runs interleave with
        the top-level ones, so this reads a few times `count` runs, more only if there are many children."""
        if self.store is None or self.record is None or count <= 0:
            return []
        if belongs is None:
            return await self.store.get_runs(self.session_id, last=count, statuses=(RunStatus.COMPLETED,))
        fetch = count * 4
        while True:
            runs = await self.store.get_runs(self.session_id, last=fetch, statuses=(RunStatus.COMPLETED,))
            top = [r for r in runs if r.parent_run_id is None and belongs(r)]
            if len(top) >= count or len(runs) < fetch:
                return top[-count:]
            fetch *= 4

    def _session(self) -> SessionRecord:
        from stratus.storage.records import SessionRecord

        if self.record is not None:
            return self.record
        return SessionRecord(
            session_id=self.session_id,
            session_type=self.session_type,
            component_id=self.component_id,
            user_id=self.user_id,
            session_name=self.session_name,
            created_at=time.time(),
        )

    async def save(self, run: RunOutput, state: dict[str, Any], component_data: dict[str, Any] | None) -> bool:
        """Write `run` and the session's new `state` in one atomic write; whether it was stored. Afterwards
        `state` holds what is stored (other writers' concurrent changes merged in). A failure is logged, not
        raised: the run's answer exists and the caller still gets it."""
        if self.store is None or not self.opened:
            return False
        async with self._saving():
            storable = storable_state(state, self.state_base)  # a state too deep or large stays as it was
            run.session_state = dict(storable)
            session = replace(self._session(), session_state=dict(storable), component_data=component_data)
            try:
                stored = await self.store.save_run(session, run, state_base=self.state_base)
            except Exception:
                logger.exception("run %s ended with status %s but could not be stored", run.run_id, run.status)
                return False
            self.record, self.state_base = stored, dict(stored.session_state)
            if stored.session_state != state:
                state.clear()
                state.update(copy.deepcopy(stored.session_state))
            return True

    async def save_child(self, run: RunOutput) -> bool:
        """Write a child run into the session (creating it if this is its first run); the state is left as it
        is, the top run saves it. Whether it was stored."""
        if self.store is None or not self.opened:
            return False
        async with self._saving():
            session = replace(self._session(), session_state=dict(self.state_base))
            try:
                stored = await self.store.save_run(session, run, state_base=self.state_base)
            except Exception:
                logger.exception("child run %s could not be stored", run.run_id)
                return False
            if self.record is None or stored.version >= self.record.version:
                self.record = stored
                self.state_base = dict(stored.session_state)
            return True


@dataclass(slots=True, eq=False)
class RunScope:
    """What the child runs of one team or workflow run inherit from it: its session (where they are stored),
    the shared session state, the parent run (for `parent_run_id`) and where their events go."""

    session: SessionWriter
    state: dict[str, Any]
    parent: RunOutput
    emit: Emit
    stream: bool = False
    deadline: Deadline | None = None
    tasks: set[asyncio.Task[RunOutput]] = field(default_factory=lambda: set[asyncio.Task[RunOutput]]())

    def forward(self, event: RunEvent, step: dict[str, Any] | None = None) -> None:
        """Pass a child's event up. A member's names the team's run as its parent; a workflow step's (`step`:
        its `workflow_context`) names the workflow's run and the step instead, as AgentOS' do."""
        if step is None:
            if event.parent_run_id is None:
                event.parent_run_id = self.parent.run_id
        else:
            if event.parent_run_id == self.parent.run_id:
                event.parent_run_id = None
            if event.workflow_context is None:
                event.workflow_context = step
        self.emit(event)

    async def run(
        self, member: Member, input: str, step: dict[str, Any] | None = None, *, resume: Resumption | None = None
    ) -> RunOutput:
        """Run an agent or a team as a child (with `resume`, its paused run going on), forwarding its events (see
        `forward`); returns its output (a failed child ends with status ERROR, it does not raise). Each child runs
        in a task of its own so that a cancelled parent can wait for its children to store themselves as
        CANCELLED (`settle`)."""
        with inherited_by(self.deadline):  # the child's run ends by its parent's deadline
            task = asyncio.ensure_future(self._run(member, input, step, resume))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return await task

    async def _run(
        self, member: Member, input: str, step: dict[str, Any] | None, resume: Resumption | None
    ) -> RunOutput:
        child = member.child_execution(input, self, resume)
        if step is not None:
            child.output.workflow_step_id = step["step_id"]
        self.parent.children.append(child.output)
        async for event in child.events(stream=self.stream):
            self.forward(event, step)
        return child.output

    async def settle(self) -> None:
        """Wait for the children still running (being cancelled) to end and store themselves."""
        while self.tasks:
            await asyncio.wait(set(self.tasks))


class ChildPlacement:
    """The place of a run started by a team or a workflow: it shares their session state (its component's
    defaults fill in what is missing), is stored in their session as a child of their run, and reads no
    history of its own."""

    record: SessionRecord | None = None

    def __init__(self, scope: RunScope) -> None:
        self.scope = scope

    @property
    def writer(self) -> SessionWriter:
        return self.scope.session

    async def open(self, defaults: dict[str, Any] | None, override: dict[str, Any] | None) -> dict[str, Any]:
        state = self.scope.state
        for key, value in (defaults or {}).items():
            if key not in state:
                state[key] = copy.deepcopy(value)
        return state

    async def history(self, count: int, belongs: Callable[[RunOutput], bool] | None) -> list[RunOutput]:
        return []

    async def save(self, run: RunOutput, state: dict[str, Any], component_data: dict[str, Any] | None) -> bool:
        run.session_state = dict(state)  # the top run saves the state itself
        return await self.scope.session.save_child(run)


async def pump(body: Callable[[Emit], Awaitable[None]]) -> AsyncIterator[RunEvent]:
    """Run `body` in a task of its own and yield the events it (and the children it starts, from their own
    tasks) emits, in the order they were emitted, until it returns. Cancelling or closing the iteration
    cancels the body and waits for it to clean up (it stores its run as CANCELLED)."""
    queue: asyncio.Queue[RunEvent | None] = asyncio.Queue()
    task = asyncio.ensure_future(body(queue.put_nowait))
    task.add_done_callback(lambda _: queue.put_nowait(None))
    try:
        while True:
            item = await queue.get()
            if item is None:
                break
            yield item
        await task  # a bug in the body surfaces here rather than vanishing with its task
    finally:
        if not task.done():
            task.cancel()
            await asyncio.wait({task})
            if not task.cancelled() and task.exception() is not None:  # retrieved: it was logged where raised
                logger.debug("run body ended with %r after its stream was closed", task.exception())
