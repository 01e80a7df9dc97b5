"""`/learnings`: what the learning machine keeps (user profiles, insights shared by an agent's users, and any
record a client adds), as AgentOS serves them.

Scoped like memories: with authentication on, a caller sees and changes their own records; records no user
owns (an agent's shared insights) can be read by anyone but changed only where no user is verified (local).
"""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request, Response

from stratus._utils import new_id
from stratus.api import schemas
from stratus.api._deps import AppDep, resolve_user_id
from stratus.api._openapi import Router
from stratus.api._paging import CursorPaginatedResponse, PaginatedResponse, listed, paginate
from stratus.app import App
from stratus.learning.machine import INSIGHT
from stratus.storage import every
from stratus.storage.records import LearningQuery, LearningRecord

__all__ = ["router"]

router = Router(prefix="/learnings", tags=["Learnings"])
logger = logging.getLogger(__name__)


def _verified(request: Request) -> str | None:
    return getattr(request.state, "user_id", None)


async def _readable(app: App, request: Request, learning_id: str) -> LearningRecord:
    """The record, if it exists, is not internal, and is the caller's or nobody's."""
    record = await app.store.get_learning(learning_id)
    caller = _verified(request)
    if (
        record is None
        or record.learning_type.startswith("_")
        or (caller is not None and record.user_id not in (None, caller))
    ):
        raise HTTPException(status_code=404, detail=f"learning {learning_id!r} not found")
    return record


def _writable(request: Request, record: LearningRecord) -> None:
    caller = _verified(request)
    if caller is not None and record.user_id != caller:
        raise HTTPException(status_code=403, detail="shared learnings can only be changed by the deployment")


async def _reindex(app: App, record: LearningRecord) -> None:
    """Keep an agent's shared insight and its vector in step (the insight is what recall searches). The
    record is what counts: an index that cannot be reached now is logged, not a failed request."""
    try:
        await _index(app, record)
    except Exception:
        logger.exception("learning %s stored, but its search index could not be updated", record.learning_id)


async def _index(app: App, record: LearningRecord) -> None:
    if record.learning_type != INSIGHT or record.agent_id is None or record.agent_id not in app.agents:
        return
    machine = app.agents[record.agent_id].learning_machine
    if machine is None or not machine.learned_knowledge:
        return
    from stratus.knowledge.documents import Chunk

    text = str(record.content.get("insight") or "").strip()
    await machine.ensure_index()
    if not text:
        await machine.vector_db.delete([record.learning_id])
        return
    vector = await machine.embedder.embed_query(text)
    chunk = Chunk(
        id=record.learning_id,
        content_id=record.learning_id,
        text=text,
        metadata={"agent_id": record.agent_id},
        embedding=vector,
    )
    await machine.vector_db.upsert([chunk])


def _listing(request: Request, params: Annotated[schemas.LearningParams, Query()]) -> LearningQuery:
    learning_type = params.learning_type
    query: dict[str, Any] = {
        **params.model_dump(exclude={"db_id", "table"}),
        "user_id": resolve_user_id(request, params.user_id),
        "learning_type": "_none" if learning_type and learning_type.startswith("_") else learning_type,  # internal
        "sort_by": "created_at" if params.sort_by == "created_at" else "updated_at",
        "sort_order": params.sort_order or "desc",
    }
    return LearningQuery(**query)


@router.operation("GET", "", "List Learnings", "get_learnings", 422)
async def list_learnings(
    app: AppDep, query: Annotated[LearningQuery, Depends(_listing)]
) -> CursorPaginatedResponse[schemas.LearningResponse]:
    """One page of learning records, most recently updated first by default (`meta.next_cursor` continues
    it)."""
    return await listed(app.store.list_learnings, query, schemas.LearningResponse.model_validate)


@router.operation("POST", "", "Create Learning", "create_learning", 403, 422, status_code=201)
async def create_learning(body: schemas.LearningCreate, request: Request, app: AppDep) -> schemas.LearningResponse:
    """Add a learning record. With authentication on, `user_id` must be the caller's (or absent: then the
    record is the caller's too, since only the deployment may add shared records)."""
    caller = _verified(request)
    if caller is not None and body.user_id not in (None, caller):
        raise HTTPException(status_code=403, detail="user_id must be the authenticated user")
    fields: dict[str, Any] = {**body.model_dump(), "user_id": caller if caller is not None else body.user_id}
    record = LearningRecord(learning_id=new_id(), **fields)
    stored = await app.store.put_learning(record)
    if stored.user_id is None:
        await _reindex(app, stored)
    return schemas.LearningResponse.model_validate(stored)


@router.operation("GET", "/users", "List Users With Learnings", "get_learning_users", 422)
async def learning_users(
    request: Request, app: AppDep, params: Annotated[schemas.LearningUserParams, Query()]
) -> PaginatedResponse[schemas.LearningUserStats]:
    """The users that own learning records, each with their latest update."""
    started = time.perf_counter()
    scope = LearningQuery(user_id=resolve_user_id(request, params.user_id), learning_type=params.learning_type)
    latest: dict[str, float] = {}
    for record in await every(app.store.list_learnings, scope):
        if record.user_id is not None:
            latest[record.user_id] = max(latest.get(record.user_id, 0.0), record.updated_at)
    reverse = (params.sort_order or "desc") == "desc"
    if params.sort_by == "user_id":
        users = sorted(latest, reverse=reverse)
    else:
        users = sorted(latest, key=lambda u: (latest[u], u), reverse=reverse)

    def stats(user: str) -> schemas.LearningUserStats:
        return schemas.LearningUserStats(user_id=user, last_learning_updated_at=int(latest[user]))

    return paginate(users, stats, page=params.page, limit=params.limit, started=started)


@router.operation(
    "DELETE", "/users/{user_id}", "Delete A User's Learnings", "delete_learning_user", 403, 422, status_code=204
)
async def delete_user_learnings(
    user_id: str,
    request: Request,
    app: AppDep,
    learning_type: str | None = Query(default=None),
    db_id: str | None = Query(default=None),
    table: str | None = Query(default=None),
) -> Response:
    """Delete the learning records a user owns (all types, or `learning_type`). Shared records stay."""
    caller = _verified(request)
    if caller is not None and caller != user_id:
        raise HTTPException(status_code=403, detail="only your own learnings can be deleted")
    while True:
        batch = (
            await app.store.list_learnings(LearningQuery(user_id=user_id, learning_type=learning_type, limit=500))
        ).items
        if not batch:
            break
        for record in batch:
            await app.store.delete_learning(record.learning_id, user_id=user_id)
    return Response(status_code=204)


@router.operation("GET", "/{learning_id}", "Get Learning", "get_learning", 404, 422)
async def get_learning(
    learning_id: str, request: Request, app: AppDep, db_id: str | None = None, table: str | None = None
) -> schemas.LearningResponse:
    return schemas.LearningResponse.model_validate(await _readable(app, request, learning_id))


@router.operation("PATCH", "/{learning_id}", "Update Learning", "update_learning", 403, 404, 422)
async def update_learning(
    learning_id: str,
    body: schemas.LearningUpdate,
    request: Request,
    app: AppDep,
    db_id: str | None = None,
    table: str | None = None,
) -> schemas.LearningResponse:
    """Replace the content and/or the metadata (the fields given)."""
    record = await _readable(app, request, learning_id)
    _writable(request, record)
    if body.content is not None:
        record.content = body.content
    if body.metadata is not None:
        record.metadata = body.metadata
    stored = await app.store.put_learning(record)
    if body.content is not None:
        await _reindex(app, stored)
    return schemas.LearningResponse.model_validate(stored)


@router.operation("DELETE", "/{learning_id}", "Delete Learning", "delete_learning", 403, 404, 422, status_code=204)
async def delete_learning(
    learning_id: str, request: Request, app: AppDep, db_id: str | None = None, table: str | None = None
) -> Response:
    record = await _readable(app, request, learning_id)
    _writable(request, record)
    await app.store.delete_learning(learning_id)
    if record.learning_type == INSIGHT and record.agent_id in app.agents:
        machine = app.agents[record.agent_id].learning_machine
        if machine is not None and machine.learned_knowledge:
            await machine.vector_db.delete([learning_id])
    return Response(status_code=204)
