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


# --- calls written as a JSON block (Qwen2.5-Coder's habit) ---------------------------------------------------

CALC = ToolDefinition(
    name="calculate",
    description="Evaluate arithmetic.",
    parameters={"type": "object", "properties": {"expression": {"type": "string"}}},
)
TWO = [*TOOLS, CALC]


def _calls(text: str) -> tuple[str | None, list[tuple[str, dict[str, object]]]]:
    content, calls = extract_tool_calls(text, TWO)
    return content, [(c.name, c.parsed_arguments()) for c in calls]


def test_a_reply_that_is_a_fenced_json_call_is_a_call() -> None:
    text = '```json\n{\n  "name": "get_time",\n  "arguments": {\n    "tz": "Asia/Tokyo"\n  }\n}\n```'
    assert _calls(text) == (None, [("get_time", {"tz": "Asia/Tokyo"})])
    assert _calls('```\n{"name": "get_time", "arguments": {}}\n```') == (None, [("get_time", {})])


def test_a_reply_that_is_a_bare_json_call_is_a_call() -> None:
    assert _calls('  {"name": "calculate", "arguments": {"expression": "17 * 23"}}') == (
        None,
        [("calculate", {"expression": "17 * 23"})],
    )
    # the doubled braces a template's typo taught the model, and "parameters" for "arguments"
    assert _calls('{{"name": "calculate", "arguments": {"expression": "2"}}}') == (
        None,
        [("calculate", {"expression": "2"})],
    )
    assert _calls('{"name": "calculate", "parameters": {"expression": "1"}}') == (
        None,
        [("calculate", {"expression": "1"})],
    )
    assert _calls('<tool_call>\n{{"name": "get_time", "arguments": {"tz": "UTC"}}}\n</tool_call>') == (
        None,
        [("get_time", {"tz": "UTC"})],
    )


def test_braces_and_fences_inside_strings_do_not_end_the_call() -> None:
    text = '```json\n{"name": "calculate", "arguments": {"expression": "len(\\"}```{\\")"}}\n```\nDone.'
    assert _calls(text) == ("Done.", [("calculate", {"expression": 'len("}```{")'})])


def test_several_calls_in_a_row_are_all_taken() -> None:
    text = (
        '```json\n{"name": "get_time", "arguments": {"tz": "UTC"}}\n```\n'
        '```json\n{"name": "calculate", "arguments": {"expression": "1+1"}}\n```'
    )
    assert _calls(text)[1] == [("get_time", {"tz": "UTC"}), ("calculate", {"expression": "1+1"})]
    listed = '[{"name": "get_time", "arguments": {}}, {"name": "calculate", "arguments": {"expression": "3"}}]'
    assert _calls(listed)[1] == [("get_time", {}), ("calculate", {"expression": "3"})]


def test_json_that_is_not_a_call_to_a_known_tool_stays_the_answer() -> None:
    for text in (
        '```json\n{"name": "delete_everything", "arguments": {}}\n```',  # no such tool
        '{"name": "calculate", "arguments": "17 * 23"}',  # arguments not an object
        '{"name": "calculate", "arguments": ["17"]}',
        '{"city": "Paris", "population": 2102650}',  # data, not a call
        'Here is the call you could make: {"name": "calculate", "arguments": {"expression": "1"}}',  # in prose
        '```json\n{"name": "calculate", "arguments": {"expression": "1"}',  # never closed
        '[{"name": "calculate", "arguments": {}}, {"name": "nope", "arguments": {}}]',  # one is not a call
        "```python\nprint('hi')\n```",
    ):
        assert _calls(text) == (text, []), text


def test_a_stream_holds_back_a_reply_that_starts_with_a_json_call() -> None:
    holder = ToolTextHolder(TWO)
    pieces = ["``", "`json\n", '{"name": "calculate", ', '"arguments": {"expression": "17 * 23"}}', "\n```"]
    assert [holder.feed(p) for p in pieces] == ["", "", "", "", ""]
    assert _calls(holder.text)[1] == [("calculate", {"expression": "17 * 23"})]

    bare = ToolTextHolder(TWO)
    assert [bare.feed(p) for p in ("{", '"name": "get_time"', ', "arguments": {}}')] == ["", "", ""]


def test_a_stream_lets_go_of_json_or_code_that_is_no_call() -> None:
    data = ToolTextHolder(TWO)
    assert data.feed('{"city": ') == ""
    assert data.feed('"Paris"}') == '{"city": "Paris"}'  # complete, and not a call: shown at once
    assert data.feed(" is the answer") == " is the answer"

    code = ToolTextHolder(TWO)
    assert code.feed("```py") == ""
    assert code.feed("thon\nprint(1)") == "```python\nprint(1)"

    prose = ToolTextHolder(TWO)
    assert prose.feed("Sure: ") == "Sure: "
    assert prose.feed('{"name": "calculate"') == '{"name": "calculate"'  # not at the start: part of the answer


def test_a_json_call_wrapped_in_tools_tags_is_a_call_and_is_held_back() -> None:
    text = '<tools> {"name": "calculate", "arguments": {"expression": "8 * 5"}} </tools>'
    assert _calls(text) == (None, [("calculate", {"expression": "8 * 5"})])
    response = '<tool_response>{"name": "get_time", "arguments": {"tz": "UTC"}}</tool_response>'
    assert _calls(response) == (None, [("get_time", {"tz": "UTC"})])
    assert _calls("<tool_response>12:00</tool_response>")[1] == []  # a result echoed, not a call
    assert _calls("<tools> not json </tools>")[1] == []
    assert _calls('<tools>{"name": "calculate", "arguments": {}}') == (None, [("calculate", {})])  # the reply ended
    assert _calls('<tools>{"name": "calculate", "arguments": {}} and then')[1] == []  # never closed

    holder = ToolTextHolder(TWO)
    assert [holder.feed(p) for p in ("<to", "ols> ", '{"name": "calculate", "arguments": {}}', " </tools>")] == [""] * 4
    html = ToolTextHolder(TWO)
    assert html.feed("<to") == ""
    assert html.feed("ols> are handy") == "<tools> are handy"
