"""`/agents`, `/teams` and `/workflows` are one router (`routers/_components.py`); the run registry beneath
them: a run cancelled before its task starts ends CANCELLED and stored, like any other."""

from __future__ import annotations

import asyncio
from pathlib import Path

from stratus import Agent, App, RunOptions
from stratus.api._runs import RunRegistry
from stratus.messages import Message
from stratus.models.base import ModelRequest
from stratus.models.testing import FunctionModel
from stratus.run import RunStatus
from stratus.storage.sqlite import SqliteStore


def answer(messages: list[Message], params: ModelRequest) -> str:
    return f"echo: {messages[-1].content}"


# --- the run registry --------------------------------------------------------------------------------------


async def test_a_run_cancelled_before_its_task_starts_ends_cancelled_and_is_stored(tmp_path: Path) -> None:
    app = App(agents=[Agent(id="helper", model=FunctionModel(answer))], store=SqliteStore(tmp_path / "r.db"))
    app.attach_store()
    registry = RunRegistry()
    run = app.get_agent("helper").execution("hi", RunOptions(session_id="s1"))

    active = registry.start(run, stream=False)
    assert registry.cancel(run.output.run_id)  # in the same tick: its task has not run a line yet
    out = await asyncio.wait_for(registry.wait(active), 5)

    assert out.status is RunStatus.CANCELLED
    stored = await app.store.get_run(out.run_id)
    assert stored is not None
    assert stored.status is RunStatus.CANCELLED
    assert registry.get(out.run_id) is None
