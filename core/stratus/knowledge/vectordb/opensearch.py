"""`OpenSearchVectorDb`: chunks in one OpenSearch index, on OpenSearch Serverless (`service="aoss"`, what the
CDK stack deploys) or a managed OpenSearch Service domain (`service="es"`), every request signed with SigV4
from the boto3 session (the Lambda role). opensearch-py and boto3 are imported lazily, here and nowhere else.
This module holds the client; the index's bodies are built in `_opensearch_index`, and the JSON of requests
and responses (documents, queries, bulk lines, hits) in `_opensearch_bodies`, neither of which does I/O.

The index (`index_body` builds it, so the stack and the code agree):

- `embedding`: `knn_vector`, HNSW on faiss, `innerproduct` space over vectors normalised here to unit length,
  which is cosine similarity. Why not `cosinesimil`: faiss only has it from OpenSearch 2.19, innerproduct
  everywhere. OpenSearch turns an inner product p into the score `p + 1` (p >= 0) or `1 / (1 - p)` (p < 0);
  vector search maps it back, so its scores are cosine similarities in [-1, 1], as in the embedded store.
- `text`: a `text` field (standard analyser) for BM25; `chunk_id` and `content_id`: keywords.
- `metadata`: an object whose strings map to `keyword` (so `term` filters match exact values), integers to
  `long`, other numbers to `double`, booleans to `boolean` (dynamic templates); date detection is off, so a
  date-like string stays a keyword like any other.

Serverless is not a domain, and the code branches on `service` where they differ:

- A VECTORSEARCH collection assigns document ids itself (an index action carrying `_id` fails with "Document
  ID is not supported in create/index operation request"), has no refresh (`refresh=true`, `_refresh`) and no
  `_delete_by_query`. So on `aoss` the chunk id lives in the `chunk_id` field; an upsert looks up the chunk's
  current copies, indexes the new copy, then deletes the old ones by their generated ids (no moment without
  the chunk, nothing lost if the write fails); deletes look up ids, then delete in bulk. Reads collapse
  copies of one chunk id. Writes become searchable after the collection's refresh interval (seconds), not at
  once: an upsert repeated within that window can leave a second copy until the next one, and `count` may
  briefly count it.
- On `es` the document `_id` is the chunk id (an upsert is a plain overwrite), writes pass `refresh=true` so
  they are searchable when the call returns, and `delete_where` is one `_delete_by_query`.

Hybrid search is one `hybrid` query (BM25 `match`, then `knn`) run through a search pipeline whose
normalization processor min-max normalises each list and takes their weighted arithmetic mean, 0.3 keyword
and 0.7 vector: the arithmetic of `base.fuse`, except that OpenSearch floors the lowest normalised score of a
list at 0.001 rather than 0. `hybrid="client"` runs the two searches and fuses them here instead, for
collections without search pipelines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import Callable, Sequence
from typing import Any, Final, Literal, TypeVar, cast
from urllib.parse import urlsplit

from stratus._checks import positive
from stratus._optional import requires_extra
from stratus.exceptions import ConfigError
from stratus.knowledge.documents import Chunk, SearchHit
from stratus.knowledge.vectordb._opensearch_bodies import (
    as_dict,
    as_list,
    batches,
    chunk_document,
    cosine,
    describe,
    filter_clauses,
    knn_query,
    line,
    match_query,
    missing_index,
    ranked,
    search_body,
    search_hit,
    unit,
)
from stratus.knowledge.vectordb._opensearch_index import (
    CHUNK_ID_FIELD,
    VECTOR_FIELD,
    Engine,
    Json,
    hybrid_pipeline_body,
    index_body,
)
from stratus.knowledge.vectordb.base import (
    AddressedVectorDb,
    Filters,
    SearchMode,
    SearchQuery,
    VectorDbError,
    check_filters,
    fuse,
)
from stratus.models._clients import BlockingClient

__all__ = [
    "DEFAULT_SEARCH_PIPELINE",
    "OpenSearchBulkError",
    "OpenSearchVectorDb",
    "hybrid_pipeline_body",
    "index_body",
]

T = TypeVar("T")
Service = Literal["aoss", "es"]
logger = logging.getLogger(__name__)

HybridStrategy = Literal["pipeline", "client"]

DEFAULT_SEARCH_PIPELINE: Final = "stratus-hybrid"
"""The search pipeline hybrid search runs through (created by `create()`, shared by every index)."""

_LOOKUP_PAGE = 1_000  # ids fetched per search when looking up a chunk's documents on Serverless
_MAX_WINDOW = 10_000  # OpenSearch's default index.max_result_window, and the largest k a knn query takes
_INDEX_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")
_PIPELINE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")


class OpenSearchBulkError(VectorDbError):
    """Some actions of a bulk request failed; `ids` names the chunks they were for."""

    def __init__(self, message: str, ids: list[str]) -> None:
        super().__init__(message)
        self.ids = ids


class OpenSearchVectorDb(AddressedVectorDb):
    """Chunks in an OpenSearch index: k-NN vector search, BM25 keyword search, hybrid, metadata filters.

    Args:
        index: The index's name (lower-cased; one index per knowledge collection).
        dimensions: The vectors' length; an existing index built for another length is refused.
        host: The collection's or domain's endpoint, an https URL or a bare hostname. Needed unless `client`
            is given.
        service: `aoss` for OpenSearch Serverless, `es` for a managed domain: the SigV4 service name, and
            which of the two behaviours in the module's docstring applies.
        region: AWS region of the endpoint; `AWS_REGION`, then boto3's own resolution, when None.
        client: An opensearch-py `OpenSearch` client to use (tests hand one in); one signed with the boto3
            session's credentials is built when None.
        engine: `faiss` (the default, and what Serverless serves) or `lucene` (domains only). `nmslib` is
            refused: it cannot filter inside a k-NN search, so filtered searches would return too few hits,
            and OpenSearch 3 no longer creates nmslib indexes.
        m: HNSW links per node.
        ef_construction: HNSW candidate list size while indexing.
        ef_search: HNSW candidate list size while searching (faiss; Lucene uses k).
        hybrid: `pipeline` to let OpenSearch fuse a `hybrid` query through `search_pipeline`, `client` to run
            the vector and keyword searches and fuse them here (for collections without search pipelines).
        search_pipeline: The search pipeline's name.
        batch_size: Documents per bulk request (fewer when they would pass 5 MB).
    """

    def __init__(
        self,
        index: str,
        *,
        dimensions: int,
        host: str | None = None,
        service: Service = "aoss",
        region: str | None = None,
        client: Any | None = None,
        engine: Engine = "faiss",
        m: int = 16,
        ef_construction: int = 128,
        ef_search: int = 100,
        hybrid: HybridStrategy = "pipeline",
        search_pipeline: str = DEFAULT_SEARCH_PIPELINE,
        batch_size: int = 500,
    ) -> None:
        if not _INDEX_NAME.fullmatch(index):
            raise ConfigError(
                f"index name {index!r}: use 1-255 letters, digits, '_', '-' or '.', starting with a letter or digit"
            )
        super().__init__(f"opensearch://{host or service}/{index.lower()}", dimensions=dimensions)
        if service not in ("aoss", "es"):
            raise ConfigError(f"service must be 'aoss' (Serverless) or 'es' (a managed domain), not {service!r}")
        if engine == "nmslib":
            raise ConfigError(
                "engine 'nmslib' cannot filter inside a k-NN search (filtered searches would return too few hits) "
                "and is deprecated: use 'faiss'"
            )
        if engine not in ("faiss", "lucene"):
            raise ConfigError(f"engine must be 'faiss' or 'lucene', not {engine!r}")
        if engine == "lucene" and service == "aoss":
            raise ConfigError("OpenSearch Serverless serves faiss HNSW indexes: use engine='faiss'")
        positive(m=m, ef_construction=ef_construction, ef_search=ef_search)
        if hybrid not in ("pipeline", "client"):
            raise ConfigError(f"hybrid must be 'pipeline' or 'client', not {hybrid!r}")
        if not _PIPELINE_NAME.fullmatch(search_pipeline):
            raise ConfigError(f"search pipeline name {search_pipeline!r}: use letters, digits, '_', '-' or '.'")
        if not 1 <= batch_size <= _MAX_WINDOW:
            raise ConfigError(f"batch_size must be between 1 and {_MAX_WINDOW}")
        self.index = index.lower()
        self.host = host
        self.service: Service = service
        self.region = region
        self.engine: Engine = engine
        self.m = m
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.hybrid: HybridStrategy = hybrid
        self.search_pipeline = search_pipeline
        self.batch_size = batch_size
        self._client = BlockingClient[Any](client)
        self._index_ready = False  # the index is known to exist with the right mapping (once per process)
        self._pipeline_ready = False

    def __repr__(self) -> str:
        return f"OpenSearchVectorDb(index={self.index!r}, host={self.host!r}, service={self.service!r})"

    def index_body(self) -> Json:
        """The settings and mappings this store creates its index with."""
        return index_body(
            self._dimensions,
            engine=self.engine,
            m=self.m,
            ef_construction=self.ef_construction,
            ef_search=self.ef_search,
        )

    # --- plumbing ---------------------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The opensearch-py client: the one given, or one built on first use, signed with SigV4."""
        return self._client.get(self._build_client)

    def _build_client(self) -> Any:
        if not self.host:
            raise ConfigError(
                "OpenSearchVectorDb needs the endpoint: host='https://<id>.<region>.aoss.amazonaws.com' (or client=)"
            )
        with requires_extra("OpenSearchVectorDb", "opensearch", what="opensearch-py and boto3"):
            import boto3
            from opensearchpy import AWSV4SignerAuth, OpenSearch, RequestsHttpConnection
        session = boto3.Session()
        region = self.region or os.environ.get("AWS_REGION") or session.region_name
        if not region:
            raise ConfigError("OpenSearchVectorDb needs the endpoint's AWS region: pass region= or set AWS_REGION")
        credentials = session.get_credentials()
        if credentials is None:
            raise ConfigError(
                "no AWS credentials to sign OpenSearch requests with (a role, a profile or AWS_* variables)"
            )
        url = urlsplit(self.host if "://" in self.host else f"https://{self.host}")
        if not url.hostname:
            raise ConfigError(f"OpenSearch endpoint {self.host!r} names no host")
        https = url.scheme == "https"
        # The signer reads the session's credentials on every request, so a role's rotated keys are picked up.
        auth = cast(Any, AWSV4SignerAuth)(credentials, region, self.service)
        return cast(Any, OpenSearch)(
            hosts=[{"host": url.hostname, "port": url.port or (443 if https else 80)}],
            http_auth=auth,
            use_ssl=https,
            verify_certs=https,
            connection_class=RequestsHttpConnection,
            timeout=30,
            max_retries=3,
            retry_on_status=(429, 502, 503, 504),  # Serverless answers 429 while it scales
        )

    async def _call(self, fn: Callable[[Any], T]) -> T:
        # opensearch-py's client is synchronous: run it in a thread, as the DynamoDB store does with boto3.
        return await asyncio.to_thread(self._guarded, fn)

    def _guarded(self, fn: Callable[[Any], T]) -> T:
        errors = _errors()
        try:
            return fn(self.client)
        except errors.OpenSearchException as exc:
            raise VectorDbError(f"OpenSearch index {self.index!r}: {describe(exc)}") from exc

    def _ensure_index(self, client: Any, *, again: bool = False) -> None:
        """Create the index if it is missing; refuse one built for other vectors."""
        if self._index_ready and not again:
            return
        errors = _errors()
        if client.indices.exists(index=self.index):
            self._check_mapping(client)
        else:
            try:
                client.indices.create(index=self.index, body=self.index_body())
            except errors.RequestError as exc:
                # Another writer (a concurrent Lambda) created it between our check and our request.
                if exc.error != "resource_already_exists_exception":
                    raise
                self._check_mapping(client)
        self._index_ready = True

    def _check_mapping(self, client: Any) -> None:
        response = as_dict(client.indices.get_mapping(index=self.index))
        mapping = as_dict(response.get(self.index) or next(iter(response.values()), None))
        field = as_dict(as_dict(as_dict(mapping.get("mappings")).get("properties")).get(VECTOR_FIELD))
        if field.get("type") != "knn_vector":
            raise ConfigError(
                f"index {self.index!r} exists without a knn_vector field {VECTOR_FIELD!r}: it was not made by "
                "stratus; drop it or use another index"
            )
        if field.get("dimension") != self._dimensions:
            raise ConfigError(
                f"index {self.index!r} holds vectors of {field.get('dimension')} floats, not {self._dimensions}: "
                "use another index, or the embedder it was built with"
            )

    def _ensure_pipeline(self, client: Any, *, again: bool = False) -> None:
        """Create or correct the hybrid search pipeline (a GET first: readers rarely need to write it)."""
        if self._pipeline_ready and not again:
            return
        errors = _errors()
        # Through the transport: the `search_pipeline` namespace is missing from older opensearch-py releases.
        path = f"/_search/pipeline/{self.search_pipeline}"
        wanted = hybrid_pipeline_body()
        try:
            try:
                current = as_dict(client.transport.perform_request("GET", path))
            except errors.NotFoundError:
                current = {}
            if current.get(self.search_pipeline) != wanted:
                client.transport.perform_request("PUT", path, body=wanted)
        except (errors.AuthorizationException, errors.RequestError) as exc:
            # A role without pipeline permissions, or a service without search pipelines: hybrid search still
            # works, fused here from the two searches, rather than failing every search.
            logger.warning(
                "search pipeline %s unavailable (%s); hybrid search fuses results client-side",
                self.search_pipeline,
                describe(exc),
            )
            self.hybrid = "client"
        self._pipeline_ready = True

    def _bulk(self, client: Any, lines: Sequence[str], owners: Sequence[str]) -> list[Json]:
        """Send one bulk request and return its items; raise naming the chunks whose actions failed.

        `owners[i]` is the chunk id action i is for (an action is one line, or two with its document)."""
        params = {"refresh": "true"} if self.service == "es" else {}
        response = as_dict(client.bulk(index=self.index, body="\n".join(lines) + "\n", params=params))
        items: list[Json] = []
        failed: list[tuple[str, Json]] = []
        for owner, item in zip(owners, as_list(response.get("items")), strict=False):
            action, raw = next(iter(as_dict(item).items()), ("", None))
            result = as_dict(raw)
            items.append(result)
            error = as_dict(result.get("error"))
            # Deleting from an index that is not there deletes nothing; it is not a failure.
            if error and not (action == "delete" and error.get("type") == "index_not_found_exception"):
                failed.append((owner, error))
        if failed:
            ids = list(dict.fromkeys(owner for owner, _ in failed))
            first = failed[0][1]
            shown = ", ".join(ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
            raise OpenSearchBulkError(
                f"OpenSearch index {self.index!r}: {len(failed)} of {len(owners)} bulk actions failed, for chunks "
                f"{shown}: {first.get('type')}: {first.get('reason')}",
                ids,
            )
        return items

    def _lookup(self, client: Any, query: Json) -> list[tuple[str, str]]:
        """(document id, chunk id) of every document matching `query`; [] when the index is missing.

        Pages exclude the ids already seen rather than paging with `from`: Serverless has no refresh, so
        documents this call deletes may still be visible to the next page."""
        errors = _errors()
        found: list[tuple[str, str]] = []
        seen: list[str] = []
        while True:
            page = query if not seen else {"bool": {"filter": [query], "must_not": [{"ids": {"values": seen}}]}}
            body = {"size": _LOOKUP_PAGE, "_source": [CHUNK_ID_FIELD], "query": page}
            try:
                response = as_dict(client.search(index=self.index, body=body))
            except errors.NotFoundError as exc:
                if missing_index(exc):
                    return found
                raise
            hits = as_list(as_dict(response.get("hits")).get("hits"))
            for hit in hits:
                doc_id = str(as_dict(hit).get("_id"))
                found.append((doc_id, str(as_dict(as_dict(hit).get("_source")).get(CHUNK_ID_FIELD, ""))))
                seen.append(doc_id)
            if len(hits) < _LOOKUP_PAGE:
                return found

    def _delete_documents(self, client: Any, found: Sequence[tuple[str, str]]) -> None:
        for start in range(0, len(found), self.batch_size):
            batch = found[start : start + self.batch_size]
            lines = [line({"delete": {"_id": doc_id}}) for doc_id, _ in batch]
            self._bulk(client, lines, [chunk_id for _, chunk_id in batch])

    # --- contract ---------------------------------------------------------------------------------------

    async def create(self) -> None:
        def run(client: Any) -> None:
            self._ensure_index(client, again=True)
            if self.hybrid == "pipeline":
                self._ensure_pipeline(client, again=True)

        await self._call(run)

    async def upsert(self, chunks: Sequence[Chunk]) -> None:
        self._check(chunks)
        latest = list({chunk.id: chunk for chunk in chunks}.values())  # one id twice: the last one wins
        if not latest:
            return
        documents = [(chunk.id, line(chunk_document(chunk))) for chunk in latest]

        def write(client: Any) -> None:
            self._ensure_index(client)
            for batch in batches(documents, self.batch_size):
                self._write_batch(client, batch)

        await self._call(write)

    def _write_batch(self, client: Any, batch: list[tuple[str, str]]) -> None:
        lines: list[str] = []
        owners: list[str] = []
        if self.service == "es":
            for chunk_id, document in batch:
                lines += [line({"index": {"_id": chunk_id}}), document]
                owners.append(chunk_id)
            self._bulk(client, lines, owners)
            return
        stale = self._lookup(client, {"terms": {CHUNK_ID_FIELD: [chunk_id for chunk_id, _ in batch]}})
        for chunk_id, document in batch:
            lines += [line({"index": {}}), document]
            owners.append(chunk_id)
        # Bulk actions succeed or fail one by one, so the old copies go in a second request, and only those
        # whose replacement is in: a failed write never leaves a chunk with no copy at all.
        try:
            self._bulk(client, lines, owners)
        except OpenSearchBulkError as exc:
            self._delete_documents(
                client, [(doc_id, chunk_id) for doc_id, chunk_id in stale if chunk_id not in exc.ids]
            )
            raise
        self._delete_documents(client, stale)

    async def _search(self, query: SearchQuery) -> list[SearchHit]:
        mode, query_text = query.mode, query.text
        clauses = filter_clauses(query.filters)
        limit = min(query.limit, _MAX_WINDOW)
        query_vector = unit(query.vector) if query.vector else []

        def run(client: Any) -> list[SearchHit]:
            if mode is SearchMode.VECTOR:
                return self._vector_search(client, query_vector, clauses, limit)
            if mode is SearchMode.KEYWORD:
                return self._keyword_search(client, query_text, clauses, limit)
            pool = min(max(limit * 5, 50), _MAX_WINDOW)  # the candidates each side contributes, as embedded
            if self.hybrid == "pipeline":
                self._ensure_pipeline(client)  # may fall back to "client"
            if self.hybrid == "client":
                by_vector = self._vector_search(client, query_vector, clauses, pool)
                by_keyword = self._keyword_search(client, query_text, clauses, pool)
                return fuse(by_vector, by_keyword, limit)

            def hybrid(size: int) -> Json:
                queries = [match_query(query_text, clauses), knn_query(query_vector, clauses, size)]
                return search_body({"hybrid": {"queries": queries}}, size)

            return self._collapsed(client, hybrid, pool, limit, {"search_pipeline": self.search_pipeline})

        return await self._call(run)

    def _vector_search(self, client: Any, vector: list[float], clauses: list[Json], k: int) -> list[SearchHit]:
        hits = self._collapsed(client, lambda size: search_body(knn_query(vector, clauses, size), size), k, k)
        return [SearchHit(chunk=h.chunk, score=cosine(h.score)) for h in hits]  # monotonic: the order holds

    def _keyword_search(self, client: Any, text: str, clauses: list[Json], size: int) -> list[SearchHit]:
        return self._collapsed(client, lambda n: search_body(match_query(text, clauses), n), size, size)

    def _collapsed(
        self, client: Any, build: Callable[[int], Json], size: int, limit: int, params: dict[str, str] | None = None
    ) -> list[SearchHit]:
        """The best `limit` distinct chunks of the search `build(size)` makes; when copies of one chunk (left
        by Serverless' lag) filled a full page, the page is fetched again, twice as large."""
        while True:
            hits = self._hits(client, build(size), params)
            best = ranked(hits, limit)
            if len(best) >= limit or len(hits) < size or size >= _MAX_WINDOW:
                return best
            size = min(size * 2, _MAX_WINDOW)

    def _hits(self, client: Any, body: Json, params: dict[str, str] | None = None) -> list[SearchHit]:
        errors = _errors()
        try:
            response = as_dict(client.search(index=self.index, body=body, params=params or {}))
        except errors.NotFoundError as exc:
            if missing_index(exc):
                return []
            raise
        return [search_hit(as_dict(hit)) for hit in as_list(as_dict(response.get("hits")).get("hits"))]

    async def delete(self, ids: Sequence[str]) -> int:
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return 0

        def remove(client: Any) -> int:
            deleted = 0
            for start in range(0, len(wanted), self.batch_size):
                batch = wanted[start : start + self.batch_size]
                if self.service == "aoss":
                    found = self._lookup(client, {"terms": {CHUNK_ID_FIELD: batch}})
                    self._delete_documents(client, found)
                    deleted += len({chunk_id for _, chunk_id in found})
                else:
                    items = self._bulk(client, [line({"delete": {"_id": chunk_id}}) for chunk_id in batch], batch)
                    deleted += sum(1 for item in items if item.get("result") == "deleted")
            return deleted

        return await self._call(remove)

    async def delete_where(self, filters: Filters) -> int:
        wanted = self._required_filters(filters, "delete_where", "use drop() to delete everything")
        query: Json = {"bool": {"filter": filter_clauses(wanted)}}

        def remove(client: Any) -> int:
            if self.service == "aoss":  # no _delete_by_query on Serverless
                found = self._lookup(client, query)
                self._delete_documents(client, found)
                return len({chunk_id for _, chunk_id in found})
            errors = _errors()
            try:
                response = as_dict(
                    client.delete_by_query(
                        index=self.index, body={"query": query}, params={"refresh": "true", "conflicts": "proceed"}
                    )
                )
            except errors.NotFoundError as exc:
                if missing_index(exc):
                    return 0
                raise
            failures = as_list(response.get("failures"))
            if failures:
                raise VectorDbError(f"OpenSearch index {self.index!r}: delete by query failed: {failures[0]}")
            return int(response.get("deleted") or 0)

        return await self._call(remove)

    async def count(self, filters: Filters | None = None) -> int:
        clauses = filter_clauses(check_filters(filters))
        body = {"query": {"bool": {"filter": clauses}}} if clauses else None

        def run(client: Any) -> int:
            errors = _errors()
            try:
                response = as_dict(client.count(index=self.index, body=body))
            except errors.NotFoundError as exc:
                if missing_index(exc):
                    return 0
                raise
            return int(response.get("count") or 0)

        return await self._call(run)

    async def chunks(self, filters: Filters) -> list[Chunk]:
        wanted = self._required_filters(filters, "chunks")
        query: Json = {"bool": {"filter": filter_clauses(wanted)}}

        def read(client: Any) -> list[Chunk]:
            # Paged like `_lookup`, excluding the documents already seen; copies of one chunk id (Serverless'
            # lag after an upsert) collapse to one.
            errors = _errors()
            found: dict[str, Chunk] = {}
            seen: list[str] = []
            while True:
                page = query if not seen else {"bool": {"filter": [query], "must_not": [{"ids": {"values": seen}}]}}
                body = {"size": _LOOKUP_PAGE, "_source": {"excludes": [VECTOR_FIELD]}, "query": page}
                try:
                    response = as_dict(client.search(index=self.index, body=body))
                except errors.NotFoundError as exc:
                    if missing_index(exc):
                        return []
                    raise
                hits = as_list(as_dict(response.get("hits")).get("hits"))
                for hit in hits:
                    chunk = search_hit(as_dict(hit)).chunk
                    found.setdefault(chunk.id, chunk)
                    seen.append(str(as_dict(hit).get("_id")))
                if len(hits) < _LOOKUP_PAGE:
                    return [found[chunk_id] for chunk_id in sorted(found)]

        return await self._call(read)

    async def drop(self) -> None:
        def remove(client: Any) -> None:
            errors = _errors()
            self._index_ready = False
            with contextlib.suppress(errors.NotFoundError):  # already gone
                client.indices.delete(index=self.index)

        await self._call(remove)

    async def close(self) -> None:
        client = self._client.release()  # built again if this store is used after closing
        if client is not None:
            await asyncio.to_thread(client.close)


def _errors() -> Any:
    with requires_extra("OpenSearchVectorDb", "opensearch", what="opensearch-py"):
        from opensearchpy import exceptions
    return exceptions
