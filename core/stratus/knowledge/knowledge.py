"""`Knowledge`: a searchable collection of documents. Content goes in (a file, bytes, text or a URL), is
read, chunked, embedded and indexed, with a content record in the store saying how that went; agents search it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import mimetypes
import os
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from typing_extensions import TypedDict as TypedDictForModels  # pydantic reads it on Python < 3.12

from stratus._utils import new_id
from stratus.exceptions import ConfigError, FetchError, KnowledgeError, NotFoundError, StratusError
from stratus.knowledge._space import EmbeddingSpace
from stratus.knowledge.documents import Chunk, Document, SearchHit, approx_tokens
from stratus.knowledge.embedders import Embedder
from stratus.knowledge.vectordb.base import Filters, SearchMode, VectorDb, check_filters
from stratus.storage._cursor import every
from stratus.storage.records import ContentQuery, ContentRecord, ContentStatus, Page
from stratus.tools import Tool

if TYPE_CHECKING:
    from stratus.knowledge.chunking import Chunker
    from stratus.storage.base import Store

__all__ = ["ANONYMOUS", "SOURCE_KEY", "ContentDetails", "Knowledge", "KnowledgeError", "KnowledgeFilter"]

logger = logging.getLogger("stratus.knowledge")


ANONYMOUS = ""
"""The `user_id` chunk metadata of content no user added (a filter cannot match a null)."""

_LEGACY = ""
"""In `ContentRecord.embedders`: the collection named after the knowledge base alone, where content indexed
before stratus kept one collection per embedder is (its vectors' length unknown)."""

SOURCE_KEY = "source_path"
"""The metadata key of content that came from the knowledge base's `sources` (its name there): what
`load_sources` keeps in step with the files."""

_EMBED_BATCH = 64
_PROGRESS_EVERY_SECONDS = 1.0

Progress = Callable[[ContentRecord, int, int], Awaitable[None]]
"""Called as ingestion advances: the record (its `status_message` says what is happening), then how many
chunks are indexed out of how many (0 of 0 until the content is chunked)."""


class ContentDetails(TypedDict, total=False):
    """What `Knowledge.add` and `prepare` take besides a file: the content as `text` or a `url` to fetch
    instead, and what to record of it (each optional)."""

    text: str | None
    url: str | None
    name: str | None
    """Shown in listings; by default the file's name, the text's first line or the URL's last part."""
    description: str | None
    content_type: str | None
    """The MIME type; by default guessed from the name (or the response, for a URL)."""
    metadata: Mapping[str, Any] | None
    """Kept on the record and on every chunk, for filtering searches."""
    user_id: str | None
    """Who added it: with `per_user`, only they see and search it."""


class KnowledgeFilter(TypedDictForModels):
    """A filter the model chooses for a search (agno's `KnowledgeFilter`): passages whose metadata `key` is
    `value`."""

    key: str
    value: str | int | float | bool


class Knowledge(EmbeddingSpace):
    """Documents read, chunked, embedded and indexed, for agents to search.

    Everything is optional: with no arguments, the embedder is `default_embedder()` (OpenAI when a key is set,
    else all-MiniLM-L6-v2 in process), the vector store an `EmbeddedVectorDb` under `.stratus/knowledge/`, the
    chunker a `RecursiveChunker` of about 1,000 tokens (fewer when the embedder reads less), and the content
    records live in the app's store.

    Without a `vector_db`, each embedder gets its own collection of the store `STRATUS_VECTOR_DB` names
    (`collection_for`), and a change of embedder is never a dead end: the first time the knowledge base is used
    with another embedder, content indexed only with earlier ones is embedded again from the chunk texts their
    collections hold (progress is logged), and changing back finds the earlier vectors still there.

    Args:
        name: The knowledge base's id (its `knowledge_id` in the API, and the start of its collections' names).
        description: What it holds (shown to the model with the search tool).
        vector_db: Where chunks are indexed: this one collection whatever the embedder (whose dimensions it
            must match); by default, one collection per embedder.
        embedder: What turns text into vectors.
        chunker: How documents are cut.
        store: Where content records live (the app's store when served).
        per_user: Each user sees and searches only what they added (the default); False shares everything.
        max_bytes: The largest content accepted.
        search_mode: vector, keyword or hybrid (default).
        limit: How many chunks a search returns by default.
        sources: Files and folders (every readable file in them, recursively) the knowledge base holds, kept
            in step by `load_sources`: the API server loads them as it starts, and the first search of any
            other process does. Their content is added by no user (with `per_user`, only callers with no
            user see it, so shared sources want `per_user=False`).
        min_score: Passages scoring below it are not given to agents, by the search tool or in their context
            (None: none is left out); `search` itself takes its own. Hybrid scores are normalised per search,
            0.7 for the best meaning with no word in common: just above it keeps only passages that also share
            words with the question, which spares a small model irrelevant text.
    """

    def __init__(
        self,
        name: str = "knowledge",
        *,
        description: str | None = None,
        vector_db: VectorDb | None = None,
        embedder: Embedder | None = None,
        chunker: Chunker | None = None,
        store: Store | None = None,
        per_user: bool = True,
        max_bytes: int = 50 * 1024 * 1024,
        search_mode: SearchMode = SearchMode.HYBRID,
        limit: int = 5,
        sources: Sequence[str | os.PathLike[str]] = (),
        min_score: float | None = None,
    ) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", name):
            raise ConfigError(f"knowledge name {name!r}: use 1-100 letters, digits, '_', '-' or '.'")
        self.id = name
        self.description = description
        self.per_user = per_user
        self.max_bytes = max_bytes
        self.search_mode = search_mode
        self.limit = limit
        self.store = store
        self._init_space(name, embedder, vector_db)
        self._per_embedder = vector_db is None  # the default: one collection per embedder, kept in step
        self._others: dict[str, VectorDb] = {}  # other embedders' collections, opened to read or delete
        self._chunker = chunker
        self._ready = False
        self._ready_lock: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        self.min_score = min_score
        self.sources = tuple(Path(s) for s in sources)
        self._sources_loaded = not self.sources
        self._sources_lock: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    def __repr__(self) -> str:
        return f"Knowledge(name={self.id!r})"

    # --- parts, resolved on first use -------------------------------------------------------------------

    @property
    def embedding_space(self) -> str:
        """The vectors this knowledge base makes now, as `ContentRecord.embedders` names them:
        `<embedder id>@<dimensions>`."""
        return f"{self.embedder.id}@{self.embedder.dimensions}"

    @property
    def chunker(self) -> Chunker:
        if self._chunker is None:
            from stratus.knowledge.chunking import RecursiveChunker

            self._chunker = RecursiveChunker(size_tokens=self.default_chunk_size)
        return self._chunker

    @property
    def default_chunk_size(self) -> int:
        """About 1,000 tokens, unless the embedder's window is smaller (all-MiniLM-L6-v2 reads 256 word
        pieces): a longer chunk would be embedded by its first part only. Chunk sizes are estimated at four
        characters a token, which word pieces exceed, so 0.8 of the window keeps a chunk within it."""
        from stratus.knowledge.chunking import DEFAULT_SIZE_TOKENS

        window = self.embedder.max_tokens
        return DEFAULT_SIZE_TOKENS if window is None else min(DEFAULT_SIZE_TOKENS, int(window * 0.8))

    def _store(self) -> Store:
        if self.store is None:
            from stratus.storage import default_store

            self.store = default_store()
        return self.store

    async def _ensure_index(self) -> None:
        if self._ready:
            return
        loop = asyncio.get_running_loop()
        if self._ready_lock is None or self._ready_lock[0] is not loop:
            self._ready_lock = (loop, asyncio.Lock())
        async with self._ready_lock[1]:  # one catch-up, which the other first callers wait for
            if self._ready:
                return
            if self.vector_db.dimensions != self.embedder.dimensions:
                raise ConfigError(
                    f"knowledge {self.id!r}: the embedder makes {self.embedder.dimensions} floats but the vector "
                    f"store holds {self.vector_db.dimensions}"
                )
            await self.vector_db.create()
            if self._per_embedder:
                await self._catch_up()
            self._ready = True

    def _collection(self, space: str) -> VectorDb | None:
        """The collection of this knowledge base that holds `space`'s vectors (None: a name not understood)."""
        if space == self.embedding_space:
            return self.vector_db
        found = self._others.get(space)
        if found is None:
            from stratus.knowledge.vectordb import collection_for, vector_db_from_env

            if space == _LEGACY:
                # Of unknown length: reading texts and deleting do not need it (an embedded file refuses).
                found = vector_db_from_env(self.id, dimensions=self.embedder.dimensions)
            else:
                model, _, size = space.rpartition("@")
                if not model or not size.isdigit() or int(size) <= 0:
                    return None
                found = vector_db_from_env(collection_for(self.id, model, int(size)), dimensions=int(size))
            self._others[space] = found
        return found

    async def _catch_up(self) -> None:
        """Embed again with the current embedder the content indexed (completed) only with other embedders,
        from the chunk texts their collections hold. Best effort: what fails is logged and tried again the next
        time the knowledge base is opened; content whose chunks are nowhere ends FAILED, to be added again."""
        space = self.embedding_space
        try:
            behind = [
                r
                for r in await self._all(None)
                if r.status is ContentStatus.COMPLETED and space not in (r.embedders or ())
            ]
        except Exception:
            logger.exception("knowledge %s: could not list its content to catch up with %s", self.id, space)
            return
        if not behind:
            return
        logger.info(
            "knowledge %s: %d content(s) were indexed with another embedder; embedding them again with %s",
            self.id,
            len(behind),
            space,
        )
        for done, record in enumerate(behind, 1):
            try:
                chunks = await self._embed_again(record)
            except Exception as exc:
                logger.warning(
                    "knowledge %s: embedding %s (%s) again with %s failed: %s; the rest waits until the knowledge "
                    "base is next opened",
                    self.id,
                    record.content_id,
                    record.name,
                    space,
                    f"{type(exc).__name__}: {exc}",
                )
                return
            logger.info(
                "knowledge %s: %d/%d embedded again with %s: %s (%s)",
                self.id,
                done,
                len(behind),
                space,
                record.name,
                chunk_count(chunks) if chunks else "its chunks were not found; add it again",
            )

    async def _embed_again(self, record: ContentRecord) -> int:
        """Index one content's chunks, read from another embedder's collection, with the current embedder;
        returns how many (0: none was found, and the record is now FAILED)."""
        store = self._store()
        found: list[Chunk] = []
        for source in record.embedders if record.embedders is not None else [_LEGACY]:
            db = self._collection(source)
            if db is None or db is self.vector_db:
                continue
            try:
                found = await db.chunks({"content_id": record.content_id})
            except ConfigError as exc:  # e.g. an embedded file of another length under the old name
                logger.warning("knowledge %s: %s cannot be read: %s", self.id, db, exc)
                continue
            if found:
                break
        current = await store.get_content(record.content_id, knowledge_id=self.id)
        if current is None:
            return 0  # deleted meanwhile
        if not found:
            message = (
                f"indexed with another embedder, whose chunks are gone: add it again to index it with "
                f"{self.embedding_space}"
            )
            await store.put_content(
                replace(current, status=ContentStatus.FAILED, status_message=message, chunk_count=0, embedders=None)
            )
            return 0
        found.sort(key=lambda c: (_chunk_index(c), c.id))
        size = self.default_chunk_size
        if any(approx_tokens(c.text) > size for c in found):
            # Cut for a model that read more than this one: cut again, or the model would embed only the start.
            from stratus.knowledge.chunking import RecursiveChunker

            documents = [Document(c.text, {k: v for k, v in c.metadata.items() if k != "chunk"}) for c in found]
            pieces = await RecursiveChunker(size_tokens=size).chunk(documents)
            found = [
                Chunk(
                    id=f"{record.content_id}:{i}",
                    content_id=record.content_id,
                    text=piece.text,
                    metadata={**piece.metadata, "chunk": i},
                )
                for i, piece in enumerate(pieces)
            ]
        for start in range(0, len(found), _EMBED_BATCH):
            batch = found[start : start + _EMBED_BATCH]
            vectors = await self.embedder.embed([c.text for c in batch])
            await self.vector_db.upsert([replace(c, embedding=v) for c, v in zip(batch, vectors, strict=True)])
        current = await store.get_content(record.content_id, knowledge_id=self.id)
        if current is None:  # deleted while it was embedded: leave nothing of it
            await self.vector_db.delete_where({"content_id": record.content_id})
            return 0
        listed = current.embedders if current.embedders is not None else [_LEGACY]
        await store.put_content(replace(current, embedders=[*listed, self.embedding_space]))
        return len(found)

    # --- adding -----------------------------------------------------------------------------------------

    async def add(
        self,
        source: str | Path | bytes | None = None,
        *,
        chunker: Chunker | None = None,
        **details: Unpack[ContentDetails],
    ) -> ContentRecord:
        """Add content and wait until it is indexed (or failed). `source` is a file path or bytes; or give
        `text`, or a `url` to fetch (see `ContentDetails` for those and the rest). Adding identical content
        again (same bytes, same user) is a no-op that returns the existing record. Returns the final record:
        COMPLETED with its chunk count, or FAILED with the error; a failure leaves no chunk behind. Content no
        reader reads (an image, say) raises `UnsupportedContentError` (a `KnowledgeError`) and leaves no record."""
        record, data, fresh = await self.prepare(source, **details)
        if not fresh:
            return record
        return await self.ingest(record, data, chunker=chunker)

    async def prepare(
        self, source: str | Path | bytes | None = None, **details: Unpack[ContentDetails]
    ) -> tuple[ContentRecord, bytes, bool]:
        """The first half of `add`: get the bytes, and store a PROCESSING content record for them. Returns the
        record, the bytes, and whether they are new (False: identical content was already added, and the
        record is that one's).

        Raises:
            UnsupportedContentError: No reader reads the content (an image, an archive, bytes that are not what
                the name or type says; see `reader_for_content`); nothing is stored.
            KnowledgeError: The content is too large, or could not be fetched or read from disk."""
        text, url, name = details.get("text"), details.get("url"), details.get("name")
        content_type, metadata, user_id = details.get("content_type"), details.get("metadata"), details.get("user_id")
        description = details.get("description")
        if sum(x is not None for x in (source, text, url)) != 1:
            raise KnowledgeError("give exactly one of a file (path or bytes), text or a url")
        source_url: str | None = None
        if isinstance(source, str | Path):
            path = Path(source)
            data = await asyncio.to_thread(_read_file, path, self.max_bytes)
            name = name or path.name
        elif isinstance(source, bytes):
            data = source
        elif text is not None:
            data = text.encode("utf-8")
            name = name or _title_of(text)
            content_type = content_type or "text/plain"
        else:
            assert url is not None
            data, fetched_type = await _fetch(url, self.max_bytes)
            source_url = url
            name = name or _name_from_url(url)
            content_type = content_type or fetched_type
        if len(data) > self.max_bytes:
            raise KnowledgeError(f"{name or 'content'} is larger than {self.max_bytes} bytes")
        name = name or "content"
        content_type = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        from stratus.knowledge.readers import reader_for_content

        reader_for_content(data, name=name, content_type=content_type)  # what no reader reads is refused now
        digest = hashlib.sha256(data).hexdigest()
        store = self._store()
        same = (
            await store.list_contents(
                ContentQuery(knowledge_id=self.id, content_hash=digest, user_id=user_id, limit=10)
            )
        ).items
        for existing in same:
            if existing.user_id == user_id and existing.status in (ContentStatus.COMPLETED, ContentStatus.PROCESSING):
                return existing, data, False
        retry = next((c for c in same if c.user_id == user_id), None)  # a failed attempt: try it again
        record = ContentRecord(
            content_id=retry.content_id if retry else new_id(),
            knowledge_id=self.id,
            name=name,
            description=description,
            content_type=content_type,
            size=len(data),
            content_hash=digest,
            metadata=dict(metadata) if metadata else None,
            status=ContentStatus.PROCESSING,
            status_message="waiting to be read",
            user_id=user_id,
            source_url=source_url,
        )
        return await store.put_content(record), data, True

    async def ingest(
        self, record: ContentRecord, data: bytes, *, chunker: Chunker | None = None, progress: Progress | None = None
    ) -> ContentRecord:
        """The second half of `add`: read, chunk, embed and index `data` under `record`, reporting progress in
        the record's `status_message`. Never raises for bad content: the record ends FAILED with a readable
        error and no chunk of it stays in the index."""
        store = self._store()
        last_report = 0.0

        async def report(message: str, done: int = 0, total: int = 0, *, force: bool = False) -> None:
            nonlocal record, last_report
            now = time.monotonic()
            if force or now - last_report >= _PROGRESS_EVERY_SECONDS:
                record = await store.put_content(replace(record, status_message=message))
                last_report = now
            if progress is not None:
                await progress(record, done, total)

        try:
            await self._ensure_index()
            from stratus.knowledge.readers import reader_for

            await report("reading", force=True)
            reader = reader_for(record.name or "content", record.content_type)
            documents = await asyncio.to_thread(reader.read, data, name=record.name or "content")
            await report(f"read {len(documents)} part(s); chunking")
            pieces = await (chunker or self.chunker).chunk(documents)
            if not pieces:
                raise KnowledgeError(f"{record.name} has no text to index")
            base = {**(record.metadata or {}), "name": record.name, "user_id": record.user_id or ANONYMOUS}
            total = len(pieces)
            for start in range(0, total, _EMBED_BATCH):
                batch = pieces[start : start + _EMBED_BATCH]
                vectors = await self.embedder.embed([p.text for p in batch])
                chunks = [
                    Chunk(
                        id=f"{record.content_id}:{start + i}",
                        content_id=record.content_id,
                        text=piece.text,
                        metadata={**piece.metadata, **base, "chunk": start + i},
                        embedding=vector,
                    )
                    for i, (piece, vector) in enumerate(zip(batch, vectors, strict=True))
                ]
                await self.vector_db.upsert(chunks)
                done = min(start + _EMBED_BATCH, total)
                await report(f"indexed {done}/{total} chunks", done, total)
            # A re-added document may now be shorter: drop chunks past the new end.
            stale = await self.vector_db.count({"content_id": record.content_id})
            if stale > total:
                await self.vector_db.delete([f"{record.content_id}:{i}" for i in range(total, stale)])
            record = await store.put_content(
                replace(
                    record,
                    status=ContentStatus.COMPLETED,
                    status_message=chunk_count(total),
                    chunk_count=total,
                    embedders=[self.embedding_space] if self._per_embedder else None,
                )
            )
        except asyncio.CancelledError:
            await asyncio.shield(self.fail(record, "ingestion was interrupted; add the content again"))
            raise
        except Exception as exc:
            message = str(exc) if isinstance(exc, StratusError) else f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, StratusError):
                logger.exception("ingesting %s into %s failed", record.content_id, self.id)
            record = await self.fail(record, message)
        if progress is not None:
            await progress(record, record.chunk_count, record.chunk_count)
        return record

    async def fail(self, record: ContentRecord, message: str) -> ContentRecord:
        """End `record` as FAILED with `message`, removing any chunk of it already indexed."""
        try:
            await self.vector_db.delete_where({"content_id": record.content_id})  # no partial chunks
        except Exception:
            logger.exception("could not remove the chunks of failed content %s", record.content_id)
        return await self._store().put_content(
            replace(record, status=ContentStatus.FAILED, status_message=message, chunk_count=0)
        )

    # --- sources --------------------------------------------------------------------------------------------

    async def ensure_sources(self) -> None:
        """Load `sources` once in this process (see `load_sources`); later calls return at once. A failure is
        logged, not raised: the knowledge base serves what it holds."""
        if self._sources_loaded:
            return
        loop = asyncio.get_running_loop()
        if self._sources_lock is None or self._sources_lock[0] is not loop:
            self._sources_lock = (loop, asyncio.Lock())
        async with self._sources_lock[1]:  # one load, which the other first searches wait for
            if self._sources_loaded:
                return
            try:
                await self.load_sources()
            except Exception:
                logger.exception("knowledge %s: loading its sources failed", self.id)
            self._sources_loaded = True

    async def load_sources(self) -> list[ContentRecord]:
        """Bring the content from `sources` in step with the files: a file not indexed yet, or changed since,
        is ingested (the earlier version deleted once the new one is in); a file that is gone is deleted;
        an unchanged file costs its hash and one store query. Logs a line per file ingested. Returns the
        records of the files found, as they ended."""
        started = time.monotonic()
        files, complete = _source_files(self.sources)
        known = [r for r in await self._all(None) if r.user_id is None and (r.metadata or {}).get(SOURCE_KEY)]
        kept: set[str] = set()
        records: list[ContentRecord] = []
        ingested = 0
        for index, (name, path) in enumerate(files, 1):
            try:
                record, data, fresh = await self.prepare(path, name=name, metadata={SOURCE_KEY: name})
            except KnowledgeError as exc:
                logger.warning("knowledge %s: source %s skipped: %s", self.id, name, exc)
                continue
            if fresh:
                if ingested == 0:
                    logger.info("knowledge %s: indexing its sources (%d files)", self.id, len(files))
                record = await self.ingest(record, data)
                ingested += 1
                logger.info(
                    "knowledge %s: [%d/%d] %s: %s", self.id, index, len(files), name, record.status_message or ""
                )
            kept.add(record.content_id)
            records.append(record)
        removed = 0
        if complete:  # a source that is not there (yet) removes nothing of what it held
            for old in known:
                if old.content_id not in kept:
                    removed += await self.delete_content(old.content_id)
        if ingested or removed:
            logger.info(
                "knowledge %s: sources ready in %.1fs: %d indexed, %d unchanged, %d removed",
                self.id,
                time.monotonic() - started,
                ingested,
                len(records) - ingested,
                removed,
            )
        else:
            logger.info("knowledge %s: sources up to date (%d files unchanged)", self.id, len(records))
        return records

    # --- reading back ---------------------------------------------------------------------------------------

    async def get_content(self, content_id: str, *, user_id: str | None = None) -> ContentRecord | None:
        """A content record, if it exists and the caller may see it."""
        record = await self._store().get_content(content_id, knowledge_id=self.id)
        if record is None or not self._visible(record, user_id):
            return None
        return record

    async def list_contents(self, query: ContentQuery) -> Page[ContentRecord]:
        """One page of the knowledge base's content records (the caller's own when per-user)."""
        if query.knowledge_id != self.id:
            query = replace(query, knowledge_id=self.id)
        return await self._store().list_contents(query)

    def _visible(self, record: ContentRecord, user_id: str | None) -> bool:
        return not self.per_user or user_id is None or record.user_id == user_id

    def scope(self, user_id: str | None) -> str | None:
        """The user a caller's listings are limited to (None: all)."""
        return user_id if self.per_user else None

    async def update_content(
        self,
        content_id: str,
        *,
        user_id: str | None = None,
        name: str | None = None,
        description: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> ContentRecord:
        """Rename, describe or re-label a content record. Search filters keep using the metadata the content was
        indexed with: to filter on new metadata, add the content again."""
        record = await self.get_content(content_id, user_id=user_id)
        if record is None or (user_id is not None and record.user_id not in (user_id, None)):
            raise NotFoundError(f"content {content_id!r} not found")
        updated = replace(
            record,
            name=name if name is not None else record.name,
            description=description if description is not None else record.description,
            metadata=dict(metadata) if metadata is not None else record.metadata,
        )
        return await self._store().put_content(updated)

    # --- searching ----------------------------------------------------------------------------------------

    async def search(
        self,
        query: str,
        *,
        limit: int | None = None,
        filters: Filters | None = None,
        user_id: str | None = None,
        mode: SearchMode | None = None,
        min_score: float | None = None,
    ) -> list[SearchHit]:
        """The chunks that best answer `query` (the caller's own, when per-user), those scoring at least
        `min_score` if given."""
        if not query.strip():
            raise KnowledgeError("the search query is empty")
        await self.ensure_sources()
        await self._ensure_index()
        wanted = dict(check_filters(filters))
        if self.per_user:
            wanted["user_id"] = [user_id or ANONYMOUS]
        chosen = mode or self.search_mode
        vector = await self.embedder.embed_query(query) if chosen is not SearchMode.KEYWORD else None
        hits = await self.vector_db.search(
            vector=vector, text=query, mode=chosen, filters=wanted, limit=limit or self.limit
        )
        return hits if min_score is None else [h for h in hits if h.score >= min_score]

    def search_tool(
        self,
        *,
        user_id: str | None = None,
        filters: Filters | None = None,
        limit: int | None = None,
        filter_keys: Sequence[str] | None = None,
    ) -> Tool:
        """The `search_knowledge_base` tool an agent gets, bound to one caller and their filters. With
        `filter_keys` (agno's agentic knowledge filters: see `metadata_keys`), the model may add filters of
        its own on those keys; the bound `filters` still apply, and win on a key both name."""
        knowledge = self
        description = None
        if self.description:
            description = f"Search the knowledge base ({self.description}) for passages relevant to the query."

        async def search_knowledge_base(query: str) -> str:
            """Search the knowledge base for passages relevant to the query. Use it before answering any
            question the documents might cover; quote what you use.

            Args:
                query: What to look for, in a few words or a question.
            """
            hits = await knowledge.search(
                query, limit=limit, filters=filters, user_id=user_id, min_score=knowledge.min_score
            )
            return _passages(hits)

        if filter_keys is None:
            return Tool(search_knowledge_base, description=description)
        known = sorted(filter_keys)
        bound = dict(filters or {})

        async def search_knowledge_base_with_filters(query: str, filters: list[KnowledgeFilter] | None = None) -> str:
            """Search the knowledge base for passages relevant to the query. Use it before answering any
            question the documents might cover; quote what you use.

            Args:
                query: What to look for, in a few words or a question.
                filters: Metadata the passages must have, as key and value pairs; use them when the question
                    names something the metadata records.
            """
            chosen = {f["key"]: f["value"] for f in filters or [] if f["key"] in known}
            ignored = sorted({f["key"] for f in filters or []} - set(known))
            hits = await knowledge.search(
                query, limit=limit, filters={**chosen, **bound}, user_id=user_id, min_score=knowledge.min_score
            )
            note = f"(Filters on unknown keys were ignored: {', '.join(ignored)}.)\n\n" if ignored else ""
            return note + _passages(hits)

        keys = ", ".join(known) if known else "none yet"
        return Tool(
            search_knowledge_base_with_filters,
            name="search_knowledge_base",
            description=(description or "Search the knowledge base for passages relevant to the query.")
            + f" The documents carry these metadata filter keys: {keys}. Always use filters when the question"
            " names specific metadata, e.g. filters=[{'key': 'document_type', 'value': 'contract'}].",
        )

    async def metadata_keys(self, *, user_id: str | None = None) -> list[str]:
        """The metadata keys of the content the caller may search (agno's valid filters), sorted."""
        records = await every(self.list_contents, ContentQuery(knowledge_id=self.id, user_id=self.scope(user_id)))
        return sorted({key for record in records for key in record.metadata or {}})

    # --- deleting -----------------------------------------------------------------------------------------

    async def delete_content(self, content_id: str, *, user_id: str | None = None) -> bool:
        """Delete content and its chunks (in every embedder's collection); False if there was none the caller
        may delete."""
        if await self.get_content(content_id, user_id=user_id) is None:
            return False
        await self._ensure_index()
        record = await self.get_content(content_id, user_id=user_id)  # as the catch-up may have left it
        if record is None:
            return False
        await self.vector_db.delete_where({"content_id": content_id})
        if self._per_embedder:
            for space in record.embedders if record.embedders is not None else [_LEGACY]:
                db = self._collection(space)
                if db is None or db is self.vector_db:
                    continue
                try:
                    await db.delete_where({"content_id": content_id})
                except ConfigError as exc:  # e.g. an embedded file of another length under the old name
                    logger.warning("knowledge %s: the chunks of %s in %s stay: %s", self.id, content_id, db, exc)
        return await self._store().delete_content(content_id, knowledge_id=self.id)

    async def delete_where(self, metadata: Filters, *, user_id: str | None = None) -> int:
        """Delete every content record (and its chunks) whose metadata matches all of `metadata`."""
        wanted = check_filters(metadata)
        if not wanted:
            raise KnowledgeError("delete_where needs at least one metadata filter")
        deleted = 0
        for record in await self._all(user_id):
            values = record.metadata or {}
            if all(values.get(k) in v for k, v in wanted.items()):
                deleted += await self.delete_content(record.content_id, user_id=user_id)
        return deleted

    async def delete_all(self, *, user_id: str | None = None) -> int:
        """Delete all content the caller may delete (everything when no user is named)."""
        deleted = 0
        for record in await self._all(user_id):
            deleted += await self.delete_content(record.content_id, user_id=user_id)
        return deleted

    async def _all(self, user_id: str | None) -> list[ContentRecord]:
        return await every(self.list_contents, ContentQuery(knowledge_id=self.id, user_id=self.scope(user_id)))

    async def close(self) -> None:
        for db in [*([self._vector_db] if self._vector_db is not None else []), *self._others.values()]:
            await db.close()
        self._others.clear()


def chunk_count(count: int) -> str:
    """`count` chunks in words: "1 chunk", "12 chunks"."""
    return f"{count} chunk" if count == 1 else f"{count} chunks"


def _chunk_index(chunk: Chunk) -> int:
    index = chunk.metadata.get("chunk")
    return index if isinstance(index, int) else 0


def _source_files(sources: Sequence[Path]) -> tuple[list[tuple[str, Path]], bool]:
    """The files of `sources` by name (a folder's named `<folder>/<path inside it>`), and whether every source
    was there. Hidden files and files no reader reads (by their extension) are left out."""
    from stratus.knowledge.readers import UnsupportedContentError, reader_for

    found: dict[str, Path] = {}
    complete = True
    for source in sources:
        if source.is_file():
            found.setdefault(source.name, source)
        elif source.is_dir():
            for path in sorted(source.rglob("*")):
                relative = path.relative_to(source)
                if not path.is_file() or any(part.startswith(".") for part in relative.parts):
                    continue
                try:
                    reader_for(path.name)
                except UnsupportedContentError:
                    continue
                found.setdefault(f"{source.name}/{relative.as_posix()}", path)
        else:
            logger.warning("knowledge source %s is not a file or a folder; skipped", source)
            complete = False
    return list(found.items()), complete


def _read_file(path: Path, max_bytes: int) -> bytes:
    if not path.is_file():
        raise KnowledgeError(f"{path} is not a file")
    if path.stat().st_size > max_bytes:
        raise KnowledgeError(f"{path.name} is larger than {max_bytes} bytes")
    return path.read_bytes()


def _passages(hits: Sequence[SearchHit]) -> str:
    if not hits:
        return "No relevant passages found."
    return "\n\n".join(_passage(i, hit) for i, hit in enumerate(hits, 1))


def _passage(index: int, hit: SearchHit) -> str:
    meta = hit.chunk.metadata
    where = f"{meta.get('name', 'document')}" + (f", page {meta['page']}" if "page" in meta else "")
    return f"[{index}] ({where})\n{hit.chunk.text}"


def _title_of(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else "text"
    return (first[:60] + "…") if len(first) > 60 else first


def _name_from_url(url: str) -> str:
    path = url.split("?", 1)[0].rstrip("/")
    tail = path.rsplit("/", 1)[-1]
    return tail or url


async def _fetch(url: str, max_bytes: int) -> tuple[bytes, str | None]:
    """Download `url` through the one safe fetcher (http(s) only, no private or metadata address, redirects
    re-checked, at most `max_bytes`). Its refusal comes back as the `KnowledgeError` callers catch."""
    from stratus._fetch import fetch_url

    try:
        fetched = await fetch_url(url, max_bytes=max_bytes)
    except FetchError as exc:
        raise KnowledgeError(str(exc)) from exc
    return fetched.content, fetched.content_type
