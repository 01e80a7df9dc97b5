"""`Toolkit`: a named group of tools, declared as a list or as `@tool` methods on a subclass."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypedDict

from stratus.exceptions import ToolDefinitionError
from stratus.tools._tool import Tool

__all__ = ["Toolkit", "ToolkitOptions"]


class ToolkitOptions(TypedDict, total=False):
    """What every toolkit takes besides its own settings (a subclass passes them on to `Toolkit`)."""

    name: str | None
    """The toolkit's name (default: the class name, or what the subclass derives)."""
    instructions: str | None
    """Text added to the agent's instructions."""
    include: Iterable[str] | None
    """Only these tools."""
    exclude: Iterable[str] | None
    """Not these tools."""


class Toolkit:
    """A group of tools that travel together, with optional instructions for the model.

    Give the tools as a list, or subclass and decorate methods with `@tool` (they are bound to the
    instance, so they can use its connections and settings). `include` and `exclude` filter by name.
    """

    def __init__(
        self,
        tools: Sequence[Tool | Callable[..., Any]] = (),
        *,
        name: str | None = None,
        instructions: str | None = None,
        include: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
    ) -> None:
        self.name = name or type(self).__name__
        self.instructions = instructions
        self._tools = [Tool.ensure(t) for t in tools]
        self._include = set(include) if include is not None else None
        self._exclude = set(exclude or ())

    def get_tools(self) -> list[Tool]:
        """The toolkit's tools after `include`/`exclude`, methods bound to this instance."""
        found: dict[str, Tool] = {}
        for t in self._tools:
            found[t.name] = t
        seen: set[str] = set()
        for klass in type(self).__mro__:
            for attr, value in vars(klass).items():
                if attr in seen:
                    continue
                seen.add(attr)
                if isinstance(value, Tool):
                    bound: Tool = getattr(self, attr)
                    found.setdefault(bound.name, bound)
        if self._include is not None:
            unknown = self._include - found.keys()
            if unknown:
                raise ToolDefinitionError(f"toolkit {self.name!r} has no tools named {sorted(unknown)}")
            found = {k: v for k, v in found.items() if k in self._include}
        return [t for k, t in found.items() if k not in self._exclude]

    async def aget_tools(self) -> list[Tool]:
        """The tools for one run. Toolkits that must connect first (an MCP server) override this; raising
        here leaves the run to go on without this toolkit's tools."""
        return self.get_tools()

    async def astart(self) -> None:
        """Get ready before the first run (called when the app starts; e.g. connect an MCP server). Must not
        raise for an unavailable dependency: runs retry, and the app starts regardless."""
        return

    async def aclose(self) -> None:
        """Release connections (called when the app shuts down)."""
        return

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
