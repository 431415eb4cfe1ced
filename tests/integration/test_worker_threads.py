"""A worker process keeps a thread for its parses while its embed messages wait on the provider."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.make_fixtures import write_text_pdf
from tests.integration.conftest import Stack, embedding_env
from tests.support.embedding_server import FakeEmbeddingServer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def test_parses_go_on_while_every_embedding_request_waits(
    stack: Stack, embedding_server: FakeEmbeddingServer, tmp_path: Path
) -> None:
    """Two threads, four documents, a provider that does not answer yet. The first embed message
    takes a thread and waits; with dramatiq's prefetch the second would take the other (embed runs
    before parse), and the last parse would wait for the provider. Here the other thread parses on."""
    embedding_server.answering.clear()
    try:
        stack.start(threads=2, **embedding_env(embedding_server))
        pdfs = [write_text_pdf(tmp_path / f"doc{n}.pdf", 3, seed=700 + n) for n in range(4)]
        ids = [stack.upload(pdf).json()["id"] for pdf in pdfs]

        def all_parsed() -> bool:
            return all(stack.client.get(f"/documents/{i}").json()["stage"] == "embed" for i in ids)

        wait_until(all_parsed, timeout=20, what="all four parsed while the provider holds its answer")
        assert len(embedding_server.requests) == 1, "one embed message took a thread; the others wait in Redis"
    finally:
        embedding_server.answering.set()
    for document_id in ids:
        assert stack.wait_for(document_id)["status"] == "completed"
