"""Soak: 100 documents while the embedding server fails a fifth of its requests and answers bursts
of 429s. Not in the default run; CI runs it with ``pytest -m soak``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from fixtures.make_fixtures import write_text_pdf
from pipeline.models import Chunk, Page
from tests.integration.conftest import Stack, embedding_env
from tests.support.embedding_server import FakeEmbeddingServer

pytestmark = [pytest.mark.integration, pytest.mark.soak]

DOCUMENTS = 100


@pytest.mark.timeout(900)
def test_a_hundred_documents_complete_under_faults_and_429_bursts_with_no_chunk_embedded_twice(
    stack: Stack, embedding_server: FakeEmbeddingServer, tmp_path: Path
) -> None:
    embedding_server.fault_rate = 0.2
    embedding_server.burst_every = 25
    embedding_server.burst_size = 4
    embedding_server.delay_s = 0.01
    stack.start(
        processes=2,
        threads=4,
        **embedding_env(
            embedding_server,
            PDFLINE_EMBEDDING_BATCH_SIZE="8",
            PDFLINE_EMBEDDING_CONCURRENCY="4",
            PDFLINE_PARSE_RANGE_PAGES="4",
            PDFLINE_MAX_RETRIES="8",
        ),
    )
    ids = []
    for number in range(DOCUMENTS):
        pdf = write_text_pdf(
            tmp_path / f"soak-{number}.pdf", 1 + number % 9, seed=5000 + number, title=f"soak {number}"
        )
        response = stack.upload(pdf)
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])

    finals = [stack.wait_for(document_id, timeout=600) for document_id in ids]
    assert Counter(final["status"] for final in finals) == {"completed": DOCUMENTS}, [
        (f["id"], f["error"]) for f in finals if f["status"] != "completed"
    ]

    statuses = Counter(embedding_server.statuses())
    assert statuses[500] > 0, "faults were injected"
    assert statuses[429] > 0, "429 bursts were answered"

    embedded = Counter(text for r in embedding_server.requests if r.status == 200 for text in r.body["input"])
    twice = [text[:60] for text, count in embedded.items() if count > 1]
    assert twice == [], "no chunk text was paid for twice"

    engine = stack.client.app.state.context.engine  # type: ignore[attr-defined]
    with Session(engine) as session:
        for final in finals:
            chunks = session.exec(select(func.count()).where(Chunk.document_id == final["id"])).one()
            distinct = session.exec(
                select(func.count(func.distinct(Chunk.text_sha256))).where(Chunk.document_id == final["id"])
            ).one()
            pages = session.exec(select(func.count()).where(Page.document_id == final["id"])).one()
            assert chunks == distinct == final["chunks_total"] == final["chunks_stored"], final
            assert pages == final["pages_total"], final
    assert sum(embedded.values()) == sum(final["chunks_total"] for final in finals)
