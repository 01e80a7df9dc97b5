"""The servers `bench/http.py` measures, each served by uvicorn on loopback, one per process:

    python bench/_http_apps.py stratus instant|openai PORT DIR [MODEL_URL]   # stratus, SQLite in DIR
    python bench/_http_apps.py floor - PORT DIR                              # bare FastAPI, same form and shape
    bench/.agno-venv/bin/python bench/_http_apps.py agno instant|openai PORT DIR [MODEL_URL]   # agno's AgentOS

Every agent reads its last 3 runs from its session (history on) and answers "It is sunny.", at once from an
in-process model (`instant`) or from the OpenAI-format endpoint at MODEL_URL (`openai`). uvicorn runs the same
way for all three (asyncio loop, h11, no access log), so what differs is the framework.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds http.py: off the path, so `import http` finds the standard library's.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import json  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import AsyncIterator, Iterator, Sequence  # noqa: E402
from typing import Any, ClassVar  # noqa: E402

ANSWER = "It is sunny."


def stratus_app(model_kind: str, folder: str, model_url: str | None) -> Any:
    sys.path.append(str(Path(__file__).resolve().parents[1] / "core"))  # after PYTHONPATH: --before's tree
    from stratus import Agent, App
    from stratus.api import create_app
    from stratus.messages import Message, Usage
    from stratus.models.base import Model, ModelRequest, ModelResponse
    from stratus.models.openai import OpenAIChat
    from stratus.storage.sqlite import SqliteStore

    class InstantModel(Model):
        """Answers at once: zero model latency, so the time measured is the server's."""

        provider: ClassVar[str] = "Bench"
        id = "instant"

        async def request(self, messages: Sequence[Message], params: ModelRequest) -> ModelResponse:
            return ModelResponse(content=ANSWER, usage=Usage(10, 4, 14), finish_reason="stop")

    model: Model = (
        InstantModel() if model_kind == "instant" else OpenAIChat("gpt-4o-mini", api_key="sk-bench", base_url=model_url)
    )
    agent = Agent(id="assistant", name="Assistant", model=model, add_history_to_context=True, num_history_runs=3)
    app = App(agents=[agent], store=SqliteStore(os.path.join(folder, "stratus.db")))
    return create_app(app, auth=None, docs=False)


def agno_app(model_kind: str, folder: str, model_url: str | None) -> Any:
    os.environ["AGNO_TELEMETRY"] = "false"
    from agno.agent import Agent  # pyright: ignore[reportMissingImports]
    from agno.db.sqlite import SqliteDb  # pyright: ignore[reportMissingImports]
    from agno.models.openai import OpenAIChat  # pyright: ignore[reportMissingImports]
    from agno.os import AgentOS  # pyright: ignore[reportMissingImports]

    if model_kind != "openai":
        raise SystemExit("agno is measured against the OpenAI-format endpoint only")
    model = OpenAIChat(id="gpt-4o-mini", api_key="sk-bench", base_url=model_url)
    db = SqliteDb(db_file=os.path.join(folder, "agno.db"))
    agent = Agent(id="assistant", name="Assistant", model=model, db=db, add_history_to_context=True, num_history_runs=3)
    return AgentOS(agents=[agent], telemetry=False).get_app()


def floor_app() -> Any:
    """What a run route cannot do with less: FastAPI parsing the same form, answering a body of a run's shape
    (buffered) or its events (streamed), with nothing run and nothing stored."""
    from fastapi import FastAPI, Form
    from fastapi.responses import StreamingResponse

    api = FastAPI()

    def run_body(agent_id: str, session_id: str | None, message: str) -> dict[str, Any]:
        now = int(time.time())
        usage = {"input_tokens": 10, "output_tokens": 4, "total_tokens": 14}
        said = {"from_history": False, "stop_after_tool_call": False, "created_at": now}
        return {
            "run_id": str(uuid.uuid4()),
            "agent_id": agent_id,
            "agent_name": "Assistant",
            "session_id": session_id or str(uuid.uuid4()),
            "user_id": None,
            "content": ANSWER,
            "content_type": "str",
            "model_provider_data": None,
            "model": "instant",
            "model_provider": "Bench",
            "session_state": {},
            "created_at": now,
            "status": "COMPLETED",
            "metrics": {**usage, "time_to_first_token": 0.0, "duration": 0.0, "details": {"model": [usage]}},
            "messages": [
                {"id": str(uuid.uuid4()), "content": message, "role": "user", **said},
                {"id": str(uuid.uuid4()), "content": ANSWER, "role": "assistant", "metrics": usage, **said},
            ],
            "tools": [],
            "input": {"input_content": message},
        }

    def events(body: dict[str, Any]) -> Iterator[str]:
        """A run's six events, as stratus streams them: started, model request, content, ends."""
        head = {k: body[k] for k in ("created_at", "agent_id", "agent_name", "run_id", "session_id", "model")}
        content = {"content": ANSWER, "content_type": "str"}
        for kind, extra in [
            ("RunStarted", {}),
            ("ModelRequestStarted", {}),
            ("RunContent", content),
            ("ModelRequestCompleted", body["metrics"]),
            ("RunContentCompleted", {}),
            ("RunCompleted", body),
        ]:
            yield f"event: {kind}\ndata: {json.dumps({'event': kind, **head, **extra})}\n\n"

    @api.post("/agents/{agent_id}/runs", response_model=None)
    async def create_run(  # pyright: ignore[reportUnusedFunction]
        agent_id: str,
        message: str = Form(),
        stream: bool = Form(default=True),
        session_id: str | None = Form(default=None),
    ) -> Any:
        body = run_body(agent_id, session_id, message)
        if stream:

            async def sse() -> AsyncIterator[str]:
                for event in events(body):
                    yield event

            return StreamingResponse(sse(), media_type="text/event-stream")
        return body

    @api.get("/health")
    async def health() -> dict[str, str]:  # pyright: ignore[reportUnusedFunction]
        return {"status": "ok"}

    return api


def main() -> None:
    import uvicorn

    side, model_kind, port, folder = sys.argv[1:5]
    model_url = sys.argv[5] if len(sys.argv) > 5 else None
    if side == "stratus":
        app = stratus_app(model_kind, folder, model_url)
    elif side == "agno":
        app = agno_app(model_kind, folder, model_url)
    else:
        app = floor_app()
    profile = os.environ.get("BENCH_PROFILE")  # bench/http.py --profile: where the server's time goes
    if not profile:
        uvicorn.run(
            app, host="127.0.0.1", port=int(port), loop="asyncio", http="h11", log_level="warning", access_log=False
        )
        return
    import cProfile
    import signal

    # uvicorn re-raises the SIGTERM it stopped on once it is done: with this handler, that returns here.
    signal.signal(signal.SIGTERM, lambda *_: None)
    profiler = cProfile.Profile()
    profiler.enable()
    uvicorn.run(
        app, host="127.0.0.1", port=int(port), loop="asyncio", http="h11", log_level="warning", access_log=False
    )
    profiler.disable()
    profiler.dump_stats(profile)


if __name__ == "__main__":
    main()
