"""The local model's process: llama.cpp's own OpenAI-compatible server (from xllamacpp's prebuilt wheel) on a
free loopback port, behind a per-process API key.

`LlamaCpp` starts it with `python -m stratus.models._llama_worker '<json config>'` and reads one JSON line,
`{"url": ...}`, from its stdout once the model is loaded. It serves until its stdin closes (the parent exited or
stopped it) or it gets SIGTERM. Running here, not in the serving process, a native crash of llama.cpp ends this
process only: the run that was using it ends in `RunError`, and the next request starts a new one.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
from typing import Any

__all__ = ["main"]


def _xllamacpp() -> Any:
    # xllamacpp ships no type information: treat the module as Any rather than silencing each use.
    return importlib.import_module("xllamacpp")


def _params(config: dict[str, Any]) -> Any:
    params: Any = _xllamacpp().CommonParams()
    params.model.path = str(config["model_path"])
    parallel = int(config["parallel"])
    params.n_parallel = parallel
    params.n_ctx = int(config["n_ctx"]) * parallel  # llama.cpp splits the context between its slots
    for cpu in (params.cpuparams, params.cpuparams_batch):
        if config.get("n_threads"):
            cpu.n_threads = int(config["n_threads"])
        # Threads sleep between jobs instead of spinning: on a busy machine (CI, two cores, other work) spinning
        # threads starve each other; measured here under load, 100 tokens took 24-27 s polling, 1-16 s not.
        cpu.poll = 0
    params.port = 0  # a free port, picked by the OS, reported on stdout
    params.api_keys = [str(config["api_key"])]  # only the process that started us may use the model
    params.use_jinja = True  # the model's own chat template, with tool calls where the template has them
    if config.get("chat_template"):  # a corrected copy of the model's template (see _local_models)
        params.chat_template = str(config["chat_template"])
    params.offline = True  # never reach for a hub
    # Keep weights in plain CPU buffers: the "extra" buffer types repack them for AMX (and other paths), and
    # llama.cpp's AMX mul_mat segfaults on some Xeons (ggml-org/llama.cpp#20824). xllamacpp's Linux wheels are
    # built without AMX anyway; this holds for any build that is swapped in.
    params.no_extra_bufts = True
    params.warmup = True
    params.verbosity = int(config.get("verbosity", 0))
    return params


def main(argv: list[str] | None = None) -> int:
    """Serve the model `argv[0]` (a JSON config) describes until stdin closes."""
    args = sys.argv[1:] if argv is None else argv
    config: dict[str, Any] = json.loads(args[0])
    try:
        server: Any = _xllamacpp().Server(_params(config))
    except Exception as exc:  # e.g. a file that is not a GGUF model: say so, and don't wait for llama.cpp's threads
        sys.stdout.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
        sys.stdout.flush()
        os._exit(1)
    sys.stdout.write(json.dumps({"url": str(server.listening_address), "pid": os.getpid()}) + "\n")
    sys.stdout.flush()
    with contextlib.suppress(KeyboardInterrupt):  # a terminal's Ctrl-C reaching the process group
        sys.stdin.read()  # returns when the parent closes our stdin, or dies
    os._exit(0)  # the parent is gone or done with us: no need to unwind llama.cpp's threads one by one


if __name__ == "__main__":  # pragma: no cover - run as a subprocess
    sys.exit(main())
