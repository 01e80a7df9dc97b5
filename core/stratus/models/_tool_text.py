"""Tool calls as text, for local models: the tools are described in the system message (for templates with no
tool support: SmolLM2's has none, and llama.cpp then drops the tools from the prompt), and calls are read back
from the generated text. Results go back as `<tool_response>`.

Two written forms of a call are recognised: `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` tags
anywhere in the reply, and a reply that *starts* with the call as a JSON block, fenced (```` ```json ```` ), bare,
or in `<tools>` (even `<tool_response>`) tags, which is how Qwen2.5-Coder writes them (also with the doubled
braces `{{...}}` its packaged template shows it). Only a call to a known tool with object arguments counts: text
that merely holds JSON is the answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, cast

from stratus._utils import dumps
from stratus.messages import Message, ToolCall
from stratus.tools import ToolDefinition

__all__ = ["ToolTextHolder", "extract_tool_calls", "same_calls", "tools_as_text"]

_TOOL_CALL = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.DOTALL)
_TOOL_OPEN = "<tool_call>"
# A fenced block's opening: three backticks, an optional language word, the line break.
_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n?")
# Other tags small models wrap a JSON call in: Qwen2.5-Coder-1.5B writes `<tools>{...}</tools>` and even
# `<tool_response>{"name": ..., "arguments": ...}</tool_response>`, taking its template's tag names for the call's.
_WRAPPERS = ("<tools>", "<tool>", "<function_call>", "<tool_response>")
_WRAPPER = re.compile(r"<(tools|tool|function_call|tool_response)>\s*")
_DECODER = json.JSONDecoder()


def _describe(tools: Sequence[ToolDefinition]) -> str:
    lines = [
        "You can call tools. To call one, reply with only "
        '<tool_call>{"name": "<tool name>", "arguments": {<arguments as JSON>}}</tool_call>. '
        "Otherwise answer the user directly. Tools:"
    ]
    for t in tools:
        props = cast(dict[str, Any], t.parameters.get("properties", {}))
        args = ", ".join(f"{name}: {cast(dict[str, Any], p).get('type', 'any')}" for name, p in props.items())
        lines.append(f"- {t.name}({args}): {t.description}")
    return "\n".join(lines)


def _safe_args(call: ToolCall) -> dict[str, Any]:
    try:
        return call.parsed_arguments()
    except ValueError:
        return {}


def tools_as_text(
    messages: Sequence[Message], tools: Sequence[ToolDefinition], *, note: str | None = None
) -> list[Message]:
    """`messages` with the tools described in the system message (none when `tools` is empty), and tool calls
    and results as text; `note` is added to the system message too."""
    out: list[Message] = []
    for m in messages:
        if m.role == "tool":
            out.append(Message(role="user", content=f"<tool_response>{m.content or ''}</tool_response>"))
        elif m.role == "assistant" and m.tool_calls:
            calls = "\n".join(
                f"<tool_call>{dumps({'name': c.name, 'arguments': _safe_args(c)})}</tool_call>" for c in m.tool_calls
            )
            out.append(Message(role="assistant", content=f"{m.content or ''}\n{calls}".strip()))
        else:
            out.append(Message(role=m.role, content=m.content or ""))
    added = "\n\n".join(p for p in (_describe(tools) if tools else "", note or "") if p)
    if not added:
        return out
    if out and out[0].role == "system":
        out[0] = Message(role="system", content=f"{out[0].content}\n\n{added}")
    else:
        out.insert(0, Message(role="system", content=added))
    return out


def _decode(text: str) -> tuple[Any, int] | None:
    """The JSON value at the start of `text` and where it ends; a doubled outer brace (`{{...}}`, copied from a
    template's own typo) is read as one."""
    try:
        return _DECODER.raw_decode(text)
    except json.JSONDecodeError:
        pass
    if text.startswith("{{"):
        try:
            value, end = _DECODER.raw_decode(text, 1)
        except json.JSONDecodeError:
            return None
        rest = text[end:]
        if rest.lstrip().startswith("}"):
            return value, end + (len(rest) - len(rest.lstrip())) + 1
        return value, end
    return None


def _as_calls(value: Any, known: set[str]) -> list[tuple[str, dict[str, Any]]] | None:
    """`value` as calls to known tools (an object, or a list of them), or None if any part is not one."""
    items = cast(list[Any], value) if isinstance(value, list) else [value]
    calls: list[tuple[str, dict[str, Any]]] = []
    for item in items:
        if not isinstance(item, dict):
            return None
        data = cast(dict[str, Any], item)
        if "function" in data and isinstance(data["function"], dict):  # the OpenAI wire shape, copied
            data = cast(dict[str, Any], data["function"])
        name = data.get("name")
        arguments = data.get("arguments", data.get("parameters", {}))
        if not isinstance(name, str) or name not in known or not isinstance(arguments, dict):
            return None
        calls.append((name, cast(dict[str, Any], arguments)))
    return calls or None


def _leading_json_calls(text: str, known: set[str]) -> tuple[list[tuple[str, dict[str, Any]]], str] | None:
    """The calls a reply starts with, written as JSON blocks (fenced or bare, one or several), and the text after
    them; None if the reply does not start with one."""
    calls: list[tuple[str, dict[str, Any]]] = []
    rest = text.lstrip()
    while rest:
        wrapper = _WRAPPER.match(rest)
        body = rest[wrapper.end() :] if wrapper else rest
        fence = _FENCE.match(body)
        body = body[fence.end() :].lstrip() if fence else body
        decoded = _decode(body)
        if decoded is None:
            break
        found = _as_calls(decoded[0], known)
        if found is None:
            break
        after = body[decoded[1] :].lstrip()
        if fence:
            if not after.startswith("```"):
                break
            after = after[3:].lstrip()
        if wrapper:
            closing = f"</{wrapper.group(1)}>"
            if after.startswith(closing):
                after = after[len(closing) :].lstrip()
            elif after:  # a reply may end before its closing tag; text after an unclosed one is no call
                break
        calls.extend(found)
        rest = after
    return (calls, rest) if calls else None


def extract_tool_calls(text: str, tools: Sequence[ToolDefinition]) -> tuple[str | None, list[ToolCall]]:
    """Split generated text into its answer and any well-formed calls to tools that exist."""
    if not tools:
        return text, []
    known = {t.name for t in tools}
    found: list[tuple[str, dict[str, Any]]] = []
    rest = text
    if _TOOL_OPEN in text:
        for match in _TOOL_CALL.finditer(text):
            body = match.group(1)
            fence = _FENCE.match(body)
            if fence:
                body = body[fence.end() :].removesuffix("```").strip()
            decoded = _decode(body)
            calls = _as_calls(decoded[0], known) if decoded is not None and not isinstance(decoded[0], list) else None
            if calls:
                found.extend(calls)
        if found:
            rest = _TOOL_CALL.sub("", text).strip()
    if not found:
        leading = _leading_json_calls(text, known)
        if leading is None:
            return text, []
        found, rest = leading[0], leading[1].strip()
    calls = [ToolCall(id=f"call_{i}", name=name, arguments=dumps(args)) for i, (name, args) in enumerate(found)]
    return rest or None, calls


def same_calls(a: Sequence[ToolCall], b: Sequence[ToolCall]) -> bool:
    """Whether two sets of calls ask for the same tools with the same arguments (ids and order aside)."""

    def key(calls: Sequence[ToolCall]) -> list[str]:
        return sorted(dumps({"name": c.name, "arguments": _safe_args(c)}) for c in calls)

    return bool(a) and key(a) == key(b)


def _may_start_call(text: str) -> bool:
    """Whether `text`, the start of a reply, is or may become a call written as a JSON block."""
    if not text:
        return True
    for opener in _WRAPPERS:
        if opener.startswith(text):
            return True
        if text.startswith(opener):
            text = text[len(opener) :].lstrip()
            if not text:
                return True
    if "```".startswith(text):
        return True
    fence = _FENCE.match(text)
    if text.startswith("```"):
        if fence is None or not fence.group(0).endswith("\n"):
            # still inside the fence's first line (```json): more may come
            return "\n" not in text and re.fullmatch(r"```[A-Za-z0-9_-]*[ \t]*", text) is not None
        text = text[fence.end() :].lstrip()
        if not text:
            return True
    return text[0] in "{["


class ToolTextHolder:
    """Streams text through, holding back what may be a tool call until it is known not to be: `<tool_call>`
    tags anywhere, and a JSON block at the start of the reply. Give it the tools to let a JSON block that is
    complete and is no call go out before the reply ends."""

    def __init__(self, tools: Sequence[ToolDefinition] = ()) -> None:
        self.text = ""
        self._held = ""
        self._shown = False  # something went out: a JSON block from here on is part of the answer
        self._known = {t.name for t in tools}

    def feed(self, piece: str) -> str:
        """Take a piece of streamed text; return what can be shown now."""
        self.text += piece
        self._held += piece
        stripped = self._held.lstrip()
        if _TOOL_OPEN.startswith(stripped) or stripped.startswith(_TOOL_OPEN):
            return ""
        if not self._shown and _may_start_call(stripped) and not self._settled_answer(stripped):
            return ""
        if not stripped:
            return ""
        shown, self._held = self._held, ""
        self._shown = True
        return shown

    def _settled_answer(self, stripped: str) -> bool:
        """Whether a held JSON start has become a complete value that is not a call (so it can be shown)."""
        if not self._known:
            return False
        wrapper = _WRAPPER.match(stripped)
        body = stripped[wrapper.end() :] if wrapper else stripped
        fence = _FENCE.match(body)
        body = body[fence.end() :].lstrip() if fence and body.startswith("```") else body
        if not body:
            return False
        decoded = _decode(body)
        return decoded is not None and _as_calls(decoded[0], self._known) is None

    def rest(self) -> str:
        """What is still held back: shown at the end if it turned out not to be a tool call."""
        held, self._held = self._held, ""
        return held
