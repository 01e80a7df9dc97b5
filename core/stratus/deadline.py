"""Run deadlines: the instant by which a run must have ended, whatever it is waiting for.

A run's deadline is the earliest of its agent's `run_timeout` and the deadline of the code that started it:
`run_deadline(...)` sets one for everything run inside it (the Lambda handlers set it from the invocation's
remaining time, so a run ends with a stored `RunError` before the function is killed mid-write). Runs
started inside a run (team members, workflow steps, agents used as tools) inherit it.

The run loop bounds each wait (a model request, a piece of a streamed answer, a round of tool calls) by the
time left, and raises `RunTimeoutError` naming what it was waiting for when none is left.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Generator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar

from stratus.exceptions import ConfigError, RunTimeoutError

__all__ = ["Deadline", "RunTimeoutError", "current_deadline", "deadline_for", "inherited_by", "run_deadline"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Deadline:
    """An instant on the `time.monotonic()` clock, and what set it (for the error message)."""

    at: float
    source: str

    @classmethod
    def after(cls, seconds: float, source: str) -> Deadline:
        return cls(time.monotonic() + seconds, source)

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def earliest(self, other: Deadline | None) -> Deadline:
        return self if other is None or self.at <= other.at else other

    def _loop_time(self) -> float:
        # asyncio's clock is monotonic too, but not necessarily the same origin: convert through "time left".
        return asyncio.get_running_loop().time() + self.remaining()

    def error(self, waiting_for: str) -> RunTimeoutError:
        return RunTimeoutError(f"run stopped: its deadline ({self.source}) passed while {waiting_for}")

    async def bound(self, awaitable: Awaitable[T], waiting_for: str) -> T:
        """Await `awaitable` in this task, cancelling it when the deadline passes (`RunTimeoutError`)."""
        if self.remaining() <= 0:
            _close(awaitable)
            raise self.error(waiting_for)
        timeout = asyncio.timeout_at(self._loop_time())
        try:
            async with timeout:
                return await awaitable
        except TimeoutError:
            if timeout.expired():
                raise self.error(waiting_for) from None
            raise

    async def iterate(self, items: AsyncIterator[T], waiting_for: str) -> AsyncIterator[T]:
        """Each item of `items`, waited for within the deadline. Only the wait for the next item is bounded,
        never the consumer's own work between items, so a deadline never lands in the consumer's code."""
        try:
            while True:
                try:
                    item = await self.bound(anext(items), waiting_for)
                except StopAsyncIteration:
                    return
                yield item
        finally:
            aclose = getattr(items, "aclose", None)
            if aclose is not None:
                await aclose()


def _close(awaitable: Awaitable[object]) -> None:
    close = getattr(awaitable, "close", None)
    if close is not None:
        close()  # a coroutine never awaited: close it so Python does not warn


_current: ContextVar[Deadline | None] = ContextVar("stratus_run_deadline", default=None)


def current_deadline() -> Deadline | None:
    """The deadline runs started here inherit, if any."""
    return _current.get()


@contextmanager
def run_deadline(seconds: float | None = None, *, source: str | None = None) -> Generator[Deadline | None]:
    """Runs started inside this block end within `seconds` from now (or an earlier deadline already set:
    a deadline can be shortened here, never extended). `None` leaves things as they are."""
    if seconds is None:
        yield _current.get()
        return
    if seconds != seconds:  # NaN
        raise ConfigError("a run deadline must be a number of seconds")
    deadline = Deadline.after(seconds, source or f"{seconds:g}s").earliest(_current.get())
    token = _current.set(deadline)
    try:
        yield deadline
    finally:
        _current.reset(token)


@contextmanager
def inherited_by(deadline: Deadline | None) -> Generator[None]:
    """Runs started inside this block (tasks copy the context when created) inherit `deadline`."""
    token = _current.set(deadline.earliest(_current.get()) if deadline is not None else _current.get())
    try:
        yield
    finally:
        _current.reset(token)


def deadline_for(run_timeout: float | None, source: str) -> Deadline | None:
    """The deadline of a run that starts now with this `run_timeout`: its own or the inherited one,
    whichever comes first."""
    inherited = _current.get()
    if run_timeout is None:
        return inherited
    return Deadline.after(run_timeout, source).earliest(inherited)
