"""The async SDK client a provider owns (OpenAI's, Anthropic's), held the same way by each of them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

__all__ = ["LoopBoundClient"]


class _AsyncClient(Protocol):
    async def close(self) -> None: ...


C = TypeVar("C", bound=_AsyncClient)


class LoopBoundClient(Generic[C]):
    """An async SDK client, built on first use and again for each new event loop: its connection pool belongs
    to the loop that opened it, so a client from a finished loop cannot be reused. A client handed in belongs
    to the caller: it is never closed or replaced."""

    def __init__(self, client: C | None) -> None:
        self._client = client
        self._owned = client is None
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self, build: Callable[[], C]) -> C:
        """The client, built with `build` when there is none for the running loop."""
        if self._owned and self._client is not None and self._loop is not _current_loop():
            self._client = None  # its loop is gone or different; it cannot even be closed from here
        if self._client is None:
            self._client = build()
            self._loop = _current_loop()
        return self._client

    async def aclose(self) -> None:
        """Close the client if it is ours and was opened on this loop (one on another loop is dropped)."""
        if self._owned and self._client is not None:
            client, self._client = self._client, None
            if self._loop is _current_loop():
                await client.close()


def _current_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
