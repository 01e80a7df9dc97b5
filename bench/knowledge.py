"""Knowledge search and ingestion on the embedded store.

    python bench/knowledge.py                      # 10k and 100k chunks, then ingestion with the local embedder
    python bench/knowledge.py --sizes 10000 --no-ingest

Search: `EmbeddedVectorDb` filled with N chunks of 384 floats (the local embedder's size), drawn around 500
topics so neighbours are meaningful, each owned by one of 20 users; queries are stored vectors moved a little.
Latency is measured for a plain vector search, the per-user vector search a knowledge base runs (filter on
`user_id`), and a per-user hybrid search (vector plus BM25), each the median and 95th percentile of the
queries after a warm-up. Recall@10 compares the store's top 10 with an exact search done here in float64.

Ingestion: `Knowledge.add` of a generated 120-page handbook (read, chunked at about 1,000 tokens, embedded by
all-MiniLM-L6-v2 on this machine's CPU, indexed), in chunks per second, end to end.

Targets (issue 5): recall@10 >= 0.95 and p50 <= 20 ms at 100k chunks.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stratus.knowledge.documents import Chunk
from stratus.knowledge.vectordb.base import SearchMode
from stratus.knowledge.vectordb.embedded import EmbeddedVectorDb

DIMENSIONS = 384
TOPICS = 500
USERS = 20
QUERIES = 300
WARMUP = 20
TARGET_P50_MS = 20.0
TARGET_RECALL = 0.95
_COMMON = "the of and to a in is that for it as with was on be by this are or at from an have not"
STOPWORDS = _COMMON.split()


def vocabulary(size: int = 20_000, seed: int = 5) -> list[str]:
    """Common English words first, then made-up ones: drawn by a Zipf law, text looks like text to BM25
    (a few words in most chunks, most words in few)."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    made = {"".join(rng.choices(letters, k=rng.randint(4, 10))) for _ in range(size * 2)}
    return STOPWORDS + sorted(made)[: size - len(STOPWORDS)]


WORDS = vocabulary()
RANK = {word: rank for rank, word in enumerate(WORDS)}
_WEIGHTS = [1 / (rank + 1) ** 1.07 for rank in range(len(WORDS))]


def sentence(rng: random.Random, k: int) -> str:
    return " ".join(rng.choices(WORDS, weights=_WEIGHTS, k=k))


def corpus(size: int, seed: int = 7) -> tuple[np.ndarray[Any, Any], list[Chunk]]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(TOPICS, DIMENSIONS))
    topic = rng.integers(0, TOPICS, size=size)
    vectors = centres[topic] + rng.normal(scale=0.6, size=(size, DIMENSIONS))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors.astype(np.float32)
    words = random.Random(seed)
    chunks = [
        Chunk(
            id=f"doc{i // 20}:{i % 20}",
            content_id=f"doc{i // 20}",
            text=sentence(words, 150),
            metadata={"user_id": f"user{(i // 20) % USERS}", "name": f"doc{i // 20}.md", "chunk": i % 20},
            embedding=vectors[i].tolist(),
        )
        for i in range(size)
    ]
    return vectors, chunks


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def timed(
    db: EmbeddedVectorDb, queries: list[tuple[list[float], str, str]], **kwargs: Any
) -> tuple[list[float], list[list[str]]]:
    latencies: list[float] = []
    results: list[list[str]] = []
    for index, (vector, text, user) in enumerate(queries):
        options = dict(kwargs)
        if options.pop("per_user", False):
            options["filters"] = {"user_id": user}
        started = time.perf_counter()
        hits = await db.search(vector=vector, text=text, limit=10, **options)
        elapsed = (time.perf_counter() - started) * 1000
        if index >= WARMUP:
            latencies.append(elapsed)
        results.append([h.chunk.id for h in hits])
    return latencies, results


def exact_top10(vectors: np.ndarray[Any, Any], ids: list[str], query: np.ndarray[Any, Any]) -> list[str]:
    scores = vectors.astype(np.float64) @ (query / np.linalg.norm(query))
    return [ids[i] for i in np.argsort(-scores, kind="stable")[:10]]


async def bench_search(size: int) -> dict[str, Any]:
    vectors, chunks = corpus(size)
    ids = [c.id for c in chunks]
    owners = np.array([c.metadata["user_id"] for c in chunks])
    rng = np.random.default_rng(11)
    picks = rng.integers(0, size, size=QUERIES)
    queries: list[tuple[list[float], str, str]] = []
    for i in picks:
        q = vectors[i] + rng.normal(scale=0.02, size=DIMENSIONS)
        rare = sorted(set(chunks[i].text.split()) - set(STOPWORDS), key=RANK.__getitem__)[-3:]  # as a user would ask
        text = f"how do the {' '.join(rare)} work"
        queries.append(((q / np.linalg.norm(q)).tolist(), text, str(owners[i])))
    with tempfile.TemporaryDirectory() as folder:
        db = EmbeddedVectorDb("bench", dimensions=DIMENSIONS, path=folder)
        started = time.perf_counter()
        for start in range(0, size, 2000):
            await db.upsert(chunks[start : start + 2000])
        load_s = time.perf_counter() - started
        plain, found = await timed(db, queries, mode=SearchMode.VECTOR)
        per_user, found_user = await timed(db, queries, mode=SearchMode.VECTOR, per_user=True)
        hybrid, _ = await timed(db, queries, mode=SearchMode.HYBRID, per_user=True)
        await db.close()
    recall: list[float] = []
    recall_user: list[float] = []
    for (vector, _, user), got, got_user in zip(queries, found, found_user, strict=True):
        query = np.asarray(vector)
        recall.append(len(set(got) & set(exact_top10(vectors, ids, query))) / 10)
        mine = owners == user
        mine_ids = [ids[i] for i in np.flatnonzero(mine)]
        recall_user.append(len(set(got_user) & set(exact_top10(vectors[mine], mine_ids, query))) / 10)
    return {
        "size": size,
        "load_s": load_s,
        "plain": plain,
        "per_user": per_user,
        "hybrid": hybrid,
        "recall": statistics.fmean(recall),
        "recall_user": statistics.fmean(recall_user),
    }


def handbook(pages: int = 120) -> str:
    words = random.Random(3)
    parts = []
    for page in range(pages):
        parts.append(f"## Section {page + 1}\n")
        for _ in range(4):
            sentences = [sentence(words, 14).capitalize() + "." for _ in range(8)]
            parts.append(" ".join(sentences) + "\n")
    return "\n".join(parts)


async def bench_ingest() -> dict[str, Any]:
    from stratus.knowledge import Knowledge
    from stratus.knowledge.embedders.local import LocalEmbedder
    from stratus.storage.sqlite import SqliteStore

    embedder = LocalEmbedder()
    started = time.perf_counter()
    embedder.load()
    load_s = time.perf_counter() - started
    text = handbook()
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteStore(Path(folder) / "records.db")
        base = Knowledge(
            "bench",
            embedder=embedder,
            vector_db=EmbeddedVectorDb("bench", dimensions=embedder.dimensions, path=folder),
            store=store,
        )
        await base.add(text=handbook(2), name="warm-up")
        started = time.perf_counter()
        record = await base.add(text=text, name="handbook.md")
        elapsed = time.perf_counter() - started
        await base.close()
        await store.close()
    assert record.status.value == "completed", record.status_message
    return {"chunks": record.chunk_count, "seconds": elapsed, "words": len(text.split()), "load_s": load_s}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"Python {platform.python_version()} · {cpu}, {os.cpu_count()} cores · {platform.system()}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated corpus sizes")
    parser.add_argument("--no-ingest", action="store_true", help="skip the ingestion figure")
    args = parser.parse_args()
    print(machine())
    print(f"\nsearch, {DIMENSIONS} dimensions, {QUERIES - WARMUP} timed queries, top 10")
    print(
        "| chunks | vector p50 / p95 | per-user vector p50 / p95 | per-user hybrid p50 / p95 "
        "| recall@10 | per-user recall@10 |"
    )
    print("|---|---|---|---|---|---|")
    verdicts: list[str] = []
    loads: list[str] = []
    for size in (int(s) for s in args.sizes.split(",")):
        r = await bench_search(size)

        def cell(values: list[float]) -> str:
            return f"{percentile(values, 0.5):.2f} / {percentile(values, 0.95):.2f} ms"

        print(
            f"| {size:,} | {cell(r['plain'])} | {cell(r['per_user'])} | {cell(r['hybrid'])} "
            f"| {r['recall']:.3f} | {r['recall_user']:.3f} |",
            flush=True,
        )
        if size >= 100_000:
            p50 = max(percentile(r["plain"], 0.5), percentile(r["per_user"], 0.5))
            ok = p50 <= TARGET_P50_MS and min(r["recall"], r["recall_user"]) >= TARGET_RECALL
            verdicts.append(
                f"{size:,} chunks: worst vector p50 {p50:.2f} ms (target <= {TARGET_P50_MS:g}), recall@10 "
                f"{min(r['recall'], r['recall_user']):.3f} (target >= {TARGET_RECALL}): {'met' if ok else 'MISSED'}"
            )
        loads.append(f"indexing {size:,} chunks (upserts of 2,000): {r['load_s']:.1f} s")
    for line in [*loads, *verdicts]:
        print(line)
    if not args.no_ingest:
        r = await bench_ingest()
        print(
            f"\ningestion with all-MiniLM-L6-v2 on CPU: {r['chunks']} chunks ({r['words']:,} words) in "
            f"{r['seconds']:.1f} s = {r['chunks'] / r['seconds']:.1f} chunks/s "
            f"({r['words'] / r['seconds']:,.0f} words/s); model load {r['load_s']:.1f} s"
        )


if __name__ == "__main__":
    asyncio.run(main())
