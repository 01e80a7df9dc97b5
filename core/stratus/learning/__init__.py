"""The learning machine: what agents learn from their runs (user profiles, memories, session summaries and
insights shared across users), extracted off the request path, kept small, and recalled when it helps."""

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
