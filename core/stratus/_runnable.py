"""`Runnable`: the `run`/`arun` pair teams and workflows share (agents add knowledge filters to theirs)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import Any, Literal, Protocol, overload

from stratus.run import RunEvent, RunOutput

__all__ = ["Execution", "Runnable"]


class Execution(Protocol):
    """One execution of an agent, a team or a workflow (`AgentRun`, `TeamRun`, `WorkflowRun`): `events()`
    drives it, `result()` drives it and returns `output`."""

    output: RunOutput

    def events(self, *, stream: bool) -> AsyncIterator[RunEvent]: ...

    async def result(self) -> RunOutput: ...


class Runnable:
    """Gives a component `arun` and `run` over the execution `_execution` builds."""

    __slots__ = ()

    @abstractmethod
    def _execution(
        self,
        input: str,
        *,
        session_id: str | None,
        user_id: str | None,
        session_state: dict[str, Any] | None,
        run_id: str | None,
    ) -> Execution: ...

    @overload
    def arun(
        self,
        input: str,
        *,
        stream: Literal[False] = False,
        session_id: str | None = None,
        user_id: str | None = None,
        session_state: dict[str, Any] | None = None,
        run_id: str | None = None,
    ) -> Awaitable[RunOutput]: ...

    @overload
    def arun(
        self,
        input: str,
        *,
        stream: Literal[True],
        session_id: str | None = None,
        user_id: str | None = None,
        session_state: dict[str, Any] | None = None,
        run_id: str | None = None,
    ) -> AsyncIterator[RunEvent]: ...

    def arun(
        self,
        input: str,
        *,
        stream: bool = False,
        session_id: str | None = None,
        user_id: str | None = None,
        session_state: dict[str, Any] | None = None,
        run_id: str | None = None,
    ) -> Awaitable[RunOutput] | AsyncIterator[RunEvent]:
        """Run on `input`: await it for the `RunOutput`, or with `stream=True` iterate it for events. A run
        that fails returns (or ends with) status ERROR rather than raising."""
        execution = self._execution(
            input, session_id=session_id, user_id=user_id, session_state=session_state, run_id=run_id
        )
        return execution.events(stream=True) if stream else execution.result()

    @overload
    def run(
        self,
        input: str,
        *,
        stream: Literal[False] = False,
        session_id: str | None = None,
        user_id: str | None = None,
        session_state: dict[str, Any] | None = None,
    ) -> RunOutput: ...

    @overload
    def run(
        self,
        input: str,
        *,
        stream: Literal[True],
        session_id: str | None = None,
        user_id: str | None = None,
        session_state: dict[str, Any] | None = None,
    ) -> Iterator[RunEvent]: ...

    def run(
        self,
        input: str,
        *,
        stream: bool = False,
        session_id: str | None = None,
        user_id: str | None = None,
        session_state: dict[str, Any] | None = None,
    ) -> RunOutput | Iterator[RunEvent]:
        """The sync twin of `arun`."""
        from stratus._sync import iterate_sync, run_sync

        execution = self._execution(
            input, session_id=session_id, user_id=user_id, session_state=session_state, run_id=None
        )
        if stream:
            return iterate_sync(execution.events(stream=True))
        return run_sync(execution.result())
