"""A fake OpenSearch data plane behind the real opensearch-py client.

No OpenSearch server can run here, so this stands in for one at the lowest level opensearch-py lets us: a
`Connection` class. Everything above it is the real client: request building, JSON and ndjson serialisation,
parameters, status-to-exception mapping (a 404 is `NotFoundError`, a 400 `RequestError` carrying the error
type), `HEAD` turned into a boolean. Below it, `FakeOpenSearch` keeps indexes in memory and answers the part
of the REST API and query DSL a vector store uses:

- indexes: create (`PUT /<index>`, with `resource_already_exists_exception`), exists (`HEAD`), delete,
  `GET /<index>/_mapping` (with the fields dynamic mapping added), `POST /<index>/_refresh`;
- documents: `_bulk` (index, create, delete; per-item errors), `GET`/`DELETE /<index>/_doc/<id>`, `_count`,
  `_delete_by_query`;
- mappings: dynamic templates (`match_mapping_type`, `path_match`, `match`), date detection, and type
  checks, so a string sent to a `long` field fails its bulk item with `mapper_parsing_exception`, as it would;
- `_search` with `size`, `from` and `_source` includes/excludes, over these queries: `knn` (exact scores in
  the field's space, `innerproduct`, `cosinesimil` or `l2`, turned into OpenSearch scores by the k-NN plugin's
  formulas; `k`; a `filter` applied while searching, refused on nmslib as the plugin does), `match` (BM25 with
  Lucene's formula, k1 = 1.2 and b = 0.75, over lowercase word tokens), `bool` (`must`, `filter`, `should`,
  `must_not`), `term`, `terms`, `ids`, `match_all`, `exists`, and `hybrid` run through a search pipeline
  (`PUT`/`GET`/`DELETE /_search/pipeline/<id>`) whose `normalization-processor` it applies: `min_max` with
  OpenSearch's edge cases (a list's lowest score becomes 0.001, a list of equal scores 1.0), then the weighted
  `arithmetic_mean`, a document missing from a sub-query's results counting 0 there.

`FakeOpenSearch(serverless=True)` also refuses what an OpenSearch Serverless vector collection refuses: an
index or create action carrying `_id` (the item fails with "Document ID is not supported in create/index
operation request"), the `refresh` parameter and `_refresh`, and `_delete_by_query` (404).

Anything else, an unknown endpoint, query or search option, is an error, so a store cannot come to rely on
something this fake does not check. Every request is recorded (`fake.requests`) with its parsed body (a list
of parsed lines for `_bulk`), for golden tests:

    fake = FakeOpenSearch(serverless=True)
    db = OpenSearchVectorDb("kb", dimensions=4, client=fake.client())
    await db.upsert(chunks)
    assert fake.requests[-1].path == "/kb/_bulk"

`fail_next` scripts an error answer and `before_next` runs code just before a request is handled (another
writer winning a race, say).
"""

from __future__ import annotations

import copy
import fnmatch
import itertools
import json
import math
import re
import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import unquote

from opensearchpy import Connection, OpenSearch

__all__ = ["FakeOpenSearch", "FakeOpenSearchConnection", "RecordedRequest", "analyze"]

Json = dict[str, Any]

K1 = 1.2
B = 0.75
MIN_MAX_FLOOR = 0.001  # MinMaxScoreNormalizationTechnique.MIN_SCORE
SINGLE_RESULT_SCORE = 1.0
MAX_RESULT_WINDOW = 10_000
_WORD = re.compile(r"\w+", re.UNICODE)
_DATE = re.compile(r"\d{4}[-/]\d{2}[-/]\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?")
_INDEX_NAME = re.compile(r"[a-z0-9][a-z0-9_.+-]*")
_DEFAULT_DYNAMIC: dict[str, Json] = {
    "string": {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}},
    "long": {"type": "long"},
    "double": {"type": "float"},
    "boolean": {"type": "boolean"},
    "date": {"type": "date"},
}


def analyze(text: str) -> list[str]:
    """The standard analyser, near enough: lowercase word tokens."""
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the connection received it: `body` is parsed JSON (for `_bulk`, a list of lines)."""

    method: str
    path: str
    params: dict[str, str]
    body: Any
    headers: dict[str, str]


class HttpError(Exception):
    """An error answer: OpenSearch's `{"error": {"type", "reason"}, "status"}` body."""

    def __init__(self, status: int, error_type: str, reason: str) -> None:
        super().__init__(f"{status} {error_type}: {reason}")
        self.status = status
        self.body: Json = {"error": {"type": error_type, "reason": reason}, "status": status}


def _unsupported(what: str) -> HttpError:
    return HttpError(400, "fake_unsupported_exception", f"the fake does not implement {what}")


@dataclass
class _Index:
    name: str
    settings: Json
    mappings: Json  # as created, without "properties"; fields live in `fields`
    fields: dict[str, Json]  # flat path -> field mapping (objects included), growing with dynamic mapping
    docs: dict[str, Json] = field(default_factory=dict[str, Json])

    @property
    def knn(self) -> bool:
        index = self.settings.get("index", {})
        value = index.get("knn", self.settings.get("index.knn", False)) if isinstance(index, dict) else False
        return value in (True, "true")

    def mapping_body(self) -> Json:
        properties: Json = {}
        for path, spec in sorted(self.fields.items()):
            node = properties
            parts = path.split(".")
            for part in parts[:-1]:
                node = node.setdefault(part, {"type": "object", "properties": {}}).setdefault("properties", {})
            leaf = dict(spec)
            existing = node.get(parts[-1])
            if isinstance(existing, dict) and "properties" in existing:
                leaf["properties"] = existing["properties"]
            if leaf.get("type") == "object" and "properties" not in leaf:
                leaf.setdefault("properties", {})
            node[parts[-1]] = leaf
        return {**copy.deepcopy(self.mappings), "properties": properties}


class FakeOpenSearch:
    """An in-memory OpenSearch cluster (see the module's docstring).

    Args:
        serverless: Behave as an OpenSearch Serverless vector collection (no custom ids on index, no
            refresh, no delete by query).
    """

    def __init__(self, *, serverless: bool = False) -> None:
        self.serverless = serverless
        self.indices: dict[str, _Index] = {}
        self.pipelines: dict[str, Json] = {}
        self.requests: list[RecordedRequest] = []
        self._faults: list[tuple[str, str, HttpError]] = []
        self._hooks: list[tuple[str, str, Callable[[], None]]] = []
        self._ids = itertools.count(1)
        self._seq = itertools.count()
        self._lock = threading.RLock()

    # --- test controls ------------------------------------------------------------------------------------

    def client(self, **kwargs: Any) -> OpenSearch:
        """A real opensearch-py client whose every request lands here."""
        options: dict[str, Any] = {"max_retries": 0, **kwargs}
        return OpenSearch(
            hosts=[{"host": "fake-opensearch.invalid", "port": 443}],
            connection_class=FakeOpenSearchConnection,
            fake=self,
            **options,
        )

    def fail_next(self, method: str, path: str, *, status: int, error_type: str, reason: str = "scripted") -> None:
        """Answer the next `method path` request with this error instead of handling it."""
        with self._lock:
            self._faults.append((method.upper(), path, HttpError(status, error_type, reason)))

    def before_next(self, method: str, path: str, action: Callable[[], None]) -> None:
        """Run `action` just before the next `method path` request is handled."""
        with self._lock:
            self._hooks.append((method.upper(), path, action))

    def create_index(self, name: str, body: Json | None = None) -> None:
        """Create an index directly, as another client would have."""
        with self._lock:
            self._create_index(name, body or {})

    def documents(self, index: str) -> dict[str, Json]:
        """The stored documents of `index`, by id."""
        with self._lock:
            return copy.deepcopy(self.indices[index].docs)

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        """The recorded requests with this method and path."""
        return [r for r in self.requests if r.method == method.upper() and r.path == path]

    # --- the wire ---------------------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, params: Mapping[str, Any], raw: str | None, headers: Mapping[str, str]
    ) -> tuple[int, Json | None]:
        """Answer one request: (status, JSON body)."""
        method = method.upper()
        params = {k: str(v) for k, v in params.items()}
        with self._lock:
            try:
                body = _parse_body(path, raw)
            except ValueError as exc:
                self.requests.append(RecordedRequest(method, path, params, raw, dict(headers)))
                return 400, HttpError(400, "parse_exception", str(exc)).body
            self.requests.append(RecordedRequest(method, path, params, body, dict(headers)))
            for i, (m, p, action) in enumerate(self._hooks):
                if (m, p) == (method, path):
                    del self._hooks[i]
                    action()
                    break
            for i, (m, p, error) in enumerate(self._faults):
                if (m, p) == (method, path):
                    del self._faults[i]
                    return error.status, error.body
            try:
                return self._route(method, path, params, body)
            except HttpError as error:
                return error.status, error.body

    def _route(self, method: str, path: str, params: dict[str, str], body: Any) -> tuple[int, Json | None]:
        if self.serverless and "refresh" in params:
            # Serverless refreshes on its own schedule; AOSS has no refresh parameter.
            raise HttpError(400, "illegal_argument_exception", "request parameter [refresh] is not supported")
        parts = [unquote(p) for p in path.strip("/").split("/") if p]
        if method in ("PUT", "GET", "DELETE") and len(parts) == 3 and parts[:2] == ["_search", "pipeline"]:
            return self._pipeline(method, parts[2], body)
        route = (method, *[p if p.startswith("_") else "*" for p in parts])
        match route:
            case ("PUT", "*"):
                self._create_index(parts[0], _object(body if body is not None else {}))
                return 200, {"acknowledged": True, "shards_acknowledged": True, "index": parts[0]}
            case ("HEAD", "*"):
                self._index(parts[0])
                return 200, None
            case ("DELETE", "*"):
                self._index(parts[0])
                del self.indices[parts[0]]
                return 200, {"acknowledged": True}
            case ("GET", "*", "_mapping") | ("GET", "*", "_mappings"):
                return 200, {parts[0]: {"mappings": self._index(parts[0]).mapping_body()}}
            case ("POST", "*", "_refresh") | ("GET", "*", "_refresh"):
                if self.serverless:
                    raise HttpError(404, "not_found", f"no handler found for uri [{path}] and method [{method}]")
                self._index(parts[0])
                return 200, {"_shards": {"total": 1, "successful": 1, "failed": 0}}
            case ("POST", "*", "_bulk") | ("PUT", "*", "_bulk"):
                return 200, self._bulk(parts[0], cast(list[Json], body))
            case ("POST", "_bulk") | ("PUT", "_bulk"):
                return 200, self._bulk(None, cast(list[Json], body))
            case ("GET", "*", "_doc", "*"):
                doc = self._index(parts[0]).docs.get(parts[2])
                found = {"_index": parts[0], "_id": parts[2], "found": doc is not None}
                return (200, {**found, "_source": copy.deepcopy(doc)}) if doc is not None else (404, found)
            case ("DELETE", "*", "_doc", "*"):
                index = self._index(parts[0])
                existed = index.docs.pop(parts[2], None) is not None
                result = {"_index": parts[0], "_id": parts[2], "result": "deleted" if existed else "not_found"}
                return (200 if existed else 404), result
            case ("GET", "*", "_search") | ("POST", "*", "_search"):
                return 200, self._search(parts[0], _object(body if body is not None else {}), params)
            case ("GET", "*", "_count") | ("POST", "*", "_count"):
                index = self._index(parts[0])
                request = _object(body if body is not None else {})
                _no_other_keys(request, {"query"}, "count")
                query = _object(request.get("query", {"match_all": {}}))
                return 200, {"count": len(self._evaluate(index, query)), "_shards": {"total": 1, "successful": 1}}
            case ("POST", "*", "_delete_by_query"):
                if self.serverless:
                    raise HttpError(404, "not_found", f"no handler found for uri [{path}] and method [{method}]")
                return 200, self._delete_by_query(parts[0], _object(body))
            case _:
                raise HttpError(400, "fake_unsupported_exception", f"the fake has no handler for {method} {path}")

    # --- indexes ----------------------------------------------------------------------------------------

    def _index(self, name: str) -> _Index:
        index = self.indices.get(name)
        if index is None:
            raise HttpError(404, "index_not_found_exception", f"no such index [{name}]")
        return index

    def _create_index(self, name: str, body: Json) -> None:
        if not _INDEX_NAME.fullmatch(name) or len(name.encode()) > 255:
            raise HttpError(400, "invalid_index_name_exception", f"Invalid index name [{name}]")
        if name in self.indices:
            raise HttpError(400, "resource_already_exists_exception", f"index [{name}/fakeuuid] already exists")
        _no_other_keys(body, {"settings", "mappings", "aliases"}, "index creation")
        settings = copy.deepcopy(_object(body.get("settings", {})))
        mappings = copy.deepcopy(_object(body.get("mappings", {})))
        properties = _object(mappings.pop("properties", {}))
        index = _Index(name=name, settings=settings, mappings=mappings, fields={})
        for path, spec in _flatten_properties(properties):
            if spec.get("type") == "knn_vector":
                _check_knn_field(path, spec, knn_enabled=index.knn)
            index.fields[path] = spec
        self.indices[name] = index

    def _pipeline(self, method: str, name: str, body: Any) -> tuple[int, Json | None]:
        if method == "PUT":
            pipeline = _object(body)
            for processor in pipeline.get("phase_results_processors", []):
                _normalization(processor)  # refuse what the fake would not apply
            self.pipelines[name] = copy.deepcopy(pipeline)
            return 200, {"acknowledged": True}
        if name not in self.pipelines:
            if method == "GET":
                return 404, {}
            raise HttpError(404, "resource_not_found_exception", f"Search pipeline [{name}] is missing")
        if method == "GET":
            return 200, {name: copy.deepcopy(self.pipelines[name])}
        del self.pipelines[name]
        return 200, {"acknowledged": True}

    # --- documents --------------------------------------------------------------------------------------

    def _bulk(self, default_index: str | None, lines: list[Json]) -> Json:
        items: list[Json] = []
        rows = iter(lines)
        for action_line in rows:
            if len(action_line) != 1:
                raise HttpError(400, "illegal_argument_exception", f"Malformed action/metadata line [{action_line}]")
            action, meta = next(iter(action_line.items()))
            meta = _object(meta)
            name = meta.get("_index") or default_index
            if name is None:
                raise HttpError(400, "action_request_validation_exception", "index is missing")
            if action in ("index", "create"):
                source = next(rows, None)
                if source is None:
                    raise HttpError(
                        400, "illegal_argument_exception", "The bulk request must be terminated by a newline"
                    )
                items.append({action: self._bulk_write(action, name, meta.get("_id"), source)})
            elif action == "delete":
                items.append({action: self._bulk_delete(name, meta.get("_id"))})
            else:
                raise _unsupported(f"the bulk action {action!r}")
        return {"took": 1, "errors": any("error" in next(iter(i.values())) for i in items), "items": items}

    def _bulk_write(self, action: str, name: str, doc_id: Any, source: Json) -> Json:
        base: Json = {"_index": name, "_id": doc_id}
        if doc_id is not None and self.serverless:
            return _item_error(
                base,
                400,
                "illegal_argument_exception",
                "Document ID is not supported in create/index operation request",
            )
        if name not in self.indices:
            self._create_index(name, {})  # action.auto_create_index
        index = self.indices[name]
        doc_id = str(doc_id) if doc_id is not None else f"fake-{next(self._ids)}"
        base["_id"] = doc_id
        if action == "create" and doc_id in index.docs:
            return _item_error(base, 409, "version_conflict_engine_exception", f"[{doc_id}]: document already exists")
        try:
            new_fields = _map_document(index, source)
        except HttpError as error:
            return _item_error(base, error.status, error.body["error"]["type"], error.body["error"]["reason"])
        index.fields.update(new_fields)
        existed = doc_id in index.docs
        index.docs[doc_id] = copy.deepcopy(source)
        result = "updated" if existed else "created"
        return {**base, "_version": 1, "result": result, "status": 200 if existed else 201, "_seq_no": next(self._seq)}

    def _bulk_delete(self, name: str, doc_id: Any) -> Json:
        base: Json = {"_index": name, "_id": doc_id}
        if name not in self.indices:
            return _item_error(base, 404, "index_not_found_exception", f"no such index [{name}]")
        existed = self.indices[name].docs.pop(str(doc_id), None) is not None
        return {**base, "result": "deleted" if existed else "not_found", "status": 200 if existed else 404}

    def _delete_by_query(self, name: str, body: Json) -> Json:
        index = self._index(name)
        _no_other_keys(body, {"query"}, "delete by query")
        matched = self._evaluate(index, body.get("query", {"match_all": {}}))
        for doc_id in matched:
            del index.docs[doc_id]
        return {"took": 1, "timed_out": False, "total": len(matched), "deleted": len(matched), "failures": []}

    # --- search -----------------------------------------------------------------------------------------

    def _search(self, name: str, body: Json, params: dict[str, str]) -> Json:
        index = self._index(name)
        _no_other_keys(body, {"query", "size", "from", "_source", "track_total_hits"}, "search")
        size = int(body.get("size", 10))
        start = int(body.get("from", 0))
        if start + size > MAX_RESULT_WINDOW:
            raise HttpError(400, "illegal_argument_exception", "Result window is too large")
        query = _object(body.get("query", {"match_all": {}}))
        if "hybrid" in query:
            ranked = self._hybrid(index, _object(query["hybrid"]), size + start, params.get("search_pipeline"))
        else:
            if params.get("search_pipeline"):
                self._processor(params["search_pipeline"])  # an unknown pipeline is an error either way
            ranked = _rank(index, self._evaluate(index, query))
        total = len(ranked)
        page = ranked[start : start + size]
        hits = [
            {"_index": name, "_id": doc_id, "_score": score, "_source": _filter_source(index.docs[doc_id], body)}
            for doc_id, score in page
        ]
        for hit in hits:
            if hit["_source"] is None:
                del hit["_source"]
        return {
            "took": 1,
            "timed_out": False,
            "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
            "hits": {
                "total": {"value": total, "relation": "eq"},
                "max_score": page[0][1] if page else None,
                "hits": hits,
            },
        }

    def _processor(self, pipeline: str) -> Json:
        if pipeline not in self.pipelines:
            raise HttpError(404, "resource_not_found_exception", f"Pipeline {pipeline} is not defined")
        for processor in self.pipelines[pipeline].get("phase_results_processors", []):
            if "normalization-processor" in processor:
                return _object(processor["normalization-processor"])
        return {}

    def _hybrid(self, index: _Index, hybrid: Json, depth: int, pipeline: str | None) -> list[tuple[str, float]]:
        _no_other_keys(hybrid, {"queries"}, "hybrid query")
        queries = [_object(q) for q in hybrid.get("queries", [])]
        if not 1 <= len(queries) <= 5:
            raise HttpError(400, "illegal_argument_exception", "number of sub-queries must be between 1 and 5")
        processor = self._processor(pipeline) if pipeline else {}
        if not processor:
            # Stricter than OpenSearch, which would answer with raw, unnormalised scores.
            raise HttpError(400, "illegal_argument_exception", "hybrid query needs a normalization-processor pipeline")
        combination = _object(processor.get("combination", {}))
        weights = [float(w) for w in _object(combination.get("parameters", {})).get("weights", [])]
        if weights and len(weights) != len(queries):
            raise HttpError(
                400,
                "illegal_argument_exception",
                f"number of weights [{len(weights)}] must match number of sub-queries [{len(queries)}] in hybrid query",
            )
        weights = weights or [1.0] * len(queries)
        # Each sub-query collects its own top documents, then the processor normalises and combines them.
        per_query = [dict(_rank(index, self._evaluate(index, q))[:depth]) for q in queries]
        normalised = [_min_max(scores) for scores in per_query]
        combined: dict[str, float] = {}
        for doc_id in dict.fromkeys(d for scores in per_query for d in scores):
            scores = [n.get(doc_id, 0.0) for n in normalised]  # absent from a list: 0 there
            used = [(w, s) for w, s in zip(weights, scores, strict=True) if s >= 0.0]
            total = sum(w for w, _ in used)
            combined[doc_id] = sum(w * s for w, s in used) / total if total else 0.0
        return _rank(index, combined)[:depth]

    def _evaluate(self, index: _Index, query: Json) -> dict[str, float]:
        """The documents matching `query`, with their scores (0 for pure filters)."""
        if len(query) != 1:
            raise HttpError(400, "parsing_exception", f"query must have exactly one type, got {sorted(query)}")
        kind, spec = next(iter(query.items()))
        docs = index.docs
        if kind == "match_all":
            return dict.fromkeys(docs, 1.0)
        if kind == "knn":
            return self._knn(index, _object(spec))
        if kind == "match":
            return _bm25(index, _object(spec))
        if kind == "bool":
            return self._bool(index, _object(spec))
        if kind == "term":
            (path, value), *rest = _object(spec).items()
            if rest:
                raise HttpError(400, "parsing_exception", "[term] query doesn't support multiple fields")
            value = value.get("value") if isinstance(value, dict) else value
            return {d: 1.0 for d, doc in docs.items() if _term_matches(index, doc, path, [value])}
        if kind == "terms":
            (path, values), *rest = _object(spec).items()
            if rest or not isinstance(values, list):
                raise HttpError(400, "parsing_exception", "[terms] query needs one field and a list of values")
            return {d: 1.0 for d, doc in docs.items() if _term_matches(index, doc, path, cast(list[Any], values))}
        if kind == "ids":
            wanted = {str(v) for v in _object(spec).get("values", [])}
            return {d: 1.0 for d in docs if d in wanted}
        if kind == "exists":
            path = str(_object(spec).get("field"))
            return {d: 1.0 for d, doc in docs.items() if _values(doc, path)}
        if kind == "hybrid":
            raise HttpError(400, "illegal_argument_exception", "hybrid query must be a top level query")
        raise _unsupported(f"the {kind!r} query")

    def _bool(self, index: _Index, spec: Json) -> dict[str, float]:
        _no_other_keys(spec, {"must", "filter", "should", "must_not", "minimum_should_match"}, "bool query")

        def clauses(key: str) -> list[Json]:
            value = spec.get(key, [])
            return [_object(c) for c in (value if isinstance(value, list) else [value])]

        candidates = set(index.docs)
        scores = dict.fromkeys(index.docs, 0.0)
        for clause in clauses("must"):
            matched = self._evaluate(index, clause)
            candidates &= set(matched)
            for d, s in matched.items():
                scores[d] += s
        for clause in clauses("filter"):
            candidates &= set(self._evaluate(index, clause))
        for clause in clauses("must_not"):
            candidates -= set(self._evaluate(index, clause))
        should = clauses("should")
        if should:
            hits: dict[str, int] = {}
            for clause in should:
                for d, s in self._evaluate(index, clause).items():
                    scores[d] += s
                    hits[d] = hits.get(d, 0) + 1
            default = 0 if spec.get("must") or spec.get("filter") else 1
            required = int(spec.get("minimum_should_match", default))
            candidates = {d for d in candidates if hits.get(d, 0) >= required}
        return {d: scores[d] for d in index.docs if d in candidates}

    def _knn(self, index: _Index, spec: Json) -> dict[str, float]:
        if len(spec) != 1:
            raise HttpError(400, "parsing_exception", "[knn] query doesn't support multiple fields")
        path, params = next(iter(spec.items()))
        params = _object(params)
        _no_other_keys(params, {"vector", "k", "filter"}, "knn query")
        mapping = index.fields.get(path)
        if mapping is None or mapping.get("type") != "knn_vector":
            raise HttpError(400, "illegal_argument_exception", f"Field '{path}' is not knn_vector type.")
        vector = [float(v) for v in params.get("vector", [])]
        if len(vector) != mapping["dimension"]:
            raise HttpError(
                400,
                "illegal_argument_exception",
                f"Query vector has invalid dimension: {len(vector)}. Dimension should be: {mapping['dimension']}",
            )
        k = int(params.get("k", 0))
        if not 1 <= k <= MAX_RESULT_WINDOW:
            raise HttpError(400, "illegal_argument_exception", f"[knn] requires 0 < k <= {MAX_RESULT_WINDOW}")
        method = _object(mapping.get("method", {}))
        engine = method.get("engine", "faiss")
        allowed = set(index.docs)
        if "filter" in params:
            if engine == "nmslib":
                raise HttpError(400, "illegal_argument_exception", "Engine [NMSLIB] does not support filters")
            allowed = set(self._evaluate(index, _object(params["filter"])))  # filtered while searching
        space = method.get("space_type", mapping.get("space_type", "l2"))
        scored: dict[str, float] = {}
        for doc_id, doc in index.docs.items():
            stored = _values(doc, path, flatten=False)
            if doc_id in allowed and stored:
                scored[doc_id] = _knn_score(space, engine, vector, [float(v) for v in stored[0]])
        return dict(_rank(index, scored)[:k])


class FakeOpenSearchConnection(Connection):
    """The opensearch-py `Connection` that hands requests to a `FakeOpenSearch` instead of the network."""

    def __init__(self, *, fake: FakeOpenSearch, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fake = fake

    def perform_request(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None = None,
        body: bytes | str | None = None,
        timeout: int | float | None = None,
        ignore: Collection[int] = (),
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        text = body.decode() if isinstance(body, bytes) else body
        status, payload = self.fake.handle(method, url, params or {}, text, {**self.headers, **(headers or {})})
        raw = "" if payload is None else json.dumps(payload)
        if not 200 <= status < 300 and status not in ignore:
            self._raise_error(status, raw, "application/json")
        return status, {"content-type": "application/json"}, raw


# --- mapping ------------------------------------------------------------------------------------------------


def _object(value: Any) -> Json:
    if not isinstance(value, dict):
        raise HttpError(400, "parsing_exception", f"expected an object, got {value!r}")
    return cast(Json, value)


def _no_other_keys(body: Json, allowed: set[str], what: str) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise _unsupported(f"{unknown} in a {what}")


def _parse_body(path: str, raw: str | None) -> Any:
    if raw is None or raw == "":
        return None
    if path.rstrip("/").endswith("_bulk"):
        if not raw.endswith("\n"):
            raise ValueError("The bulk request must be terminated by a newline [\\n]")
        return [json.loads(line) for line in raw.splitlines() if line.strip()]
    return json.loads(raw)


def _flatten_properties(properties: Json, prefix: str = "") -> Iterator[tuple[str, Json]]:
    for name, spec in properties.items():
        path = f"{prefix}{name}"
        spec = dict(_object(spec))
        children = _object(spec.pop("properties", {}))
        if children and "type" not in spec:
            spec["type"] = "object"
        yield path, spec
        yield from _flatten_properties(children, f"{path}.")


def _check_knn_field(path: str, spec: Json, *, knn_enabled: bool) -> None:
    dimension = spec.get("dimension")
    if not isinstance(dimension, int) or not 1 <= dimension <= 16_000:
        raise HttpError(400, "mapper_parsing_exception", f"[{path}] dimension must be between 1 and 16000")
    method = _object(spec.get("method", {}))
    if method and not knn_enabled:
        raise HttpError(400, "mapper_parsing_exception", "Cannot set method for knn_vector when index.knn is false")
    if method.get("name", "hnsw") != "hnsw":
        raise _unsupported(f"the k-NN method {method.get('name')!r}")
    engine = method.get("engine", "faiss")
    allowed = {"faiss": {"m", "ef_construction", "ef_search", "encoder"}, "lucene": {"m", "ef_construction"}}
    allowed["nmslib"] = allowed["lucene"]
    if engine not in allowed:
        raise HttpError(400, "mapper_parsing_exception", f"Invalid engine [{engine}]")
    unknown = set(_object(method.get("parameters", {}))) - allowed[engine]
    if unknown:
        raise HttpError(400, "mapper_parsing_exception", f"Invalid parameters {sorted(unknown)} for engine {engine}")
    space = method.get("space_type", spec.get("space_type", "l2"))
    if space not in ("l2", "innerproduct", "cosinesimil"):
        raise _unsupported(f"the space type {space!r}")


def _json_type(value: Any, *, date_detection: bool) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "long"
    if isinstance(value, float):
        return "double"
    if isinstance(value, dict):
        return "object"
    if date_detection and isinstance(value, str) and _DATE.fullmatch(value):
        return "date"
    return "string"


def _dynamic_mapping(index: _Index, path: str, json_type: str) -> Json | None:
    """The mapping dynamic mapping gives a new field, or None when the parent object does not map new fields."""
    parent = path.rpartition(".")[0]
    dynamic: Any = index.mappings.get("dynamic", True)
    while parent:
        spec = index.fields.get(parent, {})
        if "dynamic" in spec:
            dynamic = spec["dynamic"]
            break
        parent = parent.rpartition(".")[0]
    if dynamic in ("strict",):
        raise HttpError(
            400, "strict_dynamic_mapping_exception", f"mapping set to strict, dynamic introduction of [{path}]"
        )
    if dynamic in (False, "false"):
        return None
    leaf = path.rpartition(".")[2]
    for template in index.mappings.get("dynamic_templates", []):
        (_, rule), *_ = _object(template).items()
        rule = _object(rule)
        wanted = rule.get("match_mapping_type", "*")
        if wanted not in ("*", json_type):
            continue
        if "path_match" in rule and not fnmatch.fnmatchcase(path, rule["path_match"]):
            continue
        if "match" in rule and not fnmatch.fnmatchcase(leaf, rule["match"]):
            continue
        if "unmatch" in rule and fnmatch.fnmatchcase(leaf, rule["unmatch"]):
            continue
        if "path_unmatch" in rule and fnmatch.fnmatchcase(path, rule["path_unmatch"]):
            continue
        return copy.deepcopy(_object(rule["mapping"]))
    return {"type": "object"} if json_type == "object" else copy.deepcopy(_DEFAULT_DYNAMIC[json_type])


def _map_document(index: _Index, source: Json) -> dict[str, Json]:
    """Check `source` against the index's mapping; the fields dynamic mapping adds (raises on a bad value)."""
    date_detection = index.mappings.get("date_detection", True) not in (False, "false")
    added: dict[str, Json] = {}

    def field_of(path: str) -> Json | None:
        return added.get(path) or index.fields.get(path)

    def walk(node: Json, prefix: str) -> None:
        for name, value in node.items():
            path = f"{prefix}{name}"
            spec = field_of(path)
            if spec is not None and spec.get("type") == "knn_vector":
                _check_vector(path, spec, value)
                continue
            items = cast(list[Any], value) if isinstance(value, list) else [value]
            for item in items:
                if item is None:
                    continue
                spec = field_of(path)
                if spec is None:
                    spec = _dynamic_mapping(index, path, _json_type(item, date_detection=date_detection))
                    if spec is None:
                        continue
                    added[path] = spec
                if isinstance(item, dict):
                    if spec.get("type") not in ("object", "nested"):
                        raise HttpError(
                            400,
                            "mapper_parsing_exception",
                            f"failed to parse field [{path}] of type [{spec.get('type')}]",
                        )
                    walk(cast(Json, item), f"{path}.")
                else:
                    _check_value(path, spec, item)

    walk(source, "")
    return added


def _check_vector(path: str, spec: Json, value: Any) -> None:
    if not isinstance(value, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in cast(list[Any], value)
    ):
        raise HttpError(400, "mapper_parsing_exception", f"failed to parse field [{path}] of type [knn_vector]")
    if len(cast(list[Any], value)) != spec["dimension"]:
        raise HttpError(
            400,
            "mapper_parsing_exception",
            f"Vector dimension mismatch. Expected: {spec['dimension']}, Given: {len(cast(list[Any], value))}",
        )


def _check_value(path: str, spec: Json, value: Any) -> None:
    kind = spec.get("type")
    bad = HttpError(400, "mapper_parsing_exception", f"failed to parse field [{path}] of type [{kind}]")
    if kind in ("long", "integer", "short", "byte", "double", "float"):
        if isinstance(value, bool) or _number(value) is None:
            raise bad
    elif kind == "boolean":
        if not isinstance(value, bool) and value not in ("true", "false", ""):
            raise bad
    elif kind == "object":
        reason = f"object mapping for [{path}] tried to parse field [{path}] as object, but found a concrete value"
        raise HttpError(400, "mapper_parsing_exception", reason)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _values(doc: Json, path: str, *, flatten: bool = True) -> list[Any]:
    """The values at dotted `path` in a document (dotted keys in the source count as paths)."""
    found: list[Any] = []

    def walk(node: Any, rest: str) -> None:
        if isinstance(node, list) and flatten:
            for item in cast(list[Any], node):
                walk(item, rest)
            return
        if rest == "":
            if node is not None:
                found.append(node)
            return
        if isinstance(node, dict):
            node = cast(Json, node)
            for key, value in node.items():
                if rest == key:
                    walk(value, "")
                elif rest.startswith(f"{key}."):
                    walk(value, rest[len(key) + 1 :])

    walk(doc, path)
    return found


def _term_matches(index: _Index, doc: Json, path: str, wanted: list[Any]) -> bool:
    spec = index.fields.get(path)
    if spec is None:
        return False  # an unmapped field matches nothing
    kind = spec.get("type")
    stored = _values(doc, path)
    if kind == "keyword":
        limit = spec.get("ignore_above")
        indexed = {_keyword(v) for v in stored if limit is None or len(_keyword(v)) <= limit}
        return any(_keyword(w) in indexed for w in wanted)
    if kind in ("long", "integer", "short", "byte", "double", "float"):
        numbers = {_number(v) for v in stored}
        return any(_number(w) in numbers for w in wanted if not isinstance(w, bool))
    if kind == "boolean":
        flags = {_flag(v) for v in stored}
        return any(_flag(w) in flags for w in wanted)
    if kind == "text":
        tokens = {t for v in stored for t in analyze(str(v))}
        return any(str(w) in tokens for w in wanted)
    if kind == "date":
        return any(str(w) in {str(v) for v in stored} for w in wanted)
    return False


def _keyword(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    return {"true": True, "false": False}.get(str(value))


# --- scoring ------------------------------------------------------------------------------------------------


def _rank(index: _Index, scores: Mapping[str, float]) -> list[tuple[str, float]]:
    """Best first; ties in the order the documents were stored (Lucene's doc id order)."""
    order = {doc_id: i for i, doc_id in enumerate(index.docs)}
    return sorted(scores.items(), key=lambda item: (-item[1], order.get(item[0], 0)))


def _bm25(index: _Index, spec: Json) -> dict[str, float]:
    if len(spec) != 1:
        raise HttpError(400, "parsing_exception", "[match] query doesn't support multiple fields")
    path, options = next(iter(spec.items()))
    if isinstance(options, dict):
        options = cast(Json, options)
        _no_other_keys(options, {"query"}, "match query")
        text = str(options.get("query", ""))
    else:
        text = str(options)
    mapping = index.fields.get(path, {})
    if mapping.get("type") != "text":
        raise _unsupported(f"match on a field of type {mapping.get('type')!r}")
    terms = analyze(text)  # a term given twice is two SHOULD clauses, as in Lucene
    lengths: dict[str, int] = {}
    counts: dict[str, dict[str, int]] = {}
    for doc_id, doc in index.docs.items():
        tokens = [t for v in _values(doc, path) for t in analyze(str(v))]
        if tokens:
            lengths[doc_id] = len(tokens)
            counts[doc_id] = {}
            for token in tokens:
                counts[doc_id][token] = counts[doc_id].get(token, 0) + 1
    if not lengths:
        return {}
    docs = len(lengths)
    average = sum(lengths.values()) / docs
    scores: dict[str, float] = {}
    for term in terms:
        frequency = sum(1 for c in counts.values() if term in c)
        if not frequency:
            continue
        idf = math.log(1 + (docs - frequency + 0.5) / (frequency + 0.5))
        for doc_id, c in counts.items():
            tf = c.get(term, 0)
            if tf:
                norm = K1 * (1 - B + B * lengths[doc_id] / average)
                scores[doc_id] = scores.get(doc_id, 0.0) + idf * tf / (tf + norm)
    return scores


def _knn_score(space: str, engine: str, query: list[float], stored: list[float]) -> float:
    """The k-NN plugin's score for `stored` against `query` in `space` (higher is closer)."""
    dot = math.fsum(q * s for q, s in zip(query, stored, strict=True))
    if space == "innerproduct":
        # faiss/nmslib: d = -dot, score 1/(1+d) for d >= 0, else 1-d; Lucene: dot+1 for dot > 0, else 1/(1-dot).
        return dot + 1.0 if dot >= 0 else 1.0 / (1.0 - dot)
    if space == "cosinesimil":
        norms = math.sqrt(math.fsum(q * q for q in query)) * math.sqrt(math.fsum(s * s for s in stored))
        if norms == 0:
            raise HttpError(400, "illegal_argument_exception", "zero vector is not supported with cosinesimil")
        return (2.0 - (1.0 - dot / norms)) / 2.0
    distance = math.fsum((q - s) ** 2 for q, s in zip(query, stored, strict=True))
    return 1.0 / (1.0 + distance)


def _normalization(processor: Json) -> Json:
    if set(processor) != {"normalization-processor"}:
        raise _unsupported(f"the search phase results processors {sorted(processor)}")
    spec = _object(processor["normalization-processor"])
    technique = _object(spec.get("normalization", {})).get("technique", "min_max")
    combination = _object(spec.get("combination", {}))
    if technique != "min_max" or combination.get("technique", "arithmetic_mean") != "arithmetic_mean":
        raise _unsupported(f"normalization {technique!r} with combination {combination.get('technique')!r}")
    weights = _object(combination.get("parameters", {})).get("weights")
    if weights is not None and abs(sum(float(w) for w in weights) - 1.0) > 1e-4:
        raise HttpError(400, "illegal_argument_exception", "sum of weights for combination must be equal to 1.0")
    return spec


def _min_max(scores: Mapping[str, float]) -> dict[str, float]:
    """MinMaxScoreNormalizationTechnique without lower bounds."""
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    normalised: dict[str, float] = {}
    for doc_id, score in scores.items():
        if high == low and score == high:
            normalised[doc_id] = SINGLE_RESULT_SCORE
        else:
            value = (score - low) / (high - low)
            normalised[doc_id] = MIN_MAX_FLOOR if value == 0.0 else value
    return normalised


def _item_error(base: Json, status: int, error_type: str, reason: str) -> Json:
    return {**base, "status": status, "error": {"type": error_type, "reason": reason}}


def _filter_source(source: Json, body: Json) -> Json | None:
    spec: Any = body.get("_source", True)
    if spec is False:
        return None
    if spec is True:
        return copy.deepcopy(source)
    includes: list[str]
    excludes: list[str]
    if isinstance(spec, str):
        includes, excludes = [spec], []
    elif isinstance(spec, list):
        includes, excludes = [str(s) for s in cast(list[Any], spec)], []
    else:
        spec = _object(spec)
        _no_other_keys(spec, {"includes", "excludes"}, "_source filter")
        includes = [str(s) for s in spec.get("includes", [])]
        excludes = [str(s) for s in spec.get("excludes", [])]

    def keep(path: str) -> bool:
        if any(fnmatch.fnmatchcase(path, e) or path.startswith(f"{e}.") for e in excludes):
            return False
        return not includes or any(
            fnmatch.fnmatchcase(path, i) or path.startswith(f"{i}.") or i.startswith(f"{path}.") for i in includes
        )

    def prune(node: Json, prefix: str) -> Json:
        kept: Json = {}
        for key, value in node.items():
            path = f"{prefix}{key}"
            if not keep(path):
                continue
            kept[key] = prune(cast(Json, value), f"{path}.") if isinstance(value, dict) else copy.deepcopy(value)
        return kept

    return prune(source, "")
