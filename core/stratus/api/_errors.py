"""Every error leaves the API as JSON `{"detail": ...}` with the right status, and never with a stack trace."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from stratus.exceptions import (
    ConfigError,
    InputCheckError,
    InputValidationError,
    InvalidQueryError,
    ModelError,
    ModelTimeoutError,
    NotFoundError,
    OutputCheckError,
    OutputValidationError,
    RunLimitExceeded,
    RunTimeoutError,
    StratusError,
)
from stratus.limits import InputLimitError

__all__ = ["install_error_handlers", "status_for"]

logger = logging.getLogger("stratus.api")

_UNPARSABLE = "There was an error parsing the body"  # FastAPI's detail for a body it cannot decode


def status_for(exc: BaseException) -> int:
    """The HTTP status that reports `exc`."""
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ModelTimeoutError | RunTimeoutError):
        return 504  # the model provider did not answer in time, or the run ran out of its time
    if isinstance(exc, ModelError):
        return 502  # the model provider, upstream of us, failed
    if isinstance(exc, InputLimitError):
        return 413 if exc.too_large else 422
    if isinstance(exc, RunLimitExceeded | OutputValidationError):
        return 422  # the run stopped at a limit the agent sets: about this request, not a server fault
    if isinstance(exc, InputCheckError | OutputCheckError):
        return 422  # a hook or a guardrail refused the input (or the answer): about this request
    if isinstance(exc, InputValidationError):
        return 422  # the input does not follow the agent's input_schema
    if isinstance(exc, InvalidQueryError):
        return 422  # a listing asked what it cannot be (a forged or stale cursor, a sort out of bounds)
    return 500


def install_error_handlers(app: FastAPI) -> None:
    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400:
            # Only the framework answers 400 here: a body it cannot decode (not UTF-8, broken or oversized
            # multipart). That is invalid input like any other: the documented 413 or 422, not a stray 400.
            detail = str(exc.detail)
            if "exceeded maximum size" in detail:
                return JSONResponse({"detail": detail}, status_code=413)
            if isinstance(exc.__cause__, RecursionError):
                msg = "the JSON body nests too deep to parse"
            elif detail == _UNPARSABLE:
                msg = "the body is not valid UTF-8 JSON or form data"
            else:
                msg = detail
            return JSONResponse({"detail": [{"type": "body_unparsable", "loc": ["body"], "msg": msg}]}, status_code=422)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [{k: v for k, v in e.items() if k in ("type", "loc", "msg")} for e in exc.errors()]
        return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)

    async def stratus_error(request: Request, exc: Exception) -> JSONResponse:
        status = status_for(exc)
        if status >= 500 and not isinstance(exc, ModelError | ConfigError):
            logger.warning("%s %s failed: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
        return JSONResponse({"detail": str(exc), "error_type": type(exc).__name__}, status_code=status)

    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse({"detail": "Internal server error"}, status_code=500)

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StratusError, stratus_error)
    app.add_exception_handler(Exception, unexpected_error)
