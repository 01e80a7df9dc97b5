"""Run a function's handler with nothing importable but a built layer and the function code, as on Lambda.

    python3.12 -I -S layers/invoke.py --layer layers/build/python --code . agent_runs events/agent_run.json ...
    python3.12 -I -S layers/invoke.py --layer layers/build/python --code . --serve 8080 agent_runs

`-I -S` keep this interpreter's own site-packages (and PYTHON* variables, and the user's site) off sys.path,
so a package missing from the layer fails here as it would on Lambda; this script refuses to run without
them. It only uses the standard library until sys.path is the layer's python/ directory, the code root
(`functions/` and the app module, as in /var/task) and the standard library.

The handler module `functions/<name>.py` is imported once (a cold start), then called with each event in
turn, as one execution environment would be. Each event writes one JSON line to `--results` (stdout when
not given; the function's own logs go to stdout too): `{"event", "response"}` or `{"event", "error",
"traceback"}`. A last line tells where every imported module came from (`layer`,
`code`, and `outside`, which must stay empty) and, when `STRATUS_VECTOR_DB` is set, the vector store it names
and its client, built as a knowledge base would build them. `--serve PORT` instead serves the function's
ASGI `app` with uvicorn, as its `run.sh` does under the Lambda Web Adapter.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import sysconfig
import time
import traceback
import uuid
from pathlib import Path
from typing import Any, TextIO


class Context:
    """What a handler reads from Lambda's context object."""

    def __init__(self, function_name: str, timeout_seconds: float) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024"))
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def isolate(layer: Path, code: Path) -> None:
    """Make sys.path the layer, the code and the standard library only."""
    leaks = [p for p in sys.path if "site-packages" in p or "dist-packages" in p]
    if leaks or not sys.flags.no_site or not sys.flags.isolated:
        raise SystemExit(f"invoke: run with python -I -S, so nothing but the layer is importable (found {leaks})")
    sys.path[:] = [str(layer), str(code), *(p for p in sys.path if p and Path(p).resolve() != Path.cwd())]


def _under(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def origins(layer: Path, code: Path) -> dict[str, list[str]]:
    """The top-level modules imported from the layer and from the code, and any module from elsewhere."""
    paths = sysconfig.get_paths()
    stdlib = {Path(paths[key]).resolve() for key in ("stdlib", "platstdlib")}
    found: dict[str, set[str]] = {"layer": set(), "code": set(), "outside": set()}
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not file or name.startswith("__"):
            continue  # built in, frozen, a namespace package, or this script
        path = Path(file).resolve()
        if _under(path, layer):
            found["layer"].add(name.split(".")[0])
        elif _under(path, code):
            found["code"].add(name.split(".")[0])
        elif not any(_under(path, folder) for folder in stdlib):
            found["outside"].add(f"{name}: {path}")
    return {key: sorted(values) for key, values in found.items()}


def vector_db() -> dict[str, str] | None:
    """The store `STRATUS_VECTOR_DB` names and its client, built but not called (None when it is not set)."""
    if not os.environ.get("STRATUS_VECTOR_DB"):
        return None
    from stratus.knowledge.vectordb import vector_db_from_env

    db: Any = vector_db_from_env("layer-check", dimensions=4)
    client = getattr(db, "client", None)
    return {"store": type(db).__name__, "client": f"{type(client).__module__}.{type(client).__name__}"}


def invoke(function: str, events: list[Path], timeout_seconds: float, results: TextIO) -> None:
    module = importlib.import_module(f"functions.{function}")
    for path in events:
        event = json.loads(path.read_text())
        try:
            response = module.handler(event, Context(function, timeout_seconds))
            line = {"event": str(path), "response": response}
        except Exception as exc:  # one failed invocation is reported, and the next one still runs
            line = {"event": str(path), "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        results.write(json.dumps(line, default=str) + "\n")
        results.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a function's handler on events with only the layer.")
    parser.add_argument("--layer", type=Path, required=True, help="the layer's python/ directory")
    parser.add_argument("--code", type=Path, required=True, help="where functions/ and the app module are")
    parser.add_argument("--timeout", type=float, default=900.0, help="the function's timeout, in seconds")
    parser.add_argument("--serve", type=int, metavar="PORT", help="serve the function's ASGI app on this port")
    parser.add_argument("--results", type=Path, help="write the results here (default: stdout)")
    parser.add_argument("function", help="the function's name: functions/<name>.py")
    parser.add_argument("events", nargs="*", type=Path, help="event JSON files, invoked in order")
    args = parser.parse_args()
    layer, code = args.layer.resolve(), args.code.resolve()
    isolate(layer, code)
    if args.serve is not None:
        import uvicorn

        uvicorn.run(f"functions.{args.function}:app", host="127.0.0.1", port=args.serve, log_level="warning")
        return
    results = args.results.open("w") if args.results else sys.stdout
    invoke(args.function, args.events, args.timeout, results)
    report: dict[str, Any] = {"modules": origins(layer, code)}
    try:
        report["vector_db"] = vector_db()
    except Exception as exc:
        report["vector_db"] = {"error": f"{type(exc).__name__}: {exc}"}
    report["modules"] = origins(layer, code)  # again: building the vector store imports its client
    results.write(json.dumps(report) + "\n")
    results.close() if args.results else results.flush()


if __name__ == "__main__":
    main()
