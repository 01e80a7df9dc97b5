"""`/memories`, `/memory_topics`, `/user_memory_stats`: what the agents remember about each user
(`/optimize-memories`, which asks a model, is `routers/optimize_memories.py`).

Scoped like sessions: to the verified user with authentication on, to the `user_id` the request names with it
off. Another user's memory is a 404.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Query, Request, Response

from stratus._utils import new_id
from stratus.api._deps import AppDep, caller_of, found, resolve_user_id
from stratus.api._limits import page_query
from stratus.api._openapi import Router
from stratus.api._paging import CursorPaginatedResponse, cursor_query, listed, paged
from stratus.api.schemas import (
    MEMORIES_USER,
    DeleteMemoriesRequest,
    MemoryParams,
    MemoryRequest,
    UserMemorySchema,
    UserStatsSchema,
)
from stratus.storage.records import MemoryQuery, UserMemory

__all__ = ["router"]

router = Router(tags=["Memory"])

_USER = Query(default=None, description=MEMORIES_USER)
_Caller = Annotated[str | None, caller_of(_USER)]


def _not_found(memory_id: str) -> str:
    return f"memory {memory_id!r} not found"


def _topics(topics: list[str] | None) -> list[str]:
    # Topics are labels: trimmed, without blanks or repeats, in the order given.
    return list(dict.fromkeys(t.strip() for t in topics or [] if t.strip()))


@router.operation("POST", "/memories", "Create Memory", "create_memory", 422)
async def create_memory(body: MemoryRequest, request: Request, app: AppDep) -> UserMemorySchema:
    """Remember something about a user."""
    memory = UserMemory(
        memory_id=new_id(),
        memory=body.memory,
        user_id=resolve_user_id(request, body.user_id),
        topics=_topics(body.topics),
        agent_id=body.agent_id,
        team_id=body.team_id,
    )
    return UserMemorySchema.model_validate(await app.store.put_memory(memory))


def _listing(request: Request, params: Annotated[MemoryParams, Query()]) -> MemoryQuery:
    topics = _topics([t for value in params.topics or [] for t in value.split(",")]) or None
    return params.query(MemoryQuery, user_id=resolve_user_id(request, params.user_id), topics=topics)


_Listing = Annotated[MemoryQuery, Depends(_listing)]


@router.operation("GET", "/memories", "List Memories", "get_memories", 422)
async def list_memories(app: AppDep, query: _Listing) -> CursorPaginatedResponse[UserMemorySchema]:
    """One page of memories, most recently changed first by default (`meta.next_cursor` continues it)."""
    return await listed(app.store.list_memories, query, UserMemorySchema.model_validate)


@router.operation("DELETE", "/memories", "Delete Multiple Memories", "delete_memories", 422, status_code=204)
async def delete_memories(body: DeleteMemoriesRequest, request: Request, app: AppDep) -> Response:
    """Delete the listed memories; ids that do not exist or belong to someone else are skipped."""
    await app.store.delete_memories(body.memory_ids, user_id=resolve_user_id(request, body.user_id))
    return Response(status_code=204)


@router.operation("GET", "/memories/{memory_id}", "Get Memory by ID", "get_memory", 404, 422)
async def get_memory(memory_id: str, app: AppDep, caller: _Caller) -> UserMemorySchema:
    memory = await app.store.get_memory(memory_id, user_id=caller)
    return UserMemorySchema.model_validate(found(memory, _not_found(memory_id)))


@router.operation("PATCH", "/memories/{memory_id}", "Update Memory", "update_memory", 404, 422)
async def update_memory(memory_id: str, body: MemoryRequest, request: Request, app: AppDep) -> UserMemorySchema:
    """Replace a memory's text (and its topics, if given)."""
    memory = found(
        await app.store.get_memory(memory_id, user_id=resolve_user_id(request, body.user_id)), _not_found(memory_id)
    )
    if memory.memory != body.memory:
        memory.memory = body.memory
        memory.embedding = None  # stale now; the learning machine embeds the new text when it next needs it
    if body.topics is not None:
        memory.topics = _topics(body.topics)
    return UserMemorySchema.model_validate(await app.store.put_memory(memory))


@router.operation("DELETE", "/memories/{memory_id}", "Delete Memory", "delete_memory", 404, 422, status_code=204)
async def delete_memory(memory_id: str, app: AppDep, caller: _Caller) -> Response:
    found(await app.store.delete_memory(memory_id, user_id=caller) or None, _not_found(memory_id))
    return Response(status_code=204)


@router.operation("GET", "/memory_topics", "Get Memory Topics", "get_memory_topics", 422)
async def memory_topics(app: AppDep, caller: _Caller) -> list[str]:
    """Every topic in use, sorted."""
    return await app.store.memory_topics(user_id=caller)


@router.operation("GET", "/user_memory_stats", "Get User Memory Statistics", "get_user_memory_stats", 422)
async def user_memory_stats(
    request: Request,
    app: AppDep,
    user_id: str | None = _USER,
    limit: int = Query(default=20, ge=1, le=1000),
    page: int = page_query(),
    cursor: str | None = cursor_query(),
) -> CursorPaginatedResponse[UserStatsSchema]:
    """Per user: how many memories, and when the newest changed; users with the newest first."""
    started = time.perf_counter()
    stats = await app.store.user_memory_stats(
        user_id=resolve_user_id(request, user_id), page=page, limit=limit, cursor=cursor
    )
    return paged([UserStatsSchema.model_validate(s) for s in stats.items], stats, limit=limit, started=started)
