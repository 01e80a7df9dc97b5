"""The tools `agentic` mode gives an agent: save, search, update and forget memories of the run's user, and
(with learned knowledge) save and search the insights shared by every user of the agent."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stratus.exceptions import ToolError
from stratus.learning._ranking import ranked
from stratus.tools import Tool

if TYPE_CHECKING:
    from stratus.learning.machine import LearningMachine
    from stratus.storage.base import Store

__all__ = ["memory_tools"]


def memory_tools(machine: LearningMachine, store: Store, *, user_id: str | None, agent_id: str) -> list[Tool]:
    """The tools, bound to one run's user and agent."""

    def me() -> str:
        if user_id is None:
            raise ToolError("this conversation has no known user, so nothing can be remembered about them")
        return user_id

    async def save_memory(memory: str, topics: list[str] | None = None) -> str:
        """Remember a fact or preference about the user for later conversations. Call it when the user
        shares something lasting about themselves; a memory close to one already saved updates it.

        Args:
            memory: One fact or preference, in the third person ("The user is vegetarian.").
            topics: One to three short topics, e.g. ["food"].
        """
        owner = me()
        known = {m.memory_id: m for m in await machine.memories(store, owner, embedded=True)}
        outcome = await machine.remember(
            store, known, user_id=owner, agent_id=agent_id, text=memory, topics=topics or []
        )
        await machine.evict_memories(store, owner, known)
        return {"added": "Saved.", "merged": "Updated a memory saying nearly the same."}.get(outcome, "Nothing saved.")

    async def search_memories(query: str) -> str:
        """Look through what you remember about the user.

        Args:
            query: What to look for.
        """
        owner = me()
        memories = await machine.memories(store, owner, embedded=True)
        if not memories:
            return "Nothing remembered about this user yet."
        best = ranked(memories, await machine.embedder.embed_query(query))[:10]
        return "\n".join(
            f"[{m.memory_id}] {m.memory}" + (f" (topics: {', '.join(m.topics)})" if m.topics else "") for m in best
        )

    async def update_memory(memory_id: str, memory: str) -> str:
        """Correct a memory (its id comes from search_memories).

        Args:
            memory_id: The memory's id.
            memory: What it should say now.
        """
        owner = me()
        known = {m.memory_id: m for m in await machine.memories(store, owner)}
        if memory_id not in known:
            raise ToolError(f"no memory {memory_id!r}; search_memories lists the ids")
        await machine.remember(
            store,
            known,
            user_id=owner,
            agent_id=agent_id,
            text=memory,
            topics=known[memory_id].topics,
            replaces=memory_id,
        )
        return "Updated."

    async def forget_memory(memory_id: str) -> str:
        """Forget a memory, e.g. when the user asks you to or it is no longer true.

        Args:
            memory_id: The memory's id (from search_memories).
        """
        if not await store.delete_memory(memory_id, user_id=me()):
            raise ToolError(f"no memory {memory_id!r}; search_memories lists the ids")
        return "Forgotten."

    found = [Tool(save_memory), Tool(search_memories), Tool(update_memory), Tool(forget_memory)]
    if machine.learned_knowledge:

        async def save_learning(insight: str) -> str:
            """Save a general lesson that will help with any user's similar requests (never personal data).

            Args:
                insight: The lesson, in one or two sentences.
            """
            outcome = await machine.save_insight(store, agent_id, insight)
            await machine.evict_insights(store, agent_id)
            return {"added": "Saved.", "merged": "Updated a lesson saying nearly the same."}.get(
                outcome, "Nothing saved."
            )

        async def search_learnings(query: str) -> str:
            """Look through the general lessons learned from earlier conversations.

            Args:
                query: What to look for.
            """
            vector = await machine.embedder.embed_query(query)
            hits = await machine.search_insights(agent_id, vector, query, 5, store=store)
            return "\n".join(f"- {h.chunk.text}" for h in hits) or "No lessons about that yet."

        found += [Tool(save_learning), Tool(search_learnings)]
    return found
