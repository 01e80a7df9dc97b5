"""The SDK client a provider owns, held the same way by each of them: an async one (OpenAI's, Anthropic's),
with what such a provider is given to build it, or a blocking one (boto3's, opensearch-py's), and how a boto3
one is built."""

from __future__ import annotations

import asyncio
import threading
from abc import abstractmethod
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from stratus._checks import non_negative, positive
from stratus._optional import requires_extra
from stratus._utils import running_loop
from stratus.exceptions import ConfigError

__all__ = ["BlockingClient", "LoopBoundClient", "SdkClientOwner", "boto3_client"]


class _AsyncClient(Protocol):
    async def close(self) -> None: ...


C = TypeVar("C", bound=_AsyncClient)
S = TypeVar("S")


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
        if self._owned and self._client is not None and self._loop is not running_loop():
            self._client = None  # its loop is gone or different; it cannot even be closed from here
        if self._client is None:
            self._client = build()
            self._loop = running_loop()
        return self._client

    async def aclose(self) -> None:
        """Close the client if it is ours and was opened on this loop (one on another loop is dropped)."""
        if self._owned and self._client is not None:
            client, self._client = self._client, None
            if self._loop is running_loop():
                await client.close()


class SdkClientOwner(Generic[C]):
    """Base of a provider on an async SDK: the credentials and endpoint it was given (None: resolved when the
    client is built), the SDK's per-attempt `timeout` and `max_retries`, a `deadline` for one request with its
    retries, and the client, built by `_build_client` on first use (`LoopBoundClient`)."""

    id: str
    api_key: str | None
    base_url: str | None
    timeout: float
    max_retries: int
    deadline: float | None
    _client: LoopBoundClient[C]

    def _own_client(
        self,
        client: C | None,
        *,
        api_key: str | None,
        base_url: str | None,
        timeout: float,
        max_retries: int,
        deadline: float | None,
    ) -> None:
        non_negative(max_retries=max_retries)
        positive(timeout=timeout, deadline=deadline)
        self.api_key = api_key
        self.base_url = base_url
        self.timeout = timeout
        self.max_retries = max_retries
        self.deadline = deadline
        self._client = LoopBoundClient(client)

    @property
    def client(self) -> C:
        """The SDK client, built on first use (and again for each new event loop: its connection pool belongs
        to the loop that opened it, so a client from a finished loop cannot be reused)."""
        return self._client.get(self._build_client)

    @abstractmethod
    def _build_client(self) -> C:
        """A new client from the settings (raise `ConfigError` for what is missing)."""

    async def aclose(self) -> None:
        await self._client.aclose()


class BlockingClient(Generic[S]):
    """A blocking SDK client, built on first use under a lock (any worker thread may be first to ask). A client
    handed in belongs to the caller: it is never closed or replaced."""

    def __init__(self, client: S | None) -> None:
        self._client = client
        self._owned = client is None
        self._lock = threading.Lock()

    def get(self, build: Callable[[], S]) -> S:
        """The client, built with `build` if there is none yet."""
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = build()
                client = self._client
        return client

    def release(self) -> S | None:
        """The client to close, if it is ours and was built; forgotten here, so a later `get` builds a new one."""
        with self._lock:
            if not self._owned:
                return None
            client, self._client = self._client, None
            return client


def boto3_client(
    needed_by: str, service: str, *, region: str | None, endpoint_url: str | None = None, **config: Any
) -> Any:
    """A new boto3 client of `service` with botocore's `Config(**config)`, for `needed_by` (named when boto3
    is missing or no region resolves: `ConfigError`). It is built on a session of its own: boto3's default
    session is not safe to build clients from in several threads at once."""
    with requires_extra(needed_by, "aws", what="boto3"):
        import boto3
        from botocore.config import Config
        from botocore.exceptions import NoRegionError
    session: Any = boto3.session.Session()
    try:
        return session.client(service, region_name=region, endpoint_url=endpoint_url, config=Config(**config))
    except NoRegionError as exc:
        raise ConfigError(f"{needed_by} needs an AWS region: pass region=... or set AWS_REGION") from exc
