"""`/knowledge`: upload content (ingested in the background), follow its status, list, change and delete it,
search it, and describe the readers, chunkers and stores available (AgentOS' knowledge routes).

Each knowledge base is per user by default: a caller sees, searches and deletes only what they added.
"""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any, Literal, cast

from fastapi import Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import FormData, UploadFile

from stratus.api import schemas
from stratus.api._deps import AppDep, resolve_user_id
from stratus.api._limits import FiltersField, check_form_json, page_query
from stratus.api._openapi import Router, request_body
from stratus.api._paging import CursorPaginatedResponse, PaginatedResponse, cursor_query, listed, paginate
from stratus.app import App
from stratus.exceptions import ConfigError
from stratus.knowledge.documents import SearchHit
from stratus.knowledge.ingestion import IngestionJob, blob_key, chunker_for
from stratus.knowledge.knowledge import Knowledge, KnowledgeError
from stratus.knowledge.readers import UnsupportedContentError
from stratus.knowledge.vectordb.base import SearchMode
from stratus.limits import MAX_CHUNK_SIZE, MAX_JSON_DEPTH, MAX_METADATA_BYTES, loads_json
from stratus.storage.records import ContentQuery, ContentRecord

__all__ = ["router"]

router = Router(prefix="/knowledge", tags=["Knowledge"])
logger = logging.getLogger(__name__)

_KNOWLEDGE = Query(default=None, description="The knowledge base (needed when the app serves several)")
_DB = Query(default=None, description="AgentOS' database id; stratus selects by knowledge_id")


def _base(app: App, knowledge_id: str | None) -> Knowledge:
    try:
        return app.get_knowledge(knowledge_id)
    except ConfigError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None


class UpdateForm(BaseModel):
    """The form fields of `PATCH /knowledge/content/{content_id}` (read by the route itself)."""

    name: str | None = None
    description: str | None = None
    metadata: str | None = Field(default=None, description="A JSON object, as text")


class UploadForm(UpdateForm):
    """The form fields of `POST /knowledge/content`: exactly one of `file`, `text_content` and `url`."""

    file: str | None = Field(default=None, json_schema_extra={"format": "binary"}, description="A document")
    text_content: str | None = None
    url: str | None = Field(default=None, description="A web page to fetch (public http(s) only)")
    chunker: str | None = Field(default=None, description="fixed, recursive, markdown or semantic")
    chunk_size: int | None = Field(default=None, gt=0, le=MAX_CHUNK_SIZE, description="Tokens")
    chunk_overlap: int | None = Field(default=None, gt=0, le=MAX_CHUNK_SIZE, description="Tokens")


def _metadata(text: Any) -> dict[str, Any] | None:
    if text is None or text == "":
        return None
    try:
        value = loads_json(str(text), "metadata")
    except ValueError:
        raise HTTPException(status_code=422, detail="metadata must be a JSON object") from None
    if not isinstance(value, dict):
        raise HTTPException(status_code=422, detail="metadata must be a JSON object")
    return check_form_json(cast(dict[str, Any], value), "metadata", MAX_METADATA_BYTES)


def _optional_int(form: FormData, name: str) -> int | None:
    value = form.get(name)
    if value is None or value == "":
        return None
    try:
        number = int(str(value))
    except ValueError:
        raise HTTPException(status_code=422, detail=f"{name} must be a whole number") from None
    if number <= 0:
        raise HTTPException(status_code=422, detail=f"{name} must be positive")
    if number > MAX_CHUNK_SIZE:  # before any chunker runs: a huge size would build ever larger strings
        raise HTTPException(status_code=422, detail=f"{name} must be at most {MAX_CHUNK_SIZE}")
    return number


_UPLOAD_ERRORS = {
    415: "A file no reader reads (the detail names the supported types)",
    422: "A field is invalid, or the `url` is refused (not http(s), credentials in it, a loopback, private, "
    "link-local or metadata address, directly or by a redirect; `STRATUS_FETCH_ALLOW` opts internal hosts "
    "in) or could not be fetched; the detail says why and nothing is stored",
}


@router.operation(
    "POST",
    "/content",
    "Upload Content",
    "upload_content",
    *(404, 413, 415, 422, 503),
    descriptions=_UPLOAD_ERRORS,
    status_code=202,
    openapi_extra=request_body(UploadForm, "multipart/form-data"),
)
async def upload_content(
    request: Request, app: AppDep, knowledge_id: str | None = _KNOWLEDGE, db_id: str | None = _DB
) -> schemas.ContentResponseSchema:
    """Add a file (`file`), text (`text_content`) or a web page (`url`) as multipart form fields, with optional
    `name`, `description`, `metadata` (a JSON object), `chunker` (fixed, recursive, markdown, semantic),
    `chunk_size` and `chunk_overlap` (tokens). Answers 202 with the content record; ingestion runs in the
    background and `GET /knowledge/content/{id}/status` follows it. Identical content added again by the
    same user is not ingested twice: the existing record comes back. A file no reader reads (an image, an
    archive, bytes that are not what its name or type says) is refused with 415, naming the supported types,
    and nothing of it is stored. A `url` is fetched before the answer, through the SSRF-safe fetcher: one that
    is, resolves or redirects to a loopback, private, link-local or metadata address is refused with 422 and
    nothing is stored."""
    base = _base(app, knowledge_id)
    user_id = resolve_user_id(request, None)
    content_type_header = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type_header not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise HTTPException(status_code=415, detail="send the content as multipart/form-data")
    form = await request.form(max_part_size=base.max_bytes + 1)
    try:
        upload = form.get("file")
        text = form.get("text_content")
        url = form.get("url")
        given = [x for x in (upload, text, url) if x not in (None, "")]
        if len(given) != 1:
            raise HTTPException(status_code=422, detail="send exactly one of file, text_content or url")
        chunker_name = str(form.get("chunker") or "") or None
        size, overlap = _optional_int(form, "chunk_size"), _optional_int(form, "chunk_overlap")
        try:
            chunker = chunker_for(chunker_name, size, overlap, base)
        except (ConfigError, KeyError) as exc:
            raise HTTPException(status_code=422, detail=f"chunker: {exc}") from None
        name = str(form.get("name") or "") or None
        description = str(form.get("description") or "") or None
        metadata = _metadata(form.get("metadata"))
        try:
            if isinstance(upload, UploadFile):
                data = await upload.read(base.max_bytes + 1)
                if len(data) > base.max_bytes:
                    raise HTTPException(status_code=413, detail=f"the file is larger than {base.max_bytes} bytes")
                source: dict[str, Any] = {"source": data, "content_type": upload.content_type}
                name = name or upload.filename or "upload"
            elif text not in (None, ""):
                source = {"text": str(text)}
            else:
                source = {"url": str(url)}
            record, data, fresh = await base.prepare(
                **source, name=name, description=description, metadata=metadata, user_id=user_id
            )
        except UnsupportedContentError as exc:  # nothing was stored: no record, no blob, no chunk
            raise HTTPException(status_code=415, detail=str(exc)) from None
        except KnowledgeError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
    finally:
        await form.close()
    if fresh:
        if app.knowledge_queue is not None and app.blob_store is not None:
            key = blob_key(base.id, record.content_id)
            job = IngestionJob(
                knowledge_id=base.id,
                content_id=record.content_id,
                blob_key=key,
                chunker=chunker_name,
                chunk_size=size,
                chunk_overlap=overlap,
            )
            try:
                await app.blob_store.put(key, data)
                await app.knowledge_queue.publish(job)
            except Exception as exc:
                # Not left PROCESSING forever: the record says what happened, and the same upload retries it.
                logger.exception("could not hand content %s to the knowledge worker", record.content_id)
                cause = type(exc.__cause__ or exc).__name__  # not the message: it names internal resources
                await base.fail(record, f"could not queue the content for ingestion: {cause}")
                raise HTTPException(status_code=503, detail="ingestion is unavailable; try again shortly") from None
        else:
            request.app.state.ingestor.start(base, record, data, chunker)
    return schemas.ContentResponseSchema.model_validate(record)


@router.operation("GET", "/content", "List Content", "get_content", 404, 422)
async def list_content(
    request: Request,
    app: AppDep,
    limit: int = Query(default=20, ge=1, le=1000),
    page: int = page_query(),
    sort_by: Literal["created_at", "updated_at", "name"] = Query(default="created_at"),
    sort_order: Literal["asc", "desc"] = Query(default="desc"),
    knowledge_id: str | None = _KNOWLEDGE,
    db_id: str | None = _DB,
    cursor: str | None = cursor_query(),
) -> CursorPaginatedResponse[schemas.ContentResponseSchema]:
    """One page of the knowledge base's content (the caller's own, per user); `meta.next_cursor` continues
    it."""
    base = _base(app, knowledge_id)
    query = ContentQuery(
        knowledge_id=base.id,
        user_id=base.scope(resolve_user_id(request, None)),
        sort_by=sort_by,
        sort_order=sort_order,
        page=page,
        limit=limit,
        cursor=cursor,
    )
    return await listed(base.list_contents, query, schemas.ContentResponseSchema.model_validate)


@router.operation("DELETE", "/content", "Delete All Content", "delete_all_content", 404, 422)
async def delete_all_content(
    request: Request, app: AppDep, knowledge_id: str | None = _KNOWLEDGE, db_id: str | None = _DB
) -> Literal["success"]:
    """Delete all of the caller's content (everything, when no user is named) and its chunks; answers
    `"success"`, as AgentOS does."""
    base = _base(app, knowledge_id)
    deleted = await base.delete_all(user_id=resolve_user_id(request, None))
    logger.info("deleted %d pieces of content from knowledge base %s", deleted, base.id)
    return "success"


async def _record(
    content_id: str, request: Request, app: AppDep, knowledge_id: str | None = _KNOWLEDGE, db_id: str | None = _DB
) -> tuple[Knowledge, ContentRecord]:
    """The knowledge base a content route names, and the caller's content record in it (404 if none)."""
    base = _base(app, knowledge_id)
    record = await base.get_content(content_id, user_id=resolve_user_id(request, None))
    if record is None:
        raise HTTPException(status_code=404, detail=f"content {content_id!r} not found")
    return base, record


_Content = Annotated[tuple[Knowledge, ContentRecord], Depends(_record)]


@router.operation("GET", "/content/{content_id}", "Get Content by ID", "get_content_by_id", 404, 422)
async def get_content(content: _Content) -> schemas.ContentResponseSchema:
    _, record = content
    return schemas.ContentResponseSchema.model_validate(record)


@router.operation("GET", "/content/{content_id}/status", "Get Content Status", "get_content_status", 404, 422)
async def get_content_status(content: _Content) -> schemas.ContentStatusResponse:
    """Where ingestion is: processing (with progress), completed, or failed (with the error)."""
    _, record = content
    return schemas.ContentStatusResponse.model_validate(record)


@router.operation(
    "PATCH",
    "/content/{content_id}",
    "Update Content",
    "update_content",
    404,
    413,
    422,
    openapi_extra=request_body(UpdateForm, "application/x-www-form-urlencoded", "multipart/form-data"),
)
async def update_content(content: _Content, request: Request) -> schemas.ContentResponseSchema:
    """Change the name, description or metadata (form fields). Search filters keep the metadata the content
    was indexed with."""
    base, record = content
    form = await request.form()
    try:
        updated = await base.update_content(
            record.content_id,
            user_id=resolve_user_id(request, None),
            name=str(form.get("name")) if form.get("name") else None,
            description=str(form.get("description")) if form.get("description") else None,
            metadata=_metadata(form.get("metadata")),
        )
    finally:
        await form.close()
    return schemas.ContentResponseSchema.model_validate(updated)


@router.operation("DELETE", "/content/{content_id}", "Delete Content", "delete_content_by_id", 404, 422)
async def delete_content(content: _Content, request: Request) -> schemas.ContentResponseSchema:
    """Delete the content and its chunks."""
    base, record = content
    await base.delete_content(record.content_id, user_id=resolve_user_id(request, None))
    return schemas.ContentResponseSchema.model_validate(record)


class SearchPage(BaseModel):
    limit: int = Field(default=20, ge=1, le=100)
    page: int = Field(default=1, ge=1, le=100)  # a search ranks at most page * limit hits: 10,000


class SearchRequest(BaseModel):
    """AgentOS' `VectorSearchRequestSchema`."""

    model_config = ConfigDict(extra="ignore")

    query: str = Field(min_length=1, max_length=10_000)
    knowledge_id: str | None = None
    db_id: str | None = None
    vector_db_ids: list[str] | None = None
    search_type: SearchMode | None = None
    max_results: int | None = Field(default=None, ge=1, le=100)
    filters: FiltersField = None
    meta: SearchPage | None = None


def _result(hit: SearchHit) -> schemas.VectorSearchResult:
    meta = hit.chunk.metadata
    return schemas.VectorSearchResult(
        id=hit.chunk.id,
        content=hit.chunk.text,
        name=meta.get("name"),
        meta_data={k: v for k, v in meta.items() if k != "user_id"},
        reranking_score=hit.score,
        content_id=hit.chunk.content_id,
        content_origin=meta.get("name"),
        size=len(hit.chunk.text),
    )


@router.operation(
    "POST",
    "/search",
    "Search Knowledge",
    "search_knowledge",
    404,
    422,
    502,
    504,
    openapi_extra=request_body(SearchRequest, "application/json"),
)
async def search(request: Request, app: AppDep) -> PaginatedResponse[schemas.VectorSearchResult]:
    """The passages that best answer a query (in the caller's content, per user)."""
    started = time.perf_counter()
    try:
        body = SearchRequest.model_validate(await request.json())
    except ValidationError as exc:
        from fastapi.exceptions import RequestValidationError

        errors = [{"type": e["type"], "loc": ("body", *e["loc"]), "msg": e["msg"], "input": None} for e in exc.errors()]
        raise RequestValidationError(errors) from None
    except ValueError:
        raise HTTPException(status_code=422, detail="the body must be a JSON object") from None
    except RecursionError:  # nested beyond what the json module parses: far past MAX_JSON_DEPTH
        raise HTTPException(status_code=422, detail=f"the body nests deeper than {MAX_JSON_DEPTH} levels") from None
    base = _base(app, body.knowledge_id)
    page = body.meta or SearchPage()
    wanted = body.max_results or page.limit * page.page
    try:
        hits = await base.search(
            body.query,
            limit=wanted,
            filters=body.filters,
            user_id=resolve_user_id(request, None),
            mode=body.search_type,
        )
    except (KnowledgeError, ConfigError) as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    return paginate(hits, _result, page=page.page, limit=page.limit, started=started)


@router.operation("GET", "/config", "Get Knowledge Configuration", "get_knowledge_config", 404, 422)
async def config(
    app: AppDep, knowledge_id: str | None = _KNOWLEDGE, db_id: str | None = _DB
) -> schemas.KnowledgeConfigResponse:
    """The readers, chunkers and vector stores this deployment can use."""
    from stratus.knowledge.chunking import CHUNKERS
    from stratus.knowledge.readers import READERS

    base = _base(app, knowledge_id)
    readers = {
        key: schemas.ReaderSchema(
            id=key,
            name=getattr(reader, "name", key),
            description=getattr(reader, "description", None),
            chunkers=sorted(CHUNKERS),
            content_types=list(getattr(reader, "content_types", ())),
        )
        for key, reader in READERS.items()
    }
    by_type: dict[str, list[str]] = {}
    for key, reader in READERS.items():
        for content_type in getattr(reader, "content_types", ()):
            by_type.setdefault(str(content_type), []).append(key)
    return schemas.KnowledgeConfigResponse(
        readers=readers,
        readersForType=by_type,
        chunkers={
            key: schemas.ChunkerSchema(
                key=key, name=getattr(value, "name", key), description=getattr(value, "description", None)
            )
            for key, value in CHUNKERS.items()
        },
        filters=["name", "user_id", "content_id"],
        vector_dbs=[
            schemas.VectorDbSchema(
                id=base.vector_db.id,
                name=type(base.vector_db).__name__,
                description=base.description,
                search_types=[m.value for m in SearchMode],
            )
        ],
        remote_content_sources=[],
        unavailable_readers={},
        unavailable_chunkers={},
    )
