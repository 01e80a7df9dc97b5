"""The API docs pages, `/docs` (Swagger UI) and `/redoc`, with their scripts and styles served by this server
from the `fastapi-offline` package (the `local` extra) rather than fetched from a CDN, so they work offline."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from stratus._optional import package_folder
from stratus.api.auth import DOCS_ASSETS_PATH

__all__ = ["install_docs"]

logger = logging.getLogger("stratus.api")

DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"


def _assets_folder() -> Path | None:
    """The folder of Swagger UI's and ReDoc's files, found without importing the package; None when it is
    not installed."""
    package = package_folder("fastapi_offline")
    if package is None:
        return None
    folder = package / "static"
    return folder if (folder / "swagger-ui-bundle.js").is_file() else None


_LOCAL_FILES = {
    "swagger_js": "swagger-ui-bundle.js",
    "swagger_css": "swagger-ui.css",
    "redoc_js": "redoc.standalone.js",
    "favicon": "favicon.png",
}
_CDN_URLS = {  # FastAPI's own defaults
    "swagger_js": "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js",
    "swagger_css": "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css",
    "redoc_js": "https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js",
    "favicon": "https://fastapi.tiangolo.com/img/favicon.png",
}


def install_docs(api: FastAPI) -> None:
    """Serve `/docs` and `/redoc` on `api` (built with `docs_url=None, redoc_url=None`).

    With `fastapi-offline` installed, every file the pages load comes from this server, under
    `DOCS_ASSETS_PATH`; without it, the pages load them from FastAPI's default CDN, as FastAPI would.
    """
    folder = _assets_folder()
    if folder is None:
        logger.info("fastapi-offline is not installed (pip install 'stratus[local]'): /docs loads from a CDN")
    else:
        api.mount(DOCS_ASSETS_PATH, StaticFiles(directory=folder), name="docs-assets")
    openapi_url = api.openapi_url or "/openapi.json"

    def url(request: Request, asset: str) -> str:
        if folder is None:
            return _CDN_URLS[asset]
        return f"{_root(request)}{DOCS_ASSETS_PATH}/{_LOCAL_FILES[asset]}"

    def page(request: Request, name: str) -> dict[str, Any]:
        """What both pages are given: the document's URL and their title."""
        return {"openapi_url": f"{_root(request)}{openapi_url}", "title": f"{api.title} - {name}"}

    @api.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:  # pyright: ignore[reportUnusedFunction]
        return get_swagger_ui_html(
            **page(request, "Swagger UI"),
            swagger_js_url=url(request, "swagger_js"),
            swagger_css_url=url(request, "swagger_css"),
            swagger_favicon_url=url(request, "favicon"),
            oauth2_redirect_url=f"{_root(request)}{OAUTH2_REDIRECT_PATH}",
            # No call to the public spec validator (validator.swagger.io): nothing leaves this machine.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @api.get(OAUTH2_REDIRECT_PATH, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:  # pyright: ignore[reportUnusedFunction]
        return get_swagger_ui_oauth2_redirect_html()

    @api.get(REDOC_PATH, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:  # pyright: ignore[reportUnusedFunction]
        return get_redoc_html(
            **page(request, "ReDoc"),
            redoc_js_url=url(request, "redoc_js"),
            redoc_favicon_url=url(request, "favicon"),
            with_google_fonts=folder is None,  # offline: the system's fonts, not Google's
        )


def _root(request: Request) -> str:
    """The prefix the app is served under (uvicorn's `--root-path`, a proxy's stage), as FastAPI's own docs use."""
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/")
