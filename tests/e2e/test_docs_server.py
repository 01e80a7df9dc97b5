"""The API docs of a real server work offline: `/docs` and `/redoc` and every file they load come from the
server itself, and (where Chromium is installed) Swagger UI renders the app's operations with no network."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlparse

import httpx
import pytest

from tests.e2e.conftest import Server, start_server, stop_server

pytestmark = pytest.mark.e2e

REFERENCE = re.compile(r"""(?:src|href|url)\s*[:=]\s*["']([^"']+)["']""")
CONTENT_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png", ".json": "application/json"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("docs"), app="tests.fakes.apps:echo_app")
    yield running
    stop_server(running)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_a_docs_page_loads_only_files_this_server_serves(server: Server, page: str) -> None:
    response = httpx.get(f"{server.url}{page}", timeout=30)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert not re.findall(r"https?://", response.text), "a URL to another host"
    referenced = REFERENCE.findall(response.text)
    assert any(url.endswith(".js") for url in referenced)
    for url in referenced:
        absolute = urljoin(f"{server.url}{page}", url)
        assert urlparse(absolute).netloc == urlparse(server.url).netloc, url
        asset = httpx.get(absolute, timeout=30)
        assert asset.status_code == 200, url
        assert CONTENT_TYPES[Path(urlparse(absolute).path).suffix] in asset.headers["content-type"], url


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs chromium to render the page")
def test_swagger_ui_renders_the_operations_offline(server: Server) -> None:
    dom = subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--virtual-time-budget=10000",
            "--dump-dom",
            f"{server.url}/docs",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stdout

    assert 'id="operations-Core-health_check"' in dom
    assert 'id="operations-Agents-get_agents"' in dom
