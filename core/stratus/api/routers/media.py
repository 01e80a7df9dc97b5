"""`GET /media/{run_id}/{media_id}`: an image or a file a run was sent, served back to the run's owner only.

The bytes are stored once when the run is accepted (`store_run_media`), in the app's blob store (S3 on AWS) or,
locally, in a folder beside the SQLite file (`.stratus/media`); the run's record lists references only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path as FilePath
from typing import Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import Response

from stratus.api._deps import AppDep, resolve_user_id
from stratus.api._openapi import errors
from stratus.app import App
from stratus.knowledge.ingestion import BlobStore
from stratus.media import LocalBlobStore, Media, media_key

__all__ = ["media_store", "router", "store_run_media"]

router = APIRouter(tags=["Media"])

_LOCAL: dict[str, LocalBlobStore] = {}


def media_store(app: App) -> BlobStore:
    """Where a run's media bytes go: the app's blob store (S3 on AWS), else a folder beside the SQLite file."""
    if app.blob_store is not None:
        return app.blob_store
    db_path = getattr(app.store, "path", None)
    folder = str(FilePath(db_path).parent / "media") if isinstance(db_path, FilePath) else ".stratus/media"
    return _LOCAL.setdefault(folder, LocalBlobStore(folder))


async def store_run_media(app: App, user_id: str | None, run_id: str, media: Sequence[Media]) -> None:
    """Store the bytes of a run's media once, before the run starts; what has only a URL stays a URL."""
    blobs = media_store(app)
    for item in media:
        data = item.data()
        if data is not None:
            await blobs.put(media_key(user_id, run_id, item.id), data)
            item.stored = True


@router.get(
    "/media/{run_id}/{media_id}",
    operation_id="get_run_media",
    summary="Get an image or file a run was sent",
    response_class=Response,
    responses={
        200: {
            "description": "The bytes, with the type they were sent with",
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        },
        **errors(404),
    },
)
async def get_run_media(
    request: Request,
    app: AppDep,
    run_id: str = Path(max_length=128),
    media_id: str = Path(max_length=128),
    user_id: str | None = Query(default=None, description="The user the run belongs to"),
) -> Any:
    owner = resolve_user_id(request, user_id)
    run = await app.store.get_run(run_id, user_id=owner)
    missing = HTTPException(status_code=404, detail=f"run {run_id!r} has no media {media_id!r}")
    if run is None or run.input is None or run.user_id != owner:
        raise missing
    found = [m for m in [*(run.input.images or ()), *(run.input.file_media or ())] if m.id == media_id and m.stored]
    if not found:
        raise missing
    try:
        data = await media_store(app).get(media_key(run.user_id, run_id, media_id))
    except KeyError:
        raise missing from None
    item = found[0]
    disposition = f'attachment; filename="{_safe_name(item.filename or item.id)}"'
    return Response(
        data,
        media_type=item.mime_type or "application/octet-stream",
        headers={"Content-Disposition": disposition, "X-Content-Type-Options": "nosniff"},
    )


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._- " else "_" for c in name)[:128] or "media"
