"""`BaseGuardrail`: what every guardrail is (agno's shape: `check` and `async_check` on the run's input)."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod

from stratus.run import RunInput

__all__ = ["BaseGuardrail"]


class BaseGuardrail(ABC):
    """A check of a run's input, given as a pre-hook. `async_check` is what a run calls; `check` runs it
    to the end, for code outside a run. Either raises `InputCheckError` to refuse, or changes the input."""

    @abstractmethod
    async def async_check(self, run_input: RunInput) -> None:
        """Check (and perhaps change) `run_input`; raise `InputCheckError` to stop the run."""

    def check(self, run_input: RunInput) -> None:
        """`async_check`, outside an event loop."""
        asyncio.run(self.async_check(run_input))
