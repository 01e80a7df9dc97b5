"""The functions' code, staged at synth time with plain file copies (no Docker, no bundling): `functions/`
and the app's top-level package. The packages they import come from the shared layer."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

from infra.config import InfraConfigError, StratusConfig
from stratus.aws.functions import FunctionKind, FunctionSpec

__all__ = ["RUN_SCRIPT", "CodeStager", "run_script"]

RUN_SCRIPT = "run.sh"
"""The handler of a streamed function: the Lambda Web Adapter runs it to start the web server."""

_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache", ".ruff_cache")


def run_script(spec: FunctionSpec) -> str:
    """The `run.sh` that serves a streamed function's ASGI app with uvicorn behind the Lambda Web Adapter."""
    return (
        "#!/bin/sh\n"
        "# The runtime adds the layer's /opt/python to the path only for its own handler, not for this script.\n"
        'export PYTHONPATH="/opt/python:${LAMBDA_RUNTIME_DIR:-/var/runtime}${PYTHONPATH:+:$PYTHONPATH}"\n'
        f'exec python -m uvicorn {spec.module}:app --host 127.0.0.1 --port "${{AWS_LWA_PORT:-8080}}"\n'
    )


class CodeStager:
    """Copies the code every function needs into directories under `staging_root`, one per distinct bundle:
    one shared by the buffered and queue functions, and one per streamed function (which adds its `run.sh`).

    Args:
        config: Where the code lives and which app it serves.
        staging_root: A directory of its own (under the cloud assembly), emptied before use.
    """

    def __init__(self, config: StratusConfig, staging_root: Path) -> None:
        self._config = config
        self._root = staging_root
        self._staged: dict[str, Path] = {}
        self._check_sources()

    def directory_for(self, spec: FunctionSpec) -> Path:
        """The staged directory that is `spec`'s code asset."""
        module = self._config.code_root / "functions" / f"{spec.name}.py"
        if not module.is_file():
            raise InfraConfigError(f"function {spec.name!r} has no handler module: {module} does not exist")
        bundle = spec.name if spec.kind is FunctionKind.STREAM else "shared"
        if bundle not in self._staged:
            self._staged[bundle] = self._stage(bundle, spec if spec.kind is FunctionKind.STREAM else None)
        return self._staged[bundle]

    def _check_sources(self) -> None:
        functions = self._config.code_root / "functions"
        if not functions.is_dir():
            raise InfraConfigError(f"{functions} does not exist: the Lambda handlers live there")
        self._app_source()

    def _app_source(self) -> Path:
        root, package = self._config.code_root, self._config.app_package
        for candidate in (root / package, root / f"{package}.py"):
            if candidate.exists():
                return candidate
        raise InfraConfigError(f"the app {self._config.app!r} is neither {root / package}/ nor {package}.py")

    def _stage(self, bundle: str, stream: FunctionSpec | None) -> Path:
        target = self._root / bundle
        if target.exists():
            shutil.rmtree(target)  # a stale copy would ship deleted modules
        target.mkdir(parents=True)
        shutil.copytree(self._config.code_root / "functions", target / "functions", ignore=_IGNORED)
        source = self._app_source()
        if source.is_dir():
            shutil.copytree(source, target / source.name, ignore=_IGNORED)
        else:
            shutil.copy2(source, target / source.name)
        if stream is not None:
            script = target / RUN_SCRIPT
            script.write_text(run_script(stream), encoding="utf-8")
            script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return target
