"""An app that serves agents only, as a deployment without teams or workflows does: its functions' cold starts
load neither engine (tests/unit/test_imports.py)."""

from __future__ import annotations

from stratus import Agent, App
from stratus.models.testing import FunctionModel

app = App(agents=[Agent(id="echo", name="Echo", model=FunctionModel(lambda messages, params: "echo"))])
