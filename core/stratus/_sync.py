"""Sync wrappers over the async core.

Every sync call runs on one long-lived event loop in a daemon thread, so SDK clients (which bind their
connection pools to the loop that first used them) stay valid from one `agent.run()` to the next, and a
sync call works even from inside a running loop (a notebook, a sync tool in a thread).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

__all__ = ["iterate_sync", "run_sync"]

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


def _portal() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="stratus-sync", daemon=True)
            thread.start()
            _loop = loop
        return _loop


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to completion on the shared loop and return its result (or raise its exception)."""
    return asyncio.run_coroutine_threadsafe(coro, _portal()).result()


def iterate_sync(agen: AsyncIterator[T]) -> Iterator[T]:
    """Iterate an async iterator from sync code, one item per step on the shared loop."""
    loop = _portal()

    async def step() -> tuple[bool, T | None]:
        try:
            return True, await agen.__anext__()
        except StopAsyncIteration:
            return False, None

    try:
        while True:
            more, item = asyncio.run_coroutine_threadsafe(step(), loop).result()
            if not more:
                return
            yield item  # pyright: ignore[reportReturnType]
    finally:
        aclose = getattr(agen, "aclose", None)
        if aclose is not None:
            asyncio.run_coroutine_threadsafe(aclose(), loop).result()
