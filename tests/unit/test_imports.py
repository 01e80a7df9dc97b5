"""Importing stratus stays cheap: SDKs load when a provider or the server first needs them."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["openai", "boto3", "botocore", "llama_cpp", "fastapi", "starlette", "uvicorn", "httpx", "httpx2"]


def modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_import_stratus_loads_no_sdk() -> None:
    loaded = modules_after("import stratus")
    assert not loaded & set(HEAVY)
    assert "pydantic" not in loaded


def test_declaring_an_agent_loads_no_sdk() -> None:
    loaded = modules_after(
        "from stratus import Agent, App, tool\n"
        "from stratus.models import OpenAIChat, LlamaCpp\n"
        "@tool\n"
        "def f(x: int) -> int:\n"
        "    '''Double.'''\n"
        "    return 2 * x\n"
        "app = App(agents=[Agent(name='a', model=OpenAIChat(), tools=[f]), Agent(name='b', model=LlamaCpp())])\n"
    )
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_the_public_names_resolve() -> None:
    import stratus

    for name in stratus.__all__:
        assert getattr(stratus, name) is not None


def test_serving_an_app_without_its_interfaces_imports_none_of_them() -> None:
    """MCP, A2A and AG-UI cost nothing where they are not served: neither their SDKs nor stratus' modules, for
    an app that serves none of them, nor for a function that serves other routes of an app that serves them all
    (as each Lambda function names its route groups)."""
    for build in (
        "create_app(App(agents=[agent]), auth=None)",
        "create_app(App(agents=[agent], mcp=True, a2a=True, agui=True), routers=['sessions'], auth=None)",
    ):
        loaded = modules_after(
            "from stratus import Agent, App\n"
            "from stratus.api import create_app\n"
            "from stratus.models.testing import FunctionModel\n"
            "agent = Agent(name='a', model=FunctionModel(lambda m, p: 'hi'))\n"
            f"{build}\n"
        )
        assert "fastapi" in loaded  # the app was built
        sdks = {"mcp", "a2a", "ag_ui"}
        assert not {m.split(".")[0] for m in loaded} & sdks, sorted(m for m in loaded if m.split(".")[0] in sdks)
        assert not {m for m in loaded if m.startswith("stratus.interfaces.")}, build
