"""Cold start of each Lambda function: how long its module takes to import (what Lambda's INIT phase runs)
and the process' peak memory, median of 5 fresh processes each. Beside it, agno's AgentOS with its DynamoDB
store, imported and built the same way in the same run (agno installed by this script in its own virtualenv,
bench/.agno-venv).

    python bench/cold_start.py

Targets (issue 4): `health` <= 150 ms; `sessions` does not import openai; `agent_runs` <= 40% of agno's time.

Both sides build their app at import, as their functions do. The streamed `agent_runs` function is served by
uvicorn under the Lambda Web Adapter, so its figure includes importing uvicorn. Tracing is on, as deployed.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "core"))

from stratus.aws.functions import FUNCTIONS, FunctionKind  # noqa: E402

RUNS = 5
AGNO_VENV = ROOT / "bench" / ".agno-venv"
AGNO_PACKAGES = ["agno", "fastapi", "uvicorn", "boto3", "openai", "python-multipart", "sqlalchemy", "pyyaml"]

# Deployed-like environment; the model key sits in the environment only because this machine has no Secrets
# Manager to fetch it from at import (on AWS it comes from there, cached).
ENVIRONMENT = {
    "STRATUS_APP": "examples.demo:app",
    "STRATUS_DB": "dynamodb://stratus-bench?region=us-east-1&bucket=stratus-bench-runs",
    "STRATUS_AUTH": "api_key",
    "STRATUS_API_KEYS_SECRET": "arn:aws:secretsmanager:us-east-1:123456789012:secret:api-keys",
    "STRATUS_RUN_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/runs",
    "OPENAI_API_KEY": "sk-bench-not-used",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "POWERTOOLS_SERVICE_NAME": "stratus-bench",
}

OURS = """
import importlib, json, resource, sys, time
started = time.perf_counter()
if {stream}:
    import uvicorn  # the Web Adapter's process serves the function's app with uvicorn
importlib.import_module("functions.{name}")
elapsed = (time.perf_counter() - started) * 1000
print(json.dumps({{"ms": elapsed, "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "openai": "openai" in sys.modules, "fastapi": "fastapi" in sys.modules}}))
"""

AGNO = """
import json, resource, time
started = time.perf_counter()
from agno.agent import Agent
from agno.db.dynamo import DynamoDb
from agno.models.openai import OpenAIChat
from agno.os import AgentOS
db = DynamoDb(region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench")
agent = Agent(id="assistant", name="Assistant", model=OpenAIChat(id="gpt-4o-mini", api_key="sk-bench"), db=db)
app = AgentOS(agents=[agent]).get_app()
elapsed = (time.perf_counter() - started) * 1000
print(json.dumps({"ms": elapsed, "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "openai": True, "fastapi": True}))
"""


def measure(python: str, code: str, cwd: Path) -> dict[str, float | bool]:
    samples: list[dict[str, float | bool]] = []
    environment = {**os.environ, **ENVIRONMENT, "PYTHONPATH": str(cwd), "PYTHONDONTWRITEBYTECODE": "1"}
    for _ in range(RUNS):
        out = subprocess.run([python, "-c", code], cwd=cwd, env=environment, capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-3000:])
        samples.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {
        "ms": statistics.median(float(s["ms"]) for s in samples),
        "rss_mib": statistics.median(float(s["rss_mib"]) for s in samples),
        "openai": any(bool(s["openai"]) for s in samples),
        "fastapi": any(bool(s["fastapi"]) for s in samples),
    }


def agno_python() -> str:
    python = AGNO_VENV / "bin" / "python"
    if not python.exists():
        print(f"installing agno into {AGNO_VENV} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(AGNO_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *AGNO_PACKAGES], check=True)
    return str(python)


def layer_size() -> str:
    built = ROOT / "layers" / "build"
    if not (built / "python" / "stratus").exists():  # not built (or only a placeholder): build one to measure
        with tempfile.TemporaryDirectory() as folder:
            subprocess.run(
                [sys.executable, str(ROOT / "layers" / "build.py"), "--target", folder],
                check=True,
                capture_output=True,
            )
            size = sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file())
    else:
        size = sum(f.stat().st_size for f in built.rglob("*") if f.is_file())
    return f"{size / 1024 / 1024:.1f} MB unzipped"


def main() -> int:
    print(
        f"stratus cold starts, {time.strftime('%Y-%m-%d')}, Python {platform.python_version()}, "
        f"{platform.machine()} x{os.cpu_count()}; median of {RUNS} fresh processes"
    )
    agno = measure(agno_python(), AGNO, ROOT)
    results: dict[str, dict[str, float | bool]] = {}
    for spec in FUNCTIONS:
        code = OURS.format(name=spec.name, stream=spec.kind is FunctionKind.STREAM)
        results[spec.name] = measure(sys.executable, code, ROOT)
    width = max(len(name) for name in results)
    for name, r in results.items():
        print(
            f"  {name:<{width}}  {r['ms']:7.1f} ms  {r['rss_mib']:6.1f} MiB peak  "
            f"fastapi={'yes' if r['fastapi'] else 'no '}  openai={'yes' if r['openai'] else 'no '}"
        )
    print(f"  {'agno AgentOS + DynamoDb':<{width}}  {agno['ms']:7.1f} ms  {agno['rss_mib']:6.1f} MiB peak")
    print(f"  layer: {layer_size()}")
    checks = {
        "health <= 150 ms": float(results["health"]["ms"]) <= 150,
        "sessions does not import openai": not results["sessions"]["openai"],
        "agent_runs <= 40% of agno": float(results["agent_runs"]["ms"]) <= 0.4 * float(agno["ms"]),
    }
    ratio = float(results["agent_runs"]["ms"]) / float(agno["ms"])
    print(f"  agent_runs / agno = {ratio:.0%}")
    for check, ok in checks.items():
        print(f"  target {check}: {'ok' if ok else 'MISSED'}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
