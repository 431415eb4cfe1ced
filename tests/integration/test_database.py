"""The schema on both databases: migrations run by several processes at once, and on Postgres the
vectors in a pgvector column with its HNSW index."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlmodel import Session, select

from pipeline import lifecycle
from pipeline.broker import build_broker, build_context
from pipeline.context import Context
from pipeline.models import CachedEmbedding, Chunk, Document, Stage, Status
from pipeline.schema import current_revision, ensure_vector_index, head_revision
from pipeline.schema import upgrade as upgrade_schema
from pipeline.settings import Settings
from pipeline.stages.embed import cache_row, save_vectors
from pipeline.stages.store import ensure_indexes, store_in_hand_over
from tests.conftest import FIXTURES
from tests.integration.conftest import Stack
from tests.unit.test_store_in_hand_over import first_copy

pytestmark = pytest.mark.integration

PDFLINE = str(Path(sys.executable).with_name("pdfline"))


def test_pdfline_db_upgrade_run_by_three_processes_at_once_migrates_once(stack: Stack) -> None:
    env = {**os.environ, **stack.env}
    runs = [
        subprocess.Popen([PDFLINE, "db", "upgrade"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(3)
    ]
    outputs = [run.communicate(timeout=120)[0].decode() for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], outputs
    assert all(f"schema is at revision {head_revision()}" in output for output in outputs)
    url = stack.env.get("PDFLINE_DATABASE_URL") or f"sqlite:///{stack.tmp_path / 'data' / 'pdfline.db'}"
    engine = create_engine(url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_on_postgres_vectors_are_pgvector_values_searchable_through_an_hnsw_index(stack: Stack) -> None:
    if stack.database != "postgres":
        pytest.skip("runs with --database postgres")
    stack.start()
    document = stack.wait_for(stack.upload(FIXTURES / "thirty_pages.pdf").json()["id"])
    assert document["status"] == "completed", document
    engine = stack.client.app.state.context.engine  # type: ignore[attr-defined]
    with engine.connect() as connection:
        column_type = connection.execute(
            text(
                "SELECT udt_name FROM information_schema.columns "
                "WHERE table_name = 'chunks' AND column_name = 'embedding'"
            )
        ).scalar()
        index = connection.execute(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_chunks_embedding_hnsw_384'")
        ).scalar()
        nearest = connection.execute(
            text(
                "SELECT index FROM chunks WHERE embedding_dimensions = 384 ORDER BY (embedding::vector(384)) <=> "
                "(SELECT embedding FROM chunks WHERE document_id = :id AND index = 3) LIMIT 1"
            ),
            {"id": document["id"]},
        ).scalar()
    assert column_type == "vector"
    assert index is not None
    assert "hnsw" in index
    assert "vector_cosine_ops" in index
    assert nearest == 3, "a chunk's own vector is its nearest neighbour"


TEXTS = ["first chunk", "second chunk", "third chunk"]
HASHES = [hashlib.sha256(t.encode()).hexdigest() for t in TEXTS]


def embedding_document(stack: Stack) -> tuple[Context, Document]:
    """A fresh process's context, and a document in embed with three chunks and no vectors yet."""
    settings = Settings(data_dir=stack.tmp_path / "data", database_url=stack.env.get("PDFLINE_DATABASE_URL"))
    ctx = build_context(settings, broker=build_broker(settings, stub=True))
    upgrade_schema(ctx.engine)
    document = Document(filename="a.pdf", sha256="a", size_bytes=1, status=Status.RUNNING, stage=Stage.EMBED)
    with ctx.session() as session:
        session.add(document)
        session.flush()
        for index, (chunk_text, chunk_hash) in enumerate(zip(TEXTS, HASHES, strict=True)):
            session.add(
                Chunk(document_id=document.id, index=index, page_start=1, page_end=1, text=chunk_text,
                      token_count=2, text_sha256=chunk_hash)
            )  # fmt: skip
    assert ctx.embedder.dimensions is not None  # the offline embedder's
    return ctx, document


def hand_over_to_store(ctx: Context, session: Session, document: Document) -> None:
    """What embed's last commit writes before it tries to store."""
    vectors = ctx.embedder.embed(TEXTS)
    save_vectors(session, [cache_row(ctx.embedder, h, v) for h, v in zip(HASHES, vectors, strict=True)])
    lifecycle.hand_over(session, document.id, Stage.STORE, chunks_embedded=len(TEXTS))


def test_the_hand_over_stores_once_the_vector_index_is_there_whichever_process_made_it(stack: Stack) -> None:
    """A process that never ran a store message stores in the hand-over as soon as the index exists
    (on Postgres; SQLite has none to make): the broker may give every store message to others."""
    ctx, document = embedding_document(stack)
    try:
        dimensions = ctx.embedder.dimensions
        assert dimensions is not None
        on_postgres = stack.database == "postgres"
        with ctx.session() as session:
            hand_over_to_store(ctx, session, document)
            assert store_in_hand_over(ctx, session, document.id, len(TEXTS)) is not on_postgres
        if on_postgres:  # no index yet: that is the store message's to make, not embed's
            assert ctx.indexed_dimensions == set()
            assert ensure_vector_index(ctx.engine, dimensions)  # another process's store message
            with ctx.session() as session:
                assert store_in_hand_over(ctx, session, document.id, len(TEXTS))
        assert ctx.indexed_dimensions == {dimensions}
        with Session(ctx.engine) as session:
            found = session.get(Document, document.id)
        assert found is not None
        assert (found.status, found.chunks_stored) == (Status.COMPLETED, len(TEXTS))
    finally:
        ctx.engine.dispose()


def test_a_store_that_fails_inside_the_hand_over_undoes_only_itself(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Postgres a failed statement spoils its whole transaction; the savepoint around the store in
    embed's last commit keeps the vectors and the hand-over written before it."""
    ctx, document = embedding_document(stack)
    try:
        assert ctx.embedder.dimensions is not None
        ensure_indexes(ctx, [ctx.embedder.dimensions])
        first_copy(monkeypatch, lambda _: text("UPDATE chunks SET no_such_column = 1"))
        for attempt in ("fails", "stores"):
            with ctx.session() as session:
                if attempt == "fails":
                    hand_over_to_store(ctx, session, document)
                assert store_in_hand_over(ctx, session, document.id, len(TEXTS)) is (attempt == "stores")
            with Session(ctx.engine) as session:
                found = session.get(Document, document.id)
                cached = len(list(session.scalars(select(CachedEmbedding))))
            assert found is not None
            assert cached == 3, attempt
            if attempt == "fails":
                assert (found.status, found.stage, found.chunks_embedded) == (Status.RUNNING, Stage.STORE, 3)
        assert (found.status, found.chunks_stored) == (Status.COMPLETED, 3)
    finally:
        ctx.engine.dispose()
