"""store: copy each chunk's vector from the embedding cache onto the chunk, then complete.

The copy is one ``UPDATE`` per batch of chunks, done by the database: vectors never pass through
Python here. Only chunks not yet carrying the current model's vector are touched, so a redelivered
message writes the same values again at worst, and the rows end up the same. Chunks whose vector is
no longer in the cache (pruned, or another model configured) are left unstored and sent back to
embed. The statements are built once and take the document, model and batch as parameters, as
``pipeline.lifecycle`` does: building and compiling them cost more than the database's work.

A document whose chunks fit one batch is usually stored by embed's last commit instead
(``store_in_hand_over``): there the whole stage is one statement, and a message of its own cost
more than the statement.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Select, Update, bindparam, distinct, func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from pipeline import lifecycle
from pipeline.context import Context
from pipeline.embedders import Embedder
from pipeline.messages import Step
from pipeline.metrics import CHUNKS_STORED
from pipeline.models import CachedEmbedding, Chunk
from pipeline.schema import ensure_vector_index, vector_index_ready
from pipeline.stages.run import StageRun

#: Chunks updated per transaction (and per progress event).
STORE_BATCH = 500
#: ``chunks_stored`` once no chunk is left without the current model's vector.
ALL_CHUNKS = lifecycle.reusable(
    select(func.count()).where(Chunk.document_id == lifecycle.DOCUMENT_ID).scalar_subquery()
)
_CHUNKS = Chunk.__table__  # type: ignore[attr-defined]
_CACHE = CachedEmbedding.__table__  # type: ignore[attr-defined]

log = logging.getLogger(__name__)


def run_store(run: StageRun) -> None:
    ctx, document_id, deadline = run.ctx, run.document_id, run.deadline
    embedder = ctx.embedder
    sql = _statements(fixed_dimensions=embedder.dimensions is not None)
    params = _params(document_id, embedder)
    with ctx.session() as session:
        indexes = list(session.scalars(sql.unstored_indexes, params))
        dimensions = {embedder.dimensions} if embedder.dimensions else set(session.scalars(sql.dimensions, params))
    ensure_indexes(ctx, dimensions)

    batches = [indexes[start : start + STORE_BATCH] for start in range(0, len(indexes), STORE_BATCH)] or [[]]
    for number, batch in enumerate(batches, start=1):
        deadline.check()
        with ctx.session() as session:
            # The row lock before the write: a canceled document's chunks may already be gone.
            lifecycle.hold(session, document_id)
            if batch:
                session.execute(sql.copy, {**params, "_first": batch[0], "_last": batch[-1]})
            if number < len(batches):
                lifecycle.advance(session, document_id, chunks_stored=_stored_count(document_id, embedder.model))
                done = None
            else:
                left = session.scalar(sql.unstored_count, params)
                done = None if left else lifecycle.complete(session, document_id, chunks_stored=ALL_CHUNKS)
        CHUNKS_STORED.inc(len(batch))
    if done is None:  # vectors missing from the cache: embed them again
        run.send(Step.EMBED)


def ensure_indexes(ctx: Context, dimensions: Iterable[int]) -> None:
    """The vector index of each dimension, made once per process before vectors of it are stored."""
    for missing_index in set(dimensions) - ctx.indexed_dimensions:
        ensure_vector_index(ctx.engine, missing_index)
        ctx.indexed_dimensions.add(missing_index)


def store_in_hand_over(ctx: Context, session: Session, document_id: str, chunk_count: int) -> bool:
    """Store's whole work in the transaction that hands a document over to it, when that work is one
    statement: the document's chunks fit one batch, and their vectors' index needs no making (DDL
    has no place in embed: a store message makes it). Whether the document completed; if not (a
    vector is missing from the cache, the copy failed), nothing of the attempt is kept, and the
    store message does the work as before."""
    if not 0 < chunk_count <= STORE_BATCH:
        return False
    embedder = ctx.embedder
    fixed = embedder.dimensions is not None
    sql = _statements(fixed_dimensions=fixed)
    params = _params(document_id, embedder)
    try:
        with session.begin_nested():
            dimensions = {embedder.dimensions} if fixed else set(session.scalars(sql.dimensions, params))
            if not _indexed(ctx, session, dimensions):
                raise _NotInOneStatement
            session.execute(sql.copy, {**params, "_first": 0, "_last": chunk_count - 1})
            if session.scalar(sql.unstored_count, params):
                raise _NotInOneStatement
    except _NotInOneStatement:
        return False
    except SQLAlchemyError as exc:  # the store message tries again, as it would have anyway
        log.warning("could not store document %s with its hand-over: %s", document_id, exc)
        return False
    return lifecycle.complete(session, document_id, chunks_stored=ALL_CHUNKS) is not None


def _indexed(ctx: Context, session: Session, dimensions: set[int]) -> bool:
    """Whether each dimension's index is there: made by this process, or found by a read. Which
    process runs a store message is the broker's choice, so one that never ran one must not wait
    for one to learn that another process made the index."""
    connection = session.connection()
    for dimension in dimensions - ctx.indexed_dimensions:
        if not vector_index_ready(connection, dimension):
            return False
        ctx.indexed_dimensions.add(dimension)
    return True


class _NotInOneStatement(Exception):
    """Leaves the savepoint, undoing what it did."""


@dataclass(frozen=True)
class _Statements:
    unstored_indexes: Select[Any]
    unstored_count: Select[Any]
    dimensions: Select[Any]
    copy: Update


@cache
def _statements(*, fixed_dimensions: bool) -> _Statements:
    """On ``_document_id``, ``_model`` and (when the embedder fixes them) ``_dimensions``; the copy
    also on the batch's ``_first`` and ``_last`` chunk index."""
    document = _CHUNKS.c.document_id == bindparam("_document_id")
    cached = (_CACHE.c.model == bindparam("_model")) & (_CACHE.c.text_sha256 == _CHUNKS.c.text_sha256)
    if fixed_dimensions:
        cached = cached & (_CACHE.c.dimensions == bindparam("_dimensions"))
    unstored: ColumnElement[bool] = or_(
        _CHUNKS.c.embedding_model.is_(None), _CHUNKS.c.embedding_model != bindparam("_model")
    )
    return _Statements(
        unstored_indexes=select(_CHUNKS.c.index).where(document, unstored).order_by(_CHUNKS.c.index),
        unstored_count=select(func.count()).select_from(_CHUNKS).where(document, unstored),
        dimensions=select(distinct(_CACHE.c.dimensions)).join(_CHUNKS, cached).where(document, unstored),
        copy=update(_CHUNKS)
        .where(
            document,
            _CHUNKS.c.index.between(bindparam("_first"), bindparam("_last")),
            unstored,
            select(_CACHE.c.text_sha256).where(cached).exists(),
        )
        .values(
            embedding=select(_CACHE.c.vector).where(cached).limit(1).scalar_subquery(),
            embedding_model=bindparam("_model"),
            embedding_dimensions=select(_CACHE.c.dimensions).where(cached).limit(1).scalar_subquery(),
        ),
    )


def _params(document_id: str, embedder: Embedder) -> dict[str, Any]:
    params: dict[str, Any] = {"_document_id": document_id, "_model": embedder.model}
    if embedder.dimensions:
        params["_dimensions"] = embedder.dimensions
    return params


def _stored_count(document_id: str, model: str) -> Any:
    query = select(func.count()).where(Chunk.document_id == document_id, Chunk.embedding_model == model)
    return query.scalar_subquery()
