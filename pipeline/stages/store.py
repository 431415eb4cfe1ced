"""store: copy each chunk's vector from the embedding cache onto the chunk, then complete.

The copy is one ``UPDATE`` per batch of chunks, done by the database: vectors never pass through
Python here. Only chunks not yet carrying the current model's vector are touched, so a redelivered
message writes the same values again at worst, and the rows end up the same.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Exists, ScalarSelect, distinct, func, or_, select, update
from sqlmodel import Session

from pipeline import lifecycle
from pipeline.embedders import Embedder
from pipeline.messages import Step
from pipeline.metrics import CHUNKS_STORED
from pipeline.models import CachedEmbedding, Chunk
from pipeline.schema import ensure_vector_index
from pipeline.stages.run import StageRun

#: Chunks updated per transaction (and per progress event).
STORE_BATCH = 500
#: ``chunks_stored`` once no chunk is left without the current model's vector.
ALL_CHUNKS = lifecycle.reusable(
    select(func.count()).where(Chunk.document_id == lifecycle.DOCUMENT_ID).scalar_subquery()
)


def run_store(run: StageRun) -> None:
    ctx, document_id, deadline = run.ctx, run.document_id, run.deadline
    embedder = ctx.embedder
    unstored = (Chunk.document_id == document_id, _not_stored(embedder))
    with ctx.session() as session:
        indexes = list(session.scalars(select(Chunk.index).where(*unstored).order_by(Chunk.index)))  # type: ignore[arg-type]
        uncached = session.scalar(select(func.count()).where(*unstored, ~_has_cached(embedder)))
        dimensions = {embedder.dimensions} if embedder.dimensions else set(
            session.scalars(
                select(distinct(CachedEmbedding.dimensions)).join(Chunk, _cached(embedder)).where(*unstored)
            )
        )  # fmt: skip
    if uncached:
        # The cache lost vectors (pruned, or another model configured): embed them again.
        run.send(Step.EMBED)
        return
    for missing_index in dimensions - ctx.indexed_dimensions:
        ensure_vector_index(ctx.engine, missing_index)
        ctx.indexed_dimensions.add(missing_index)

    batches = [indexes[start : start + STORE_BATCH] for start in range(0, len(indexes), STORE_BATCH)] or [[]]
    for number, batch in enumerate(batches, start=1):
        deadline.check()
        with ctx.session() as session:
            # The row lock before the write: a canceled document's chunks may already be gone.
            lifecycle.hold(session, document_id)
            if batch:
                _copy_vectors(session, embedder, document_id, batch[0], batch[-1])
            if number < len(batches):
                lifecycle.advance(session, document_id, chunks_stored=_stored_count(document_id, embedder.model))
                done = None
            else:
                left = session.scalar(select(func.count()).where(*unstored))
                done = None if left else lifecycle.complete(session, document_id, chunks_stored=ALL_CHUNKS)
        CHUNKS_STORED.inc(len(batch))
    if done is None:  # vectors pruned from the cache between the check and the copy
        run.send(Step.EMBED)


def _copy_vectors(session: Session, embedder: Embedder, document_id: str, first: int, last: int) -> None:
    vector = select(CachedEmbedding.vector).where(_cached(embedder)).limit(1).scalar_subquery()
    dimensions = select(CachedEmbedding.dimensions).where(_cached(embedder)).limit(1).scalar_subquery()
    session.execute(
        update(Chunk)
        .where(
            Chunk.document_id == document_id,
            Chunk.index.between(first, last),  # type: ignore[attr-defined]
            _not_stored(embedder),
            _has_cached(embedder),
        )
        .values(embedding=vector, embedding_model=embedder.model, embedding_dimensions=dimensions)
        .execution_options(synchronize_session=False)
    )


def _cached(embedder: Embedder) -> ColumnElement[bool]:
    """The cache row for the chunk in the enclosing statement."""
    condition = (CachedEmbedding.model == embedder.model) & (CachedEmbedding.text_sha256 == Chunk.text_sha256)
    if embedder.dimensions:
        condition = condition & (CachedEmbedding.dimensions == embedder.dimensions)
    return condition


def _has_cached(embedder: Embedder) -> Exists:
    return select(CachedEmbedding.text_sha256).where(_cached(embedder)).exists()


def _not_stored(embedder: Embedder) -> ColumnElement[bool]:
    return or_(Chunk.embedding_model.is_(None), Chunk.embedding_model != embedder.model)  # type: ignore[union-attr]


def _stored_count(document_id: str, model: str) -> ScalarSelect[int]:
    query = select(func.count()).where(Chunk.document_id == document_id, Chunk.embedding_model == model)
    return query.scalar_subquery()
