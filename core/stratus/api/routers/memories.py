"""`/memories`, `/memory_topics`, `/user_memory_stats`: what the agents remember about each user
(`/optimize-memories`, which asks a model, is `routers/optimize_memories.py`).

Scoped like sessions: to the verified user with authentication on, to the `user_id` the request names with it
off. Another user's memory is a 404.
"""

from __future__ import annotations

import time
from typing import Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response

from stratus._utils import new_id
from stratus.api._deps import AppDep, resolve_user_id
from stratus.api._limits import page_query
from stratus.api._openapi import errors
from stratus.api._paging import CursorPaginatedResponse, cursor_query, listed, paged
from stratus.api.schemas import DeleteMemoriesRequest, MemoryRequest, UserMemorySchema, UserStatsSchema
from stratus.storage.records import MemoryQuery, UserMemory

__all__ = ["router"]

router = APIRouter(tags=["Memory"])

_USER = Query(default=None, description="The user the memories belong to")


def _not_found(memory_id: str) -> HTTPException:
    return HTTPException(status_code=404, detail=f"memory {memory_id!r} not found")


def _topics(topics: list[str] | None) -> list[str]:
    # Topics are labels: trimmed, without blanks or repeats, in the order given.
    return list(dict.fromkeys(t.strip() for t in topics or [] if t.strip()))


@router.post("/memories", summary="Create Memory", operation_id="create_memory", responses=errors(422))
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


@router.get("/memories", summary="List Memories", operation_id="get_memories", responses=errors(422))
async def list_memories(
    request: Request,
    app: AppDep,
    user_id: str | None = _USER,
    agent_id: str | None = Query(default=None, description="Only memories made by this agent"),
    team_id: str | None = Query(default=None, description="Only memories made by this team"),
    search_content: str | None = Query(default=None, description="Only memories containing this text"),
    topics: list[str] | None = Query(default=None, description="Only memories with any of these topics"),
    limit: int = Query(default=20, ge=1, le=1000),
    page: int = page_query(),
    sort_by: Literal["updated_at", "created_at", "memory"] = Query(default="updated_at"),
    sort_order: Literal["asc", "desc"] = Query(default="desc"),
    cursor: str | None = cursor_query(),
) -> CursorPaginatedResponse[UserMemorySchema]:
    """One page of memories, most recently changed first by default (`meta.next_cursor` continues it)."""
    query = MemoryQuery(
        user_id=resolve_user_id(request, user_id),
        agent_id=agent_id,
        team_id=team_id,
        search_content=search_content,
        topics=_topics([t for value in topics or [] for t in value.split(",")]) or None,
        sort_by=sort_by,
        sort_order=sort_order,
        page=page,
        limit=limit,
        cursor=cursor,
    )
    return await listed(app.store.list_memories, query, UserMemorySchema.model_validate)


@router.delete(
    "/memories",
    status_code=204,
    summary="Delete Multiple Memories",
    operation_id="delete_memories",
    responses=errors(422),
)
async def delete_memories(body: DeleteMemoriesRequest, request: Request, app: AppDep) -> Response:
    """Delete the listed memories; ids that do not exist or belong to someone else are skipped."""
    await app.store.delete_memories(body.memory_ids, user_id=resolve_user_id(request, body.user_id))
    return Response(status_code=204)


@router.get("/memories/{memory_id}", summary="Get Memory by ID", operation_id="get_memory", responses=errors(404, 422))
async def get_memory(memory_id: str, request: Request, app: AppDep, user_id: str | None = _USER) -> UserMemorySchema:
    memory = await app.store.get_memory(memory_id, user_id=resolve_user_id(request, user_id))
    if memory is None:
        raise _not_found(memory_id)
    return UserMemorySchema.model_validate(memory)


@router.patch(
    "/memories/{memory_id}", summary="Update Memory", operation_id="update_memory", responses=errors(404, 422)
)
async def update_memory(memory_id: str, body: MemoryRequest, request: Request, app: AppDep) -> UserMemorySchema:
    """Replace a memory's text (and its topics, if given)."""
    caller = resolve_user_id(request, body.user_id)
    memory = await app.store.get_memory(memory_id, user_id=caller)
    if memory is None:
        raise _not_found(memory_id)
    if memory.memory != body.memory:
        memory.memory = body.memory
        memory.embedding = None  # stale now; the learning machine embeds the new text when it next needs it
    if body.topics is not None:
        memory.topics = _topics(body.topics)
    return UserMemorySchema.model_validate(await app.store.put_memory(memory))


@router.delete(
    "/memories/{memory_id}",
    status_code=204,
    summary="Delete Memory",
    operation_id="delete_memory",
    responses=errors(404, 422),
)
async def delete_memory(memory_id: str, request: Request, app: AppDep, user_id: str | None = _USER) -> Response:
    if not await app.store.delete_memory(memory_id, user_id=resolve_user_id(request, user_id)):
        raise _not_found(memory_id)
    return Response(status_code=204)


@router.get("/memory_topics", summary="Get Memory Topics", operation_id="get_memory_topics", responses=errors(422))
async def memory_topics(request: Request, app: AppDep, user_id: str | None = _USER) -> list[str]:
    """Every topic in use, sorted."""
    return await app.store.memory_topics(user_id=resolve_user_id(request, user_id))


@router.get(
    "/user_memory_stats",
    summary="Get User Memory Statistics",
    operation_id="get_user_memory_stats",
    responses=errors(422),
)
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
    found = await app.store.user_memory_stats(
        user_id=resolve_user_id(request, user_id), page=page, limit=limit, cursor=cursor
    )
    return paged([UserStatsSchema.model_validate(s) for s in found.items], found, limit=limit, started=started)
