"""How the learning machine compares and ranks memories: cosine similarity of embeddings, and BM25-style
word matching for recall without a model call."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

from stratus.storage.records import UserMemory

__all__ = ["by_words", "cosine", "most_similar", "ranked", "rounded"]


def rounded(vector: Sequence[float]) -> list[float]:
    return [round(float(x), 5) for x in vector]  # a third of the bytes in a JSON record, no loss that matters


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    if len(a) != len(b):
        return 0.0
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm > 0 else 0.0


def most_similar(memories: Iterable[UserMemory], vector: Sequence[float]) -> tuple[UserMemory | None, float]:
    best: UserMemory | None = None
    score = -1.0
    for memory in memories:
        if memory.embedding:
            similarity = cosine(memory.embedding, vector)
            if similarity > score:
                best, score = memory, similarity
    return best, score


_WORD = re.compile(r"\w+")


def _words(text: str) -> set[str]:
    from stratus.knowledge.vectordb.embedded import STOPWORDS

    return {w for w in _WORD.findall(text.lower()) if w not in STOPWORDS}


def by_words(memories: list[UserMemory], query: str) -> list[UserMemory]:
    """Memories sharing the query's rarer words first (each word weighted by its inverse frequency among the
    user's memories, as BM25 does), then the most used, then the newest."""
    wanted = _words(query)
    bags = {m.memory_id: _words(m.memory + " " + " ".join(m.topics)) for m in memories}
    frequency: dict[str, int] = {}
    for bag in bags.values():
        for word in bag & wanted:
            frequency[word] = frequency.get(word, 0) + 1
    total = len(memories)

    def score(memory: UserMemory) -> float:
        return sum(math.log(1 + total / frequency[w]) for w in bags[memory.memory_id] & wanted)

    newest = sorted(memories, key=lambda m: (m.uses, m.updated_at), reverse=True)
    return sorted(newest, key=score, reverse=True)


def ranked(memories: list[UserMemory], vector: Sequence[float] | None) -> list[UserMemory]:
    """Most relevant first (newest first without a query vector, or for memories without an embedding)."""
    newest = sorted(memories, key=lambda m: m.updated_at, reverse=True)
    if vector is None:
        return newest
    return sorted(newest, key=lambda m: cosine(m.embedding, vector) if m.embedding else -1.0, reverse=True)
