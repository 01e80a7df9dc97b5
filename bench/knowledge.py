"""Knowledge search and ingestion on the embedded store.

    python bench/knowledge.py                      # 10k and 100k chunks, then ingestion with the local embedder
    python bench/knowledge.py --sizes 10000 --no-ingest
    python bench/knowledge.py --sizes 1000000 --no-ingest   # the approximate path: about 15 minutes

Search: `EmbeddedVectorDb` filled with N chunks of 384 floats (the local embedder's size), drawn around 500
topics so neighbours are meaningful, each owned by one of 20 users; queries are stored vectors moved a little.
Latency is measured for a plain vector search, the per-user vector search a knowledge base runs (filter on
`user_id`), and a per-user hybrid search (vector plus BM25), each the median and 95th percentile of the
queries after a warm-up. Recall@10 compares the store's top 10 with an exact search done here in float64.
The corpus is generated and upserted in batches (1M chunks as Python lists would not fit); then reported:
the time to index it, the process' memory (RSS now and at peak; the benchmark holds one float32 copy of the
vectors itself, 1.5 GB at 1M), the store's size on disk, an upsert of 1,000 new chunks into the full
collection, and the first search of a store opened again on the same file (the vectors read back).

Ingestion: `Knowledge.add` of a generated 120-page handbook (read, chunked at about 1,000 tokens, embedded by
all-MiniLM-L6-v2 on this machine's CPU, indexed), in chunks per second, end to end.

Targets (issues 5 and 17): recall@10 >= 0.95 and p50 <= 20 ms from 100k chunks on; at 1M also the
1,000-chunk upsert <= 2 s. A missed target exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import platform
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
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
TARGET_UPSERT_S = 2.0
BATCH = 100_000  # vectors drawn at a time
UPSERT = 2_000  # chunks per upsert while indexing
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
_CUMULATIVE = list(itertools.accumulate(1 / (rank + 1) ** 1.07 for rank in range(len(WORDS))))


def sentence(rng: random.Random, k: int) -> str:
    return " ".join(rng.choices(WORDS, cum_weights=_CUMULATIVE, k=k))  # as weights=, without re-summing them


def vectors_of(size: int, seed: int = 7) -> np.ndarray[Any, Any]:
    """Unit float32 vectors around `TOPICS` centres, drawn `BATCH` at a time."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(TOPICS, DIMENSIONS))
    topic = rng.integers(0, TOPICS, size=size)
    vectors = np.empty((size, DIMENSIONS), dtype=np.float32)
    for start in range(0, size, BATCH):
        part = centres[topic[start : start + BATCH]] + rng.normal(
            scale=0.6, size=(min(BATCH, size - start), DIMENSIONS)
        )
        vectors[start : start + BATCH] = part / np.linalg.norm(part, axis=1, keepdims=True)
    return vectors


def owner(i: int) -> str:
    return f"user{(i // 20) % USERS}"


def chunk_id(i: int) -> str:
    return f"doc{i // 20}:{i % 20}"


def chunks_of(vectors: np.ndarray[Any, Any], seed: int = 7) -> Iterator[tuple[int, list[Chunk]]]:
    """The chunks, `UPSERT` at a time after the index of the first, their text drawn in order."""
    words = random.Random(seed)
    for start in range(0, len(vectors), UPSERT):
        yield (
            start,
            [
                Chunk(
                    id=chunk_id(i),
                    content_id=f"doc{i // 20}",
                    text=sentence(words, 150),
                    metadata={"user_id": owner(i), "name": f"doc{i // 20}.md", "chunk": i % 20},
                    embedding=vectors[i].tolist(),
                )
                for i in range(start, min(start + UPSERT, len(vectors)))
            ],
        )


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


def exact_top10(
    vectors: np.ndarray[Any, Any], queries: np.ndarray[Any, Any], rows: list[np.ndarray[Any, Any]]
) -> list[list[int]]:
    """Each query's exact top 10 among its `rows`: float32 scores pick 100 candidates, float64 ranks them."""
    best: list[list[int]] = []
    for query, mine in zip(queries, rows, strict=True):
        scores = (
            vectors[mine] @ query.astype(np.float32) if len(mine) < len(vectors) else vectors @ query.astype(np.float32)
        )
        pool = mine[np.argpartition(-scores, 100)[:100]]
        exact = vectors[pool].astype(np.float64) @ (query / np.linalg.norm(query))
        order = np.lexsort((pool, -exact))  # ties as the store breaks them: the earlier row first
        best.append(pool[order[:10]].tolist())
    return best


def memory() -> tuple[float, float]:
    """This process' RSS now and at its peak, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    now = int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return now, peak


def on_disk(folder: str) -> float:
    return sum(f.stat().st_size for f in Path(folder).iterdir()) / 2**20


async def bench_search(size: int) -> dict[str, Any]:
    vectors = vectors_of(size)
    ids = [chunk_id(i) for i in range(size)]
    owners = np.array([owner(i) for i in range(size)])
    rng = np.random.default_rng(11)
    picks = rng.integers(0, size, size=QUERIES)
    texts: dict[int, str] = {}
    wanted = set(picks.tolist())
    with tempfile.TemporaryDirectory() as folder:
        db = EmbeddedVectorDb("bench", dimensions=DIMENSIONS, path=folder)
        started = time.perf_counter()
        for start, batch in chunks_of(vectors):
            await db.upsert(batch)
            texts.update((start + j, c.text) for j, c in enumerate(batch) if start + j in wanted)
        load_s = time.perf_counter() - started
        queries: list[tuple[list[float], str, str]] = []
        for i in picks:
            q = vectors[i] + rng.normal(scale=0.02, size=DIMENSIONS)
            rare = sorted(set(texts[int(i)].split()) - set(STOPWORDS), key=RANK.__getitem__)[-3:]  # as a user asks
            text = f"how do the {' '.join(rare)} work"
            queries.append(((q / np.linalg.norm(q)).tolist(), text, str(owners[i])))
        plain, found = await timed(db, queries, mode=SearchMode.VECTOR)
        per_user, found_user = await timed(db, queries, mode=SearchMode.VECTOR, per_user=True)
        hybrid, _ = await timed(db, queries, mode=SearchMode.HYBRID, per_user=True)
        rss, peak = memory()
        disk = on_disk(folder)
        extra = vectors_of(1_000, seed=13)
        fresh = [
            Chunk(
                id=f"new{i}",
                content_id="new",
                text=sentence(random.Random(i), 150),
                metadata={"user_id": "user0"},
                embedding=v.tolist(),
            )
            for i, v in enumerate(extra)
        ]
        started = time.perf_counter()
        await db.upsert(fresh)
        upsert_s = time.perf_counter() - started
        hit = await db.search(vector=fresh[0].embedding, mode=SearchMode.VECTOR, filters={"user_id": "user0"}, limit=1)
        assert [h.chunk.id for h in hit] == ["new0"], "the upserted chunk is not found"
        await db.close()
        again = EmbeddedVectorDb("bench", dimensions=DIMENSIONS, path=folder)
        started = time.perf_counter()
        await again.search(vector=queries[0][0], mode=SearchMode.VECTOR, limit=10)
        reopen_s = time.perf_counter() - started
        await again.close()
    query_vectors = np.asarray([q for q, _, _ in queries])
    everyone = np.arange(size)
    truth = exact_top10(vectors, query_vectors, [everyone] * len(queries))
    by_user = {u: np.flatnonzero(owners == u) for u in set(owners.tolist())}
    truth_user = exact_top10(vectors, query_vectors, [by_user[u] for _, _, u in queries])
    recall = [len(set(got) & {ids[i] for i in best}) / 10 for got, best in zip(found, truth, strict=True)]
    recall_user = [
        len(set(got) & {ids[i] for i in best}) / 10 for got, best in zip(found_user, truth_user, strict=True)
    ]
    return {
        "size": size,
        "load_s": load_s,
        "plain": plain,
        "per_user": per_user,
        "hybrid": hybrid,
        "recall": statistics.fmean(recall),
        "recall_user": statistics.fmean(recall_user),
        "rss": rss,
        "peak": peak,
        "disk": disk,
        "upsert_s": upsert_s,
        "reopen_s": reopen_s,
        "held": vectors.nbytes / 2**20,
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
    missed = False
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
            recall = min(r["recall"], r["recall_user"])
            ok = p50 <= TARGET_P50_MS and recall >= TARGET_RECALL
            line = (
                f"{size:,} chunks: worst vector p50 {p50:.2f} ms (target <= {TARGET_P50_MS:g}), recall@10 "
                f"{recall:.3f} (target >= {TARGET_RECALL})"
            )
            if size >= 1_000_000:
                ok = ok and r["upsert_s"] <= TARGET_UPSERT_S
                line += f", 1,000-chunk upsert {r['upsert_s']:.2f} s (target <= {TARGET_UPSERT_S:g})"
            verdicts.append(f"{line}: {'met' if ok else 'MISSED'}")
            missed = missed or not ok
        loads.append(
            f"{size:,} chunks: indexed in {r['load_s']:.1f} s (upserts of {UPSERT:,}); 1,000 more upserted in "
            f"{r['upsert_s']:.2f} s; reopened, first search {r['reopen_s']:.1f} s; on disk {r['disk']:,.0f} MiB; "
            f"RSS {r['rss']:,.0f} MiB now, {r['peak']:,.0f} MiB peak (the benchmark's own copy of the vectors: "
            f"{r['held']:,.0f} MiB)"
        )
    for line in [*loads, *verdicts]:
        print(line, flush=True)
    if not args.no_ingest:
        r = await bench_ingest()
        print(
            f"\ningestion with all-MiniLM-L6-v2 on CPU: {r['chunks']} chunks ({r['words']:,} words) in "
            f"{r['seconds']:.1f} s = {r['chunks'] / r['seconds']:.1f} chunks/s "
            f"({r['words'] / r['seconds']:,.0f} words/s); model load {r['load_s']:.1f} s"
        )
    if missed:
        sys.exit(1)


if __name__ == "__main__":
    asyncio.run(main())
