"""`FileTools`: read, write, list, search and edit files inside one base directory, for coding agents.

    from stratus.tools.files import FileTools

    agent = Agent(model=..., tools=[FileTools("./workspace")])

Nothing is opened by a path the kernel resolves. Every call opens the base directory (checked to be the
same directory, by device and inode, as at construction) and walks the path one name at a time with
`os.open(name, O_DIRECTORY | O_NOFOLLOW, dir_fd=parent)`, the final file with `O_NOFOLLOW` too; so a
folder swapped for a symlink while a call runs is seen as a symlink, never gone through. A symlink met on
the way is read (`readlink`) and its target walked the same way by this module, confined to the base:
a link that stays inside the base works, one that leads out (or a `..` that climbs out) is refused with
"outside the workspace", and listings and searches never follow links. NUL bytes, control characters and
over-long names are refused before they reach the file system. Files must be regular files (FIFOs and
devices are opened non-blocking and refused). Writes are atomic: the new content goes to a temporary file
created `O_EXCL | O_NOFOLLOW` in the same directory fd, is flushed to disk, then renamed over the target
within that directory fd, so a reader (or a crash) never sees half a file and a write lands in the folder
that was checked. A file with other hard links is never written or edited (it may be a file outside the
workspace). Reads, writes and searches are size-limited. A full or read-only disk, or a permission
problem, comes back to the model as a clear error; `read_only=True` hides and refuses every write.
POSIX only (it needs `dir_fd` support).
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import os
import re
import secrets
import stat
import threading
import unicodedata
from collections import deque
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Unpack

from stratus.exceptions import ConfigError, ToolError
from stratus.tools._tool import Tool, tool
from stratus.tools._toolkit import Toolkit, ToolkitOptions

__all__ = ["FileTools"]

_WRITE_TOOLS = frozenset({"write_file", "edit_file"})
_MAX_PATH_CHARS = 1024
_MAX_NAME_BYTES = 255
_MAX_SYMLINKS = 40  # as the kernel: more links than this in one path is a loop
_MAX_DEPTH = 256  # folders below the base one path may enter (each holds an fd during the call)
_SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv", ".mypy_cache"})
_BINARY_SNIFF = 8192
_MAX_LINE_CHARS = 300
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # non-blocking: a FIFO cannot hang us
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC

_Missing = Literal["error", "make", "allow"]


@dataclass
class _Spot:
    """Where a path leads: the folder fd holding `name` (or the folder itself when `name` is None)."""

    base_fd: int
    dir_fd: int
    name: str | None
    parts: tuple[str, ...]  # the folder's names below the base
    fds: list[int]  # every fd opened for this call, closed after it

    @property
    def rel(self) -> str:
        names = self.parts if self.name is None else (*self.parts, self.name)
        return "/".join(names) if names else "."


class FileTools(Toolkit):
    """Files inside one base directory: read, write, list, search and edit, and nothing outside it.

    Paths are walked one name at a time from the base directory's file descriptor, so no symlink swap
    can lead a call outside. Symlinks inside the base that lead to a place inside it are followed (their
    targets are resolved by this toolkit, never by the kernel); symlinks that lead out are refused, and
    `list_files` and `search_files` never descend through a symlink.

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
        **options: Unpack[ToolkitOptions],
    ) -> None:
        base = Path(base_dir).expanduser()
        try:
            resolved = base.resolve(strict=True)
            info = os.stat(resolved)
        except (OSError, RuntimeError) as exc:
            raise ConfigError(f"FileTools base directory {str(base)!r} cannot be used: {exc}") from None
        if not stat.S_ISDIR(info.st_mode):
            raise ConfigError(f"FileTools base directory {str(base)!r} is not a directory")
        super().__init__(**options)
        self.base_dir = resolved
        self.read_only = read_only
        self.max_read_bytes = max_read_bytes
        self.max_write_bytes = max_write_bytes
        self.max_search_results = max_search_results
        self.max_search_file_bytes = max_search_file_bytes
        self.max_list_entries = max_list_entries
        self._base_id = (info.st_dev, info.st_ino)
        self._base_parts = resolved.parts[1:]  # the base's names below "/", symlink-free
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
        with self._locate(path) as spot:
            if start_line < 1:
                raise ToolError("start_line starts at 1")
            if end_line is not None and end_line < start_line:
                raise ToolError("end_line must not be before start_line")
            whole = start_line == 1 and end_line is None
            with self._open_regular(spot, path) as fd:
                size = os.fstat(fd).st_size
                if whole and size > self.max_read_bytes:
                    raise ToolError(
                        f"{path} is {size} bytes, over the read limit of {self.max_read_bytes}; read a range of "
                        "lines with start_line and end_line"
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
        data = content.encode("utf-8")
        self._check_write_size(data)  # before any folder is made
        with self._locate(path, missing="make") as spot:
            self._write_atomic(spot, path, data)
            return f"Wrote {len(data)} bytes to {spot.rel}."

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
        with self._locate(path) as spot, self._edit_lock:  # two edits in this process keep each other's change
            with self._open_regular(spot, path) as fd:
                info = os.fstat(fd)
                if info.st_nlink > 1:
                    raise _hard_linked(path)
                if info.st_size > self.max_write_bytes:
                    raise ToolError(f"{path} is {info.st_size} bytes, over the edit limit of {self.max_write_bytes}")
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
            self._write_atomic(spot, path, updated.encode("utf-8"))
            line = text[: text.index(old_text)].count("\n") + 1
            return f"Edited {spot.rel} at line {line}."

    @tool
    def list_files(self, path: str = ".", recursive: bool = False, pattern: str | None = None) -> str:
        """List the files and folders in a folder of the workspace (folders end with "/").

        Args:
            path: The folder, relative to the workspace ("." is the workspace itself).
            recursive: Also list the contents of subfolders.
            pattern: Only names matching this glob, e.g. "*.py".
        """
        with self._locate(path) as spot:
            folder = self._open_folder(spot, path)
            if folder is None:
                raise ToolError(f"{path} is not a folder")
            entries: list[str] = []
            more = 0
            parts = (*spot.parts, spot.name) if spot.name is not None else spot.parts
            for entry in self._scan(spot, folder, parts, recursive):
                if pattern is not None and not fnmatch.fnmatch(entry.name, pattern):
                    continue
                if len(entries) >= self.max_list_entries:
                    more += 1
                    continue
                entries.append(entry.rel + ("/" if entry.is_dir else ""))
            if not entries:
                return f"{spot.rel}/ is empty" if pattern is None else "No entries match."
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
        with self._locate(path) as spot:
            flags = re.IGNORECASE if ignore_case else 0
            try:
                matcher = re.compile(query if regex else re.escape(query), flags)
            except re.error as exc:
                raise ToolError(f"invalid regular expression: {exc}") from None
            folder = self._open_folder(spot, path)
            if folder is None:  # a single file
                assert spot.name is not None
                files: Iterable[_Entry] = [_Entry(spot.rel, spot.name, spot.dir_fd, False, False)]
            else:
                parts = (*spot.parts, spot.name) if spot.name is not None else spot.parts
                files = (e for e in self._scan(spot, folder, parts, True) if not e.is_dir and not e.is_link)
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
                            results.append(f"{file.rel}:{number}: {shown}")
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
        """The absolute, symlink-free path `path` names inside the base directory, or a `ToolError`.

        Informational only: the tools never open this path by name, they walk it from the base's fd.
        """
        with self._locate(path, missing="allow") as spot:
            return self.base_dir if spot.rel == "." else self.base_dir / spot.rel

    @contextlib.contextmanager
    def _locate(self, path: str, *, missing: _Missing = "error") -> Generator[_Spot]:
        """Walk `path` from the base directory's fd; the fds opened on the way stay open until the exit.

        `missing` says what a missing folder on the way is: an error, made (for writes), or allowed.
        """
        _check_path_text(path)
        fds: list[int] = []
        try:
            base_fd = self._open_base()
            fds.append(base_fd)
            yield self._walk_path(base_fd, path, fds, missing)
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _open_base(self) -> int:
        """The base directory, opened afresh and checked to be the very directory given at construction."""
        try:
            fd = os.open(self.base_dir, _DIR_FLAGS)
        except OSError as exc:
            raise ToolError(f"the workspace folder cannot be opened: {exc.strerror or exc}") from None
        info = os.fstat(fd)
        if (info.st_dev, info.st_ino) != self._base_id:
            os.close(fd)
            raise ToolError("the workspace folder was moved or replaced; nothing was read or written")
        return fd

    def _walk_path(self, base_fd: int, path: str, fds: list[int], missing: _Missing) -> _Spot:
        """Follow `path` one name at a time, reading symlinks and walking their targets ourselves.

        `stack` holds the folders entered below the base (fd None: a folder that does not exist yet);
        `above` is set while a `..` or an absolute path stands on an ancestor of the base, where the only
        ways on are back down towards the base or further up: anything else is outside the workspace.
        """
        base_parts = self._base_parts
        stack: list[tuple[str, int | None]] = []
        above: int | None = 0 if path.startswith("/") and base_parts else None
        pending = deque(_split(path))
        links = 0
        changes = 0
        final: str | None = None
        while pending:
            part = pending.popleft()
            if above is not None:
                if part == "..":
                    above = max(above - 1, 0)
                elif part == base_parts[above]:
                    above = None if above + 1 == len(base_parts) else above + 1
                else:
                    raise _outside(path)
                continue
            if part == "..":
                if stack:
                    _, popped = stack.pop()
                    if popped is not None:
                        fds.remove(popped)
                        os.close(popped)
                elif base_parts:
                    above = len(base_parts) - 1
                continue
            _check_name(part, path)
            here = stack[-1][1] if stack else base_fd
            last = not pending
            target: str | None = None
            if here is None:  # below a folder that does not exist: nothing to look at
                if last:
                    final = part
                else:
                    stack.append((part, None))
                    if len(stack) > _MAX_DEPTH:
                        raise ToolError(f"{path} is nested too deeply (over {_MAX_DEPTH} folders)")
                continue
            if last:
                try:
                    info = os.stat(part, dir_fd=here, follow_symlinks=False)
                except FileNotFoundError:
                    final = part
                    continue
                except OSError as exc:
                    raise _os_error(exc, path) from None
                if not stat.S_ISLNK(info.st_mode):
                    final = part
                    continue
                target = _read_link(part, here, path)
                if target is None:  # no longer a symlink: swapped since the stat, so look again
                    changes += 1
                    if changes > _MAX_SYMLINKS:
                        raise ToolError(f"{path} keeps changing while being opened; try again")
                    pending.appendleft(part)
                    continue
            else:
                try:
                    fd = os.open(part, _DIR_FLAGS, dir_fd=here)
                except FileNotFoundError:
                    stack.append((part, None))
                    continue
                except OSError as exc:
                    if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                        raise _os_error(exc, path) from None
                    target = _read_link(part, here, path)
                    if target is None:  # not a symlink: a file in the way, or a link swapped back for a folder
                        changes += 1
                        if changes > _MAX_SYMLINKS or not _is_folder_or_link(part, here):
                            raise _os_error(exc, path) from None
                        pending.appendleft(part)
                        continue
                else:
                    fds.append(fd)
                    stack.append((part, fd))
                    if len(stack) > _MAX_DEPTH:
                        raise ToolError(f"{path} is nested too deeply (over {_MAX_DEPTH} folders)")
                    continue
            links += 1
            if links > _MAX_SYMLINKS:
                raise ToolError(f"{path} is a symbolic link loop; it cannot be opened")
            pending.extendleft(reversed(_split(target)))
            if target.startswith("/"):
                stack.clear()
                above = 0 if base_parts else None
        if above is not None:
            raise _outside(path)
        parent = base_fd
        for index, (name, fd) in enumerate(stack):
            if fd is None:
                if missing == "error":
                    raise ToolError(f"{path} does not exist")
                if missing == "allow":
                    break
                fd = _make_folder(name, parent, path)
                fds.append(fd)
                stack[index] = (name, fd)
            parent = fd
        return _Spot(base_fd, parent, final, tuple(name for name, _ in stack), fds)

    def _link_leads_inside(self, spot: _Spot, rel: str) -> bool | None:
        """For a symlink at `rel`: None if it leads out of the workspace (or nowhere sane), else is it a folder."""
        try:
            found = self._walk_path(spot.base_fd, rel, spot.fds, "allow")
        except ToolError:
            return None
        if found.name is None:
            return True
        with contextlib.suppress(OSError):
            return stat.S_ISDIR(os.stat(found.name, dir_fd=found.dir_fd, follow_symlinks=False).st_mode)
        return False

    def _scan(self, spot: _Spot, folder: int, parts: tuple[str, ...], recursive: bool) -> Iterator[_Entry]:
        """Entries under the open `folder`, sorted; symlinks are shown only if they stay inside, never entered."""
        try:
            with os.scandir(folder) as listing:
                children = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            raise _os_error(exc, "/".join(parts) or ".") from None
        for child in children:
            rel = "/".join((*parts, child.name))
            if child.is_symlink():
                is_dir = self._link_leads_inside(spot, rel)
                if is_dir is not None:  # a link that leads out of the workspace is not shown, let alone followed
                    yield _Entry(rel, child.name, folder, is_dir, True)
                continue
            try:
                is_dir = child.is_dir(follow_symlinks=False)
            except OSError:
                continue
            yield _Entry(rel, child.name, folder, is_dir, False)
            if recursive and is_dir and child.name not in _SKIP_DIRS:
                try:
                    sub = os.open(child.name, _DIR_FLAGS, dir_fd=folder)
                except OSError:
                    continue  # gone, or swapped for a symlink, since the listing
                try:
                    with contextlib.suppress(ToolError):
                        yield from self._scan(spot, sub, (*parts, child.name), recursive)
                finally:
                    os.close(sub)

    # --- file access ------------------------------------------------------------------------------------

    def _open_folder(self, spot: _Spot, shown: str) -> int | None:
        """The folder `spot` names, opened (closed with the spot); None if it is a file."""
        if spot.name is None:
            return spot.dir_fd
        try:
            fd = os.open(spot.name, _DIR_FLAGS, dir_fd=spot.dir_fd)
        except OSError as exc:
            if exc.errno == errno.ENOTDIR:
                return None
            raise _os_error(exc, shown) from None
        spot.fds.append(fd)
        return fd

    @contextlib.contextmanager
    def _open_regular(self, spot: _Spot, shown: str) -> Generator[int]:
        """Open an existing regular file for reading, refusing a symlink, FIFOs and devices."""
        if spot.name is None:
            raise ToolError(f"{shown} is a folder, not a file")
        with _open_file(spot.name, spot.dir_fd, shown) as fd:
            yield fd

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

    def _searchable_lines(self, file: _Entry) -> list[str] | None:
        """The lines of a text file; [] for a binary one, None for one too large or unreadable."""
        try:
            with _open_file(file.name, file.dir_fd, file.rel) as fd:
                if os.fstat(fd).st_size > self.max_search_file_bytes:
                    return None
                with os.fdopen(os.dup(fd), "rb") as handle:
                    data = handle.read()
        except (ToolError, OSError):
            return None
        if b"\x00" in data[:_BINARY_SNIFF]:
            return []  # binary: nothing to match, and nothing worth reporting
        return data.decode("utf-8", errors="replace").splitlines()

    def _check_writable(self) -> None:
        if self.read_only:
            raise ToolError("the workspace is read-only: files cannot be written or edited")

    def _check_write_size(self, data: bytes) -> None:
        if len(data) > self.max_write_bytes:
            raise ToolError(f"the content is {len(data)} bytes, over the write limit of {self.max_write_bytes}")

    def _write_atomic(self, spot: _Spot, shown: str, data: bytes) -> None:
        """Write `data` to a new temporary file in the target's folder fd, flush it, rename it over the target."""
        self._check_write_size(data)
        name = spot.name
        if name is None:
            raise ToolError(
                f"{shown} is the workspace folder, not a file"
                if spot.rel == "."
                else f"{shown} is a folder, not a file"
            )
        folder = spot.dir_fd
        try:
            existing = os.stat(name, dir_fd=folder, follow_symlinks=False)
        except FileNotFoundError:
            existing = None
        except OSError as exc:
            raise _os_error(exc, shown) from None
        if existing is not None:
            if stat.S_ISDIR(existing.st_mode):
                raise ToolError(f"{shown} is a folder, not a file")
            if stat.S_ISLNK(existing.st_mode):  # swapped in since the walk
                raise ToolError(f"{shown} is a symbolic link; it cannot be written")
            if not stat.S_ISREG(existing.st_mode):
                raise ToolError(f"{shown} is not a regular file")
            if existing.st_nlink > 1:
                raise _hard_linked(shown)
        fd, tmp = _create_temp(name, folder, shown)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
                os.fchmod(handle.fileno(), stat.S_IMODE(existing.st_mode) if existing is not None else 0o644)
            os.replace(tmp, name, src_dir_fd=folder, dst_dir_fd=folder)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=folder)
            if isinstance(exc, OSError):
                raise _os_error(exc, shown) from None
            raise
        with contextlib.suppress(OSError):  # make the rename itself durable (best effort)
            os.fsync(folder)


@dataclass(frozen=True)
class _Entry:
    """One entry met by a scan: its path for the model, its name in the open folder `dir_fd`."""

    rel: str
    name: str
    dir_fd: int
    is_dir: bool
    is_link: bool


def _check_path_text(path: str) -> None:
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


def _check_name(name: str, path: str) -> None:
    if len(name.encode("utf-8", errors="surrogatepass")) > _MAX_NAME_BYTES:
        raise ToolError(f"a name in {path!r} is longer than {_MAX_NAME_BYTES} bytes")


def _split(path: str) -> list[str]:
    return [part for part in path.split("/") if part and part != "."]


def _read_link(name: str, folder: int, shown: str) -> str | None:
    """The target of the symlink `name` in `folder`; None if it is not a symlink (any more)."""
    try:
        return os.readlink(name, dir_fd=folder)
    except OSError as exc:
        if exc.errno == errno.EINVAL:
            return None
        raise _os_error(exc, shown) from None


def _is_folder_or_link(name: str, folder: int) -> bool:
    try:
        mode = os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode
        return stat.S_ISDIR(mode) or stat.S_ISLNK(mode)
    except OSError:
        return False


def _make_folder(name: str, parent: int, shown: str) -> int:
    try:
        os.mkdir(name, dir_fd=parent)
    except FileExistsError:
        pass  # made meanwhile by another call: opened below like any folder
    except OSError as exc:
        raise _os_error(exc, shown) from None
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except OSError as exc:  # a file or a symlink took its place
        raise _os_error(exc, shown) from None


@contextlib.contextmanager
def _open_file(name: str, folder: int, shown: str) -> Generator[int]:
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=folder)
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


def _create_temp(name: str, folder: int, shown: str) -> tuple[int, str]:
    """A new, empty temporary file beside `name`: created exclusively, never through a symlink."""
    for _ in range(100):
        tmp = f".{name[:40]}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(tmp, _TEMP_FLAGS, 0o600, dir_fd=folder), tmp
        except FileExistsError:
            continue
        except OSError as exc:
            raise _os_error(exc, shown) from None
    raise ToolError(f"cannot create a temporary file for {shown}")


def _outside(path: str) -> ToolError:
    return ToolError(f"{path!r} is outside the workspace; use a path inside it")


def _hard_linked(shown: str) -> ToolError:
    return ToolError(f"{shown} has other hard links (it may be a file outside the workspace); it cannot be written")


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
