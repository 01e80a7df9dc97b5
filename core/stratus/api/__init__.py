"""The HTTP API: `create_app(app)` serves a stratus `App` with FastAPI, keeping AgentOS' routes and shapes.

The names load lazily, so the light modules of this package (`auth`, `documents`) import without FastAPI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stratus.api._app import ROUTERS, create_app

__all__ = ["ROUTERS", "create_app"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from stratus.api import _app

        return getattr(_app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
