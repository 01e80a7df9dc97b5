"""`FileTools` under a symlink-swap race: another process swaps a folder (or the file itself) inside the
workspace for a symlink to an outside folder in a tight loop while the toolkit reads, lists, searches and
writes. Not one call may see or touch what is outside; a naive open by name, run in the same loop, shows
the race is live."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from stratus import ToolError
from stratus.tools.files import FileTools

INSIDE = "inside-content-3c1e"
OUTSIDE = "OUTSIDE-SECRET-9b2d"
READS = 10_000
OTHER_CALLS = 500

# Swaps `swapped` with a symlink to `target`: atomically with renameat2(RENAME_EXCHANGE) where libc has
# it, else by two renames each way (the path is then briefly missing too). Prints its mode, then on
# stop (the stop file appears) the number of swaps.
SWAPPER = r"""
import ctypes, os, sys
swapped, target, stop = sys.argv[1:4]
link = swapped + ".swap-link"
os.symlink(target, link)
parked = swapped + ".swap-parked"
libc = ctypes.CDLL(None, use_errno=True)
renameat2 = getattr(libc, "renameat2", None)
def exchange():
    return renameat2(-100, swapped.encode(), -100, link.encode(), 2) == 0  # AT_FDCWD, RENAME_EXCHANGE
atomic = renameat2 is not None and exchange()
print("exchange" if atomic else "rename", flush=True)
swaps = 1 if atomic else 0
while not os.path.exists(stop):
    if atomic:
        exchange()
    else:
        os.rename(swapped, parked); os.rename(link, swapped)
        os.rename(swapped, link); os.rename(parked, swapped)
    swaps += 1
print(swaps, flush=True)
"""


def _outside_files(outside: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in outside.iterdir()}


@pytest.mark.parametrize("swap", ["folder", "file"])
def test_a_symlink_swap_race_never_leads_a_call_outside(tmp_path: Path, swap: str) -> None:
    # given a workspace folder with a secret, an outside folder with a same-named secret of its own,
    # and a process swapping the folder (or the file) for a symlink to the outside one
    base = tmp_path / "work"
    outside = tmp_path / "outside"
    (base / "folder").mkdir(parents=True)
    outside.mkdir()
    (base / "folder" / "secret.txt").write_text(INSIDE)
    (outside / "secret.txt").write_text(OUTSIDE)
    (outside / "only-outside.txt").write_text(OUTSIDE)
    before = _outside_files(outside)
    files = FileTools(base)
    swapped, target = {
        "folder": (base / "folder", outside),
        "file": (base / "folder" / "secret.txt", outside / "secret.txt"),
    }[swap]
    stop = tmp_path / "stop"
    swapper = subprocess.Popen(
        [sys.executable, "-c", SWAPPER, str(swapped), str(target), str(stop)], stdout=subprocess.PIPE, text=True
    )
    assert swapper.stdout is not None
    mode = swapper.stdout.readline().strip()
    reads: Counter[str] = Counter()
    naive_outside = 0
    leaks: list[str] = []

    def attempt(label: str, call: str) -> None:
        if OUTSIDE in call or "only-outside" in call:
            leaks.append(f"{label}: {call[:80]!r}")

    # when the toolkit reads the secret 10,000 times, and lists, searches and writes, during the swaps
    try:
        for _ in range(READS):
            try:
                content = files.read_file("folder/secret.txt")
            except ToolError as exc:
                reads[f"refused: {str(exc).split(';')[0]}"] += 1
            else:
                reads["outside" if content == OUTSIDE else "inside" if content == INSIDE else "other"] += 1
            with contextlib.suppress(OSError):  # the same read by name, as before the fd walk: the race is live
                naive_outside += (base / "folder" / "secret.txt").read_text() == OUTSIDE
        for i in range(OTHER_CALLS):
            for label, call in (
                ("list", lambda: files.list_files(".", recursive=True)),
                ("list folder", lambda: files.list_files("folder")),
                ("search", lambda: files.search_files(OUTSIDE)),
                ("search folder", lambda: files.search_files("content", path="folder")),
                ("write", lambda n=i: files.write_file(f"folder/written-{n % 7}.txt", INSIDE)),
            ):
                try:
                    attempt(label, call())
                except ToolError as exc:
                    attempt(label, str(exc))
    finally:
        stop.touch()
        out, _ = swapper.communicate(timeout=30)
    swaps = int(out.strip() or 0)
    print(f"\n[{swap} swap, {mode}] {swaps} swaps; {READS} reads: {dict(reads)}; naive reads outside: {naive_outside}")

    # then no read returned the outside content, no listing or search showed an outside name or line,
    # and nothing was written outside; while the same reads by name did go outside
    assert reads["outside"] == 0
    assert reads["other"] == 0
    assert sum(reads.values()) == READS
    assert reads["inside"] > 0
    assert leaks == []
    assert _outside_files(outside) == before
    assert swaps > 100
    assert naive_outside > 0, "the swapper never won a naive read: the race was not exercised"
