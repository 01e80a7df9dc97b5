"""What keeps vectors of its own (a knowledge base, the learning machine): an embedder and the collection that
holds that embedder's vectors, each made on first use unless given."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stratus.knowledge.embedders import Embedder
    from stratus.knowledge.vectordb import VectorDb

__all__ = ["EmbeddingSpace", "embedder_collection"]


def embedder_collection(name: str, embedder: Embedder) -> VectorDb:
    """The collection of `name` (a knowledge base, or the learnings) holding `embedder`'s vectors, in the
    vector store `STRATUS_VECTOR_DB` names. One per embedder: another embedder's vectors (another length, or
    the same length and another meaning) never mix with these, and switching back finds them."""
    from stratus.knowledge.vectordb import collection_for, vector_db_from_env

    return vector_db_from_env(collection_for(name, embedder.id, embedder.dimensions), dimensions=embedder.dimensions)


class EmbeddingSpace:
    """The embedder (`default_embedder()` unless given) and the vector store (`embedder_collection` of
    `_space_name` for that embedder unless given). Nothing is imported or opened until first used."""

    _space_name: str
    _embedder: Embedder | None
    _vector_db: VectorDb | None

    def _init_space(self, collection: str, embedder: Embedder | None, vector_db: VectorDb | None) -> None:
        self._space_name = collection
        self._embedder = embedder
        self._vector_db = vector_db

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from stratus.knowledge.embedders import default_embedder

            self._embedder = default_embedder()
        return self._embedder

    @property
    def vector_db(self) -> VectorDb:
        if self._vector_db is None:
            self._vector_db = embedder_collection(self._space_name, self.embedder)
        return self._vector_db
