"""Where the API bounds what it accepts (see `stratus.limits`): the field types its request models use for
free-form JSON, the page numbers its listings take, and how an `InputLimitError` is answered (422 with a field
error, 413 for a size), so a value out of bounds is refused before anything is stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BeforeValidator, ValidationInfo
from pydantic_core import PydanticCustomError

from stratus.limits import (
    MAX_FILTERS_BYTES,
    MAX_JSON_DEPTH,
    MAX_METADATA_BYTES,
    MAX_PAGE,
    MAX_STATE_BYTES,
    InputLimitError,
    check_json,
)

__all__ = [
    "PAGE",
    "ContentField",
    "FiltersField",
    "MetadataField",
    "StateField",
    "check_form_json",
    "install_limit_handlers",
    "page_query",
]


def _bounded(max_bytes: int) -> Callable[[Any, ValidationInfo], Any]:
    def check(value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, dict):
            return value  # pydantic reports the wrong type itself
        try:
            return check_json(value, info.field_name or "value", max_depth=MAX_JSON_DEPTH, max_bytes=max_bytes)
        except InputLimitError as exc:
            if exc.too_large:
                raise PydanticCustomError("json_too_large", "{reason}", {"reason": str(exc)}) from None
            raise PydanticCustomError("json_too_deep", "{reason}", {"reason": str(exc)}) from None

    return check


StateField = Annotated[dict[str, Any] | None, BeforeValidator(_bounded(MAX_STATE_BYTES))]
"""A session state: a JSON object at most `MAX_JSON_DEPTH` deep and `MAX_STATE_BYTES` as JSON."""
MetadataField = Annotated[dict[str, Any] | None, BeforeValidator(_bounded(MAX_METADATA_BYTES))]
"""Metadata or a session summary: at most `MAX_JSON_DEPTH` deep and `MAX_METADATA_BYTES` as JSON."""
ContentField = Annotated[dict[str, Any], BeforeValidator(_bounded(MAX_STATE_BYTES))]
"""A learning's content (required): at most `MAX_JSON_DEPTH` deep and `MAX_STATE_BYTES` as JSON."""
FiltersField = Annotated[dict[str, Any] | None, BeforeValidator(_bounded(MAX_FILTERS_BYTES))]
"""Search filters: at most `MAX_JSON_DEPTH` deep, `MAX_FILTERS_BYTES`."""


PAGE: dict[str, Any] = {"ge": 1, "le": MAX_PAGE, "description": f"Page number, from 1 (at most {MAX_PAGE})"}
"""The bounds of the `page` a listing takes (from 1): 1 to `MAX_PAGE`."""


def page_query() -> Any:
    """The `page` query parameter every listing takes: 1 to `MAX_PAGE`."""
    return Query(default=1, **PAGE)


def check_form_json(value: dict[str, Any] | None, field: str, max_bytes: int) -> dict[str, Any] | None:
    """A JSON object from a form field, within the bounds (else `InputLimitError`, answered 422 or 413)."""
    return check_json(value, field, max_depth=MAX_JSON_DEPTH, max_bytes=max_bytes)


def install_limit_handlers(app: FastAPI) -> None:
    """Answer a value out of bounds as FastAPI answers a validation error (422, a list of field errors), or
    413 when it is its size."""

    async def limit_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, InputLimitError)
        if exc.too_large:
            return JSONResponse({"detail": str(exc)}, status_code=413)
        kind = "json_too_deep" if "deeper" in str(exc) else "value_error"
        loc = ["body", exc.field] if exc.field else ["body"]
        return JSONResponse({"detail": [{"type": kind, "loc": loc, "msg": str(exc)}]}, status_code=422)

    app.add_exception_handler(InputLimitError, limit_error)
