"""`FileTools`: read, write, list, search and edit files inside one base directory, for coding agents.

    from stratus.tools.files import FileTools

    agent = Agent(model=..., tools=[FileTools("./workspace")])

Every path the model gives is resolved (symlinks included) and refused unless it stays inside the base
directory; NUL bytes, control characters and over-long names are refused before they reach the file
system. Files are opened without following a final symlink and must be regular files (no FIFOs or
devices). Writes are atomic: the new content goes to a temporary file in the same directory, is flushed to
disk, then renamed over the target, so a reader (or a crash) never sees half a file. Reads, writes and
searches are size-limited. A full or read-only disk, or a permission problem, comes back to the model as a
clear error; `read_only=True` hides and refuses every write.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import os
import re
import stat
import tempfile
import threading
import unicodedata
from collections.abc import Generator, Iterable, Iterator
from pathlib import Path

from stratus.exceptions import ConfigError, ToolError
from stratus.tools._tool import Tool, tool
from stratus.tools._toolkit import Toolkit

__all__ = ["FileTools"]

_WRITE_TOOLS = frozenset({"write_file", "edit_file"})
_MAX_PATH_CHARS = 1024
_SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv", ".mypy_cache"})
_BINARY_SNIFF = 8192
_MAX_LINE_CHARS = 300


class FileTools(Toolkit):
    """Files inside one base directory: read, write, list, search and edit, and nothing outside it.

    Args:
        base_dir: The directory the tools work in; it must exist. Paths are relative to it.
        read_only: Hide and refuse `write_file` and `edit_file`.
        max_read_bytes: Largest file `read_file` returns whole; larger files must be read by line range.
        max_write_bytes: Largest content `write_file` and `edit_file` write.
        max_search_results: Matching lines `search_files` returns at most.
        max_search_file_bytes: Files larger than this are skipped by `search_files`.
        max_list_entries: Entries `list_files` returns at most.
        name: The toolkit's name.
        instructions: Text added to the agent's instructions.
        include: Only these tools.
        exclude: Not these tools.
    """

    def __init__(
        self,
        base_dir: str | os.PathLike[str],
        *,
        read_only: bool = False,
        max_read_bytes: int = 1_000_000,
        max_write_bytes: int = 5_000_000,
        max_search_results: int = 100,
        max_search_file_bytes: int = 2_000_000,
        max_list_entries: int = 500,
        name: str | None = None,
        instructions: str | None = None,
        include: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
    ) -> None:
        base = Path(base_dir).expanduser()
        try:
            resolved = base.resolve(strict=True)
        except (OSError, RuntimeError) as exc:
            raise ConfigError(f"FileTools base directory {str(base)!r} cannot be used: {exc}") from None
        if not resolved.is_dir():
            raise ConfigError(f"FileTools base directory {str(base)!r} is not a directory")
        super().__init__(name=name, instructions=instructions, include=include, exclude=exclude)
        self.base_dir = resolved
        self.read_only = read_only
        self.max_read_bytes = max_read_bytes
        self.max_write_bytes = max_write_bytes
        self.max_search_results = max_search_results
        self.max_search_file_bytes = max_search_file_bytes
        self.max_list_entries = max_list_entries
        self._edit_lock = threading.Lock()

    def get_tools(self) -> list[Tool]:
        """The file tools; without the writing ones when `read_only`."""
        tools = super().get_tools()
        if self.read_only:
            tools = [t for t in tools if t.name not in _WRITE_TOOLS]
        return tools

    # --- tools ------------------------------------------------------------------------------------------

    @tool
    def read_file(self, path: str, start_line: int = 1, end_line: int | None = None) -> str:
        """Read a text file, whole or a range of its lines.

        Args:
            path: The file's path, relative to the workspace.
            start_line: The first line to return (1-based).
            end_line: The last line to return (inclusive); None reads to the end.
        """
        target = self.resolve(path)
        if start_line < 1:
            raise ToolError("start_line starts at 1")
        if end_line is not None and end_line < start_line:
            raise ToolError("end_line must not be before start_line")
        whole = start_line == 1 and end_line is None
        with self._open_regular(target, path) as fd:
            size = os.fstat(fd).st_size
            if whole and size > self.max_read_bytes:
                raise ToolError(
                    f"{path} is {size} bytes, over the read limit of {self.max_read_bytes}; read a range of lines "
                    "with start_line and end_line"
                )
            with os.fdopen(os.dup(fd), "rb") as handle:
                head = handle.read(_BINARY_SNIFF)
                if b"\x00" in head:
                    raise ToolError(f"{path} is a binary file; only text files can be read")
                handle.seek(0)
                if whole:
                    return handle.read().decode("utf-8", errors="replace")
                return self._read_lines(handle, path, start_line, end_line)

    @tool
    def write_file(self, path: str, content: str) -> str:
        """Create or replace a text file with the given content (missing parent folders are created).

        Args:
            path: The file's path, relative to the workspace.
            content: The complete new content of the file.
        """
        self._check_writable()
        target = self.resolve(path)
        data = content.encode("utf-8")
        self._write_atomic(target, path, data)
        return f"Wrote {len(data)} bytes to {self._relative(target)}."

    @tool
    def edit_file(self, path: str, old_text: str, new_text: str) -> str:
        """Replace one exact snippet of a text file with new text.

        The snippet must appear exactly once (including whitespace and indentation); include enough
        surrounding lines to make it unique.

        Args:
            path: The file's path, relative to the workspace.
            old_text: The exact text to replace, as it appears in the file.
            new_text: The text to put in its place.
        """
        self._check_writable()
        if not old_text:
            raise ToolError("old_text is empty; give the exact snippet to replace")
        target = self.resolve(path)
        with self._edit_lock:  # two edits of one file in this process do not lose each other's change
            with self._open_regular(target, path) as fd:
                size = os.fstat(fd).st_size
                if size > self.max_write_bytes:
                    raise ToolError(f"{path} is {size} bytes, over the edit limit of {self.max_write_bytes}")
                with os.fdopen(os.dup(fd), "rb") as handle:
                    raw = handle.read()
            if b"\x00" in raw[:_BINARY_SNIFF]:
                raise ToolError(f"{path} is a binary file; only text files can be edited")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ToolError(f"{path} is not valid UTF-8; it cannot be edited safely") from None
            count = text.count(old_text)
            if count == 0:
                raise ToolError(
                    f"old_text was not found in {path}; read the file and copy the snippet exactly "
                    "(whitespace and indentation included)"
                )
            if count > 1:
                lines = _line_numbers(text, old_text)
                raise ToolError(
                    f"old_text appears {count} times in {path} (lines {', '.join(map(str, lines[:10]))}); "
                    "include more surrounding lines so it matches once"
                )
            updated = text.replace(old_text, new_text, 1)
            self._write_atomic(target, path, updated.encode("utf-8"))
        line = text[: text.index(old_text)].count("\n") + 1
        return f"Edited {self._relative(target)} at line {line}."

    @tool
    def list_files(self, path: str = ".", recursive: bool = False, pattern: str | None = None) -> str:
        """List the files and folders in a folder of the workspace (folders end with "/").

        Args:
            path: The folder, relative to the workspace ("." is the workspace itself).
            recursive: Also list the contents of subfolders.
            pattern: Only names matching this glob, e.g. "*.py".
        """
        folder = self.resolve(path)
        if not folder.is_dir():
            raise ToolError(f"{path} is not a folder" if folder.exists() else f"{path} does not exist")
        entries: list[str] = []
        more = 0
        for entry in self._walk(folder, recursive):
            if pattern is not None and not fnmatch.fnmatch(entry.name, pattern):
                continue
            if len(entries) >= self.max_list_entries:
                more += 1
                continue
            entries.append(self._relative(entry) + ("/" if entry.is_dir() else ""))
        if not entries:
            return f"{self._relative(folder)}/ is empty" if pattern is None else "No entries match."
        if more:
            entries.append(f"... and {more} more entries (narrow with path or pattern)")
        return "\n".join(entries)

    @tool
    def search_files(
        self, query: str, path: str = ".", regex: bool = False, pattern: str | None = None, ignore_case: bool = False
    ) -> str:
        """Search the text files of the workspace for a string or regular expression, line by line.

        Returns matching lines as "path:line: text".

        Args:
            query: The text (or regular expression, with regex=true) to look for.
            path: The folder (or file) to search, relative to the workspace.
            regex: Treat query as a Python regular expression.
            pattern: Only files whose names match this glob, e.g. "*.py".
            ignore_case: Match regardless of letter case.
        """
        if not query:
            raise ToolError("query is empty")
        root = self.resolve(path)
        if not root.exists():
            raise ToolError(f"{path} does not exist")
        flags = re.IGNORECASE if ignore_case else 0
        try:
            matcher = re.compile(query if regex else re.escape(query), flags)
        except re.error as exc:
            raise ToolError(f"invalid regular expression: {exc}") from None
        files = [root] if root.is_file() else [p for p in self._walk(root, True) if p.is_file()]
        results: list[str] = []
        more = 0
        skipped = 0
        for file in files:
            if pattern is not None and not fnmatch.fnmatch(file.name, pattern):
                continue
            lines = self._searchable_lines(file)
            if lines is None:
                skipped += 1
                continue
            for number, line in enumerate(lines, 1):
                if matcher.search(line):
                    if len(results) < self.max_search_results:
                        shown = line if len(line) <= _MAX_LINE_CHARS else line[:_MAX_LINE_CHARS] + "..."
                        results.append(f"{self._relative(file)}:{number}: {shown}")
                    else:
                        more += 1
        if not results:
            return "No matches."
        if more:
            results.append(f"... and {more} more matching lines (narrow the search)")
        if skipped:
            results.append(f"({skipped} unreadable or oversized files were skipped)")
        return "\n".join(results)

    # --- paths ------------------------------------------------------------------------------------------

    def resolve(self, path: str) -> Path:
        """The absolute, symlink-free path `path` names inside the base directory, or a `ToolError`."""
        if not isinstance(path, str):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ToolError("path must be a string")
        if not path or not path.strip():
            raise ToolError("path is empty")
        if len(path) > _MAX_PATH_CHARS:
            raise ToolError(f"path is too long ({len(path)} characters; the limit is {_MAX_PATH_CHARS})")
        for ch in path:
            if ch == "\x00":
                raise ToolError("path contains a NUL byte")
            if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn"):
                raise ToolError(f"path contains a control or invisible character (U+{ord(ch):04X})")
        candidate = Path(path)
        if not candidate.is_absolute():
            candidate = self.base_dir / candidate
        try:
            resolved = Path(os.path.realpath(candidate))
        except (OSError, ValueError) as exc:
            raise ToolError(f"cannot resolve {path!r}: {exc}") from None
        if resolved != self.base_dir and not resolved.is_relative_to(self.base_dir):
            raise ToolError(f"{path!r} is outside the workspace; use a path inside it")
        for part in resolved.relative_to(self.base_dir).parts:
            if len(part.encode("utf-8", errors="surrogatepass")) > 255:
                raise ToolError(f"a name in {path!r} is longer than 255 bytes")
        return resolved

    def _relative(self, path: Path) -> str:
        relative = path.relative_to(self.base_dir).as_posix()
        return relative if relative != "." else "."

    def _inside(self, path: Path) -> bool:
        real = Path(os.path.realpath(path))
        return real == self.base_dir or real.is_relative_to(self.base_dir)

    def _walk(self, folder: Path, recursive: bool) -> Iterator[Path]:
        """Entries under `folder`, sorted, never following a symlink out of the base directory."""
        try:
            children = sorted(folder.iterdir(), key=lambda p: p.name)
        except OSError as exc:
            raise _os_error(exc, self._relative(folder)) from None
        for child in children:
            if child.is_symlink() and not self._inside(child):
                continue  # a link that leads out of the workspace is not shown, let alone followed
            yield child
            if recursive and child.is_dir() and not child.is_symlink() and child.name not in _SKIP_DIRS:
                with contextlib.suppress(ToolError):
                    yield from self._walk(child, recursive)

    # --- file access ------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _open_regular(self, target: Path, shown: str) -> Generator[int]:
        """Open an existing regular file for reading, refusing a final symlink, FIFOs and devices."""
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(target, flags)
        except OSError as exc:
            raise _os_error(exc, shown) from None
        try:
            info = os.fstat(fd)
            if stat.S_ISDIR(info.st_mode):
                raise ToolError(f"{shown} is a folder, not a file")
            if not stat.S_ISREG(info.st_mode):
                raise ToolError(f"{shown} is not a regular file")
            yield fd
        finally:
            os.close(fd)

    def _read_lines(self, handle: Iterable[bytes], path: str, start: int, end: int | None) -> str:
        out: list[str] = []
        used = 0
        total = 0
        for number, raw in enumerate(handle, 1):
            total = number
            if number < start:
                continue
            if end is not None and number > end:
                break
            used += len(raw)
            if used > self.max_read_bytes:
                out.append(
                    f"[... stopped at the read limit of {self.max_read_bytes} bytes; read on from line {number}]"
                )
                break
            out.append(raw.decode("utf-8", errors="replace"))
        if not out and total < start:
            raise ToolError(f"{path} has only {total} lines")
        return "".join(out)

    def _searchable_lines(self, file: Path) -> list[str] | None:
        """The lines of a text file; [] for a binary one, None for one too large or unreadable."""
        try:
            with self._open_regular(file, self._relative(file)) as fd:
                if os.fstat(fd).st_size > self.max_search_file_bytes:
                    return None
                with os.fdopen(os.dup(fd), "rb") as handle:
                    data = handle.read()
        except ToolError:
            return None
        if b"\x00" in data[:_BINARY_SNIFF]:
            return []  # binary: nothing to match, and nothing worth reporting
        return data.decode("utf-8", errors="replace").splitlines()

    def _check_writable(self) -> None:
        if self.read_only:
            raise ToolError("the workspace is read-only: files cannot be written or edited")

    def _write_atomic(self, target: Path, shown: str, data: bytes) -> None:
        """Write `data` to a temporary file beside `target`, flush it to disk, then rename it over `target`."""
        if len(data) > self.max_write_bytes:
            raise ToolError(f"the content is {len(data)} bytes, over the write limit of {self.max_write_bytes}")
        if target == self.base_dir:
            raise ToolError(f"{shown} is the workspace folder, not a file")
        parent = target.parent
        try:
            if target.is_dir():
                raise ToolError(f"{shown} is a folder, not a file")
            existing = os.lstat(target) if target.exists() else None
            if existing is not None and not stat.S_ISREG(existing.st_mode):
                raise ToolError(f"{shown} is not a regular file")
            parent.mkdir(parents=True, exist_ok=True)
            if not self._inside(parent):  # a folder swapped for a symlink since the path was resolved
                raise ToolError(f"{shown!r} is outside the workspace")
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name[:40]}.", suffix=".tmp", dir=parent)
        except OSError as exc:
            raise _os_error(exc, shown) from None
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, stat.S_IMODE(existing.st_mode) if existing is not None else 0o644)
            os.replace(tmp, target)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            if isinstance(exc, OSError):
                raise _os_error(exc, shown) from None
            raise
        _fsync_dir(parent)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (best effort: not every file system allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _line_numbers(text: str, snippet: str) -> list[int]:
    numbers: list[int] = []
    start = 0
    while (index := text.find(snippet, start)) != -1:
        numbers.append(text.count("\n", 0, index) + 1)
        start = index + 1
    return numbers


def _os_error(exc: OSError, shown: str) -> ToolError:
    """An OS error as a message the model can act on (nothing of the host's paths leaks)."""
    code = exc.errno
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return ToolError(f"the disk is full: {shown} was not written (nothing was changed)")
    if code == errno.EROFS:
        return ToolError(f"the file system is read-only: {shown} cannot be written")
    if code in (errno.EACCES, errno.EPERM):
        return ToolError(f"permission denied for {shown}")
    if code == errno.ENOENT:
        return ToolError(f"{shown} does not exist")
    if code == errno.ENOTDIR:
        return ToolError(f"a part of {shown} is a file, not a folder")
    if code == errno.EISDIR:
        return ToolError(f"{shown} is a folder, not a file")
    if code == errno.ENAMETOOLONG:
        return ToolError(f"the name {shown!r} is too long")
    if code == errno.ELOOP:
        return ToolError(f"{shown} is a symbolic link; it cannot be opened")
    return ToolError(f"cannot access {shown}: {exc.strerror or exc}")
