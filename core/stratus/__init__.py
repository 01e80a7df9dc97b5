"""stratus: agents, teams and workflows, served as a production API on AWS serverless or on your laptop.

    from stratus import Agent, App, tool

    @tool
    def add(a: int, b: int) -> int:
        \"\"\"Add two numbers.\"\"\"
        return a + b

    agent = Agent(name="Calculator", model="openai:gpt-4o-mini", tools=[add])
    app = App(agents=[agent])  # teams=[Team(...)], workflows=[Workflow(...)] too

Importing `stratus` loads nothing heavy: the names below load on first use, and SDKs (openai, boto3,
llama_cpp, fastapi) only when a provider or the server needs them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stratus._runnable import RunOptions
    from stratus.agent import Agent
    from stratus.app import App
    from stratus.deadline import run_deadline
    from stratus.exceptions import (
        ConfigError,
        ModelError,
        ModelTimeoutError,
        NotFoundError,
        OutputValidationError,
        RunCancelledError,
        RunLimitExceeded,
        RunTimeoutError,
        SchemaVersionError,
        StoreError,
        StratusError,
        ToolDefinitionError,
        ToolError,
    )
    from stratus.media import File, Image
    from stratus.messages import Message, ToolCall, Usage
    from stratus.models.base import Model
    from stratus.run import RunContext, RunEvent, RunOutput, RunStatus
    from stratus.storage.base import Store
    from stratus.team import Team
    from stratus.tools import Tool, Toolkit, tool
    from stratus.workflow import Condition, Loop, Parallel, Router, Step, StepInput, StepOutput, Steps, Workflow

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "Agent": "stratus.agent",
    "App": "stratus.app",
    "Condition": "stratus.workflow",
    "Loop": "stratus.workflow",
    "Parallel": "stratus.workflow",
    "Router": "stratus.workflow",
    "Step": "stratus.workflow",
    "StepInput": "stratus.workflow",
    "StepOutput": "stratus.workflow",
    "Steps": "stratus.workflow",
    "Team": "stratus.team",
    "Workflow": "stratus.workflow",
    "ConfigError": "stratus.exceptions",
    "File": "stratus.media",
    "Image": "stratus.media",
    "Message": "stratus.messages",
    "Model": "stratus.models.base",
    "ModelError": "stratus.exceptions",
    "ModelTimeoutError": "stratus.exceptions",
    "NotFoundError": "stratus.exceptions",
    "OutputValidationError": "stratus.exceptions",
    "RunCancelledError": "stratus.exceptions",
    "RunContext": "stratus.run",
    "RunEvent": "stratus.run",
    "RunLimitExceeded": "stratus.exceptions",
    "RunTimeoutError": "stratus.exceptions",
    "RunOptions": "stratus._runnable",
    "RunOutput": "stratus.run",
    "RunStatus": "stratus.run",
    "SchemaVersionError": "stratus.exceptions",
    "Store": "stratus.storage.base",
    "StoreError": "stratus.exceptions",
    "StratusError": "stratus.exceptions",
    "Tool": "stratus.tools",
    "ToolCall": "stratus.messages",
    "ToolDefinitionError": "stratus.exceptions",
    "ToolError": "stratus.exceptions",
    "Toolkit": "stratus.tools",
    "Usage": "stratus.messages",
    "tool": "stratus.tools",
    "run_deadline": "stratus.deadline",
}

__all__ = [
    "Agent",
    "App",
    "Condition",
    "ConfigError",
    "File",
    "Image",
    "Loop",
    "Message",
    "Model",
    "ModelError",
    "ModelTimeoutError",
    "NotFoundError",
    "OutputValidationError",
    "Parallel",
    "Router",
    "RunCancelledError",
    "RunContext",
    "RunEvent",
    "RunLimitExceeded",
    "RunOptions",
    "RunOutput",
    "RunStatus",
    "RunTimeoutError",
    "SchemaVersionError",
    "Step",
    "StepInput",
    "StepOutput",
    "Steps",
    "Store",
    "StoreError",
    "StratusError",
    "Team",
    "Tool",
    "ToolCall",
    "ToolDefinitionError",
    "ToolError",
    "Toolkit",
    "Usage",
    "Workflow",
    "__version__",
    "run_deadline",
    "tool",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'stratus' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
