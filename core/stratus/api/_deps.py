"""FastAPI dependencies shared by the routers: the served `App`, the run registry, the caller's identity."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Query, Request

from stratus.api._runs import RunRegistry
from stratus.app import App

__all__ = [
    "DB_ID",
    "TABLE",
    "AppDep",
    "RegistryDep",
    "caller_of",
    "found",
    "get_app",
    "get_registry",
    "resolve_user_id",
    "served",
]

T = TypeVar("T")

DB_ID = Query(default=None, description="AgentOS' database id; stratus serves its one store")
"""AgentOS' `db_id` query parameter, taken and not used: stratus serves one store."""
TABLE = Query(default=None, description="AgentOS' table name; not used by stratus")
"""AgentOS' `table` query parameter, taken and not used."""


# The dependencies are coroutines, though they never wait: FastAPI runs a plain function's in a worker thread,
# a thread hop per dependency per request.


async def get_app(request: Request) -> App:
    return request.app.state.stratus


async def get_registry(request: Request) -> RunRegistry:
    return request.app.state.runs


AppDep = Annotated[App, Depends(get_app)]
RegistryDep = Annotated[RunRegistry, Depends(get_registry)]


def served(request: Request) -> tuple[App, RunRegistry]:
    """The app and the run registry, read where a route is hot (a run): no dependency to solve per request."""
    state = request.app.state
    return state.stratus, state.runs


def resolve_user_id(request: Request, claimed: str | None) -> str | None:
    """The caller's user id. With authentication on, the verified identity wins and a different claimed id
    is ignored; with it off (the local default), the id the request names is taken as given."""
    verified: str | None = getattr(request.state, "user_id", None)
    return verified if verified is not None else claimed


def caller_of(user_id: Any, *, agentos_db: bool = False) -> Any:
    """A route's `Depends` of the caller's user id (see `resolve_user_id`): the id the request names in a
    `user_id` query parameter that `user_id` (a `Query`) describes, or the verified one. `agentos_db` takes
    AgentOS' `db_id` and `table` after it too."""

    async def dependency(request: Request, user_id: str | None = user_id) -> str | None:
        return resolve_user_id(request, user_id)

    async def in_db(
        request: Request, user_id: str | None = user_id, db_id: str | None = DB_ID, table: str | None = TABLE
    ) -> str | None:
        return resolve_user_id(request, user_id)

    return Depends(in_db if agentos_db else dependency)


def found(value: T | None, detail: str) -> T:
    """`value`, or a 404 with `detail` when there is none (a record that does not exist or is not the
    caller's, alike)."""
    if value is None:
        raise HTTPException(status_code=404, detail=detail)
    return value
