"""Ranking on Postgres through the HNSW index of the query's dimensions. The index is on a cast of
the column, limited to that dimension (``pipeline.schema.ensure_vector_index``), so the query uses
the same expression and condition; iterative scans keep k results coming when a filter (model,
document) drops candidates."""

from __future__ import annotations

from pgvector import Vector
from sqlalchemy import Engine, text


def pgvector_search(
    engine: Engine,
    model: str,
    dimensions: int,
    vector: list[float],
    k: int,
    document_id: str | None,
    *,
    ef_search: int,
) -> list[tuple[str, int, float]]:
    dimensions = int(dimensions)  # inlined: the index's condition must match literally
    distance = f"(embedding::vector({dimensions})) <=> CAST(:query AS vector({dimensions}))"
    document_filter = "AND document_id = :document_id" if document_id else ""
    # Only an integer and fixed fragments are inlined; values are bound.
    statement = text(
        f'SELECT document_id, "index", 1 - ({distance}) AS score FROM chunks '  # noqa: S608
        f"WHERE embedding_dimensions = {dimensions} AND embedding_model = :model {document_filter} "
        f"ORDER BY {distance} LIMIT :k"
    )
    params = {"query": Vector(vector).to_text(), "model": model, "k": k, "document_id": document_id}
    with engine.begin() as connection:
        connection.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
        connection.execute(text(f"SET LOCAL hnsw.ef_search = {max(int(ef_search), k)}"))
        rows = connection.execute(statement, params).all()
    hits = [(row[0], int(row[1]), float(row[2])) for row in rows]
    return sorted(hits, key=lambda hit: -hit[2])  # relaxed order: nearly sorted; make it exact
