"""Paging for the listings (`/sessions`, `/memories`, `/user_memory_stats`, `/learnings`, `/knowledge/content`):
AgentOS' `page` and `limit`, plus an opaque `cursor` that continues a listing where a page ended, and the
envelope that answers them: AgentOS' `{data, meta}` with the next page's cursor in `meta.next_cursor`.

A cursor is cheaper than a page number at any depth (a page number makes DynamoDB read through the pages
before it). A malformed or forged cursor, or another listing's, is answered 422 with a JSON `detail`, as
every `InvalidQueryError` is (see `stratus.api._errors`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from stratus.storage._cursor import MAX_CURSOR_CHARS
from stratus.storage.records import ContentQuery, LearningQuery, MemoryQuery, Page, SessionQuery

__all__ = ["CursorPaginationInfo", "cursor_query", "listed", "paged"]

Q = TypeVar("Q", SessionQuery, MemoryQuery, LearningQuery, ContentQuery)
T = TypeVar("T")


class CursorPaginationInfo(BaseModel):
    """AgentOS' `PaginationInfo`, and the cursor of the next page.

    `total_count` is exact when `total_count_exact` is true (SQLite always; DynamoDB on a listing's last
    page); otherwise it is a lower bound: the matches up to this page, plus one when there is a next page,
    so `total_pages` always offers the next page while there is one."""

    page: int = 1
    limit: int = 20
    total_pages: int = 0
    total_count: int = 0
    search_time_ms: float = 0.0
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page; none at the end")
    total_count_exact: bool = True


def cursor_query() -> Any:
    """The `cursor` query parameter every listing takes."""
    return Query(
        default=None,
        min_length=1,
        max_length=MAX_CURSOR_CHARS,
        description="Continue the listing where the page that returned this `meta.next_cursor` ended ("
        "`page` is then ignored); the same filters and sort must be given",
    )


def paged(data: list[dict[str, Any]], page: Page[Any], *, limit: int, started: float) -> dict[str, Any]:
    """AgentOS' paginated envelope `{data, meta}` of a store's page."""
    exact = page.total is not None
    total = page.total if page.total is not None else page.offset + len(page.items) + (page.next_cursor is not None)
    meta = CursorPaginationInfo(
        page=page.offset // max(1, limit) + 1,
        limit=limit,
        total_pages=math.ceil(total / limit) if total else 0,
        total_count=total,
        search_time_ms=round((time.perf_counter() - started) * 1000, 3),
        next_cursor=page.next_cursor,
        total_count_exact=exact,
    )
    return {"data": data, "meta": meta.model_dump()}


async def listed(
    list_page: Callable[[Q], Awaitable[Page[T]]], query: Q, schema: Callable[[T], dict[str, Any]]
) -> dict[str, Any]:
    """The envelope of one page of a listing: `list_page(query)`, each item answered as `schema` gives it."""
    started = time.perf_counter()
    found = await list_page(query)
    return paged([schema(item) for item in found.items], found, limit=query.limit, started=started)
