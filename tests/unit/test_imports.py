"""Importing stratus stays cheap: SDKs load when a provider or the server first needs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

HEAVY = ["openai", "boto3", "botocore", "llama_cpp", "fastapi", "starlette", "uvicorn", "httpx", "httpx2"]


def modules_after(code: str, env: dict[str, str] | None = None) -> set[str]:
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env, cwd=ROOT if env else None
    )
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


LAMBDA_ENV = {
    "STRATUS_APP": "examples.demo:app",
    "STRATUS_DB": "dynamodb://stratus-test?region=us-east-1&bucket=stratus-test-runs",
    "STRATUS_AUTH": "api_key",
    "STRATUS_API_KEYS_SECRET": "arn:aws:secretsmanager:us-east-1:123456789012:secret:api-keys",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "LAMBDA_TASK_ROOT": str(ROOT),  # as on Lambda: Powertools' Tracer is on and patches
    "AWS_LAMBDA_FUNCTION_NAME": "stratus-test",
}
"""A deployed function's environment (tracing on), as bench/cold_start.py measures it."""


def function_modules(name: str, then: str = "", app: str = LAMBDA_ENV["STRATUS_APP"]) -> set[str]:
    """The modules loaded by importing the Lambda function `functions/<name>.py` (its INIT) serving `app` (the
    demo by default), after running the checks in `then`."""
    env = {**os.environ, **LAMBDA_ENV, "STRATUS_APP": app}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "core"), str(ROOT)])
    env.pop("POWERTOOLS_TRACE_DISABLED", None)
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    return modules_after(f"import functions.{name}\n{then}", env)


def schema_modules(loaded: set[str]) -> set[str]:
    return {m.rsplit(".", 1)[-1] for m in loaded if m.startswith("stratus.api.schemas.")}


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


def test_a_function_builds_only_its_own_route_groups_schemas() -> None:
    """`stratus.api.schemas` loads a module when one of its names is first asked for: the runs function builds
    the models of runs and components, not those of sessions, memories, evals or the other groups."""
    agent_runs = function_modules("agent_runs")
    assert {"runs", "components", "errors"} <= schema_modules(agent_runs)
    assert not schema_modules(agent_runs) & {"evals", "learnings", "memories", "metrics", "knowledge", "traces"}
    assert "mangum" not in agent_runs  # its buffered fallback is built on first use (never, under the adapter)
    assert "aws_xray_sdk" not in agent_runs  # uvicorn serves it, outside Powertools' handler decorators
    # An app of agents only (the demo has a team and a workflow): describing agents loads neither engine.
    agents_only = function_modules("agent_runs", app="tests.fakes.agents_only_app:app")
    assert not {
        m for m in agents_only if m.startswith(("stratus.team", "stratus.workflow", "stratus.component_events"))
    }
    memories = function_modules("memories")
    assert {"memories", "learnings"} <= schema_modules(memories)
    assert not schema_modules(memories) & {"evals", "metrics", "knowledge", "traces", "components"}


def test_a_traced_function_patches_only_the_aws_sdk() -> None:
    """With tracing on (as deployed), a buffered function's Tracer patches botocore, whose calls it traces, and
    imports none of the other libraries the X-Ray SDK could patch (SQLAlchemy, httpx, requests...)."""
    loaded = function_modules("sessions")
    assert "aws_xray_sdk.ext.botocore.patch" in loaded
    assert not {m.split(".")[0] for m in loaded} & {"sqlalchemy", "httpx", "requests", "sqlite3", "pymysql"}
    assert not {m for m in loaded if m.startswith("aws_xray_sdk.ext.") and ".botocore" not in m} - {
        "aws_xray_sdk.ext",
        "aws_xray_sdk.ext.util",
        "aws_xray_sdk.ext.boto_utils",
    }


def test_a_function_imports_the_aws_sdk_at_init_and_builds_no_client() -> None:
    """What the first request would import (boto3, Powertools' secrets provider) is imported at INIT, on its
    boosted CPU; no client is built (the store's and queues' are built on first use)."""
    no_client = "import boto3\nassert boto3.DEFAULT_SESSION is None, 'a client was built at INIT'"
    for name in ("agent_runs", "health", "authorizer", "run_worker"):
        loaded = function_modules(name, then=no_client)
        assert {"boto3", "botocore.config", "aws_lambda_powertools.utilities.parameters"} <= loaded, name


def test_a_function_leaves_fastapis_openapi_models_unbuilt_and_its_own_built() -> None:
    """No function serves an OpenAPI document (API Gateway routes none to them), so FastAPI's document models
    build when one is first made; the API's own models, and pydantic's default config, are as usual."""
    check = (
        "import fastapi.openapi.models as openapi\n"
        "from pydantic import BaseModel\n"
        "from stratus.api.schemas import ErrorDetail, SessionSchema\n"
        "assert not openapi.OpenAPI.__pydantic_complete__, 'built at INIT'\n"
        "assert SessionSchema.__pydantic_complete__ and ErrorDetail.__pydantic_complete__\n"
        "assert BaseModel.model_config == {}, BaseModel.model_config\n"
        "from stratus.api import create_app\n"
        "from stratus.aws.bootstrap import lambda_app\n"
        "document = create_app(lambda_app(), routers=['sessions'], auth=None).openapi()\n"
        "assert '/sessions' in document['paths'] and openapi.OpenAPI.__pydantic_complete__\n"
    )
    assert "fastapi" in function_modules("sessions", then=check)
