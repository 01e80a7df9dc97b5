"""Messages exchanged with a model, the tool calls inside them and token usage.

Their dictionary shape is the one AgentOS returns in a run's `messages`, so stored runs and API answers
read the same to agno's clients.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal, cast

from stratus._utils import new_id, now

if TYPE_CHECKING:
    from stratus.media import File, Image

__all__ = ["Message", "Role", "ToolCall", "Usage"]

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(slots=True)
class ToolCall:
    """A model's request to call one tool; `arguments` is the raw JSON text the model wrote."""

    id: str
    name: str
    arguments: str = "{}"

    def parsed_arguments(self) -> dict[str, Any]:
        """The arguments as a dict; raises `ValueError` when the model wrote invalid JSON or a non-object."""
        text = self.arguments.strip() or "{}"
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"arguments are not valid JSON ({exc.msg} at position {exc.pos})") from None
        if not isinstance(value, dict):
            raise ValueError("arguments must be a JSON object")
        return cast(dict[str, Any], value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ToolCall:
        function = cast(dict[str, Any], data.get("function") or {})
        return cls(id=str(data["id"]), name=str(function["name"]), arguments=str(function.get("arguments", "{}")))


@dataclass(slots=True)
class Usage:
    """Token counts of one model request, or summed over a run."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    reasoning_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    @classmethod
    def counting_cache(cls, uncached_input: int, output: int, *, cache_read: int = 0, cache_write: int = 0) -> Usage:
        """Usage from a provider that counts cached input apart (Anthropic, Bedrock): stratus' `input_tokens`
        is all the input, cached included, as OpenAI counts it."""
        total_input = uncached_input + cache_read + cache_write
        return cls(
            input_tokens=total_input,
            output_tokens=output,
            total_tokens=total_input + output,
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
        )

    def add(self, other: Usage) -> None:
        """Add `other` into this usage in place."""
        for key in _USAGE_KEYS:
            setattr(self, key, getattr(self, key) + getattr(other, key))

    def to_dict(self) -> dict[str, int]:
        return {key: getattr(self, key) for key in _USAGE_KEYS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Usage:
        return cls(**{k: int(data.get(k) or 0) for k in _USAGE_KEYS})


_USAGE_KEYS = tuple(f.name for f in fields(Usage))
"""Every counter of a `Usage`, in order: what is summed, written and read back."""


@dataclass(slots=True)
class Message:
    """One message of a conversation: system, user, assistant (maybe with tool calls) or a tool result."""

    role: Role
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    tool_name: str | None = None
    tool_args: dict[str, Any] | None = None
    tool_call_error: bool | None = None
    from_history: bool = False
    provider_data: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    id: str = field(default_factory=new_id)
    created_at: int = field(default_factory=now)
    images: list[Image] | None = None
    """Images sent with a user message (`content` stays its text); stored as references, never bytes."""
    files: list[File] | None = None
    """Files sent with a user message, likewise."""

    def to_dict(self) -> dict[str, Any]:
        """The AgentOS shape: keys that carry nothing are left out."""
        out: dict[str, Any] = {"id": self.id}
        if self.content is not None:
            out["content"] = self.content
        out["from_history"] = self.from_history
        out["stop_after_tool_call"] = False
        out["role"] = self.role
        if self.tool_calls:
            out["tool_calls"] = [call.to_dict() for call in self.tool_calls]
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
            out["tool_name"] = self.tool_name
            out["tool_args"] = self.tool_args
            out["tool_call_error"] = bool(self.tool_call_error)
        if self.provider_data:
            out["provider_data"] = self.provider_data
        if self.metrics:
            out["metrics"] = self.metrics
        if self.images:
            out["images"] = [m.to_dict() for m in self.images]
        if self.files:
            out["files"] = [m.to_dict() for m in self.files]
        out["created_at"] = self.created_at
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        calls = data.get("tool_calls")
        images, files = data.get("images"), data.get("files")
        if images or files:
            from stratus.media import File, Image

            images = [Image.from_dict(m) for m in cast(list[dict[str, Any]], images or [])] or None
            files = [File.from_dict(m) for m in cast(list[dict[str, Any]], files or [])] or None
        return cls(
            role=cast(Role, data["role"]),
            content=data.get("content"),
            tool_calls=[ToolCall.from_dict(c) for c in cast(list[dict[str, Any]], calls)] if calls else None,
            tool_call_id=data.get("tool_call_id"),
            tool_name=data.get("tool_name"),
            tool_args=data.get("tool_args"),
            tool_call_error=data.get("tool_call_error"),
            from_history=bool(data.get("from_history", False)),
            provider_data=data.get("provider_data"),
            metrics=data.get("metrics"),
            id=str(data.get("id") or new_id()),
            created_at=int(data.get("created_at") or now()),
            images=images or None,
            files=files or None,
        )
