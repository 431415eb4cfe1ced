"""The schema on both databases: migrations run by several processes at once, and on Postgres the
vectors in a pgvector column with its HNSW index."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from pipeline.schema import current_revision, head_revision
from tests.conftest import FIXTURES
from tests.integration.conftest import Stack

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
