"""What learning speaks: the kinds of learned record, the modes, the extraction model's answer (its schema
and its instructions), and what a recall and a learning pass report. The engine is `machine.py`."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

__all__ = [
    "EXTRACTION_INSTRUCTIONS",
    "INSIGHT",
    "PROFILE",
    "RUN_MARK",
    "Extraction",
    "LearningMode",
    "LearningReport",
    "MemoryCandidate",
    "Recall",
]

PROFILE = "user_profile"
"""The learning type of a user's profile (one record per user, `profile:<user>`)."""
INSIGHT = "learned_knowledge"
"""The learning type of an insight shared by every user of an agent."""
RUN_MARK = "_run_learned"
"""A marker that a run was learned from, with what was learned; it expires once no queue could deliver the
run again."""


class LearningMode(StrEnum):
    ALWAYS = "always"
    AGENTIC = "agentic"
    OFF = "off"


class MemoryCandidate(BaseModel):
    """One fact or preference about the user, as the extraction model states it."""

    memory: str = Field(description="One fact or preference about the user, in the third person")
    topics: list[str] = Field(default_factory=list[str], description="One to three short lowercase topics")
    replaces: str | None = Field(
        default=None, description="The id of a known memory this one corrects or makes out of date"
    )


class Extraction(BaseModel):
    """What the extraction model found in one run."""

    profile: dict[str, str | None] = Field(
        default_factory=dict[str, str | None],
        description="Profile fields to set (name, role, location, language, timezone...); null clears one",
    )
    memories: list[MemoryCandidate] = Field(default_factory=list[MemoryCandidate])
    forget: list[str] = Field(default_factory=list[str], description="Ids of known memories that are no longer true")
    session_summary: str | None = Field(default=None, description="The whole conversation so far, in a few lines")
    insights: list[str] = Field(
        default_factory=list[str],
        description="General lessons useful to every user of this assistant; never anything about this user",
    )


@dataclass(slots=True)
class Recall:
    """What a run's context gets, and which stored items it used."""

    text: str = ""
    memory_ids: list[str] = field(default_factory=list[str])
    learning_ids: list[str] = field(default_factory=list[str])

    @property
    def used(self) -> list[str]:
        return [*self.memory_ids, *self.learning_ids]


@dataclass(slots=True)
class LearningReport:
    """What learning from one run changed."""

    skipped: str | None = None
    memories_added: int = 0
    memories_merged: int = 0
    memories_replaced: int = 0
    memories_forgotten: int = 0
    memories_evicted: int = 0
    profile_fields: int = 0
    summary: bool = False
    insights_added: int = 0
    insights_merged: int = 0
    insights_evicted: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}  # pyright: ignore[reportAttributeAccessIssue]


EXTRACTION_INSTRUCTIONS = """\
You maintain what an assistant remembers. Read the conversation turn below and answer with what is worth \
keeping. Keep only what the user said about themselves (facts, preferences, plans) that will matter in later \
conversations; never store the assistant's own statements as facts about the user, nor secrets such as \
passwords or card numbers. State each memory once, in the third person ("The user prefers tea."). When the \
user corrects or updates something already known, put the new memory with `replaces` set to the old memory's \
id; list in `forget` the ids of memories the user asked to forget or that are plainly no longer true. Fill \
`profile` only with stable identity fields. Write `session_summary` as a short summary of the whole \
conversation so far (the previous summary plus this turn). Put in `insights` only general lessons about how to \
help anyone with this kind of request, with no personal detail. Leave out anything you are unsure of."""
