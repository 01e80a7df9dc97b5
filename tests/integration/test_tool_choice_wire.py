"""`tool_choice` and `tool_call_limit` as they cross the wire to OpenAI, Anthropic and Bedrock: each provider
through its real SDK, over real HTTP, against its fake server, which records what it was sent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from stratus import Agent, RunStatus
from stratus.messages import Message
from stratus.models.anthropic import AnthropicChat
from stratus.models.base import ModelRequest
from stratus.models.bedrock import BedrockChat
from stratus.models.openai import OpenAIChat
from stratus.secrets import clear_resolvers
from tests.fakes import anthropic_server as anthropic
from tests.fakes import bedrock_server as bedrock
from tests.fakes import openai_server as openai
from tests.fakes.tools import add


class Sum(BaseModel):
    total: int


ASK = [Message(role="user", content="What is 2 + 3?")]


def tools(choice: str | None, **more: Any) -> ModelRequest:
    return ModelRequest(tools=[add.definition()], tool_choice=choice, **more)


@pytest.fixture(autouse=True)
def _no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Fake AWS credentials, and nothing of this machine's configuration reaches the SDKs."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"):
        monkeypatch.delenv(name, raising=False)
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    yield
    clear_resolvers()


@pytest.mark.parametrize(
    ("choice", "sent"),
    [
        (None, None),
        ("auto", "auto"),
        ("none", "none"),
        ("required", "required"),
        ("add", {"type": "function", "function": {"name": "add"}}),
    ],
)
async def test_openai_gets_the_tool_choice(choice: str | None, sent: Any) -> None:
    with openai.FakeOpenAIServer(openai.TextReply("5")) as server:
        model = OpenAIChat("gpt-4o-mini", api_key="k", base_url=server.base_url)
        try:
            await model.request(ASK, tools(choice))
        finally:
            await model.aclose()
    assert server.bodies[0].get("tool_choice") == sent


@pytest.mark.parametrize(
    ("choice", "schema", "sent"),
    [
        (None, False, None),
        ("auto", False, None),
        ("none", False, {"type": "none"}),
        ("required", False, {"type": "any"}),
        ("add", False, {"type": "tool", "name": "add"}),
        ("none", True, {"type": "tool", "name": "Sum"}),  # the answer is a call of the answer tool
    ],
)
async def test_anthropic_gets_the_tool_choice(choice: str | None, schema: bool, sent: Any) -> None:
    structured: dict[str, Any] = {"output_schema": Sum.model_json_schema(), "output_name": "Sum"} if schema else {}
    reply = anthropic.ToolUseReply([anthropic.FakeToolUse("Sum", {"total": 5})]) if schema else anthropic.TextReply("5")
    with anthropic.FakeAnthropicServer(reply) as server:
        model = AnthropicChat(api_key="k", base_url=server.url)
        try:
            await model.request(ASK, tools(choice, **structured))
        finally:
            await model.aclose()
    assert server.requests[0].body.get("tool_choice") == sent


@pytest.mark.parametrize(
    ("choice", "sent"),
    [(None, None), ("auto", None), ("required", {"any": {}}), ("add", {"tool": {"name": "add"}})],
)
async def test_bedrock_gets_the_tool_choice(choice: str | None, sent: Any) -> None:
    with bedrock.FakeBedrockServer(bedrock.TextReply("5")) as server:
        model = BedrockChat("us.amazon.nova-lite-v1:0", endpoint_url=server.url, region="us-east-1")
        try:
            await model.request(ASK, tools(choice))
        finally:
            await model.aclose()
    config = server.requests[0].body["toolConfig"]
    assert config.get("toolChoice") == sent
    assert server.requests[0].tool_names == ["add"]


async def test_on_bedrock_a_run_past_its_tool_call_limit_is_sent_no_tools_and_its_calls_as_text() -> None:
    """Converse has no "none": the tools are left out, and the earlier calls and results go as text (the fake
    refuses tool blocks without a toolConfig, as Bedrock does)."""
    replies = [
        bedrock.ToolUseReply([bedrock.FakeToolUse("add", {"a": 2, "b": 3})]),
        bedrock.ToolUseReply([bedrock.FakeToolUse("add", {"a": 5, "b": 5})]),
        bedrock.TextReply("2 + 3 is 5."),
    ]
    with bedrock.FakeBedrockServer(*replies) as server:
        model = BedrockChat("us.amazon.nova-lite-v1:0", endpoint_url=server.url, region="us-east-1")
        try:
            out = await Agent(model=model, tools=[add], tool_call_limit=1).arun("What is 2 + 3?")
        finally:
            await model.aclose()
    assert out.status is RunStatus.COMPLETED, out.error
    assert out.content == "2 + 3 is 5."
    assert [r.tool_names for r in server.requests] == [["add"], [], []]
    last = server.requests[2].messages
    assert "toolUse" not in str(last)
    assert "Tool call limit reached" in str(last)
    assert [t.result for t in out.tools or []] == ["5"]
