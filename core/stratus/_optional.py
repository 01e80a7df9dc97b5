"""Optional and heavy dependencies, loaded only when first needed, so that importing stratus loads no SDK.

- `requires_extra(...)`: a `with` block around the imports of an optional package; when one is missing, the
  error names the extra that installs it.
- `installed(...)`, `package_folder(...)`: whether a package is there, and where, found without importing it.
- `load_lazily(...)`: the body of a package's `__getattr__` whose exports load their modules on first use.

Only the standard library is imported here.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from importlib import import_module
from pathlib import Path
from types import TracebackType
from typing import Any

from stratus.exceptions import ConfigError

__all__ = ["install_hint", "installed", "load_lazily", "missing_message", "package_folder", "requires_extra"]


def install_hint(extra: str) -> str:
    """How to install an extra: "install the `aws` extra (pip install 'stratus[aws]')"."""
    return f"install the `{extra}` extra (pip install 'stratus[{extra}]')"


def missing_message(needed_by: str, what: str, extra: str) -> str:
    """ "BedrockChat needs boto3: install the `aws` extra (pip install 'stratus[aws]')"."""
    return f"{needed_by} needs {what}: {install_hint(extra)}"


class _RequiresExtra:
    """See `requires_extra`. Its `__exit__` never swallows an exception (it returns None)."""

    def __init__(self, needed_by: str, extra: str, what: str | None, error: Callable[[str], Exception]) -> None:
        self._needed_by = needed_by
        self._extra = extra
        self._what = what
        self._error = error

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if isinstance(exc, ImportError):
            what = self._what or exc.name or "a package that is not installed"
            raise self._error(missing_message(self._needed_by, what, self._extra)) from exc


def requires_extra(
    needed_by: str, extra: str, *, what: str | None = None, error: Callable[[str], Exception] = ConfigError
) -> _RequiresExtra:
    """A `with` block whose failed imports raise `error` (a `ConfigError` by default) naming the extra:

        with requires_extra("BedrockChat", "aws", what="boto3"):
            import boto3

    Args:
        needed_by: Who needs the package, as the message starts ("BedrockChat", "reading report.pdf").
        extra: The extra that installs it.
        what: What is missing, as the message names it (default: the module that failed to import).
        error: The error to raise, called with the message.
    """
    return _RequiresExtra(needed_by, extra, what, error)


def installed(package: str) -> bool:
    """Whether `package` can be imported, found without importing it."""
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):  # a broken install, or a module without a spec
        return False


def package_folder(package: str) -> Path | None:
    """The folder of the installed `package` (a package that ships data, e.g. model weights), found without
    importing it; None when it is not installed."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def load_lazily(module: str, exports: Mapping[str, str], name: str) -> Any:
    """What a package's `__getattr__(name)` returns when its export `name` lives in the module `exports[name]`,
    imported now (so `from stratus.models import OpenAIChat` loads the OpenAI SDK only when it is used)."""
    where = exports.get(name)
    if where is None:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    return getattr(import_module(where), name)
