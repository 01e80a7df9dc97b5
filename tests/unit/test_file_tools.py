"""`FileTools`: real files in a temporary folder. Nothing the model asks for reaches outside the base folder,
writes are atomic, limits hold, and disk trouble comes back as a clear error."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from stratus import Agent, ToolError
from stratus.models.testing import ScriptedModel, call
from stratus.tools.files import FileTools

SENTINEL = "TOP-SECRET-7f3a"


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    """A workspace (`base`) next to an `outside` folder holding a secret, and symlinks that lead out."""
    base = tmp_path / "work"
    outside = tmp_path / "outside"
    sibling = tmp_path / "work-evil"  # shares the base's name as a prefix
    for folder in (base / "sub" / "deep", outside, sibling):
        folder.mkdir(parents=True)
    (outside / "secret.txt").write_text(SENTINEL)
    (sibling / "secret.txt").write_text(SENTINEL)
    (tmp_path / "secret.txt").write_text(SENTINEL)
    (base / "hello.txt").write_text("hello\nworld\n")
    (base / "sub" / "notes.md").write_text("a note\n")
    (base / "link_out").symlink_to(outside, target_is_directory=True)
    (base / "link_file").symlink_to(outside / "secret.txt")
    (base / "link_abs_etc").symlink_to("/etc", target_is_directory=True)
    (base / "sub" / "link_up").symlink_to("../..", target_is_directory=True)
    (base / "chain1").symlink_to("chain2")
    (base / "chain2").symlink_to(outside / "secret.txt")
    (base / "loop_a").symlink_to("loop_b")
    (base / "loop_b").symlink_to("loop_a")
    (base / "link_inside").symlink_to("hello.txt")  # stays inside: allowed
    return base, outside


def snapshot(root: Path, skip: Path) -> dict[str, bytes]:
    """Every file under `root` except the workspace, with its content (symlinks not followed)."""
    found: dict[str, bytes] = {}
    for folder, dirs, files in os.walk(root):
        if Path(folder) == skip or skip in Path(folder).parents:
            continue
        dirs[:] = [d for d in dirs if Path(folder, d) != skip]
        for name in files:
            path = Path(folder, name)
            if not path.is_symlink():
                found[str(path)] = path.read_bytes()
    return found


def traversal_corpus(base: Path, outside: Path) -> list[str]:
    tmp = base.parent
    return [
        "../secret.txt",
        "../outside/secret.txt",
        "../../secret.txt",
        "sub/../../secret.txt",
        "./../secret.txt",
        "sub/./../../outside/secret.txt",
        "sub//..//..//outside//secret.txt",
        "sub/deep/../../../secret.txt",
        str(outside / "secret.txt"),
        str(tmp / "secret.txt"),
        "/" + str(outside / "secret.txt").lstrip("/"),
        "//" + str(outside / "secret.txt").lstrip("/"),
        str(base) + "/../outside/secret.txt",
        "../work-evil/secret.txt",
        str(tmp / "work-evil" / "secret.txt"),
        "link_out/secret.txt",
        "link_out",
        "link_file",
        "chain1",
        "sub/link_up/outside/secret.txt",
        "sub/link_up/secret.txt",
        "link_abs_etc/hostname",
        "loop_a",
        "..",
        "sub/../..",
        "%2e%2e/secret.txt",
        "%2e%2e%2fsecret.txt",
        "..%2fsecret.txt",
        "..%252f..%252fsecret.txt",
        "..\\secret.txt",
        "..\\..\\outside\\secret.txt",
        "\uff0e\uff0e/secret.txt",  # fullwidth dots
        "\u2024\u2024/secret.txt",  # one-dot leaders
        "..\u2215secret.txt",  # division slash
        "\u202e../secret.txt",  # right-to-left override
        "\u200b../secret.txt",  # zero-width space
        "../secret.txt\x00.md",
        "\x00",
        "\n../secret.txt",
        "~/../secret.txt",
        "file://" + str(outside / "secret.txt"),
        "a" * 5000,
        "x" * 300,
        "sub/" * 300 + "x",
        "../" * 40 + str(outside / "secret.txt").lstrip("/"),
    ]


def test_the_traversal_corpus_gets_zero_escapes(layout: tuple[Path, Path]) -> None:
    # given a workspace beside a secret, and a model that tries every known way out
    base, outside = layout
    files = FileTools(base)
    corpus = traversal_corpus(base, outside)
    assert len(corpus) >= 30
    before = snapshot(base.parent, skip=base)
    escapes: list[str] = []

    def attempt(label: str, action: Callable[[], str]) -> None:
        try:
            result = action()
        except ToolError:
            return
        if SENTINEL in result:
            escapes.append(f"{label}: {result[:80]!r}")

    # when each path is read, listed, searched, written and edited
    for path in corpus:
        attempt(f"read {path!r}", lambda p=path: files.read_file(p))
        attempt(f"list {path!r}", lambda p=path: files.list_files(p, recursive=True))
        attempt(f"search {path!r}", lambda p=path: files.search_files(SENTINEL, path=p))
        attempt(f"write {path!r}", lambda p=path: files.write_file(p, "PWNED"))
        attempt(f"edit {path!r}", lambda p=path: files.edit_file(p, SENTINEL, "PWNED"))

    # then nothing outside was read, and nothing outside was written or created
    assert escapes == []
    assert snapshot(base.parent, skip=base) == before


def test_escapes_are_refused_with_a_clear_message(layout: tuple[Path, Path]) -> None:
    base, outside = layout
    files = FileTools(base)

    with pytest.raises(ToolError, match="outside the workspace"):
        files.read_file("../outside/secret.txt")
    with pytest.raises(ToolError, match="outside the workspace"):
        files.read_file("link_file")
    with pytest.raises(ToolError, match="outside the workspace"):
        files.write_file(str(outside / "new.txt"), "x")
    with pytest.raises(ToolError, match="NUL byte"):
        files.read_file("hello.txt\x00")
    with pytest.raises(ToolError, match="too long"):
        files.read_file("a" * 5000)
    with pytest.raises(ToolError, match="longer than 255 bytes"):
        files.write_file("x" * 300, "x")


def test_paths_inside_the_workspace_work_however_they_are_spelled(layout: tuple[Path, Path]) -> None:
    base, _ = layout
    files = FileTools(base)

    assert files.read_file("hello.txt") == "hello\nworld\n"
    assert files.read_file("./sub/../hello.txt") == "hello\nworld\n"
    assert files.read_file(str(base / "hello.txt")) == "hello\nworld\n"
    assert files.read_file("link_inside") == "hello\nworld\n"  # a symlink that stays inside
    assert files.read_file("sub/link_up/work/hello.txt") == "hello\nworld\n"  # out and back in


def test_write_then_read_then_edit(tmp_path: Path) -> None:
    files = FileTools(tmp_path)

    assert files.write_file("pkg/mod.py", "def f():\n    return 1\n") == "Wrote 22 bytes to pkg/mod.py."
    assert files.edit_file("pkg/mod.py", "return 1", "return 2") == "Edited pkg/mod.py at line 2."

    assert files.read_file("pkg/mod.py") == "def f():\n    return 2\n"
    assert files.read_file("pkg/mod.py", start_line=2, end_line=2) == "    return 2\n"
    assert [p.name for p in (tmp_path / "pkg").iterdir()] == ["mod.py"]  # no temporary file left behind


def test_a_rewritten_file_keeps_its_permissions(tmp_path: Path) -> None:
    script = tmp_path / "run.sh"
    script.write_text("echo 1\n")
    script.chmod(0o750)

    FileTools(tmp_path).write_file("run.sh", "echo 2\n")

    assert script.stat().st_mode & 0o777 == 0o750
    assert script.read_text() == "echo 2\n"


def test_an_edit_whose_snippet_is_absent_or_ambiguous_fails_clearly(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x = 1\ny = 1\nx = 1\n")
    files = FileTools(tmp_path)

    with pytest.raises(ToolError, match="not found"):
        files.edit_file("a.txt", "z = 1", "z = 2")
    with pytest.raises(ToolError, match=r"appears 2 times in a.txt \(lines 1, 3\)"):
        files.edit_file("a.txt", "x = 1", "x = 2")
    with pytest.raises(ToolError, match="old_text is empty"):
        files.edit_file("a.txt", "", "x")

    assert (tmp_path / "a.txt").read_text() == "x = 1\ny = 1\nx = 1\n"


def test_concurrent_writes_never_leave_a_partial_file(tmp_path: Path) -> None:
    # given many writers, each with its own full content, and a reader watching the file
    files = FileTools(tmp_path, max_write_bytes=10_000_000)
    contents = [chr(ord("a") + i) * (200_000 + i) for i in range(12)]
    files.write_file("shared.txt", contents[0])
    seen: list[str] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer(content: str) -> None:
        try:
            for _ in range(15):
                files.write_file("shared.txt", content)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def reader() -> None:
        while not stop.is_set():
            seen.append((tmp_path / "shared.txt").read_text())

    # when they all write at once
    watcher = threading.Thread(target=reader)
    watcher.start()
    threads = [threading.Thread(target=writer, args=(c,)) for c in contents]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    watcher.join()

    # then every read saw one whole version, and the file ends as one of them
    assert errors == []
    assert seen
    assert all(s in contents for s in seen)
    assert (tmp_path / "shared.txt").read_text() in contents
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shared.txt"]


@pytest.mark.parametrize(
    ("failing", "code", "message"),
    [
        ("fsync", errno.ENOSPC, "the disk is full"),
        ("create", errno.EROFS, "the file system is read-only"),
        ("create", errno.EACCES, "permission denied"),
        ("replace", errno.ENOSPC, "the disk is full"),
    ],
)
def test_a_full_or_read_only_disk_is_a_clear_error_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str, code: int, message: str
) -> None:
    # given a file, and a disk that fails at one step of the write
    (tmp_path / "keep.txt").write_text("original")
    files = FileTools(tmp_path)

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code))

    real_open = os.open

    def fail_creating(path: str, flags: int, *args: object, **kwargs: object) -> int:
        if flags & os.O_CREAT:  # the temporary file; opening folders and files still works
            raise OSError(code, os.strerror(code))
        return real_open(path, flags, *args, **kwargs)  # pyright: ignore[reportArgumentType]

    if failing == "create":
        monkeypatch.setattr("os.open", fail_creating)
    else:
        monkeypatch.setattr({"fsync": "os.fsync", "replace": "os.replace"}[failing], fail)

    # when the model writes it
    with pytest.raises(ToolError, match=message):
        files.write_file("keep.txt", "new content")

    # then the old content is intact and no temporary file is left
    monkeypatch.undo()
    assert (tmp_path / "keep.txt").read_text() == "original"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_read_only_hides_and_refuses_every_write(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    files = FileTools(tmp_path, read_only=True)

    assert sorted(t.name for t in files.get_tools()) == ["list_files", "read_file", "search_files"]
    with pytest.raises(ToolError, match="read-only"):
        files.write_file("b.txt", "b")
    with pytest.raises(ToolError, match="read-only"):
        files.edit_file("a.txt", "a", "b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
    assert files.read_file("a.txt") == "a"


def test_size_limits_hold(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_text("line\n" * 1000)
    files = FileTools(tmp_path, max_read_bytes=1000, max_write_bytes=100)

    with pytest.raises(ToolError, match="over the read limit of 1000; read a range of lines"):
        files.read_file("big.txt")
    assert files.read_file("big.txt", start_line=10, end_line=11) == "line\nline\n"
    assert "stopped at the read limit" in files.read_file("big.txt", start_line=1, end_line=900)
    with pytest.raises(ToolError, match="over the write limit of 100"):
        files.write_file("new.txt", "x" * 101)
    assert not (tmp_path / "new.txt").exists()


def test_binary_files_fifos_and_folders_are_refused_without_hanging(tmp_path: Path) -> None:
    (tmp_path / "image.png").write_bytes(b"\x89PNG\x00\x00\x01")
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "folder").mkdir()
    files = FileTools(tmp_path)

    with pytest.raises(ToolError, match="binary file"):
        files.read_file("image.png")
    with pytest.raises(ToolError, match="not a regular file"):
        files.read_file("pipe")
    with pytest.raises(ToolError, match="not a regular file"):
        files.write_file("pipe", "x")
    with pytest.raises(ToolError, match="is a folder"):
        files.read_file("folder")
    with pytest.raises(ToolError, match="does not exist"):
        files.read_file("missing.txt")


def test_list_files_shows_the_tree_but_not_links_that_lead_out(layout: tuple[Path, Path]) -> None:
    base, _ = layout
    files = FileTools(base, max_list_entries=100)

    listing = files.list_files(".", recursive=True).splitlines()

    assert "hello.txt" in listing
    assert "sub/" in listing
    assert "sub/notes.md" in listing
    assert "link_inside" in listing
    assert not [line for line in listing if "link_out" in line or "link_file" in line or "link_up" in line]
    assert files.list_files("sub", pattern="*.md") == "sub/notes.md"


def test_list_files_stops_at_its_limit(tmp_path: Path) -> None:
    for i in range(30):
        (tmp_path / f"f{i:02}.txt").write_text("x")

    listing = FileTools(tmp_path, max_list_entries=10).list_files().splitlines()

    assert listing[:2] == ["f00.txt", "f01.txt"]
    assert listing[-1] == "... and 20 more entries (narrow with path or pattern)"


def test_search_finds_substrings_and_regexes_with_limits(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("def alpha():\n    return 'TODO'\n")
    (tmp_path / "b.txt").write_text("todo: write tests\n" * 5)
    (tmp_path / "blob.bin").write_bytes(b"TODO\x00\x01")
    files = FileTools(tmp_path, max_search_results=3)

    assert files.search_files("TODO", pattern="*.py") == "a.py:2:     return 'TODO'"
    found = files.search_files("todo", ignore_case=True).splitlines()
    assert found[:3] == ["a.py:2:     return 'TODO'", "b.txt:1: todo: write tests", "b.txt:2: todo: write tests"]
    assert found[3] == "... and 3 more matching lines (narrow the search)"
    assert files.search_files(r"def \w+\(", regex=True) == "a.py:1: def alpha():"
    assert files.search_files("nothing here") == "No matches."
    with pytest.raises(ToolError, match="invalid regular expression"):
        files.search_files("(", regex=True)


def test_every_tool_is_described_for_the_model(tmp_path: Path) -> None:
    tools = {t.name: t for t in FileTools(tmp_path).get_tools()}

    assert sorted(tools) == ["edit_file", "list_files", "read_file", "search_files", "write_file"]
    for t in tools.values():
        assert t.description
        for name, prop in t.parameters["properties"].items():
            assert prop.get("description"), f"{t.name}.{name} has no description"


async def test_an_agent_writes_edits_and_reads_a_file(tmp_path: Path) -> None:
    # given a model that writes a file, fixes it, then reads it back
    model = ScriptedModel(
        call("write_file", path="hello.py", content="print('helo')\n"),
        call("edit_file", path="hello.py", old_text="helo", new_text="hello"),
        call("read_file", path="hello.py"),
        call("read_file", path="../outside.txt"),
        "Done.",
    )
    agent = Agent(model=model, tools=[FileTools(tmp_path)])

    # when the agent runs
    out = await agent.arun("Write a hello script.")

    # then the file is right, and the escape attempt came back to the model as an error
    assert out.content == "Done."
    assert (tmp_path / "hello.py").read_text() == "print('hello')\n"
    results = [(t.tool_name, t.result, t.tool_call_error) for t in out.tools]
    assert results[2] == ("read_file", "print('hello')\n", False)
    assert results[3][2] is True
    assert "outside the workspace" in str(results[3][1])


def test_a_missing_base_folder_is_a_configuration_error(tmp_path: Path) -> None:
    from stratus import ConfigError

    with pytest.raises(ConfigError, match="cannot be used"):
        FileTools(tmp_path / "missing")


def test_importing_the_tools_package_loads_no_toolkit_library() -> None:
    probe = (
        "import sys, json, stratus.tools\n"
        "from stratus.tools import FileTools\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'sqlglot', 'mcp'))))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)

    assert json.loads(result.stdout) == []


# --- the fd walk: links, hard links, special files, odd names ------------------------------------------


def test_a_symlink_in_the_middle_or_at_the_end_that_leads_out_is_refused_by_every_tool(
    layout: tuple[Path, Path],
) -> None:
    # given links out of the workspace, as a folder on the way and as the final file
    base, outside = layout
    files = FileTools(base)
    before = snapshot(base.parent, skip=base)

    # when each tool is pointed through them, then each refuses with the same message
    for path in ("link_out/secret.txt", "link_file", "chain1", "sub/link_up/secret.txt", "link_abs_etc/hostname"):
        with pytest.raises(ToolError, match="outside the workspace"):
            files.read_file(path)
        with pytest.raises(ToolError, match="outside the workspace"):
            files.write_file(path, "PWNED")
        with pytest.raises(ToolError, match="outside the workspace"):
            files.edit_file(path, SENTINEL, "PWNED")
        with pytest.raises(ToolError, match="outside the workspace"):
            files.search_files(SENTINEL, path=path)
    with pytest.raises(ToolError, match="outside the workspace"):
        files.list_files("link_out")
    with pytest.raises(ToolError, match="outside the workspace"):
        files.write_file("link_out/new.txt", "PWNED")
    assert snapshot(base.parent, skip=base) == before
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


def test_dot_dot_and_absolute_paths_that_leave_the_workspace_are_refused(layout: tuple[Path, Path]) -> None:
    base, outside = layout
    files = FileTools(base)

    for path in ("..", "../outside", "sub/../../outside", str(outside), "/", "/etc"):
        with pytest.raises(ToolError, match="outside the workspace"):
            files.list_files(path)
        with pytest.raises(ToolError, match="outside the workspace"):
            files.search_files(SENTINEL, path=path)
    assert files.list_files(str(base / "sub")) == "sub/deep/\nsub/notes.md"  # link_up leads out: not shown
    assert files.read_file(str(base) + "/sub/../hello.txt") == "hello\nworld\n"


def test_links_that_stay_inside_are_followed_but_never_descended_by_listings(tmp_path: Path) -> None:
    # given a folder link and a file link that both stay inside the workspace
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "a.txt").write_text("needle\n")
    (tmp_path / "alias").symlink_to("real", target_is_directory=True)
    (tmp_path / "abs_alias").symlink_to(tmp_path / "real" / "a.txt")
    files = FileTools(tmp_path)

    # when they are read, listed and searched
    # then reads go through them, listings show them without entering, searches skip them
    assert files.read_file("alias/a.txt") == "needle\n"
    assert files.read_file("abs_alias") == "needle\n"
    assert files.read_file("alias/../real/a.txt") == "needle\n"
    assert files.list_files(recursive=True).splitlines() == ["abs_alias", "alias/", "real/", "real/a.txt"]
    assert files.search_files("needle") == "real/a.txt:1: needle"
    assert files.search_files("needle", path="alias") == "real/a.txt:1: needle"  # shown where it is
    assert files.write_file("alias/b.txt", "new\n") == "Wrote 4 bytes to real/b.txt."
    assert (tmp_path / "real" / "b.txt").read_text() == "new\n"


def test_a_symlink_loop_is_a_clear_error(layout: tuple[Path, Path]) -> None:
    base, _ = layout
    files = FileTools(base)

    with pytest.raises(ToolError, match="symbolic link loop"):
        files.read_file("loop_a")
    with pytest.raises(ToolError, match="symbolic link loop"):
        files.write_file("loop_a", "x")


def test_a_hard_link_to_an_outside_file_is_never_written_or_edited(layout: tuple[Path, Path]) -> None:
    # given a hard link inside the workspace to the secret outside it
    base, outside = layout
    os.link(outside / "secret.txt", base / "hard.txt")
    files = FileTools(base)

    # when the model writes or edits it, then both are refused and the outside file is untouched
    with pytest.raises(ToolError, match="other hard links"):
        files.write_file("hard.txt", "PWNED")
    with pytest.raises(ToolError, match="other hard links"):
        files.edit_file("hard.txt", SENTINEL, "PWNED")
    assert (outside / "secret.txt").read_text() == SENTINEL
    assert os.stat(outside / "secret.txt").st_nlink == 2


def test_fifos_and_devices_are_refused_by_every_tool_without_hanging(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "a.txt").write_text("needle\n")
    with contextlib.suppress(OSError):  # a device node needs privileges; the FIFO covers the rest
        os.mknod(tmp_path / "null", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    files = FileTools(tmp_path)

    for name in [p.name for p in tmp_path.iterdir() if p.name != "a.txt"]:
        with pytest.raises(ToolError, match="not a regular file"):
            files.read_file(name)
        with pytest.raises(ToolError, match="not a regular file"):
            files.edit_file(name, "a", "b")
        with pytest.raises(ToolError, match="not a regular file"):
            files.write_file(name, "x")
    assert files.search_files("needle").splitlines()[0] == "a.txt:1: needle"


def test_very_long_and_deep_paths_and_nul_bytes_are_refused_clearly(tmp_path: Path) -> None:
    files = FileTools(tmp_path)

    assert files.write_file("d/" * 100 + "x.txt", "deep") == f"Wrote 4 bytes to {'d/' * 100}x.txt."
    assert files.read_file("d/" * 100 + "x.txt") == "deep"
    with pytest.raises(ToolError, match="nested too deeply"):
        files.write_file("d/" * 300 + "x.txt", "deeper")
    with pytest.raises(ToolError, match="path is too long"):
        files.read_file("d/" * 600)
    with pytest.raises(ToolError, match="longer than 255 bytes"):
        files.read_file("d/" + "é" * 128)
    for action in (
        lambda: files.read_file("a\x00b"),
        lambda: files.write_file("a\x00b", "x"),
        lambda: files.list_files("d\x00"),
        lambda: files.search_files("x", path="d\x00"),
    ):
        with pytest.raises(ToolError, match="NUL byte"):
            action()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_a_replaced_workspace_folder_is_refused(tmp_path: Path) -> None:
    # given a toolkit whose base folder is swapped for another folder of the same name
    base = tmp_path / "work"
    base.mkdir()
    files = FileTools(base)
    base.rename(tmp_path / "old")
    base.mkdir()
    (base / "planted.txt").write_text("planted")

    # when it is used, then it refuses rather than work in the other folder
    with pytest.raises(ToolError, match="moved or replaced"):
        files.read_file("planted.txt")
