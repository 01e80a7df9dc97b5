"""Parse a run request from a multipart form, an urlencoded form or a JSON body into `RunRequest`.

AgentOS takes multipart forms; many HTTP clients find JSON handier. Both give the same request, and both
report bad input the same way: 422 with FastAPI's list of field errors.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, cast

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile

from stratus.api.schemas import RunRequest
from stratus.limits import MAX_JSON_DEPTH
from stratus.media import IMAGE_MIME_TYPES, MAX_MEDIA_BYTES, File, Image

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_MEDIA_COUNT",
    "ContinueRequest",
    "ParsedRun",
    "parse_continue_request",
    "parse_run_request",
    "run_request_openapi",
]

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

MAX_FILE_BYTES = 1_000_000
"""The largest text file inlined in the message (images and documents may be up to `MAX_MEDIA_BYTES`)."""
MAX_MEDIA_COUNT = 10
"""The most images and files one run takes."""
_IMAGE_SUFFIXES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif"} | {
    ".webp": "image/webp"
}
_TEXT_SUFFIXES = (
    ".txt",
    ".md",
    ".markdown",
    ".csv",
    ".json",
    ".jsonl",
    ".yaml",
    ".yml",
    ".xml",
    ".html",
    ".log",
)


@dataclass(slots=True)
class ParsedRun:
    """The validated request, with the message extended by the text of any attached text files, and the
    images and the other files (documents) it came with, sorted as AgentOS sorts them."""

    request: RunRequest
    message: str
    file_names: list[str]
    images: list[Image] = field(default_factory=list[Image])
    files: list[File] = field(default_factory=list[File])


def _invalid(loc: str, msg: str, kind: str = "value_error") -> RequestValidationError:
    return RequestValidationError([{"type": kind, "loc": ("body", loc), "msg": msg, "input": None}])


def _upload_type(upload: UploadFile) -> tuple[str, str]:
    name = upload.filename or "file"
    return name, (upload.content_type or "").split(";")[0].strip().lower()


def _textual(name: str, content_type: str) -> bool:
    textual = content_type.startswith("text/") or content_type in ("application/json", "application/x-yaml")
    return textual or name.lower().endswith(_TEXT_SUFFIXES)


def _image_type(name: str, content_type: str) -> str | None:
    if content_type in IMAGE_MIME_TYPES:
        return content_type
    if content_type in ("", "application/octet-stream"):  # a generic type: the name says what it is
        return _IMAGE_SUFFIXES.get("." + name.rsplit(".", 1)[-1].lower()) if "." in name else None
    return None


async def _read_limited(upload: UploadFile, name: str, limit: int) -> bytes:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(status_code=413, detail=f"file {name!r} is larger than {limit} bytes")
    if not data:
        raise _invalid("files", f"file {name!r} is empty")
    return data


async def _read_text_file(upload: UploadFile) -> tuple[str, str]:
    name, _ = _upload_type(upload)
    data = await _read_limited(upload, name, MAX_FILE_BYTES)
    try:
        return name, data.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(status_code=415, detail=f"file {name!r} is not UTF-8 text") from None


def _document(data: bytes, name: str, content_type: str | None) -> File:
    """A document upload, refused with 415 unless a knowledge reader can read what its bytes are."""
    from stratus.knowledge.readers import UnsupportedContentError, reader_for_content

    try:
        reader_for_content(data, name=name, content_type=content_type or None)
    except UnsupportedContentError as exc:
        raise HTTPException(
            status_code=415, detail=f"file {name!r} ({content_type or 'unknown type'}) is not supported: {exc}"
        ) from None
    return File(content=data, filename=name, mime_type=content_type or None)


_IMAGE_KINDS = {"a PNG image": "image/png", "a JPEG image": "image/jpeg", "a GIF image": "image/gif"} | {
    "a WebP image": "image/webp"
}


def _image(data: bytes, name: str, mime_type: str) -> Image:
    """An image upload, refused with 415 unless its bytes are the image type it claims."""
    from stratus.knowledge.readers._magic import identify

    if _IMAGE_KINDS.get(identify(data) or "") != mime_type:
        raise HTTPException(status_code=415, detail=f"image {name!r} is not the {mime_type} image it claims to be")
    return Image(content=data, filename=name, mime_type=mime_type)


def _media_items(fields: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """`images` or `files` sent as JSON (a JSON array in a form field): objects with `url` or base64
    `content`, and optionally `mime_type` and `filename`."""
    value = fields.pop(key, None)
    if isinstance(value, str):
        if not value.strip():
            return []
        try:
            value = json.loads(value)
        except (json.JSONDecodeError, RecursionError):
            raise _invalid(key, f"{key} must be a JSON array of objects", "json_invalid") from None
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):  # pyright: ignore[reportUnknownVariableType]
        raise _invalid(key, f"{key} must be a JSON array of objects (upload bytes as multipart `files`)", "list_type")
    return cast(list[dict[str, Any]], value)


def _json_media(item: dict[str, Any], key: str) -> Image | File:
    url, content = item.get("url"), item.get("content")
    mime = item.get("mime_type")
    name = item.get("filename") or item.get("name")
    if not (isinstance(url, str) and url.startswith(("https://", "http://"))) and not isinstance(content, str):
        raise _invalid(key, f"each of {key} needs an http(s) `url` or base64 `content`")
    if (mime is not None and not isinstance(mime, str)) or (name is not None and not isinstance(name, str)):
        raise _invalid(key, "mime_type and filename must be strings")
    cls = Image if key == "images" else File
    try:
        media = cls.from_base64(content, mime_type=mime, filename=name) if isinstance(content, str) else None
    except ValueError as exc:
        raise _invalid(key, str(exc)) from None
    if media is None:
        media = cls(url=cast(str, url), mime_type=mime, filename=name)
    if media.size is not None and media.size > MAX_MEDIA_BYTES:
        raise HTTPException(
            status_code=413, detail=f"{media.kind} {media.label!r} is larger than {MAX_MEDIA_BYTES} bytes"
        )
    if isinstance(media, Image):
        if media.mime_type not in IMAGE_MIME_TYPES and (media.mime_type is not None or media.content is not None):
            raise HTTPException(status_code=415, detail=f"image {media.label!r} ({media.mime_type}) is not supported")
        if media.content is not None:
            return _image(media.content, media.label, cast(str, media.mime_type))
    elif media.content is not None:
        return _document(media.content, media.filename or f"file.{media.format or 'bin'}", media.mime_type)
    return media


async def parse_run_request(request: Request) -> ParsedRun:
    """Read and validate the run request whatever its content type."""
    return await _read_body(request, _run_from_fields)


async def _read_body(request: Request, build: Callable[[dict[str, Any], list[UploadFile], bool], Awaitable[T]]) -> T:
    """`build(fields, uploads, form)` over the body's fields, whatever its content type: a JSON object's
    members, or a form's fields and its uploads named `files` (`form` True)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise _invalid("body", "the body is not valid JSON", "json_invalid") from None
        except RecursionError:  # nested beyond what the json module parses: far past MAX_JSON_DEPTH
            raise _invalid("body", f"the body nests deeper than {MAX_JSON_DEPTH} levels", "json_too_deep") from None
        if not isinstance(body, dict):
            raise _invalid("body", "the body must be a JSON object", "model_attributes_type")
        return await build(cast(dict[str, Any], body), [], False)
    if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await request.form()
        try:
            fields: dict[str, Any] = {}
            uploads: list[UploadFile] = []
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    if key == "files":
                        uploads.append(value)
                    continue
                fields[key] = value
            return await build(fields, uploads, True)
        finally:
            await form.close()  # uploaded files are spooled to temporary files; release them either way
    if not content_type:
        raise _invalid("body", "a body is required (multipart form, urlencoded form or JSON)", "missing")
    raise HTTPException(
        status_code=415,
        detail=f"unsupported content type {content_type!r}; send multipart/form-data, "
        "application/x-www-form-urlencoded or application/json",
    )


async def _run_from_fields(fields: dict[str, Any], uploads: list[UploadFile], form: bool) -> ParsedRun:
    if not form:
        return await _validate(fields, [])
    for name in ("session_state", "knowledge_filters", "dependencies"):
        value = fields.get(name)
        if isinstance(value, str):
            if not value.strip():
                fields.pop(name)
            else:
                try:
                    fields[name] = json.loads(value)
                except json.JSONDecodeError:
                    raise _invalid(name, f"{name} must be a JSON object") from None
                except RecursionError:
                    raise _invalid(name, f"{name} nests deeper than {MAX_JSON_DEPTH} levels", "json_too_deep") from None
    _drop_empty(fields, ("session_id", "user_id"))
    return await _validate(fields, uploads)


def _drop_empty(fields: dict[str, Any], names: tuple[str, ...]) -> None:
    for key in names:
        if fields.get(key) == "":
            fields.pop(key)  # an empty form field means "not given"


def _model(model: type[M], fields: dict[str, Any]) -> M:
    """`model` validated from `fields`; a 422 with FastAPI's list of field errors if they do not fit."""
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        errors = [{"type": e["type"], "loc": ("body", *e["loc"]), "msg": e["msg"], "input": None} for e in exc.errors()]
        raise RequestValidationError(errors) from None


async def _validate(fields: dict[str, Any], uploads: list[UploadFile]) -> ParsedRun:
    items = [(key, item) for key in ("images", "files") for item in _media_items(fields, key)]
    parsed = _model(RunRequest, fields)
    if len(items) + len(uploads) > MAX_MEDIA_COUNT:
        raise HTTPException(status_code=413, detail=f"a run takes at most {MAX_MEDIA_COUNT} images and files")
    message = parsed.message
    out = ParsedRun(request=parsed, message=message, file_names=[])
    for key, item in items:
        media = _json_media(item, key)
        (out.images if isinstance(media, Image) else out.files).append(media)  # pyright: ignore[reportArgumentType]
    for upload in uploads:
        name, content_type = _upload_type(upload)
        image_type = _image_type(name, content_type)
        if image_type is not None:
            out.images.append(_image(await _read_limited(upload, name, MAX_MEDIA_BYTES), name, image_type))
        elif _textual(name, content_type):
            name, text = await _read_text_file(upload)
            out.file_names.append(name)
            out.message += f'\n\n<file name="{name}">\n{text}\n</file>'
        else:
            out.files.append(_document(await _read_limited(upload, name, MAX_MEDIA_BYTES), name, content_type))
    return out


def run_request_openapi() -> dict[str, Any]:
    """The request body as documented in the OpenAPI schema (the route parses it by hand)."""
    schema = RunRequest.model_json_schema()
    form_schema = {
        **schema,
        "properties": {
            **schema["properties"],
            "session_state": {"type": "string", "description": "A JSON object, as text"},
            "knowledge_filters": {"type": "string", "description": "A JSON object, as text"},
            "dependencies": {"type": "string", "description": "A JSON object, as text"},
            "files": {
                "type": "array",
                "items": {"type": "string", "format": "binary"},
                "description": "Images (PNG, JPEG, GIF, WebP), documents (PDF, Word, ...) and text files",
            },
        },
    }
    return _request_body(form_schema, schema)


_RESULTS = ("tools", "requirements", "step_requirements")


class ContinueRequest(BaseModel):
    """The body of `POST /{agents|teams|workflows}/{id}/runs/{run_id}/continue`, with AgentOS' fields, as a
    multipart form, an urlencoded form or JSON. In a form, `tools` (agents), `requirements` (teams) and
    `step_requirements` (workflows) are JSON text, as AgentOS takes them."""

    model_config = ConfigDict(extra="ignore")

    input: str | None = Field(
        default=None, max_length=1_000_000, description="The follow-up message (continuing a completed run)"
    )
    tools: list[dict[str, Any]] | None = Field(
        default=None, description="Results of the tool calls a paused run awaits"
    )
    requirements: list[dict[str, Any]] | None = Field(default=None, description="A paused team run's requirements")
    step_requirements: list[dict[str, Any]] | None = Field(
        default=None, description="A paused workflow run's step requirements"
    )
    session_id: str | None = Field(default=None, min_length=1, max_length=256, description="The run's session")
    user_id: str | None = Field(default=None, min_length=1, max_length=256, description="The user")
    stream: bool = Field(default=True, description="Stream events as Server-Sent Events")
    continue_from: str = Field(default="end", description="Only 'end' (the whole conversation) is supported")
    fork: bool = Field(default=False, description="A completed run is always continued in a new run (a fork)")
    regenerate: bool = Field(default=False, description="Not supported")
    replace_original: bool | None = Field(default=None, description="Only with `regenerate`: not supported")
    additional_instructions: str | None = Field(default=None, description="Only with `regenerate`: not supported")
    background: bool = Field(
        default=False, description="Accepted; the run goes on inline, as AgentOS' does without a durable queue"
    )

    def results(self, field: Literal["tools", "requirements", "step_requirements"]) -> list[dict[str, Any]]:
        """The tool or step results sent under `field` (none when absent)."""
        return getattr(self, field) or []


async def parse_continue_request(request: Request) -> ContinueRequest:
    """Read and validate a continue request whatever its content type: 422 with FastAPI's list of field errors
    for a field that does not fit (results that are not a JSON list of objects among them)."""
    return await _read_body(request, _continue_from_fields)


async def _continue_from_fields(fields: dict[str, Any], uploads: list[UploadFile], form: bool) -> ContinueRequest:
    for name in _RESULTS:
        value = fields.get(name)
        if isinstance(value, str):
            if not value.strip():
                fields.pop(name)
                continue
            try:
                value = fields[name] = json.loads(value)
            except (json.JSONDecodeError, RecursionError):
                raise _invalid(name, f"Invalid JSON in {name} field", "json_invalid") from None
        if value is not None and not (isinstance(value, list) and all(isinstance(v, dict) for v in value)):  # pyright: ignore[reportUnknownVariableType]
            raise _invalid(name, f"{name} must be a JSON list of objects", "list_type")
    if form:
        _drop_empty(fields, ("session_id", "user_id", "input"))
    return _model(ContinueRequest, fields)


_FOLLOW_UP = ("input", "continue_from", "fork", "regenerate", "replace_original", "additional_instructions")
"""The fields of a follow-up to a completed run: AgentOS' agents and teams take them, its workflows do not."""


def continue_request_openapi(results: str, *, follow_up: bool) -> dict[str, Any]:
    """The continue request's body as documented in the OpenAPI schema (the route parses it by hand): the
    results field of its kind (`tools`, `requirements` or `step_requirements`), and with `follow_up` the
    fields of a follow-up."""
    schema = ContinueRequest.model_json_schema()
    dropped = {*_RESULTS, *(() if follow_up else _FOLLOW_UP)} - {results}
    schema["properties"] = {k: v for k, v in schema["properties"].items() if k not in dropped}
    text = {"type": "string", "description": "A JSON list of objects, as text"}
    form_schema = {**schema, "properties": {**schema["properties"], results: text}}
    return _request_body(form_schema, schema)


def _request_body(form_schema: dict[str, Any], json_schema: dict[str, Any]) -> dict[str, Any]:
    """The `openapi_extra` of a route that parses its body itself: either form encoding, or JSON."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": form_schema},
                "application/x-www-form-urlencoded": {"schema": form_schema},
                "application/json": {"schema": json_schema},
            },
        }
    }
