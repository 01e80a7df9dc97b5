"""Tool calls as text, for local models whose chat template has no tool support (SmolLM2's has none, and
llama.cpp then drops the tools from the prompt): the tools are described in the system message, the model
answers `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`, and results go back as `<tool_response>`.
Text that is not a well-formed call to a known tool is the answer."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, cast

from stratus._utils import dumps
from stratus.messages import Message, ToolCall
from stratus.tools import ToolDefinition

__all__ = ["ToolTextHolder", "extract_tool_calls", "tools_as_text"]

_TOOL_CALL = re.compile(r"<tool_call>\s*(\{.*?\})\s*</tool_call>", re.DOTALL)
_TOOL_OPEN = "<tool_call>"


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


def tools_as_text(messages: Sequence[Message], tools: Sequence[ToolDefinition]) -> list[Message]:
    """`messages` with the tools described in the system message, and tool calls and results as text."""
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
    description = _describe(tools)
    if out and out[0].role == "system":
        out[0] = Message(role="system", content=f"{out[0].content}\n\n{description}")
    else:
        out.insert(0, Message(role="system", content=description))
    return out


def extract_tool_calls(text: str, tools: Sequence[ToolDefinition]) -> tuple[str | None, list[ToolCall]]:
    """Split generated text into its answer and any well-formed calls to tools that exist."""
    if not tools or _TOOL_OPEN not in text:
        return text, []
    known = {t.name for t in tools}
    calls: list[ToolCall] = []
    for i, match in enumerate(_TOOL_CALL.finditer(text)):
        try:
            data = json.loads(match.group(1))
        except json.JSONDecodeError:
            continue
        if not isinstance(data, dict):
            continue
        data = cast(dict[str, Any], data)
        name = data.get("name")
        arguments = data.get("arguments", {})
        if name in known and isinstance(arguments, dict):
            calls.append(ToolCall(id=f"call_{i}", name=str(name), arguments=dumps(arguments)))
    if not calls:
        return text, []
    rest = _TOOL_CALL.sub("", text).strip()
    return rest or None, calls


class ToolTextHolder:
    """Streams text through, holding back what may be the start of a tool call until it is known not to be."""

    def __init__(self) -> None:
        self.text = ""
        self._held = ""

    def feed(self, piece: str) -> str:
        """Take a piece of streamed text; return what can be shown now."""
        self.text += piece
        self._held += piece
        stripped = self._held.lstrip()
        if _TOOL_OPEN.startswith(stripped) or stripped.startswith(_TOOL_OPEN):
            return ""
        shown, self._held = self._held, ""
        return shown

    def rest(self) -> str:
        """What is still held back: shown at the end if it turned out not to be a tool call."""
        held, self._held = self._held, ""
        return held
