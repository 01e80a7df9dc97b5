"""The index `OpenSearchVectorDb` keeps chunks in, and the search pipeline of its hybrid search: the bodies
`create()` sends, described in `stratus.knowledge.vectordb.opensearch` (which exports them)."""

from __future__ import annotations

from typing import Any, Final, Literal

from stratus.knowledge.vectordb.base import HYBRID_KEYWORD_WEIGHT, HYBRID_VECTOR_WEIGHT

__all__ = [
    "CHUNK_ID_FIELD",
    "CONTENT_ID_FIELD",
    "METADATA_FIELD",
    "TEXT_FIELD",
    "VECTOR_FIELD",
    "Engine",
    "Json",
    "hybrid_pipeline_body",
    "index_body",
]

Engine = Literal["faiss", "lucene", "nmslib"]
Json = dict[str, Any]

VECTOR_FIELD: Final = "embedding"
TEXT_FIELD: Final = "text"
CHUNK_ID_FIELD: Final = "chunk_id"
CONTENT_ID_FIELD: Final = "content_id"
METADATA_FIELD: Final = "metadata"

KEYWORD_IGNORE_ABOVE: Final = 1_024  # longer strings stay in _source but are not indexed (Lucene caps a term at 32 KB)


def index_body(
    dimensions: int, *, engine: Engine = "faiss", m: int = 16, ef_construction: int = 128, ef_search: int = 100
) -> Json:
    """The settings and mappings of a stratus knowledge index (see the module's docstring).

    Args:
        dimensions: The length of the vectors.
        engine: The k-NN library: `faiss` (Serverless and domains) or `lucene` (domains).
        m: HNSW links per node.
        ef_construction: HNSW candidate list size while building the graph.
        ef_search: HNSW candidate list size while searching (faiss; Lucene uses k).
    """
    parameters: Json = {"m": m, "ef_construction": ef_construction}
    if engine == "faiss":
        parameters["ef_search"] = ef_search
    metadata_path = f"{METADATA_FIELD}.*"
    return {
        "settings": {"index": {"knn": True}},
        "mappings": {
            "date_detection": False,
            "dynamic_templates": [
                {
                    "metadata_strings": {
                        "path_match": metadata_path,
                        "match_mapping_type": "string",
                        "mapping": {"type": "keyword", "ignore_above": KEYWORD_IGNORE_ABOVE},
                    }
                },
                {
                    "metadata_integers": {
                        "path_match": metadata_path,
                        "match_mapping_type": "long",
                        "mapping": {"type": "long"},
                    }
                },
                {
                    "metadata_numbers": {
                        "path_match": metadata_path,
                        "match_mapping_type": "double",
                        "mapping": {"type": "double"},
                    }
                },
                {
                    "metadata_booleans": {
                        "path_match": metadata_path,
                        "match_mapping_type": "boolean",
                        "mapping": {"type": "boolean"},
                    }
                },
            ],
            "properties": {
                CHUNK_ID_FIELD: {"type": "keyword"},
                CONTENT_ID_FIELD: {"type": "keyword"},
                TEXT_FIELD: {"type": "text", "analyzer": "standard"},
                METADATA_FIELD: {"type": "object", "dynamic": True},
                VECTOR_FIELD: {
                    "type": "knn_vector",
                    "dimension": dimensions,
                    "method": {
                        "name": "hnsw",
                        "engine": engine,
                        "space_type": "innerproduct",
                        "parameters": parameters,
                    },
                },
            },
        },
    }


def hybrid_pipeline_body() -> Json:
    """The search pipeline of hybrid search: min-max normalisation, then the weighted arithmetic mean, with the
    weights in the order of the hybrid query's sub-queries (keyword, then vector)."""
    return {
        "description": "stratus hybrid search: min-max normalised BM25 and k-NN scores, weighted mean",
        "phase_results_processors": [
            {
                "normalization-processor": {
                    "normalization": {"technique": "min_max"},
                    "combination": {
                        "technique": "arithmetic_mean",
                        "parameters": {"weights": [HYBRID_KEYWORD_WEIGHT, HYBRID_VECTOR_WEIGHT]},
                    },
                }
            }
        ],
    }
