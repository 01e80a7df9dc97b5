"""Hostile inputs against the live server, on one pooled keep-alive connection as real clients send them:
JSON nested thousands of levels deep (in a message, a state, metadata, filters), integers past 2^63 in every
paging parameter, absurd chunk sizes, bodies that are not UTF-8, a form field of megabytes. Each gets its 4xx
with a JSON `detail` before anything is stored; the connection stays usable for the next request (no reset
after an error), listings still read, and the server is still up."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Server, start_server, stop_server

pytestmark = pytest.mark.e2e

HUGE = ["9223372036854775807", "9223372036854775808", "18446744073709551616", "1e30", "-1", "0", "NaN", "1.5", "x"]


def deep(levels: int) -> str:
    return '{"a": ' * levels + "1" + "}" * levels


def deep_list(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    live = start_server(tmp_path_factory.mktemp("hostile"), app="tests.fakes.apps:reliability_app")
    yield live
    stop_server(live)


def cases() -> list[tuple[str, str, dict[str, object]]]:
    """(method, path, request options) of each hostile request."""
    json_header = {"content-type": "application/json"}
    out: list[tuple[str, str, dict[str, object]]] = []
    for levels in (40, 300, 3000, 20000):
        out += [
            ("POST", "/sessions", {"content": f'{{"session_state": {deep(levels)}}}', "headers": json_header}),
            ("POST", "/sessions", {"content": f'{{"metadata": {deep_list(levels)}}}', "headers": json_header}),
            ("POST", "/agents/assistant/runs", {"data": {"message": "hi", "session_state": deep(levels)}}),
            ("POST", "/agents/assistant/runs", {"content": f'{{"message": {deep(levels)}}}', "headers": json_header}),
            ("POST", "/teams/desk/runs", {"data": {"message": "hi", "session_state": deep(levels)}}),
            ("POST", "/workflows/pipeline/runs", {"data": {"message": "hi", "session_state": deep(levels)}}),
            (
                "POST",
                "/knowledge/search",
                {"content": f'{{"query": "tea", "filters": {deep(levels)}}}', "headers": json_header},
            ),
            ("POST", "/knowledge/content", {"data": {"text_content": "tea", "metadata": deep(levels)}}),
            (
                "POST",
                "/memories",
                {"content": f'{{"memory": "m", "topics": {deep_list(levels)}}}', "headers": json_header},
            ),
        ]
    for value in HUGE:
        for path in ("/sessions", "/memories", "/knowledge/content", "/learnings"):
            for name in ("page", "limit"):
                options: dict[str, object] = {"params": {name: value}}
                out.append(("GET", path, options))
        out += [
            ("POST", "/knowledge/content", {"data": {"text_content": "tea", "chunk_size": value}}),
            *(
                [("POST", "/knowledge/content", {"data": {"text_content": "tea", "chunk_overlap": value}})]
                if value != "0"  # no overlap is a fine overlap
                else []
            ),
            (
                "POST",
                "/knowledge/search",
                {
                    "content": json.dumps({"query": "t", "meta": {"page": value, "limit": value}}),
                    "headers": json_header,
                },
            ),
        ]
    out += [
        ("POST", "/sessions", {"content": b'{"session_name": "\xff\xfe"}', "headers": json_header}),
        ("POST", "/agents/assistant/runs", {"data": {"message": "x" * (1024 * 1024 + 1)}}),
        (
            "POST",
            "/agents/assistant/runs",
            {"content": b"--b\r\nbroken", "headers": {"content-type": "multipart/form-data; boundary=b"}},
        ),
        ("GET", "/sessions", {"params": {"type": "nope"}}),
    ]
    return out


def test_every_hostile_request_is_a_4xx_on_a_connection_that_stays_usable(server: Server, tmp_path: Path) -> None:
    requests = cases()
    assert len(requests) >= 100
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for method, path, options in requests:
            response = client.request(method, path, **options)  # type: ignore[arg-type]
            shown = f"{method} {path} {str(options)[:120]}"
            assert 400 <= response.status_code < 500, f"{shown}: {response.status_code} {response.text[:200]}"
            assert "detail" in response.json(), shown
            # the same pooled connection serves the next request
            assert client.get("/health").status_code == 200, f"after {shown}"
        # nothing a refused request sent was stored, and every listing reads
        for listing in (
            "/sessions",
            "/sessions?type=team",
            "/sessions?type=workflow",
            "/memories",
            "/knowledge/content",
        ):
            answer = client.get(listing)
            assert answer.status_code == 200, listing
            assert answer.json()["data"] == [], f"{listing} holds what a refused request sent"


def test_paging_past_the_last_page_is_an_empty_page_not_an_error(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for path in ("/sessions", "/memories", "/knowledge/content"):
            response = client.get(path, params={"page": 1_000_000, "limit": 100})
            assert response.status_code == 200, response.text
            assert response.json()["data"] == []
