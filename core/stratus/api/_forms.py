"""Parse a run request from a multipart form, an urlencoded form or a JSON body into `RunRequest`.

AgentOS takes multipart forms; many HTTP clients find JSON handier. Both give the same request, and both
report bad input the same way: 422 with FastAPI's list of field errors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile

from stratus.api.schemas import RunRequest
from stratus.limits import MAX_JSON_DEPTH

__all__ = ["MAX_FILE_BYTES", "ParsedRun", "parse_run_request", "run_request_openapi"]

MAX_FILE_BYTES = 1_000_000
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
    """The validated request, with the message extended by the text of any attached files."""

    request: RunRequest
    message: str
    file_names: list[str]


def _invalid(loc: str, msg: str, kind: str = "value_error") -> RequestValidationError:
    return RequestValidationError([{"type": kind, "loc": ("body", loc), "msg": msg, "input": None}])


async def _read_text_file(upload: UploadFile) -> tuple[str, str]:
    name = upload.filename or "file"
    content_type = (upload.content_type or "").split(";")[0].strip().lower()
    textual = content_type.startswith("text/") or content_type in ("application/json", "application/x-yaml")
    if not textual and not name.lower().endswith(_TEXT_SUFFIXES):
        raise HTTPException(
            status_code=415,
            detail=f"file {name!r} ({content_type or 'unknown type'}) is not supported; attach text files "
            "(txt, md, csv, json, ...)",
        )
    data = await upload.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise HTTPException(status_code=413, detail=f"file {name!r} is larger than {MAX_FILE_BYTES} bytes")
    try:
        return name, data.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(status_code=415, detail=f"file {name!r} is not UTF-8 text") from None


async def parse_run_request(request: Request) -> ParsedRun:
    """Read and validate the run request whatever its content type."""
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
        return await _validate(cast(dict[str, Any], body), [])
    if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await request.form()
        try:
            return await _from_form(form)
        finally:
            await form.close()  # uploaded files are spooled to temporary files; release them either way
    if not content_type:
        raise _invalid("body", "a body is required (multipart form, urlencoded form or JSON)", "missing")
    raise HTTPException(
        status_code=415,
        detail=f"unsupported content type {content_type!r}; send multipart/form-data, "
        "application/x-www-form-urlencoded or application/json",
    )


async def _from_form(form: FormData) -> ParsedRun:
    fields: dict[str, Any] = {}
    uploads: list[UploadFile] = []
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            if key == "files":
                uploads.append(value)
            continue
        fields[key] = value
    for name in ("session_state", "knowledge_filters"):
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
    for key in ("session_id", "user_id"):
        if fields.get(key) == "":
            fields.pop(key)  # an empty form field means "not given"
    return await _validate(fields, uploads)


async def _validate(fields: dict[str, Any], uploads: list[UploadFile]) -> ParsedRun:
    try:
        parsed = RunRequest.model_validate(fields)
    except ValidationError as exc:
        errors = [{"type": e["type"], "loc": ("body", *e["loc"]), "msg": e["msg"], "input": None} for e in exc.errors()]
        raise RequestValidationError(errors) from None
    message = parsed.message
    names: list[str] = []
    for upload in uploads:
        name, text = await _read_text_file(upload)
        names.append(name)
        message += f'\n\n<file name="{name}">\n{text}\n</file>'
    return ParsedRun(request=parsed, message=message, file_names=names)


def run_request_openapi() -> dict[str, Any]:
    """The request body as documented in the OpenAPI schema (the route parses it by hand)."""
    schema = RunRequest.model_json_schema()
    form_schema = {
        **schema,
        "properties": {
            **schema["properties"],
            "session_state": {"type": "string", "description": "A JSON object, as text"},
            "knowledge_filters": {"type": "string", "description": "A JSON object, as text"},
            "files": {
                "type": "array",
                "items": {"type": "string", "format": "binary"},
                "description": "Text files to include with the message",
            },
        },
    }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": form_schema},
                "application/x-www-form-urlencoded": {"schema": form_schema},
                "application/json": {"schema": schema},
            },
        }
    }
