"""Knowledge: documents read, chunked, embedded and indexed, for agents to search.

from stratus import Agent
from stratus.knowledge import Knowledge

docs = Knowledge("handbook", description="the staff handbook")
await docs.add("handbook.pdf")
agent = Agent(model=..., knowledge=docs)          # the agent gets a search_knowledge_base tool
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stratus._optional import load_lazily
from stratus.knowledge.documents import Chunk, ChunkText, Document, SearchHit

if TYPE_CHECKING:
    from stratus.knowledge.knowledge import Knowledge, KnowledgeError

__all__ = ["Chunk", "ChunkText", "Document", "Knowledge", "KnowledgeError", "SearchHit"]


_LAZY = {"Knowledge": "stratus.knowledge.knowledge", "KnowledgeError": "stratus.knowledge.knowledge"}


def __getattr__(name: str) -> Any:
    return load_lazily(__name__, _LAZY, name)
