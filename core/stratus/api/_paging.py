"""Paging for the listings (`/sessions`, `/memories`, `/user_memory_stats`, `/learnings`, `/eval-runs`,
`/knowledge/content`): AgentOS' `page` and `limit`, plus an opaque `cursor` that continues a listing where a page
ended, as one set of query parameters (`Listing`), and the envelope that answers them: AgentOS' `{data, meta}`
with the next page's cursor in `meta.next_cursor`.

A cursor is cheaper than a page number at any depth (a page number makes DynamoDB read through the pages
before it). A malformed or forged cursor, or another listing's, is answered 422 with a JSON `detail`, as
every `InvalidQueryError` is (see `stratus.api._errors`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, Literal, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field, SerializerFunctionWrapHandler, model_serializer

from stratus.api._limits import PAGE
from stratus.storage._cursor import MAX_CURSOR_CHARS
from stratus.storage.records import ContentQuery, EvalQuery, LearningQuery, MemoryQuery, Page, SessionQuery

__all__ = [
    "CURSOR",
    "CursorPaginatedResponse",
    "CursorPaginationInfo",
    "Listing",
    "PaginatedResponse",
    "PaginationInfo",
    "cursor_query",
    "listed",
    "paged",
    "paginate",
    "paginated",
]

Q = TypeVar("Q", SessionQuery, MemoryQuery, LearningQuery, ContentQuery, EvalQuery)
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
S = TypeVar("S")


class PaginationInfo(BaseModel):
    """AgentOS' `PaginationInfo`."""

    page: int = 1
    limit: int = 20
    total_pages: int = 0
    total_count: int = 0
    search_time_ms: float = 0.0


class CursorPaginationInfo(PaginationInfo):
    """AgentOS' `PaginationInfo`, and the cursor of the next page.

    `total_count` is exact when `total_count_exact` is true (SQLite always; DynamoDB on a listing's last
    page); otherwise it is a lower bound: the matches up to this page, plus one when there is a next page,
    so `total_pages` always offers the next page while there is one."""

    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page; null at the end")
    total_count_exact: bool = True

    @model_serializer(mode="wrap")
    def _keep_the_end(self, handler: SerializerFunctionWrapHandler):  # unannotated: the schema stays the model's
        """`next_cursor: null` says the listing ended, so it stays where a route leaves out nulls."""
        return {**handler(self), "next_cursor": self.next_cursor}


class PaginatedResponse(BaseModel, Generic[M]):
    """AgentOS' paginated envelope: one page of `data`, and `meta` about the pages."""

    data: list[M]
    meta: PaginationInfo


class CursorPaginatedResponse(BaseModel, Generic[M]):
    """AgentOS' paginated envelope of a listing a cursor continues (`meta.next_cursor`)."""

    data: list[M]
    meta: CursorPaginationInfo


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def paginated(data: list[M], *, page: int, limit: int, total: int, started: float) -> PaginatedResponse[M]:
    """The envelope of a page cut from `total` results."""
    meta = PaginationInfo(
        page=page,
        limit=limit,
        total_pages=math.ceil(total / limit) if total else 0,
        total_count=total,
        search_time_ms=_elapsed_ms(started),
    )
    return PaginatedResponse[M](data=data, meta=meta)


CURSOR: dict[str, Any] = {
    "min_length": 1,
    "max_length": MAX_CURSOR_CHARS,
    "description": "Continue the listing where the page that returned this `meta.next_cursor` ended (`page` is "
    "then ignored); the same filters and sort must be given",
}
"""The bounds and the description of the `cursor` a listing takes."""


def paginate(
    items: Sequence[T], schema: Callable[[T], M], *, page: int, limit: int, started: float
) -> PaginatedResponse[M]:
    """The envelope of page `page` of `items` (every result, in order), each answered as `schema` gives it."""
    window = items[(page - 1) * limit : page * limit]
    return paginated([schema(item) for item in window], page=page, limit=limit, total=len(items), started=started)


def cursor_query() -> Any:
    """The `cursor` query parameter every listing takes."""
    return Query(default=None, **CURSOR)


class Listing(BaseModel, Generic[S]):
    """The query parameters of a listing's page and sort (a route takes them as `Annotated[..., Query()]`); a
    listing's subclass says what it sorts by (`sort_by`: `S`) and by default."""

    limit: int = Field(default=20, ge=1, le=1000)
    page: int = Field(default=1, **PAGE)
    sort_by: S
    sort_order: Literal["asc", "desc"] = "desc"
    cursor: str | None = Field(default=None, **CURSOR)

    def query(self, kind: Callable[..., Q], **values: Any) -> Q:
        """The store's query of this page: `kind` with this model's fields (a listing's subclass adds its
        filters, under the names `kind` gives them), `values` in place of theirs."""
        return kind(**{**self.model_dump(), **values})


def paged(data: list[M], page: Page[Any], *, limit: int, started: float) -> CursorPaginatedResponse[M]:
    """The envelope of a store's page."""
    exact = page.total is not None
    total = page.total if page.total is not None else page.offset + len(page.items) + (page.next_cursor is not None)
    meta = CursorPaginationInfo(
        page=page.offset // max(1, limit) + 1,
        limit=limit,
        total_pages=math.ceil(total / limit) if total else 0,
        total_count=total,
        search_time_ms=_elapsed_ms(started),
        next_cursor=page.next_cursor,
        total_count_exact=exact,
    )
    return CursorPaginatedResponse[M](data=data, meta=meta)


async def listed(
    list_page: Callable[[Q], Awaitable[Page[T]]], query: Q, schema: Callable[[T], M]
) -> CursorPaginatedResponse[M]:
    """The envelope of one page of a listing: `list_page(query)`, each item answered as `schema` gives it."""
    started = time.perf_counter()
    found = await list_page(query)
    return paged([schema(item) for item in found.items], found, limit=query.limit, started=started)
