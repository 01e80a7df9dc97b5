"""How a run's events become AG-UI's (`stratus.interfaces._agui_events`), for what the live tests' scripted models
do not produce: reasoning, a structured answer, a member's events, a stream cut short. The encoded events are
read back with AG-UI's own types."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ag_ui.core import Event, EventType, StateSnapshotEvent
from ag_ui.encoder import EventEncoder
from pydantic import BaseModel, TypeAdapter

from stratus.interfaces._agui_events import AguiStream, encoded
from stratus.run import (
    ModelRequestStarted,
    RunCompleted,
    RunContent,
    RunEvent,
    RunOutput,
    ToolCallCompleted,
    ToolCallStarted,
    ToolExecution,
)

EVENTS: TypeAdapter[Any] = TypeAdapter(Event)


async def agui(*events: RunEvent) -> list[Any]:
    async def source() -> AsyncIterator[RunEvent]:
        for event in events:
            yield event

    frames = [frame async for frame in encoded(AguiStream("s1", "r1"), source(), EventEncoder())]
    return [EVENTS.validate_json(frame.removeprefix("data: ")) for frame in frames]


def types(events: list[Any]) -> list[EventType]:
    return [e.type for e in events]


async def test_reasoning_is_its_own_message_closed_before_the_text() -> None:
    out = RunOutput(run_id="r1", session_id="s1", content="4")
    events = await agui(
        RunContent(run_id="r1", session_id="s1", reasoning_content="2 and 2"),
        RunContent(run_id="r1", session_id="s1", reasoning_content=" make 4"),
        RunContent(run_id="r1", session_id="s1", content="4"),
        RunCompleted(run_id="r1", session_id="s1", output=out),
    )

    assert types(events) == [
        EventType.RUN_STARTED,
        EventType.REASONING_START,
        EventType.REASONING_MESSAGE_START,
        EventType.REASONING_MESSAGE_CONTENT,
        EventType.REASONING_MESSAGE_CONTENT,
        EventType.REASONING_MESSAGE_END,
        EventType.REASONING_END,
        EventType.TEXT_MESSAGE_START,
        EventType.TEXT_MESSAGE_CONTENT,
        EventType.TEXT_MESSAGE_END,
        EventType.RUN_FINISHED,
    ]
    assert "".join(e.delta for e in events if e.type is EventType.REASONING_MESSAGE_CONTENT) == "2 and 2 make 4"
    assert events[-1].thread_id == "s1"  # no session state: no snapshot
    assert events[-1].run_id == "r1"


class Answer(BaseModel):
    city: str


async def test_an_answer_not_streamed_is_sent_whole_and_a_members_events_stay_out() -> None:
    tool = ToolExecution(tool_call_id="c1", tool_name="lookup", tool_args={"q": "x"})
    events = await agui(
        RunContent(run_id="r1", session_id="s1", content="Looking. "),
        ToolCallStarted(run_id="r1", session_id="s1", tool=tool),
        RunContent(run_id="m1", session_id="s1", parent_run_id="r1", content="the member's words"),
        ToolCallStarted(
            run_id="m1",
            session_id="s1",
            parent_run_id="r1",
            tool=ToolExecution(tool_call_id="c2", tool_name="inner", tool_args={}),
        ),
        RunCompleted(
            run_id="r1",
            session_id="s1",
            output=RunOutput(run_id="r1", session_id="s1", content=Answer(city="Oslo"), session_state={"k": 1}),
        ),
    )

    texts = [e for e in events if e.type is EventType.TEXT_MESSAGE_CONTENT]
    assert [t.delta for t in texts] == ["Looking. ", '{"city":"Oslo"}']
    (start,) = [e for e in events if e.type is EventType.TOOL_CALL_START]
    assert (start.tool_call_id, start.parent_message_id) == ("c1", texts[0].message_id)  # the text it follows
    assert texts[1].message_id != texts[0].message_id
    assert [e.snapshot for e in events if e.type is EventType.STATE_SNAPSHOT] == [{"k": 1}]


async def test_a_stream_that_ends_without_its_last_event_ends_with_run_error() -> None:
    events = await agui(RunContent(run_id="r1", session_id="s1", content="half"))

    assert types(events)[-2:] == [EventType.TEXT_MESSAGE_CONTENT, EventType.RUN_ERROR]
    assert events[-1].message == "Internal server error"


def tool(call_id: str) -> ToolExecution:
    return ToolExecution(tool_call_id=call_id, tool_name="lookup", tool_args={}, result="found")


async def test_the_tool_calls_of_one_model_turn_share_its_assistant_message() -> None:
    turn = ModelRequestStarted(run_id="r1", session_id="s1")
    events = await agui(
        turn,
        RunContent(run_id="r1", session_id="s1", content="Let me look."),
        ToolCallStarted(run_id="r1", session_id="s1", tool=tool("c1")),
        ToolCallCompleted(run_id="r1", session_id="s1", tool=tool("c1")),
        turn,  # the next turn says nothing and calls two tools
        ToolCallStarted(run_id="r1", session_id="s1", tool=tool("c2")),
        ToolCallStarted(run_id="r1", session_id="s1", tool=tool("c3")),
        ToolCallCompleted(run_id="r1", session_id="s1", tool=tool("c2")),
        ToolCallCompleted(run_id="r1", session_id="s1", tool=tool("c3")),
        RunCompleted(run_id="r1", session_id="s1", output=RunOutput(run_id="r1", session_id="s1", content="")),
    )

    (text,) = [e for e in events if e.type is EventType.TEXT_MESSAGE_START]
    parents = {e.tool_call_id: e.parent_message_id for e in events if e.type is EventType.TOOL_CALL_START}
    assert parents["c1"] == text.message_id
    assert parents["c2"] == parents["c3"] != text.message_id
    assert [e.tool_call_id for e in events if e.type is EventType.TOOL_CALL_RESULT] == ["c1", "c2", "c3"]


async def test_a_snapshot_follows_each_tool_call_that_changed_the_state_a_members_too() -> None:
    state: dict[str, Any] = {"cart": []}
    stream = AguiStream("s1", "r1", lambda: state)

    assert stream.of(ToolCallCompleted(run_id="r1", session_id="s1", tool=tool("c1")))[1:] == [
        StateSnapshotEvent(snapshot={"cart": []})
    ]
    assert stream.of(ToolCallCompleted(run_id="r1", session_id="s1", tool=tool("c2")))[1:] == []  # unchanged
    state["cart"].append("tea")
    (snapshot,) = stream.of(ToolCallCompleted(run_id="m1", session_id="s1", parent_run_id="r1", tool=tool("c3")))
    state["cart"].append("jam")  # later changes do not reach what was sent
    assert snapshot == StateSnapshotEvent(snapshot={"cart": ["tea"]})
