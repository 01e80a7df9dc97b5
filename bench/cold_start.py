"""Cold start of each Lambda function: how long its module takes to import (what Lambda's INIT phase runs)
and the process' peak memory, median of 5 fresh processes each. Beside it, agno's AgentOS with its DynamoDB
store, imported and built the same way in the same run (agno installed by this script in its own virtualenv,
bench/.agno-venv).

    python bench/cold_start.py

Targets (issue 17): every API function (buffered or streamed) <= 300 ms, `agent_runs` <= 250 ms and <= 25% of
agno's time; from issue 4, `health` <= 150 ms and `sessions` does not import openai.

Beside each function, its floor: a fresh process importing only the third-party packages the function needs
(Powertools and boto3; FastAPI with Mangum for a buffered function, with uvicorn for a streamed one; a
protocol's SDK), and what the function costs above it. The floor moves with the machine; what is above it is
this project's own.

Both sides build their app at import, as their functions do. The streamed `agent_runs` function is served by
uvicorn under the Lambda Web Adapter, so its figure includes importing uvicorn. Tracing is on, as deployed,
and the environment carries the variables Lambda sets (`LAMBDA_TASK_ROOT` and the rest): Powertools and the
X-Ray SDK behave differently outside Lambda (there the SDK builds a sampler with two X-Ray clients; on
Lambda it patches every library it finds instead).
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

from stratus.aws.functions import FUNCTIONS, FunctionKind, FunctionSpec  # noqa: E402

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
    # What Lambda sets in every execution environment (Powertools and the X-Ray SDK read them).
    "LAMBDA_TASK_ROOT": str(ROOT),
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
    "AWS_LAMBDA_FUNCTION_NAME": "stratus-bench",
    "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
    "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
}

_PROTOCOL_SDKS: dict[str, tuple[str, ...]] = {
    "mcp": ("mcp.server.mcpserver", "mcp.server.streamable_http_manager"),
    "a2a": ("a2a.server.routes", "a2a.types"),
    "agui": ("ag_ui.core", "ag_ui.encoder"),
}
"""What each protocol's function imports from its SDK (stratus.interfaces)."""


def floor_modules(spec: FunctionSpec) -> tuple[str, ...]:
    """The third-party modules a function needs at INIT whatever this project does: Powertools' logger and
    metrics, boto3 (its store and queues), and for a route function FastAPI with Mangum (buffered) or
    uvicorn (streamed), plus a protocol's SDK."""
    modules = ["aws_lambda_powertools.logging", "aws_lambda_powertools.metrics", "boto3"]
    if spec.kind is FunctionKind.API and spec.routers != ("health",):
        modules += ["fastapi", "mangum"]
    if spec.kind is FunctionKind.STREAM:
        modules += ["fastapi", "uvicorn"]
    return (*modules, *_PROTOCOL_SDKS.get(spec.name, ()))


_START = """
import importlib, json, resource, sys, time
started, cpu = time.perf_counter(), time.process_time()
"""

_REPORT = """
print(json.dumps({
    "ms": (time.perf_counter() - started) * 1000,
    "cpu_ms": (time.process_time() - cpu) * 1000,  # what a machine loaded by other work changes least
    "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "openai": "openai" in sys.modules,
    "fastapi": "fastapi" in sys.modules,
}))
"""

OURS = """
if {stream}:
    import uvicorn  # the Web Adapter's process serves the function's app with uvicorn
importlib.import_module("functions.{name}")
"""

FLOOR = """
for module in {modules!r}:
    importlib.import_module(module)
"""

AGNO = """
from agno.agent import Agent
from agno.db.dynamo import DynamoDb
from agno.models.openai import OpenAIChat
from agno.os import AgentOS
db = DynamoDb(region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench")
agent = Agent(id="assistant", name="Assistant", model=OpenAIChat(id="gpt-4o-mini", api_key="sk-bench"), db=db)
app = AgentOS(agents=[agent]).get_app()
"""


Sample = dict[str, float | bool]


def measure(*programs: tuple[str, str], cwd: Path = ROOT) -> list[Sample]:
    """Each `(python, code)` program run RUNS times in fresh processes, taking turns (so a machine shared with
    other work loads them alike); the medians of each."""
    # The checkout's own package first: the virtualenv's editable install points at one checkout only, and a
    # side-by-side run imports another (e.g. a worktree of an older commit).
    path = os.pathsep.join([str(cwd / "core"), str(cwd)])
    environment = {**os.environ, **ENVIRONMENT, "PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "1"}
    samples: list[list[Sample]] = [[] for _ in programs]
    for _ in range(RUNS):
        for (python, code), taken in zip(programs, samples, strict=True):
            program = _START + code + _REPORT
            out = subprocess.run([python, "-c", program], cwd=cwd, env=environment, capture_output=True, text=True)
            if out.returncode != 0:
                raise RuntimeError(out.stderr[-3000:])
            taken.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return [
        {
            "ms": statistics.median(float(s["ms"]) for s in taken),
            "cpu_ms": statistics.median(float(s["cpu_ms"]) for s in taken),
            "rss_mib": statistics.median(float(s["rss_mib"]) for s in taken),
            "openai": any(bool(s["openai"]) for s in taken),
            "fastapi": any(bool(s["fastapi"]) for s in taken),
        }
        for taken in samples
    ]


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


def compile_bytecode(root: Path) -> None:
    """Compile `root`'s stratus package, as the layer ships it (layers/build.py): in a working tree most .pyc
    files are stale, and each stale module would be compiled from source at every start measured."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(root / "core" / "stratus")], check=True)


def main() -> int:
    compile_bytecode(ROOT)
    print(
        f"stratus cold starts, {time.strftime('%Y-%m-%d')}, Python {platform.python_version()}, "
        f"{platform.machine()} x{os.cpu_count()}; median of {RUNS} fresh processes"
    )
    results: dict[str, Sample] = {}
    agno: Sample = {}
    for spec in FUNCTIONS:
        ours = (sys.executable, OURS.format(name=spec.name, stream=spec.kind is FunctionKind.STREAM))
        floor = (sys.executable, FLOOR.format(modules=floor_modules(spec)))
        if spec.name == "agent_runs":  # the ratio's two sides in the same minutes
            results[spec.name], floor_of, agno = measure(ours, floor, (agno_python(), AGNO))
        else:
            results[spec.name], floor_of = measure(ours, floor)
        results[spec.name]["floor"] = floor_of["ms"]
        results[spec.name]["floor_cpu"] = floor_of["cpu_ms"]
    width = max(len(name) for name in [*results, "agno AgentOS + DynamoDb"])
    print(f"  {'':<{width}}  {'INIT':>9}  {'floor':>9}  {'above':>9}   CPU: {'INIT':>9}  {'floor':>9}  {'above':>9}")
    for name, r in results.items():
        ms, floor, cpu, floor_cpu = (float(r[k]) for k in ("ms", "floor", "cpu_ms", "floor_cpu"))
        print(
            f"  {name:<{width}}  {ms:6.1f} ms  {floor:6.1f} ms  {ms - floor:+6.1f} ms        "
            f"{cpu:6.1f} ms  {floor_cpu:6.1f} ms  {cpu - floor_cpu:+6.1f} ms  {r['rss_mib']:5.1f} MiB peak  "
            f"fastapi={'yes' if r['fastapi'] else 'no '}  openai={'yes' if r['openai'] else 'no '}"
        )
    print(
        f"  {'agno AgentOS + DynamoDb':<{width}}  {agno['ms']:6.1f} ms  {'':>20}        {agno['cpu_ms']:6.1f} ms  "
        f"{'':>20}  {agno['rss_mib']:5.1f} MiB peak"
    )
    print(f"  layer: {layer_size()}")
    routes = [s.name for s in FUNCTIONS if s.kind in (FunctionKind.API, FunctionKind.STREAM)]
    slowest = max(routes, key=lambda name: float(results[name]["ms"]))
    agent_runs = float(results["agent_runs"]["ms"])
    checks = {
        f"every API function <= 300 ms (slowest: {slowest})": float(results[slowest]["ms"]) <= 300,
        "agent_runs <= 250 ms": agent_runs <= 250,
        "agent_runs <= 25% of agno": agent_runs <= 0.25 * float(agno["ms"]),
        "health <= 150 ms": float(results["health"]["ms"]) <= 150,
        "sessions does not import openai": not results["sessions"]["openai"],
    }
    cpu_ratio = float(results["agent_runs"]["cpu_ms"]) / float(agno["cpu_ms"])
    print(f"  agent_runs / agno = {agent_runs / float(agno['ms']):.0%} (CPU time: {cpu_ratio:.0%})")
    for check, ok in checks.items():
        print(f"  target {check}: {'ok' if ok else 'MISSED'}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
