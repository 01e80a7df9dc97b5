"""Vector stores behind one contract (`VectorDb`): `EmbeddedVectorDb` (offline, SQLite + numpy) and
`OpenSearchVectorDb` (OpenSearch Serverless or a managed domain).

`vector_db_from_env(collection, dimensions=...)` builds the one `STRATUS_VECTOR_DB` names:
`embedded` (the default, files under `.stratus/knowledge/`), `embedded:///path/to/folder`, or
`opensearch://<endpoint host>?service=aoss&region=eu-west-1` (`service=es` for a managed domain); the index is
named after the collection.

A knowledge base keeps one collection per embedder, named by `collection_for` (`docs.all-minilm-l6-v2-384`):
vectors of different models (or lengths) never share an index, so changing the embedder opens another
collection instead of failing on the old one, and changing back finds the old vectors again.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from stratus._optional import load_lazily
from stratus.exceptions import ConfigError
from stratus.knowledge.vectordb.base import Filters, SearchMode, VectorDb, VectorDbError

if TYPE_CHECKING:
    from stratus.knowledge.vectordb.embedded import EmbeddedVectorDb
    from stratus.knowledge.vectordb.opensearch import OpenSearchVectorDb

__all__ = [
    "STRATUS_VECTOR_DB",
    "EmbeddedVectorDb",
    "Filters",
    "OpenSearchVectorDb",
    "SearchMode",
    "VectorDb",
    "VectorDbError",
    "collection_for",
    "vector_db_from_env",
]

STRATUS_VECTOR_DB = "STRATUS_VECTOR_DB"


def collection_for(name: str, embedder_id: str, dimensions: int) -> str:
    """The collection holding `name`'s vectors made by one embedder: `<name>.<embedder id>-<dimensions>`, the
    id lower-cased, each run of characters other than letters and digits made one `-`, and cut at 48."""
    model = re.sub(r"[^a-z0-9]+", "-", embedder_id.lower()).strip("-")[:48].strip("-") or "embedder"
    return f"{name}.{model}-{dimensions}"


def vector_db_from_env(collection: str, *, dimensions: int) -> VectorDb:
    """The vector store `STRATUS_VECTOR_DB` names, for one collection (see the module's docstring)."""
    url = (os.environ.get(STRATUS_VECTOR_DB) or "embedded").strip()
    if url == "embedded":  # the bare word names the default folder; urlsplit would read it as a relative path
        url = "embedded://"
    parts = urlsplit(url)
    if parts.scheme == "embedded":
        from stratus.knowledge.vectordb.embedded import DEFAULT_PATH, EmbeddedVectorDb

        if parts.netloc:
            raise ConfigError(
                f"{STRATUS_VECTOR_DB}={url!r}: put three slashes before a relative folder (embedded:///vectors), "
                "four before an absolute one (embedded:////srv/vectors)"
            )
        # As in sqlite URLs: embedded:///relative/folder, embedded:////absolute/folder.
        folder = parts.path[1:] if parts.path.startswith("/") else parts.path
        return EmbeddedVectorDb(collection, dimensions=dimensions, path=folder or DEFAULT_PATH)
    if parts.scheme == "opensearch":
        from stratus.knowledge.vectordb.opensearch import OpenSearchVectorDb

        options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if not parts.netloc:
            raise ConfigError(
                f"{STRATUS_VECTOR_DB}={url!r}: name the endpoint, e.g. opensearch://abc.us-east-1.aoss.amazonaws.com"
            )
        service = options.get("service", "aoss")
        if service not in ("aoss", "es"):
            raise ConfigError(f"{STRATUS_VECTOR_DB}: service must be aoss or es, not {service!r}")
        return OpenSearchVectorDb(
            collection,
            dimensions=dimensions,
            host=parts.netloc,
            service=service,  # pyright: ignore[reportArgumentType]
            region=options.get("region") or os.environ.get("AWS_REGION"),
        )
    raise ConfigError(f"{STRATUS_VECTOR_DB}={url!r}: use embedded, embedded:///folder or opensearch://host")


_LAZY = {
    "EmbeddedVectorDb": "stratus.knowledge.vectordb.embedded",
    "OpenSearchVectorDb": "stratus.knowledge.vectordb.opensearch",
}


def __getattr__(name: str) -> Any:
    return load_lazily(__name__, _LAZY, name)
