"""Tools the tests' agents share: one definition each, so a schema or docstring a test reads is the same everywhere."""

from __future__ import annotations

from stratus import tool

__all__ = ["add", "transfer"]


@tool
def add(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b


@tool(requires_confirmation=True)
def transfer(amount: int) -> str:
    """Send money.

    Args:
        amount: How much.
    """
    return f"sent {amount}"
