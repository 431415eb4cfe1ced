"""store: copy each chunk's vector from the embedding cache onto the chunk, then complete.

Only chunks not yet carrying the current model's vector are touched, so a redelivered message
writes the same values again at worst, and the rows end up the same.
"""

from __future__ import annotations

from sqlalchemy import func, or_, select, update
from sqlmodel import Session

from pipeline import lifecycle
from pipeline.messages import Step
from pipeline.metrics import CHUNKS_STORED
from pipeline.models import CachedEmbedding, Chunk
from pipeline.schema import ensure_vector_index
from pipeline.stages.run import StageRun

#: Chunks updated per transaction (and per progress event).
STORE_BATCH = 500


def run_store(run: StageRun) -> None:
    ctx, document_id, deadline = run.ctx, run.document_id, run.deadline
    embedder = ctx.embedder
    model = embedder.model
    while True:
        deadline.check()
        # Reads and writes in separate transactions: on SQLite a reader that starts writing fails
        # if anyone committed in between. The status guard in the write keeps it safe.
        with ctx.session() as session:
            rows = session.execute(
                select(Chunk.index, Chunk.text_sha256)
                .where(
                    Chunk.document_id == document_id,
                    or_(Chunk.embedding_model.is_(None), Chunk.embedding_model != model),  # type: ignore[union-attr]
                )
                .order_by(Chunk.index)  # type: ignore[arg-type]
                .limit(STORE_BATCH)
            ).all()
            vectors = _vectors(session, model, embedder.dimensions, {h for _, h in rows})
            stored = _stored(session, document_id, model)
        if not rows:
            break
        if len(vectors) < len({h for _, h in rows}):
            # The cache lost vectors (pruned, or another model configured): embed them again.
            run.send(Step.EMBED)
            return
        for dimensions in {d for _, d in vectors.values()} - ctx.indexed_dimensions:
            ensure_vector_index(ctx.engine, dimensions)
            ctx.indexed_dimensions.add(dimensions)
        with ctx.session() as session:
            # The status guard before the write: a canceled document's chunks may already be gone.
            lifecycle.advance(session, document_id, chunks_stored=stored)
            session.execute(
                update(Chunk),
                [
                    {
                        "document_id": document_id,
                        "index": index,
                        "embedding": vectors[text_hash][0],
                        "embedding_model": model,
                        "embedding_dimensions": vectors[text_hash][1],
                    }
                    for index, text_hash in rows
                ],
            )
        CHUNKS_STORED.inc(len(rows))

    with ctx.session() as session:
        stored = _stored(session, document_id, model)
    with ctx.session() as session:
        lifecycle.advance(session, document_id, chunks_stored=stored)
        lifecycle.complete(session, document_id)


def _vectors(
    session: Session, model: str, dimensions: int | None, hashes: set[str]
) -> dict[str, tuple[list[float], int]]:
    query = select(CachedEmbedding).where(
        CachedEmbedding.model == model,
        CachedEmbedding.text_sha256.in_(sorted(hashes)),  # type: ignore[attr-defined]
    )
    if dimensions:
        query = query.where(CachedEmbedding.dimensions == dimensions)
    return {row.text_sha256: (row.vector, row.dimensions) for row in session.scalars(query)}


def _stored(session: Session, document_id: str, model: str) -> int:
    count = session.scalar(select(func.count()).where(Chunk.document_id == document_id, Chunk.embedding_model == model))
    return int(count or 0)
