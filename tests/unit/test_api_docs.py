"""The API docs pages work offline: `/docs` and `/redoc` load every script, style and icon from this server."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from stratus import App
from stratus.api import create_app
from stratus.api.auth import ApiKeyAuth, hash_key
from tests.fakes.apps import fresh_echo_app

ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
ABSOLUTE = re.compile(r"""https?://[^\s"'<>)]+""")
CONTENT_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


@pytest.fixture
def client() -> TestClient:
    return TestClient(create_app(fresh_echo_app(), auth=None))


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_a_docs_page_and_everything_it_loads_come_from_this_server(client: TestClient, page: str) -> None:
    response = client.get(page)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert ABSOLUTE.findall(response.text) == []  # nothing from a CDN, no fonts from Google
    assets = ASSET.findall(response.text)
    assert assets
    for url in assets:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert CONTENT_TYPES[url[url.rindex(".") :]] in asset.headers["content-type"], url
        assert asset.content


def test_the_docs_load_this_apps_openapi_schema(client: TestClient) -> None:
    page = client.get("/docs").text

    assert "url: '/openapi.json'" in page
    assert "/agents/{agent_id}/runs" in client.get("/openapi.json").json()["paths"]


def test_behind_a_root_path_the_docs_load_from_under_it() -> None:
    client = TestClient(create_app(fresh_echo_app(), auth=None), root_path="/prod")

    page = client.get("/docs").text

    assert "/prod/docs/assets/swagger-ui-bundle.js" in page
    assert "url: '/prod/openapi.json'" in page


def test_the_docs_and_their_assets_need_no_key() -> None:
    client = TestClient(create_app(App(agents=[]), auth=ApiKeyAuth({hash_key("k1"): "alice"})))

    for url in ["/docs", "/redoc", *ASSET.findall(client.get("/docs").text)]:
        assert client.get(url).status_code == 200, url
    assert client.get("/sessions").status_code == 401


def test_without_docs_no_docs_route_is_served() -> None:
    client = TestClient(create_app(App(agents=[]), auth=None, docs=False))

    for url in ["/docs", "/redoc", "/docs/assets/swagger-ui-bundle.js"]:
        assert client.get(url).status_code == 404, url
