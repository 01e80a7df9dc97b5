"""Construct ids derived from the shared names (`agent_runs` -> `AgentRuns`)."""

from __future__ import annotations

__all__ = ["pascal"]


def pascal(name: str) -> str:
    """`name` (snake_case) in PascalCase, as construct ids are spelled."""
    return "".join(part.capitalize() for part in name.split("_"))
