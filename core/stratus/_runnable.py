"""`Runnable`: the one `run`/`arun` pair agents, teams and workflows share, over one `RunOptions` value."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncIterator, Awaitable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypedDict, Unpack, overload

from stratus.run import RunEvent, RunOutput

if TYPE_CHECKING:
    from stratus._lifecycle import Resumption
    from stratus._nesting import RunScope
    from stratus.media import File, Image

__all__ = ["Driven", "Execution", "RunKeywords", "RunOptions", "Runnable"]


class Execution(Protocol):
    """One execution of an agent, a team or a workflow (`AgentRun`, `TeamRun`, `WorkflowRun`): `events()`
    drives it, `result()` drives it and returns `output`."""

    output: RunOutput

    def events(self, *, stream: bool) -> AsyncIterator[RunEvent]: ...

    async def result(self) -> RunOutput: ...


class Driven:
    """An execution's `result()`, from its `events()`: driven to its end unstreamed, then its `output`."""

    __slots__ = ()
    output: RunOutput

    @abstractmethod
    def events(self, *, stream: bool) -> AsyncIterator[RunEvent]: ...

    async def result(self) -> RunOutput:
        async for _ in self.events(stream=False):
            pass
        return self.output


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """The options of one run, the same for an agent, a team and a workflow."""

    session_id: str | None = None
    """The session to run in (a new one when None); another user's or another component's reads as absent."""
    user_id: str | None = None
    session_state: dict[str, Any] | None = None
    """Merged over the session's state for this run (and stored with it)."""
    run_id: str | None = None
    """The run's id (a new time-ordered one when None); the API and the background worker name theirs."""
    knowledge_filters: dict[str, Any] | None = None
    """Metadata filters the agent's knowledge searches add to its own (agents only)."""
    continues: RunOutput | None = None
    """A completed run of this agent or team that this run follows up on: the new run (its own `run_id`,
    `forked_from_run_id` naming that one) goes in that run's session, for its user, with that run's
    conversation as its context, and opens with `RunContinued`; the run continued stays as it was."""
    images: Sequence[Image] | None = None
    """Images sent with the message (agents only): to the model natively when it takes them."""
    files: Sequence[File] | None = None
    """Files sent with the message (agents only): natively when the model takes them, else their text."""
    dependencies: dict[str, Any] | None = None
    """Dependencies for this run (agents only), over the agent's own: a key both name is this run's."""
    session_name: str | None = None
    """The name a session this run creates takes (the input's first 120 characters when None); an existing
    session keeps its own."""


class RunKeywords(TypedDict, total=False):
    """`RunOptions` as the keywords of `run` and `arun`."""

    session_id: str | None
    user_id: str | None
    session_state: dict[str, Any] | None
    run_id: str | None
    knowledge_filters: dict[str, Any] | None
    continues: RunOutput | None
    images: Sequence[Image] | None
    files: Sequence[File] | None
    dependencies: dict[str, Any] | None
    session_name: str | None


class Runnable:
    """Gives a component `arun` and `run` over the execution `execution` builds."""

    __slots__ = ()

    @abstractmethod
    def execution(self, input: str, options: RunOptions | None = None) -> Execution:
        """One execution of this component on `input`, not started: iterate `events()` or await `result()`."""

    def child_execution(self, input: str, scope: RunScope, resume: Resumption | None = None) -> Execution:
        """An execution of this component as a child of another run (a team's member, a workflow's step); with
        `resume`, its paused run going on."""
        raise NotImplementedError(f"{type(self).__name__} cannot run as a member or a step")

    @overload
    def arun(
        self, input: str, *, stream: Literal[False] = False, **options: Unpack[RunKeywords]
    ) -> Awaitable[RunOutput]: ...

    @overload
    def arun(self, input: str, *, stream: Literal[True], **options: Unpack[RunKeywords]) -> AsyncIterator[RunEvent]: ...

    def arun(
        self, input: str, *, stream: bool = False, **options: Unpack[RunKeywords]
    ) -> Awaitable[RunOutput] | AsyncIterator[RunEvent]:
        """Run on `input`: await it for the `RunOutput`, or with `stream=True` iterate it for its events, from
        the start event to the completed or error one. A run that fails returns (or ends with) status ERROR
        rather than raising; `RunOutput.raise_for_status()` raises instead. The keywords are `RunOptions`'."""
        execution = self.execution(input, RunOptions(**options))
        return execution.events(stream=True) if stream else execution.result()

    @overload
    def run(self, input: str, *, stream: Literal[False] = False, **options: Unpack[RunKeywords]) -> RunOutput: ...

    @overload
    def run(self, input: str, *, stream: Literal[True], **options: Unpack[RunKeywords]) -> Iterator[RunEvent]: ...

    def run(
        self, input: str, *, stream: bool = False, **options: Unpack[RunKeywords]
    ) -> RunOutput | Iterator[RunEvent]:
        """The sync twin of `arun`: returns the `RunOutput`, or an iterator of events with `stream=True`."""
        from stratus._sync import iterate_sync, run_sync

        execution = self.execution(input, RunOptions(**options))
        if stream:
            return iterate_sync(execution.events(stream=True))
        return run_sync(execution.result())
