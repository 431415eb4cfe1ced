"""Search benchmark: 100,000 chunks of 384 dimensions, on SQLite and on PostgreSQL with pgvector.

    python tests/benchmarks/search.py [--chunks 100000] [--queries 300] [--database sqlite postgres]

Builds the chunks from the fixtures' prose generator, embedded by the hashing embedder (as
``pdfline up`` would store them), writes them straight into a fresh database of each kind, then
times the search service call (``api.search.search``: embed the query, rank, fetch the hits' text
and filename; no HTTP) for queries made of a passage of a random chunk. Reports p50/p99, the cold
first query, and on Postgres the HNSW index's recall@10 against the exact ranking of the same
vectors. Not part of the test run; figures go in the README.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from api.search import search  # noqa: E402
from api.search.exact import ExactIndex  # noqa: E402
from fixtures.make_fixtures import prose  # noqa: E402
from pipeline.broker import build_broker, build_context  # noqa: E402
from pipeline.embedders.hashing import HashingEmbedder  # noqa: E402
from pipeline.models import Chunk, Document  # noqa: E402
from pipeline.models.types import utcnow  # noqa: E402
from pipeline.schema import ensure_vector_index  # noqa: E402
from pipeline.schema import upgrade as upgrade_schema  # noqa: E402
from pipeline.settings import Settings  # noqa: E402

CHUNKS_PER_DOCUMENT = 100
WORDS_PER_CHUNK = 80


def corpus(chunks: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    texts = []
    while len(texts) < chunks:
        words = " ".join(prose(rng, 12)).split()
        texts.append(" ".join(words[:WORDS_PER_CHUNK]))
    return texts


def fill(ctx, texts: list[str], vectors: list[list[float]], model: str) -> None:  # type: ignore[no-untyped-def]
    documents = []
    for number in range(0, len(texts), CHUNKS_PER_DOCUMENT):
        documents.append(
            {
                "id": f"{number // CHUNKS_PER_DOCUMENT:08d}-0000-0000-0000-000000000000",
                "filename": f"bench-{number // CHUNKS_PER_DOCUMENT}.pdf",
                "sha256": f"{number:064d}",
                "size_bytes": 1,
                "status": "completed",
                "priority": "normal",
                "created_at": utcnow(),
                "updated_at": utcnow(),
            }
        )
    with ctx.engine.begin() as connection:
        connection.execute(insert(Document), documents)
        for start in range(0, len(texts), 5000):
            connection.execute(
                insert(Chunk),
                [
                    {
                        "document_id": documents[i // CHUNKS_PER_DOCUMENT]["id"],
                        "index": i % CHUNKS_PER_DOCUMENT,
                        "page_start": 1,
                        "page_end": 1,
                        "text": texts[i],
                        "token_count": WORDS_PER_CHUNK,
                        "text_sha256": f"{i:064d}",
                        "embedding": vectors[i],
                        "embedding_model": model,
                        "embedding_dimensions": len(vectors[i]),
                    }
                    for i in range(start, min(start + 5000, len(texts)))
                ],
            )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run(
    database: str,
    texts: list[str],
    vectors: list[list[float]],
    queries: list[str],
    workdir: Path,
    ef_values: list[int],
) -> None:
    postgres = None
    env: dict[str, str] = {"PDFLINE_DATA_DIR": str(workdir / database)}
    if database == "postgres":
        from tests.support.postgres import LocalPostgres

        postgres = LocalPostgres(workdir / "pgdata")
        env["PDFLINE_DATABASE_URL"] = postgres.create_database()
    os.environ.update(env)
    try:
        settings = Settings()
        ctx = build_context(settings, build_broker(settings, stub=True))
        upgrade_schema(ctx.engine)
        started = time.perf_counter()
        fill(ctx, texts, vectors, ctx.embedder.model)
        print(f"[{database}] stored {len(texts):,} chunks in {time.perf_counter() - started:.1f}s")
        if database == "postgres":
            started = time.perf_counter()
            ensure_vector_index(ctx.engine, len(vectors[0]))
            with ctx.engine.begin() as connection:
                connection.execute(text("ANALYZE chunks"))
            print(f"[{database}] HNSW index built in {time.perf_counter() - started:.1f}s")

        exact = ExactIndex()
        started = time.perf_counter()
        search(ctx, exact, queries[0], 10, None)
        print(f"[{database}] first query (cold: loads what it ranks) {1000 * (time.perf_counter() - started):.1f} ms")
        matrix = np.asarray(vectors, dtype=np.float32)
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
        for ef_search in ef_values if database == "postgres" else [None]:
            if ef_search is not None:
                ctx.settings.search_ef_search = ef_search
            latencies, recalls = [], []
            for query in queries:
                started = time.perf_counter()
                found = search(ctx, exact, query, 10, None)
                latencies.append(1000 * (time.perf_counter() - started))
                if database == "postgres":
                    truth = np.argsort(-(matrix @ np.asarray(ctx.embedder.embed([query])[0])))[:10]
                    got = {int(h["document_id"][:8]) * CHUNKS_PER_DOCUMENT + h["chunk_index"] for h in found["hits"]}
                    recalls.append(len(got & set(truth.tolist())) / 10)
            line = (
                f"[{database}{f' ef_search={ef_search}' if ef_search else ''}] {len(queries)} queries, k=10: "
                f"p50 {percentile(latencies, 0.5):.1f} ms, p99 {percentile(latencies, 0.99):.1f} ms, "
                f"mean {statistics.fmean(latencies):.1f} ms"
            )
            if recalls:
                line += f", recall@10 {statistics.fmean(recalls):.3f} (HNSW vs exact)"
            print(line)
        if database == "postgres":
            with ctx.engine.connect() as connection:
                plan = connection.execute(
                    text(
                        "EXPLAIN SELECT document_id FROM chunks WHERE embedding_dimensions = 384 "
                        "AND embedding_model = :m ORDER BY (embedding::vector(384)) <=> "
                        "(SELECT embedding::vector(384) FROM chunks LIMIT 1) LIMIT 10"
                    ),
                    {"m": ctx.embedder.model},
                ).all()
            print(f"[{database}] plan: {' / '.join(row[0].strip() for row in plan if 'Index' in row[0])}")
        ctx.engine.dispose()
    finally:
        for name in env:
            os.environ.pop(name, None)
        if postgres is not None:
            postgres.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--ef-search", type=int, nargs="+", default=[40, 100, 200], help="pgvector hnsw.ef_search")
    parser.add_argument("--database", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    args = parser.parse_args()
    print(f"{platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    started = time.perf_counter()
    texts = corpus(args.chunks)
    vectors = HashingEmbedder().embed(texts)
    print(f"embedded {len(texts):,} chunks (384 dimensions) in {time.perf_counter() - started:.1f}s")
    rng = random.Random(11)
    queries = []
    for _ in range(args.queries):
        words = rng.choice(texts).split()
        start = rng.randrange(0, len(words) - 24)
        queries.append(" ".join(words[start : start + 24]))
    with tempfile.TemporaryDirectory(prefix="pdfline-search-bench-") as workdir:
        for database in args.database:
            run(database, texts, vectors, queries, Path(workdir), args.ef_search)


if __name__ == "__main__":
    main()
