"""A Lambda invocation's end as the deadline of the runs it serves, so a run that would outlive its function
ends with a stored `RunError` (504 over the API) instead of being killed mid-write.

Buffered functions read it from the Lambda context; streamed ones, served by uvicorn under the Lambda Web
Adapter, from the `x-amzn-lambda-context` header the adapter adds to each request (its `deadline`, in
milliseconds since the epoch). A header can only shorten a run's deadline, never lengthen it, so a client
that sends its own gains nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Generator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from stratus.deadline import Deadline, run_deadline

if TYPE_CHECKING:  # the workers import this module too: no web framework for them
    from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["DEADLINE_MARGIN_SECONDS", "LambdaDeadlineMiddleware", "invocation_deadline"]

DEADLINE_MARGIN_SECONDS = 2.0
"""Kept back from the invocation's time to store the run and send the answer."""

SOURCE = "the Lambda invocation's time left"


@contextmanager
def invocation_deadline(remaining_seconds: float) -> Generator[Deadline | None]:
    """Runs started inside end `DEADLINE_MARGIN_SECONDS` before the invocation does."""
    with run_deadline(max(remaining_seconds - DEADLINE_MARGIN_SECONDS, 0.0), source=SOURCE) as deadline:
        yield deadline


def _header_deadline(scope: Scope) -> float | None:
    """Seconds left in the invocation, from the Web Adapter's `x-amzn-lambda-context` header."""
    for name, value in scope.get("headers") or ():
        if name == b"x-amzn-lambda-context":
            try:
                context: Any = json.loads(value)
                millis = context.get("deadline", context.get("deadline_ms"))
                if isinstance(millis, int | float) and not isinstance(millis, bool):
                    return millis / 1000 - time.time()
            except (ValueError, AttributeError):
                return None
    return None


class LambdaDeadlineMiddleware:
    """Pure ASGI (no task of its own, so the deadline reaches every run the request starts, streamed or not)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        remaining = _header_deadline(scope) if scope["type"] == "http" else None
        if remaining is None:
            await self.app(scope, receive, send)
            return
        with invocation_deadline(remaining):
            await self.app(scope, receive, send)
