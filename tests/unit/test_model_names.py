"""Models named by `"provider:model-id"` strings, and `STRATUS_MODEL` as the model of agents that name none."""

from __future__ import annotations

import pytest

from stratus import Agent, Team
from stratus.exceptions import ConfigError
from stratus.models import default_model, infer_model
from stratus.models.openai import OpenAIChat


def test_provider_strings_build_their_models() -> None:
    assert isinstance(infer_model("openai:gpt-4o-mini"), OpenAIChat)
    bedrock = infer_model("bedrock:us.amazon.nova-lite-v1:0")
    assert (type(bedrock).__name__, bedrock.id) == ("BedrockChat", "us.amazon.nova-lite-v1:0")
    anthropic = infer_model("anthropic:claude-haiku-4-5")
    assert (type(anthropic).__name__, anthropic.id) == ("AnthropicChat", "claude-haiku-4-5")
    with pytest.raises(ConfigError, match="name the Bedrock model"):
        infer_model("bedrock:")
    with pytest.raises(ConfigError, match="known providers"):
        infer_model("nope:x")


def test_stratus_model_names_the_model_of_agents_and_teams_that_name_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRATUS_MODEL", raising=False)
    assert default_model() is None
    with pytest.raises(ConfigError, match="STRATUS_MODEL"):
        Agent(id="bare").get_model()

    monkeypatch.setenv("STRATUS_MODEL", "bedrock:us.amazon.nova-lite-v1:0")
    assert Agent(id="bare").get_model().id == "us.amazon.nova-lite-v1:0"
    assert Team(id="crew", members=[Agent(id="m")]).get_model().id == "us.amazon.nova-lite-v1:0"
    # a model the agent names wins
    assert Agent(id="own", model="openai:gpt-4o").get_model().id == "gpt-4o"
