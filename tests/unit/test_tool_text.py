"""Tool calls as text, for local models without tool support in their chat template."""

from __future__ import annotations

from stratus.messages import Message, ToolCall
from stratus.models._tool_text import (  # pyright: ignore[reportPrivateUsage]
    ToolTextHolder,
    extract_tool_calls,
    tools_as_text,
)
from stratus.tools import ToolDefinition

TOOLS = [
    ToolDefinition(
        name="get_time",
        description="The time in a timezone.",
        parameters={"type": "object", "properties": {"tz": {"type": "string"}}},
    )
]


def test_tool_calls_in_generated_text_are_recognised_only_when_well_formed() -> None:
    content, calls = extract_tool_calls(
        '<tool_call>{"name": "get_time", "arguments": {"tz": "UTC"}}</tool_call>', TOOLS
    )
    assert content is None
    assert [(c.name, c.parsed_arguments()) for c in calls] == [("get_time", {"tz": "UTC"})]

    for text in (
        "<tool_call>{broken</tool_call>",
        '<tool_call>{"name": "unknown", "arguments": {}}</tool_call>',
        '<tool_call>{"name": "get_time", "arguments": "not an object"}</tool_call>',
        "<tool_call>[1, 2]</tool_call>",
        "plain answer",
    ):
        content, calls = extract_tool_calls(text, TOOLS)
        assert calls == []
        assert content == text


def test_text_around_a_call_stays_the_answer() -> None:
    content, calls = extract_tool_calls(
        'Let me check.\n<tool_call>{"name": "get_time", "arguments": {}}</tool_call>', TOOLS
    )
    assert content == "Let me check."
    assert [c.name for c in calls] == ["get_time"]


def test_the_prompt_describes_the_tools_and_turns_calls_and_results_into_text() -> None:
    messages = [
        Message(role="system", content="Be brief."),
        Message(role="user", content="Time?"),
        Message(
            role="assistant", content=None, tool_calls=[ToolCall(id="c1", name="get_time", arguments='{"tz":"UTC"}')]
        ),
        Message(role="tool", content="12:00", tool_call_id="c1"),
    ]
    sent = tools_as_text(messages, TOOLS)

    assert [m.role for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[0].content is not None
    assert sent[0].content.startswith("Be brief.")
    assert "get_time(tz: string): The time in a timezone." in sent[0].content
    assert sent[2].content == '<tool_call>{"name":"get_time","arguments":{"tz":"UTC"}}</tool_call>'
    assert all(not m.tool_calls for m in sent)
    assert sent[3].content == "<tool_response>12:00</tool_response>"
    assert tools_as_text([Message(role="user", content="Hi")], TOOLS)[0].role == "system"


def test_a_stream_holds_back_only_what_may_be_a_tool_call() -> None:
    plain = ToolTextHolder()
    assert [plain.feed(p) for p in ("Hello", " there")] == ["Hello", " there"]
    assert plain.rest() == ""

    call = ToolTextHolder()
    shown = [call.feed(p) for p in ("<tool", '_call>{"name": "get_time", ', '"arguments": {}}</tool_call>')]
    assert shown == ["", "", ""]
    assert extract_tool_calls(call.text, TOOLS)[1][0].name == "get_time"

    false_start = ToolTextHolder()
    assert false_start.feed("<to") == ""
    assert false_start.feed("day is fine") == "<today is fine"
