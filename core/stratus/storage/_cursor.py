"""Page cursors: opaque strings that say where a listing's next page starts, bound to the listing that made
them.

A cursor is `base64url(JSON)` (unpadded) of `{"v": 1, "q": <fingerprint>, "n": <offset>, "k": <position>}`:
`q` is a digest of the store kind and the query's filters and sort (not its page, limit or cursor), `n` how
many matches came before the next page, and `k` the store's own position: the last row's sort value and id
for SQLite, the DynamoDB key of the last item returned (its `ExclusiveStartKey`), or nothing when a page is
cut from a sorted, bounded set. Nothing in a cursor is trusted: a cursor that does not decode, or whose
digest is another listing's, is an `InvalidCursorError`, and each store checks the position it finds
against the query it is answering (a DynamoDB key must lie in the partition the query reads), so a
forged cursor can at most skip within what the caller may list anyway.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from enum import Enum
from typing import Any, Final, TypeVar, cast

from stratus.exceptions import InvalidCursorError
from stratus.storage.records import ListingQuery, Page

__all__ = ["MAX_CURSOR_CHARS", "Cursor", "every", "fingerprint", "pages"]

MAX_CURSOR_CHARS: Final = 4096
"""The longest cursor accepted (the ones stores make are a few hundred characters)."""

_VERSION: Final = 1
_UNPAGED = ("page", "limit", "cursor")

Q = TypeVar("Q", bound=ListingQuery)
T = TypeVar("T")


def fingerprint(store: str, query: Any) -> str:
    """A digest of what a listing asks (store kind, filters, sort), without where its page starts."""
    fields = {k: v.value if isinstance(v, Enum) else v for k, v in asdict(query).items() if k not in _UNPAGED}
    text = json.dumps([store, type(query).__name__, fields], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class Cursor:
    """A decoded cursor: the listing it belongs to, how many matches came before, and the store's position."""

    query: str
    offset: int
    position: Any = None

    def encode(self) -> str:
        body = {"v": _VERSION, "q": self.query, "n": self.offset, "k": self.position}
        raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    @classmethod
    def decode(cls, text: str, *, expect: str) -> Cursor:
        """The cursor `text` encodes, if it is one of the listing whose fingerprint is `expect`."""
        if not text or len(text) > MAX_CURSOR_CHARS:
            raise InvalidCursorError("the cursor is empty or too long")
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            body = json.loads(raw.decode("utf-8"))
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise InvalidCursorError("the cursor is not one this store made") from None
        if not isinstance(body, dict):
            raise InvalidCursorError("the cursor is not one this store made")
        body = cast(dict[str, Any], body)
        if set(body) != {"v", "q", "n", "k"} or body["v"] != _VERSION:
            raise InvalidCursorError("the cursor is not one this store made")
        offset: Any = body["n"]
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise InvalidCursorError("the cursor is not one this store made")
        if body["q"] != expect:
            raise InvalidCursorError("the cursor belongs to another listing (other filters or sort); start again")
        return cls(query=expect, offset=offset, position=body["k"])


def start_of(store: str, query: ListingQuery) -> tuple[str, Cursor | None]:
    """The query's fingerprint, and its cursor decoded (None: start at its page number)."""
    expect = fingerprint(store, query)
    return expect, None if query.cursor is None else Cursor.decode(query.cursor, expect=expect)


def bad_position() -> InvalidCursorError:
    return InvalidCursorError("the cursor does not fit this listing; start again")


async def pages(list_page: Callable[[Q], Awaitable[Page[T]]], query: Q, *, limit: int = 500) -> list[Page[T]]:
    """Every page of a listing, followed through its cursors (for callers that need the whole set)."""
    found: list[Page[T]] = []
    current = replace(query, limit=limit, page=1, cursor=None)
    while True:
        page = await list_page(current)
        found.append(page)
        if page.next_cursor is None:
            return found
        current = replace(current, cursor=page.next_cursor)


async def every(list_page: Callable[[Q], Awaitable[Page[T]]], query: Q, *, limit: int = 500) -> list[T]:
    """Every item a listing matches, read page by page through its cursors."""
    return [item for page in await pages(list_page, query, limit=limit) for item in page.items]
