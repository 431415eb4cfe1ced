"""Semantic search over the stored chunks.

The query is embedded by the configured embedder and compared only with vectors made by that same
model at the same dimensions; where there are none, the answer is a 409 naming what is stored.
Postgres ranks through pgvector's HNSW index; SQLite through an exact scan of an in-memory matrix
(``exact.py``: this Python's sqlite3 cannot load extensions such as sqlite-vec, and the scan is
fast enough at the sizes in question; see the search benchmark in the README).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select

from api.errors import APIError, not_found
from api.search.exact import ExactIndex
from api.search.pgvector import pgvector_search
from pipeline.context import Context
from pipeline.errors import EmbeddingUnavailable, PipelineError
from pipeline.models import Chunk, Document


@dataclass(frozen=True)
class Hit:
    document_id: str
    index: int
    score: float


def search(ctx: Context, exact: ExactIndex, query: str, k: int, document_id: str | None) -> dict[str, Any]:
    if document_id is not None:
        with ctx.session() as session:
            if session.get(Document, document_id) is None:
                raise not_found("document", document_id)
    try:
        vector = ctx.embedder.embed([query])[0]
    except EmbeddingUnavailable as exc:
        raise APIError(503, exc.type, f"the embedding provider could not embed the query: {exc.message}") from exc
    except PipelineError as exc:
        raise APIError(502, exc.type, f"the embedding provider refused the query: {exc.message}") from exc
    model, dimensions = ctx.embedder.model, len(vector)
    if not _has_vectors(ctx, model, dimensions, document_id):
        raise _model_mismatch(ctx, model, dimensions, document_id)
    if ctx.engine.dialect.name == "postgresql":
        ranked = pgvector_search(
            ctx.engine, model, dimensions, vector, k, document_id, ef_search=ctx.settings.search_ef_search
        )
    else:
        ranked = exact.search(ctx.engine, model, dimensions, vector, k, document_id)
    hits = [Hit(*row) for row in ranked]
    return {"query": query, "model": model, "dimensions": dimensions, "hits": _hydrate(ctx, hits)}


def _scope(model: str, dimensions: int, document_id: str | None) -> list[Any]:
    conditions = [Chunk.embedding_model == model, Chunk.embedding_dimensions == dimensions]
    if document_id is not None:
        conditions.append(Chunk.document_id == document_id)
    return conditions


def _has_vectors(ctx: Context, model: str, dimensions: int, document_id: str | None) -> bool:
    with ctx.session() as session:
        return session.scalar(select(Chunk.index).where(*_scope(model, dimensions, document_id)).limit(1)) is not None


def _model_mismatch(ctx: Context, model: str, dimensions: int, document_id: str | None) -> APIError:
    query = select(Chunk.embedding_model, Chunk.embedding_dimensions, func.count()).where(
        Chunk.embedding_model.is_not(None)  # type: ignore[union-attr]
    )
    if document_id is not None:
        query = query.where(Chunk.document_id == document_id)
    with ctx.session() as session:
        stored = session.execute(query.group_by(Chunk.embedding_model, Chunk.embedding_dimensions)).all()
    where = f"document {document_id}" if document_id else "the store"
    if not stored:
        return APIError(409, "no_vectors", f"{where} holds no vectors yet; nothing can be searched")
    listing = "; ".join(f"{name} ({dims} dimensions): {count} chunks" for name, dims, count in stored)
    return APIError(
        409,
        "model_mismatch",
        f"{where} holds no vectors of {model} ({dimensions} dimensions), the configured embedder, and "
        f"vectors of different models cannot be compared; stored: {listing}. Reprocess the documents "
        "with this model, or configure the model they were made with",
    )


def _hydrate(ctx: Context, hits: list[Hit]) -> list[dict[str, Any]]:
    if not hits:
        return []
    with ctx.session() as session:
        rows = session.execute(
            select(Chunk.document_id, Chunk.index, Chunk.page_start, Chunk.page_end, Chunk.text, Document.filename)
            .join(Document, Document.id == Chunk.document_id)  # type: ignore[arg-type]
            # One primary-key lookup per hit (SQLite scans the table for a row-value IN list).
            .where(or_(*(and_(Chunk.document_id == hit.document_id, Chunk.index == hit.index) for hit in hits)))
        ).all()
    found = {(row.document_id, row.index): row for row in rows}
    return [
        {
            "score": round(hit.score, 6),
            "document_id": hit.document_id,
            "filename": row.filename,
            "chunk_index": hit.index,
            "page_start": row.page_start,
            "page_end": row.page_end,
            "text": row.text,
        }
        for hit in hits
        if (row := found.get((hit.document_id, hit.index))) is not None  # deleted meanwhile
    ]
