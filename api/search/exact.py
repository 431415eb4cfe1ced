"""Exact cosine ranking on SQLite: the unit vectors of one (model, dimensions) as one float32 matrix
per API process, ranked by one matrix-vector product. The matrix is reloaded when that model's
chunks change, which a covering index tells cheaply (count, max and sum of their rowids)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Engine, text

FINGERPRINT = text(
    "SELECT count(*), max(rowid), total(rowid) FROM chunks "
    "WHERE embedding_model = :model AND embedding_dimensions = :dimensions"
)
LOAD = text(
    'SELECT document_id, "index", embedding FROM chunks '
    'WHERE embedding_model = :model AND embedding_dimensions = :dimensions ORDER BY document_id, "index"'
)


@dataclass
class _Matrix:
    fingerprint: tuple[Any, ...]
    vectors: np.ndarray  # (n, dimensions), rows of unit length
    document_ids: list[str]
    indexes: np.ndarray
    #: Each document's rows are contiguous (loaded in document order).
    rows_of: dict[str, slice] = field(default_factory=dict)


class ExactIndex:
    def __init__(self) -> None:
        self._matrices: dict[tuple[str, int], _Matrix] = {}
        self._lock = threading.Lock()

    def search(
        self, engine: Engine, model: str, dimensions: int, vector: list[float], k: int, document_id: str | None
    ) -> list[tuple[str, int, float]]:
        matrix = self._current(engine, model, dimensions)
        query = np.asarray(vector, dtype=np.float32)
        norm = float(np.linalg.norm(query))
        if norm == 0.0:
            return []
        rows = matrix.rows_of.get(document_id, slice(0, 0)) if document_id else slice(0, len(matrix.indexes))
        scores = matrix.vectors[rows] @ (query / norm)
        if len(scores) > k:
            top = np.argpartition(-scores, k - 1)[:k]
            top = top[np.argsort(-scores[top], kind="stable")]
        else:
            top = np.argsort(-scores, kind="stable")
        offset = rows.start or 0
        return [
            (matrix.document_ids[offset + i], int(matrix.indexes[offset + i]), float(scores[i])) for i in top.tolist()
        ]

    def _current(self, engine: Engine, model: str, dimensions: int) -> _Matrix:
        params = {"model": model, "dimensions": dimensions}
        with engine.connect() as connection:
            fingerprint = tuple(connection.execute(FINGERPRINT, params).one())
        with self._lock:
            matrix = self._matrices.get((model, dimensions))
            if matrix is None or matrix.fingerprint != fingerprint:
                matrix = self._matrices[(model, dimensions)] = _load(engine, params, dimensions, fingerprint)
        return matrix


def _load(engine: Engine, params: dict[str, Any], dimensions: int, fingerprint: tuple[Any, ...]) -> _Matrix:
    with engine.connect() as connection:
        rows = connection.execute(LOAD, params).all()
    vectors = np.frombuffer(b"".join(row[2] for row in rows), dtype=np.float32).reshape(len(rows), dimensions)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors / np.where(norms == 0, 1, norms)
    document_ids = [row[0] for row in rows]
    rows_of: dict[str, slice] = {}
    start = 0
    for position in range(1, len(rows) + 1):
        if position == len(rows) or document_ids[position] != document_ids[start]:
            rows_of[document_ids[start]] = slice(start, position)
            start = position
    return _Matrix(fingerprint, vectors, document_ids, np.array([row[1] for row in rows]), rows_of)
