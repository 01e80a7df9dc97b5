"""A path corpus against FileTools through the live server: an agent whose model calls whatever file tool the
request names, with adversarial paths (traversal, absolute, encoded, Windows-style, NUL bytes, look-alike
dots, symlinks leading out, a symlink loop, a hard link to an outside file, the base itself). Not one answer
carries the outside files' secret, not one byte outside the base changes, the read-only agent writes nothing,
and each refusal is a tool error the model reads, never a failed run or a 5xx."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Server, start_server, stop_server

pytestmark = pytest.mark.e2e

SECRET = f"SECRET-{uuid.uuid4()}"

# Paths that lead (or try to lead) outside the base. Reads of each must not show the secret.
ESCAPES = [
    "../outside/secret.txt",
    "../../outside/secret.txt",
    "./../outside/secret.txt",
    "sub/../../outside/secret.txt",
    "sub/../sub/../../outside/secret.txt",
    "sub/./../../outside/secret.txt",
    "..",
    "../",
    "../outside",
    "/etc/passwd",
    "//etc/passwd",
    "/../etc/passwd",
    "{outside}/secret.txt",  # the absolute path of the outside file
    "{base}/../outside/secret.txt",  # absolute, through the base
    "%2e%2e/outside/secret.txt",  # URL-encoding is not decoded: a missing name inside
    "%2e%2e%2foutside%2fsecret.txt",
    "..%2foutside%2fsecret.txt",
    "..\\outside\\secret.txt",
    "sub\\..\\..\\outside\\secret.txt",
    "secret.txt\x00.md",
    "../outside/secret.txt\x00",
    "\uff0e\uff0e/outside/secret.txt",  # fullwidth dots
    "\u2024\u2024/outside/secret.txt",  # one-dot leaders
    "link_out/secret.txt",  # a symlink inside the base to the outside folder
    "link_out",
    "link_secret",  # a symlink to the outside file
    "link_chain/secret.txt",  # a symlink to that symlink
    "link_abs/passwd",  # a symlink to /etc
    "link_root/etc/passwd",  # a symlink to /
    "link_up/outside/secret.txt",  # a symlink to ..
    "link_loop",  # a symlink to itself
    "link_loop/x",
    "sub/link_back/../outside/secret.txt",
    "~/.bashrc",
    "$HOME/.bashrc",
    "~root/.bashrc",
    "a" * 5000,
    "/".join(["sub"] * 300),
    "\n../outside/secret.txt",
    " ../outside/secret.txt",
    "file:///etc/passwd",
    "../outside/*",
]


def _layout(root: Path) -> tuple[Path, Path]:
    base, outside = root / "base", root / "outside"
    (base / "sub").mkdir(parents=True)
    outside.mkdir()
    (base / "notes.txt").write_text("inside notes\n")
    (base / "sub" / "inner.txt").write_text("inner\n")
    (outside / "secret.txt").write_text(f"{SECRET}\n")
    (outside / "hard.txt").write_text(f"{SECRET} (hard)\n")
    os.link(outside / "hard.txt", base / "hard_link.txt")
    for name, target in {
        "link_out": "../outside",
        "link_secret": "../outside/secret.txt",
        "link_chain": "link_out",
        "link_abs": "/etc",
        "link_root": "/",
        "link_up": "..",
        "link_loop": "link_loop",
        "link_in": "sub",
    }.items():
        (base / name).symlink_to(target)
    (base / "sub" / "link_back").symlink_to("..")
    return base, outside


def _snapshot(folder: Path) -> dict[str, str]:
    """Every entry under `folder` (not following links) with a digest of what it is."""
    entries: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            entries[str(path.relative_to(folder))] = "->" + os.readlink(path)
        elif path.is_file():
            entries[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            entries[str(path.relative_to(folder))] = "dir"
    return entries


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _layout(tmp_path_factory.mktemp("paths"))


@pytest.fixture(scope="module")
def server(workspace: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base, _ = workspace
    live = start_server(
        tmp_path_factory.mktemp("server"), app="tests.fakes.apps:files_app", env={"STRATUS_TEST_FILES_BASE": str(base)}
    )
    yield live
    stop_server(live)


def _call(server: Server, agent: str, tool: str, **args: Any) -> dict[str, Any]:
    """One run whose model calls `tool(**args)`; the run's one tool execution."""
    message = json.dumps({"tool": tool, "args": args})
    response = httpx.post(f"{server.url}/agents/{agent}/runs", data={"message": message, "stream": "false"}, timeout=60)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "COMPLETED", body
    (execution,) = body["tools"]
    return execution


def _path(template: str, workspace: tuple[Path, Path]) -> str:
    base, outside = workspace
    return template.replace("{base}", str(base)).replace("{outside}", str(outside))


def test_the_corpus_is_large_enough() -> None:
    assert len(ESCAPES) >= 40


@pytest.mark.parametrize("template", ESCAPES)
def test_no_path_reads_or_lists_anything_outside_the_base(
    server: Server, workspace: tuple[Path, Path], template: str
) -> None:
    path = _path(template, workspace)
    for tool, args in (
        ("read_file", {"path": path}),
        ("list_files", {"path": path, "recursive": True}),
        ("search_files", {"query": "SECRET", "path": path}),
    ):
        execution = _call(server, "files", tool, **args)
        assert SECRET not in str(execution["result"]), f"{tool}({path!r}) leaked: {execution['result'][:200]}"


@pytest.mark.parametrize("template", [*ESCAPES, "hard_link.txt"])
def test_no_path_writes_or_edits_anything_outside_the_base(
    server: Server, workspace: tuple[Path, Path], template: str
) -> None:
    _base, outside = workspace
    before = _snapshot(outside)
    path = _path(template, workspace)
    for tool, args in (
        ("write_file", {"path": path, "content": "pwned"}),
        ("edit_file", {"path": path, "old_text": SECRET, "new_text": "pwned"}),
    ):
        execution = _call(server, "files", tool, **args)
        assert "pwned" not in Path(outside / "secret.txt").read_text()
        assert SECRET not in str(execution["result"])
    assert _snapshot(outside) == before
    assert (outside / "hard.txt").read_text() == f"{SECRET} (hard)\n"


def test_the_read_only_agent_writes_nothing_anywhere(server: Server, workspace: tuple[Path, Path]) -> None:
    base, outside = workspace
    before = _snapshot(base), _snapshot(outside)
    for path in ("notes.txt", "new.txt", "sub/new.txt", *(_path(t, workspace) for t in ESCAPES[:10])):
        execution = _call(server, "reader", "write_file", path=path, content="pwned")
        assert execution["tool_call_error"], execution
    assert (_snapshot(base), _snapshot(outside)) == before


def test_inside_the_base_the_tools_work(server: Server, workspace: tuple[Path, Path]) -> None:
    """The control: the same calls on paths inside the base do their job, so the refusals above are refusals."""
    base, _ = workspace
    assert "inside notes" in _call(server, "files", "read_file", path="notes.txt")["result"]
    assert "inner" in _call(server, "files", "read_file", path="link_in/inner.txt")["result"]
    assert not _call(server, "files", "write_file", path="sub/written.txt", content="hello")["tool_call_error"]
    assert (base / "sub" / "written.txt").read_text() == "hello"
    assert "written.txt" in _call(server, "files", "list_files", path="sub")["result"]
