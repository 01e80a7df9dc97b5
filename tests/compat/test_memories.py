"""Memories through agno's `AgentOSClient`: written, read, listed, updated, counted and deleted; learnt by an
agent with learning on."""

from __future__ import annotations

from typing import Any

import pytest

from tests.compat.conftest import Agno

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def flow(agno: Agno) -> dict[str, Any]:
    return agno("memories")


def test_memories_are_created_read_and_listed(flow: dict[str, Any]) -> None:
    created = flow["created"]
    assert [(m["memory"], m["topics"], m["user_id"]) for m in created] == [
        ("Carol likes tea.", ["food"], "carol"),
        ("Carol lives in Oslo.", ["home"], "carol"),
        ("Carol reads at night.", ["habits"], "carol"),
    ]
    got = flow["got"]
    assert (got["memory_id"], got["memory"]) == (created[0]["memory_id"], "Carol likes tea.")
    assert [m["memory"] for m in flow["listed"]["data"]] == [m["memory"] for m in reversed(created)]
    assert flow["listed"]["meta"]["total_count"] == 3
    assert [m["memory"] for m in flow["by_topic"]["data"]] == ["Carol lives in Oslo."]


def test_a_memory_is_updated_and_counted(flow: dict[str, Any]) -> None:
    assert (flow["updated"]["memory"], flow["updated"]["topics"]) == ("Carol likes green tea.", ["food", "drinks"])
    assert flow["topics"] == ["drinks", "food", "habits", "home"]
    assert [(s["user_id"], s["total_memories"]) for s in flow["stats"]["data"]] == [("carol", 3)]


def test_memories_are_deleted_one_or_several_at_once(flow: dict[str, Any]) -> None:
    assert [m["memory"] for m in flow["after_delete"]["data"]] == ["Carol likes green tea.", "Carol lives in Oslo."]
    assert flow["after_delete_many"]["data"] == []


def test_an_agent_that_learns_stores_the_memory(agno: Agno) -> None:
    got = agno("learning_stream")
    assert [e["event"] for e in got["events"]][-1] == "RunCompleted"
    assert [(m["memory"], m["topics"], m["agent_id"]) for m in got["memories"]["data"]] == [
        ("The user likes coffee.", ["food"], "learner")
    ]


def test_a_learning_run_streams_agnos_memory_events(agno: Agno) -> None:
    kinds = [e["event"] for e in agno("learning_stream")["events"]]
    assert "MemoryUpdateStarted" in kinds
    assert kinds.index("MemoryUpdateStarted") < kinds.index("MemoryUpdateCompleted") < kinds.index("RunCompleted")


def test_memories_are_optimized(agno: Agno) -> None:
    got = agno("memories_optimize")
    preview = got["preview"]
    assert preview["memories_before"] == 3
    assert 1 <= preview["memories_after"] <= 3
    assert len(preview["memories"]) == preview["memories_after"]
    assert preview["tokens_saved"] == preview["tokens_before"] - preview["tokens_after"]
    assert got["kept"]["meta"]["total_count"] == 3  # apply=False: a preview, nothing replaced
