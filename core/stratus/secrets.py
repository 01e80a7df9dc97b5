"""Where credentials come from. A provider asks `get_secret("OPENAI_API_KEY")` before it looks at the
environment; on AWS the Lambda bootstrap registers a resolver that reads Secrets Manager (cached), so model
keys never sit in plain environment variables there. Locally, with no resolver, the environment is used.
"""

from __future__ import annotations

import os
from collections.abc import Callable

__all__ = ["clear_resolvers", "get_secret", "register_resolver"]

Resolver = Callable[[str], str | None]

_resolvers: list[Resolver] = []


def register_resolver(resolver: Resolver) -> None:
    """Add a source of secrets, asked before the environment (the latest registered is asked first)."""
    _resolvers.insert(0, resolver)


def clear_resolvers() -> None:
    """Forget every registered source (tests)."""
    _resolvers.clear()


def get_secret(name: str, *, environment: bool = True) -> str | None:
    """The secret called `name` from the first resolver that knows it, else (if `environment`) from the
    environment variable of that name, else None."""
    for resolver in _resolvers:
        value = resolver(name)
        if value:
            return value
    return (os.environ.get(name) or None) if environment else None
