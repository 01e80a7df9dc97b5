"""The playground, `/playground`: one page, its script and styles, and the libraries it vendors from npm (marked,
DOMPurify and highlight.js, pinned by `playground/package-lock.json`; `scripts/vendor_playground.py` re-vendors them),
all served from this package, so it works offline. The page talks to the public API only; its DOM contract (the
data-testids the browser tests drive) is `playground/CONTRACT.md`."""

from __future__ import annotations

import hashlib
from functools import cache
from importlib.resources import files

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response

from stratus.api.auth import PLAYGROUND_ASSETS_PATH

__all__ = ["ASSETS", "PAGE_HEADERS", "install_playground"]

PLAYGROUND_PATH = "/playground"

ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "theme.js": "text/javascript; charset=utf-8",
    "vendor/marked.umd.js": "text/javascript; charset=utf-8",
    "vendor/purify.min.js": "text/javascript; charset=utf-8",
    "vendor/highlight.min.js": "text/javascript; charset=utf-8",
}
"""The files under `PLAYGROUND_ASSETS_PATH`, by path, with their media types: only these are served."""

_CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",  # this server's files only: no inline script, so a model's HTML that slipped past
        "style-src 'self'",  # the sanitiser still could not run
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)

_COMMON = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}

PAGE_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
    **_COMMON,
}
"""The page's security headers: scripts, styles and requests to this server only, never framed."""

_ASSET_HEADERS = {"Cache-Control": "no-cache", **_COMMON}  # revalidated by ETag: a new release is seen at once


@cache
def _read(name: str) -> tuple[bytes, str]:
    """A file of the playground folder and its ETag (its content's hash: a new release is a new tag)."""
    data = files("stratus.api").joinpath("playground", *name.split("/")).read_bytes()
    return data, '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def _serve(request: Request, name: str, media_type: str, headers: dict[str, str]) -> Response:
    data, etag = _read(name)
    tagged = {**headers, "ETag": etag}
    if etag in request.headers.get("if-none-match", ""):  # revalidated: nothing to send again
        return Response(status_code=304, headers=tagged)
    return Response(data, media_type=media_type, headers=tagged)


def install_playground(api: FastAPI) -> None:
    """Serve the page at `/playground` and its files under `PLAYGROUND_ASSETS_PATH`."""

    @api.get(PLAYGROUND_PATH, include_in_schema=False)
    async def playground(request: Request) -> Response:  # pyright: ignore[reportUnusedFunction]
        return _serve(request, "index.html", "text/html; charset=utf-8", PAGE_HEADERS)

    @api.get(PLAYGROUND_ASSETS_PATH + "/{name:path}", include_in_schema=False)
    async def playground_asset(request: Request, name: str) -> Response:  # pyright: ignore[reportUnusedFunction]
        media_type = ASSETS.get(name)
        if media_type is None:  # a fixed list, so no path reaches outside the folder
            raise HTTPException(status_code=404, detail=f"no playground file {name!r}")
        return _serve(request, name, media_type, _ASSET_HEADERS)
