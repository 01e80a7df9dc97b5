"""Memory optimization (AgentOS' `POST /optimize-memories`): a model consolidates a user's memories into
fewer, shorter ones that keep every fact.

The model answers through structured output (`Consolidation`). Applied, the new set replaces the old one
without a moment in which anything is lost: the new memories are written first, then the old ones deleted
(only those that were read: a memory learnt meanwhile stays), so a failure midway leaves duplicates, never a
gap. Tokens are counted as recall counts them (`approx_tokens`: four characters a token, which is also what
agno's `count_text_tokens` falls back to without tiktoken).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from stratus._utils import new_id
from stratus.exceptions import ConfigError, ModelError, NotFoundError
from stratus.knowledge.documents import approx_tokens
from stratus.storage._cursor import every
from stratus.storage.records import MemoryQuery, UserMemory

if TYPE_CHECKING:
    from stratus.agent import Agent
    from stratus.models.base import Model
    from stratus.storage.base import Store

__all__ = [
    "OPTIMIZE_INSTRUCTIONS",
    "ConsolidatedMemory",
    "Consolidation",
    "MemoryOptimization",
    "count_tokens",
    "learning_model",
    "optimize_memories",
]

logger = logging.getLogger(__name__)

OPTIMIZE_INSTRUCTIONS = """\
You consolidate what an assistant remembers about one user. You are given the user's memories, oldest first:
a later memory may correct or refine an earlier one. Answer with fewer, shorter memories that together keep
every fact that is still true:
- merge memories that say the same thing, or that are about one subject, into one;
- where a later memory corrects an earlier one, keep only what the later one says;
- keep the third person ("The user ..." or the user's name, as the memories say it);
- never add anything the memories do not say;
- give each memory one to three short lowercase topics (reuse the given ones)."""


class ConsolidatedMemory(BaseModel):
    """One memory of the consolidated set."""

    memory: str = Field(description="One fact or preference about the user, in the third person")
    topics: list[str] = Field(default_factory=list[str], description="One to three short lowercase topics")


class Consolidation(BaseModel):
    """The optimization model's answer: the memories that replace the ones it was given."""

    memories: list[ConsolidatedMemory] = Field(
        description="The consolidated memories: no more than were given, every fact still true kept"
    )


@dataclass(slots=True, kw_only=True)
class MemoryOptimization:
    """What an optimization found (and, if `applied`, stored): the memories that replace the user's, and
    the counts before and after."""

    memories: list[UserMemory]
    memories_before: int
    tokens_before: int
    tokens_after: int
    applied: bool

    @property
    def memories_after(self) -> int:
        return len(self.memories)

    @property
    def tokens_saved(self) -> int:
        return self.tokens_before - self.tokens_after

    @property
    def reduction_percentage(self) -> float:
        return self.tokens_saved / self.tokens_before * 100.0 if self.tokens_before > 0 else 0.0


def count_tokens(memories: Iterable[UserMemory]) -> int:
    """The memories' tokens, estimated as recall estimates them."""
    return sum(approx_tokens(m.memory) for m in memories)


def learning_model(agents: Iterable[Agent], memories: Sequence[UserMemory] = ()) -> Model | str | None:
    """The model the learning machine extracts memories with (the machine's, else its agent's), for the
    agent that made most of `memories`, else for the first agent that learns user memories; None if no
    agent does."""
    learners = {a.agent_id: a for a in agents if (m := a.learning_machine) is not None and m.user_memories}
    made_by = Counter(m.agent_id for m in memories if m.agent_id in learners)
    agent = learners[made_by.most_common(1)[0][0]] if made_by else next(iter(learners.values()), None)
    if agent is None:
        return None
    machine = agent.learning_machine
    assert machine is not None
    return machine.model if machine.model is not None else agent.get_model()


async def optimize_memories(
    store: Store,
    user_id: str,
    model: Model | str | None = None,
    *,
    agents: Iterable[Agent] = (),
    apply: bool = True,
) -> MemoryOptimization:
    """Consolidate `user_id`'s memories with `model` (None: `learning_model(agents, ...)`, else
    `STRATUS_MODEL`'s); with `apply`, store the result in their place.

    Raises `NotFoundError` when the user has no memories, `ConfigError` when there is no model to ask, and
    `ModelError` when the model fails or answers something that is not a consolidation; nothing is changed
    then. An answer with more tokens than the memories had saves nothing: the memories are answered as they
    are, and kept."""
    memories = await every(store.list_memories, MemoryQuery(user_id=user_id, sort_by="created_at", sort_order="asc"))
    if not memories:
        raise NotFoundError(f"No memories found for user {user_id}")
    if model is None:
        model = learning_model(agents, memories)
    if model is None:
        from stratus.agent.agent import resolve_model

        model = resolve_model(None, "no model to optimize memories with (name one, give an agent a LearningMachine")
    answer = await _consolidate(memories, model)
    replacement = _replacement(memories, answer, user_id)
    tokens_before, tokens_after = count_tokens(memories), count_tokens(replacement)
    unchanged = {m.memory_id for m in replacement} == {m.memory_id for m in memories}
    if tokens_after > tokens_before or unchanged:  # nothing to save: answer the memories as they are
        replacement = sorted(memories, key=lambda m: m.updated_at, reverse=True)
        tokens_after, apply = tokens_before, False
    elif apply:
        replacement = await _replace(store, user_id, memories, replacement)
    return MemoryOptimization(
        memories=replacement,
        memories_before=len(memories),
        tokens_before=tokens_before,
        tokens_after=tokens_after,
        applied=apply,
    )


async def _consolidate(memories: Sequence[UserMemory], model: Model | str) -> list[ConsolidatedMemory]:
    from stratus.agent import Agent
    from stratus.run import RunStatus

    optimizer = Agent(
        id="memory-optimizer", model=model, instructions=OPTIMIZE_INSTRUCTIONS, output_schema=Consolidation
    )
    listed = "\n".join(
        f"[{i}] {m.memory}" + (f" (topics: {', '.join(m.topics)})" if m.topics else "")
        for i, m in enumerate(memories, 1)
    )
    output = await optimizer.arun(f"<memories>\n{listed}\n</memories>")
    if output.status is not RunStatus.COMPLETED or not isinstance(output.content, Consolidation):
        if isinstance(output.exception, ModelError | ConfigError):
            raise output.exception
        raise ModelError(f"the model did not consolidate the memories: {output.error or 'no answer'}")
    found = [c for c in output.content.memories if c.memory.strip()]
    if not found:
        raise ModelError("the model answered no memories: a consolidation keeps every fact")
    if len(found) > len(memories):
        raise ModelError(f"the model answered {len(found)} memories for {len(memories)}: that is no consolidation")
    return found


def _replacement(
    memories: Sequence[UserMemory], answer: Sequence[ConsolidatedMemory], user_id: str
) -> list[UserMemory]:
    """The answer as memories of the user: one whose text is that of a memory it was given is that memory,
    kept as it is (its id, uses and embedding); the others are new, of the agent (team) all the given ones
    share, if they share one."""
    by_text = {m.memory.strip(): m for m in memories}
    agents = {m.agent_id for m in memories}
    teams = {m.team_id for m in memories}
    now = time.time()
    found: list[UserMemory] = []
    for item in answer:
        text = item.memory.strip()
        same = by_text.pop(text, None)
        if same is not None:
            found.append(same)
            continue
        found.append(
            UserMemory(
                memory_id=new_id(),
                memory=text,
                user_id=user_id,
                topics=list(dict.fromkeys(t.strip() for t in item.topics if t.strip())),
                agent_id=next(iter(agents)) if len(agents) == 1 else None,
                team_id=next(iter(teams)) if len(teams) == 1 else None,
                created_at=now,
                updated_at=now,
            )
        )
    return found


async def _replace(
    store: Store, user_id: str, memories: Sequence[UserMemory], replacement: Sequence[UserMemory]
) -> list[UserMemory]:
    """Write the new memories, then delete the old ones that are not kept. A write that fails takes back
    the ones written before it (best effort) and raises: the old memories are all still there."""
    kept = {m.memory_id for m in memories}
    stored: list[UserMemory] = []
    written: list[str] = []
    try:
        for memory in replacement:
            if memory.memory_id in kept:
                stored.append(memory)
                continue
            stored.append(await store.put_memory(memory))
            written.append(memory.memory_id)
    except BaseException:
        try:
            await store.delete_memories(written, user_id=user_id)
        except Exception as exc:  # the write's failure matters more; duplicates are no loss
            logger.warning("optimizing %s's memories: could not take back %d new ones: %s", user_id, len(written), exc)
        raise
    stays = {m.memory_id for m in stored}
    await store.delete_memories([m.memory_id for m in memories if m.memory_id not in stays], user_id=user_id)
    return stored
