"""The knowledge base through agno's `AgentOSClient`: text and a file uploaded and ingested, listed, read,
updated, searched, and deleted one at a time or all at once."""

from __future__ import annotations

from typing import Any

import pytest

from tests.compat.conftest import Agno

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def flow(agno: Agno) -> dict[str, Any]:
    return agno("knowledge")


def test_the_knowledge_config_names_the_readers(flow: dict[str, Any]) -> None:
    assert {"pdf", "docx"} <= set(flow["config"]["readers"])


def test_uploads_are_ingested_and_listed(flow: dict[str, Any]) -> None:
    text, note = flow["uploaded"]
    assert [(u["name"], u["status"]) for u in flow["uploaded"]] == [
        ("guide", "processing"),
        ("penguins.txt", "processing"),
    ]
    assert [(s["id"], s["status"]) for s in flow["status"]] == [(text["id"], "completed"), (note["id"], "completed")]
    assert [(c["name"], c["status"], c["description"], c["metadata"]) for c in flow["listed"]["data"]] == [
        ("penguins.txt", "completed", None, None),
        ("guide", "completed", "how stratus serves", {"kind": "guide"}),
    ]
    got = flow["got"]
    assert (got["id"], got["name"], got["type"], got["status"]) == (text["id"], "guide", "text/plain", "completed")


def test_content_is_updated_and_searched(flow: dict[str, Any]) -> None:
    assert (flow["updated"]["name"], flow["updated"]["description"]) == ("guide v2", "revised")
    hits = flow["search"]["data"]
    assert hits[0]["content"] == "Stratus serves agents over HTTP. Lighthouses guide ships at night."


def test_content_is_deleted(flow: dict[str, Any]) -> None:
    assert flow["deleted"]["id"] == flow["uploaded"][1]["id"]
    assert [c["name"] for c in flow["after_delete"]["data"]] == ["guide v2"]
    assert flow["after_delete_all"]["data"] == []


def test_deleting_all_content_answers_success(flow: dict[str, Any]) -> None:
    assert flow["deleted_all"] == "success"  # agno's client returns the body: AgentOS answers "success"
