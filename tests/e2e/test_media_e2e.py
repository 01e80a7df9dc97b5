"""An image over HTTP on a live uvicorn server: the demo app's agent (its model an OpenAI-format endpoint, here
the local fake) gets it as an `image_url` part, the stored run lists it, and the media route serves it back to
its owner only."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Server, start_server, stop_server
from tests.fakes.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.e2e

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@pytest.fixture
def endpoint() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def demo(tmp_path: Path, endpoint: FakeOpenAIServer) -> Iterator[Server]:
    server = start_server(
        tmp_path,
        env={"OPENAI_API_KEY": "sk-test-e2e", "OPENAI_BASE_URL": endpoint.base_url, "OPENAI_MODEL": "gpt-4o"},
    )
    yield server
    stop_server(server)


def test_an_uploaded_image_reaches_the_model_natively_and_comes_back_to_its_owner_only(
    demo: Server, endpoint: FakeOpenAIServer, tmp_path: Path
) -> None:
    response = httpx.post(
        f"{demo.url}/agents/assistant/runs",
        data={"message": "what is this?", "stream": "false", "user_id": "ann"},
        files=[("files", ("dot.png", PNG, "image/png"))],
        timeout=30,
    )

    assert response.status_code == 200, response.text
    run = response.json()
    parts = endpoint.last_request.messages[-1]["content"]
    # the message's text (the demo adds the handbook's passages after it, when any score high enough)
    assert parts[0]["type"] == "text"
    assert parts[0]["text"].split("\n\nPassages from the knowledge base", 1)[0] == "what is this?"
    assert parts[1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64," + base64.b64encode(PNG).decode()},
    }
    (image,) = run["images"]
    stored = httpx.get(
        f"{demo.url}/agents/assistant/runs/{run['run_id']}",
        params={"session_id": run["session_id"], "user_id": "ann"},
        timeout=10,
    )
    assert stored.json()["images"] == [image]
    assert list((tmp_path / "media").rglob(image["id"]))  # stored beside the SQLite file

    mine = httpx.get(f"{demo.url}/media/{run['run_id']}/{image['id']}", params={"user_id": "ann"}, timeout=10)
    theirs = httpx.get(f"{demo.url}/media/{run['run_id']}/{image['id']}", params={"user_id": "bob"}, timeout=10)
    assert mine.status_code == 200
    assert mine.content == PNG
    assert theirs.status_code == 404
    assert "detail" in theirs.json()
