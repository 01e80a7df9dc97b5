"""The learning machine: what agents learn from their runs (user profiles, memories, session summaries and
insights shared across users), extracted off the request path, kept small, and recalled when it helps.

Names load on first use, so the queue contract (`stratus.learning.queue`) costs a worker no pydantic import.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stratus.learning.machine import (
        INSIGHT,
        PROFILE,
        Extraction,
        LearningMachine,
        LearningMode,
        LearningReport,
        MemoryCandidate,
        Recall,
    )
    from stratus.learning.queue import InProcessLearningQueue, LearningError, LearningJob, LearningQueue

__all__ = [
    "INSIGHT",
    "PROFILE",
    "Extraction",
    "InProcessLearningQueue",
    "LearningError",
    "LearningJob",
    "LearningMachine",
    "LearningMode",
    "LearningQueue",
    "LearningReport",
    "MemoryCandidate",
    "Recall",
]

_QUEUE = {"InProcessLearningQueue", "LearningError", "LearningJob", "LearningQueue"}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = import_module("stratus.learning.queue" if name in _QUEUE else "stratus.learning.machine")
    return getattr(module, name)
