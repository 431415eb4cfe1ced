"""The SQLite exact scan: ranks by cosine, keeps to one document when asked, and sees chunks stored
after its matrix was loaded."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, delete, insert

from api.search.exact import ExactIndex
from pipeline.models import Chunk, Document
from pipeline.models.types import utcnow
from pipeline.schema import upgrade


def _store(engine, document_id: str, vectors: list[list[float]]) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as connection:
        connection.execute(
            insert(Document),
            [{"id": document_id, "filename": "a.pdf", "sha256": document_id * 2, "size_bytes": 1,
              "created_at": utcnow(), "updated_at": utcnow()}],
        )  # fmt: skip
        connection.execute(
            insert(Chunk),
            [
                {"document_id": document_id, "index": i, "page_start": 1, "page_end": 1, "text": "t",
                 "token_count": 1, "text_sha256": f"{document_id}{i}", "embedding": vector,
                 "embedding_model": "m", "embedding_dimensions": 3}
                for i, vector in enumerate(vectors)
            ],
        )  # fmt: skip


def test_ranks_by_cosine_filters_by_document_and_reloads_after_a_change(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'search.db'}")
    upgrade(engine)
    _store(engine, "a" * 32, [[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0]])
    _store(engine, "b" * 32, [[0, 0, 5], [0.5, 0.5, 0]])
    index = ExactIndex()

    ranked = index.search(engine, "m", 3, [2, 0, 0], 3, None)
    assert [(doc[0], i) for doc, i, _ in ranked] == [("a", 0), ("a", 1), ("b", 1)]
    assert ranked[0][2] == 1.0, "cosine, not dot product: the scale of either vector does not matter"
    only_b = index.search(engine, "m", 3, [0, 0, 1], 5, "b" * 32)
    assert [(doc[0], i) for doc, i, _ in only_b] == [("b", 0), ("b", 1)]
    assert index.search(engine, "other-model", 3, [1, 0, 0], 3, None) == []

    _store(engine, "c" * 32, [[0, 0, -1], [1, 0, 0.01]])
    with engine.begin() as connection:
        connection.execute(delete(Chunk).where(Chunk.document_id == "a" * 32, Chunk.index == 0))
    ranked = index.search(engine, "m", 3, [1, 0, 0], 2, None)
    assert [(doc[0], i) for doc, i, _ in ranked] == [("c", 1), ("a", 1)], "sees the new chunk, not the deleted one"
