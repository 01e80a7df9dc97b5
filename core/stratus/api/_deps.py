"""FastAPI dependencies shared by the routers: the served `App`, the run registry, the caller's identity."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from stratus.api._runs import RunRegistry
from stratus.app import App

__all__ = ["AppDep", "RegistryDep", "get_app", "get_registry", "resolve_user_id"]


def get_app(request: Request) -> App:
    return request.app.state.stratus


def get_registry(request: Request) -> RunRegistry:
    return request.app.state.runs


AppDep = Annotated[App, Depends(get_app)]
RegistryDep = Annotated[RunRegistry, Depends(get_registry)]


def resolve_user_id(request: Request, claimed: str | None) -> str | None:
    """The caller's user id. With authentication on, the verified identity wins and a different claimed id
    is ignored; with it off (the local default), the id the request names is taken as given."""
    verified: str | None = getattr(request.state, "user_id", None)
    return verified if verified is not None else claimed
