"""The HTTP API: `create_app(app)` serves a stratus `App` with FastAPI, keeping AgentOS' routes and shapes."""

from stratus.api._app import ROUTERS, create_app

__all__ = ["ROUTERS", "create_app"]
