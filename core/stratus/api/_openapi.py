"""The operations of the OpenAPI document and their error statuses: each router declares its operations with
`Router.operation` (AgentOS' summary and operation id, and what each can answer, as `errors(...)` gives it), and
`install_openapi` adds what every operation can answer (500, and 401/503 when authentication is on) and puts
this API's 422 body in place of FastAPI's default one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from stratus.api.schemas import ErrorDetail, RunErrorDetail, ValidationErrorDetail

__all__ = ["Router", "errors", "install_openapi", "request_body"]

F = TypeVar("F", bound=Callable[..., Any])

_DESCRIPTIONS = {
    400: "Bad request: the request cannot apply to the run it names",
    401: "Not authenticated: a missing or wrong key, or no verified identity (when authentication is on)",
    403: "Not allowed for the authenticated caller",
    404: "Not found: an unknown agent, team, workflow, knowledge base, session, run, memory, content or "
    "learning, or one that is not the caller's",
    409: "A conflict: the id is taken, the run already ended or runs elsewhere, or the run was cancelled",
    413: "Too large: a file or a value is over its size limit",
    415: "Unsupported media type: a content type or a file that is not accepted",
    422: "Invalid request: a list of field errors, or a detail saying what is wrong",
    500: "Internal server error",
    502: "The model provider failed",
    503: "Unavailable: a queue or a service the request needs is down; try again shortly",
    504: "The model provider did not answer in time, or the run ran out of its time (`run_timeout`)",
}

_RUN_STATUSES = frozenset({409, 422, 500, 502, 504})
"""Where a buffered run that did not complete answers with `RunErrorDetail`."""


def errors(
    *statuses: int, run: bool = False, descriptions: dict[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of an operation that can answer these error statuses, each with its body's schema.

    `run` marks an operation that runs a model: its 409/422/500/502/504 may carry the run's ids too.
    `descriptions` says more than the generic description of a status where the operation can.
    """
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        model: Any = ErrorDetail
        if run and status in _RUN_STATUSES:
            model = RunErrorDetail | ErrorDetail
        if status == 422:
            model = ValidationErrorDetail | model
        description = (descriptions or {}).get(status, _DESCRIPTIONS[status])
        responses[status] = {"model": model, "description": description}
    return responses


class Router(APIRouter):
    """An `APIRouter` whose operations are declared as AgentOS names them, by
    `@router.operation(method, path, summary, operation_id, *statuses)`: AgentOS' summary and operation id, and
    the error statuses the operation can answer (`errors(*statuses, run=, descriptions=)`, after any other
    `responses`); the other options are FastAPI's."""

    def operation(
        self,
        method: str,
        path: str,
        summary: str,
        operation_id: str,
        *statuses: int,
        run: bool = False,
        descriptions: dict[int, str] | None = None,
        responses: dict[int | str, dict[str, Any]] | None = None,
        **options: Any,
    ) -> Callable[[F], F]:
        return self.api_route(
            path,
            methods=[method],
            summary=summary,
            operation_id=operation_id,
            responses={**(responses or {}), **errors(*statuses, run=run, descriptions=descriptions)},
            **options,
        )


def request_body(model: type[BaseModel], *content_types: str) -> dict[str, Any]:
    """The `openapi_extra=` of an operation that reads its body itself: the body as `model` describes it, in
    each of `content_types` (the model's nested schemas written in place, as the document has no
    component for them)."""
    schema = model.model_json_schema()
    defs = cast(dict[str, Any], schema.pop("$defs", {}))

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            node = cast(dict[str, Any], node)
            if "$ref" in node:
                named = defs[str(node["$ref"]).rsplit("/", 1)[-1]]
                return inline({**named, **{k: v for k, v in node.items() if k != "$ref"}})
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in cast(list[Any], node)]
        return node

    body = inline(schema)
    return {"requestBody": {"required": True, "content": {kind: {"schema": body} for kind in content_types}}}


_OPEN = frozenset({"/health"})
_DEFAULT_422 = "#/components/schemas/HTTPValidationError"


def _json_body(model: type[ErrorDetail | ValidationErrorDetail], description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
    }


def _finish(document: dict[str, Any], *, auth: bool) -> None:
    schemas = cast(dict[str, Any], document.setdefault("components", {}).setdefault("schemas", {}))
    for model in (ErrorDetail, ValidationErrorDetail):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, nested in schema.pop("$defs", {}).items():
            schemas.setdefault(name, nested)
        schemas.setdefault(model.__name__, schema)
    for path, operations in cast(dict[str, dict[str, Any]], document.get("paths", {})).items():
        for operation in operations.values():
            responses = cast(dict[str, Any], operation.setdefault("responses", {}))
            default = responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema", {})
            if default.get("$ref") == _DEFAULT_422:  # FastAPI's own, with ctx/input: not what this API sends
                responses["422"] = _json_body(ValidationErrorDetail, _DESCRIPTIONS[422])
            responses.setdefault("500", _json_body(ErrorDetail, _DESCRIPTIONS[500]))
            if auth and path not in _OPEN:
                responses.setdefault("401", _json_body(ErrorDetail, _DESCRIPTIONS[401]))
                if "503" not in responses:
                    responses["503"] = _json_body(ErrorDetail, "The credentials to check could not be read")
    if not any(_DEFAULT_422 in str(ops) for ops in document.get("paths", {}).values()):
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)


def install_openapi(api: FastAPI, *, auth: bool) -> None:
    """Make `api.openapi()` (what `/openapi.json` serves) declare every error status with its body.
    `auth` says whether an authenticator guards the routes (then each but `/health` may answer 401)."""

    build = api.openapi  # FastAPI's: builds the document once and keeps it in `api.openapi_schema`

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            document = build()
            _finish(document, auth=auth)
            return document
        return api.openapi_schema

    api.openapi = openapi  # FastAPI's documented hook for a custom document
