"""The embedding provider's limits: Retry-After honoured by stage retries, one shared concurrency limit."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from fixtures.make_fixtures import write_text_pdf
from pipeline.embedders import HashingEmbedder
from tests.conftest import FIXTURES
from tests.integration.conftest import Stack, embedding_env
from tests.support.embedding_server import FakeEmbeddingServer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def test_a_429s_retry_after_sets_the_stage_retry_delay(stack: Stack, embedding_server: FakeEmbeddingServer) -> None:
    embedding_server.fail_next(2, status=429, headers={"Retry-After": "1.5"})
    # The SDK gives up at once: it is the stage retry that must wait as asked.
    stack.start(**embedding_env(embedding_server, PDFLINE_RETRY_MIN_BACKOFF_S="0.1"))
    document = stack.wait_for(stack.upload(FIXTURES / "plain.pdf").json()["id"])
    assert document["status"] == "completed", document
    assert document["attempts"] == 2
    first, second, third = embedding_server.requests[:3]
    assert [r.status for r in (first, second, third)] == [429, 429, 200]
    assert second.at - first.at >= 1.4, "waited as the provider asked, not the 0.1 s backoff"
    assert third.at - second.at >= 1.4
    retrying = [e for e in stack.events(document["id"]) if e.name == "retrying"]
    assert [e.data["retry_reason"]["type"] for e in retrying] == ["embedding_unavailable"] * 2


def test_one_concurrency_limit_holds_across_worker_processes(
    stack: Stack, embedding_server: FakeEmbeddingServer
) -> None:
    embedding_server.delay_s = 0.05
    stack.configure(
        **embedding_env(embedding_server, PDFLINE_EMBEDDING_CONCURRENCY="1", PDFLINE_EMBEDDING_BATCH_SIZE="4")
    )
    with TestClient(create_app()) as client:
        ids = [
            client.post("/documents", files={"file": (name, (FIXTURES / name).read_bytes())}).json()["id"]
            for name in ("thirty_pages.pdf", "multipage.pdf", "encrypted_empty_password.pdf")
        ]
        stack.start_worker(processes=2, threads=4)

        def all_completed() -> bool:
            return all(client.get(f"/documents/{i}").json()["status"] == "completed" for i in ids)

        wait_until(all_completed, timeout=120, what="all three documents to complete")
    assert len(embedding_server.requests) > 10
    assert embedding_server.max_in_flight == 1, "eight threads in two processes, one request at a time"


CIRCUIT = {
    "PDFLINE_EMBEDDING_MAX_RETRIES": "0",
    "PDFLINE_MAX_RETRIES": "1",
    "PDFLINE_CIRCUIT_FAILURE_THRESHOLD": "2",
    "PDFLINE_CIRCUIT_OPEN_S": "1",
}


def test_an_open_circuit_makes_embed_work_wait_for_the_provider_instead_of_burning_retries(
    stack: Stack, embedding_server: FakeEmbeddingServer
) -> None:
    embedding_server.outage = 503
    stack.start(**embedding_env(embedding_server, **CIRCUIT))
    ids = [stack.upload(FIXTURES / name).json()["id"] for name in ("plain.pdf", "multipage.pdf")]

    # One retry is all they have; the outage outlasts it many times over while the circuit probes.
    def probed_or_failed() -> bool:
        failed = any(stack.client.get(f"/documents/{i}").json()["status"] == "failed" for i in ids)
        return failed or embedding_server.statuses().count(503) >= 8

    wait_until(probed_or_failed, timeout=60, what="several probes of the outage")
    for document_id in ids:
        document = stack.client.get(f"/documents/{document_id}").json()
        assert document["status"] == "running", document
        assert document["attempts"] <= 1
    assert len(embedding_server.requests) <= 16, "an open circuit stops the calls; only probes go out"

    embedding_server.outage = None
    for document_id in ids:
        final = stack.wait_for(document_id, timeout=60)
        assert final["status"] == "completed", final
        waits = [e for e in stack.events(document_id) if e.name == "retrying" and "resume_in_s" in e.data]
        assert waits, "the wait for the provider was announced"
        assert waits[0].data["retry_reason"]["type"] == "embedding_unavailable"


def test_a_provider_down_past_the_wait_budget_fails_documents_that_a_retry_then_completes(
    stack: Stack, embedding_server: FakeEmbeddingServer
) -> None:
    embedding_server.outage = 503
    stack.start(**embedding_env(embedding_server, **CIRCUIT, PDFLINE_PROVIDER_MAX_WAIT_S="3"))
    document_id = stack.upload(FIXTURES / "multipage.pdf").json()["id"]
    failed = stack.wait_for(document_id, timeout=60)
    assert failed["status"] == "failed"
    assert failed["error"]["type"] == "embedding_unavailable"
    assert "retry the document" in failed["error"]["message"]

    embedding_server.outage = None
    assert stack.client.post(f"/documents/{document_id}/retry").status_code == 202
    final = stack.wait_for(document_id, timeout=60)
    assert final["status"] == "completed", final
    embedded = [text for r in embedding_server.requests if r.status == 200 for text in r.body["input"]]
    assert len(embedded) == len(set(embedded)) == final["chunks_total"], "nothing lost, nothing paid twice"


def test_documents_waiting_for_the_provider_together_share_requests_and_keep_their_own_vectors(
    stack: Stack, embedding_server: FakeEmbeddingServer, tmp_path: Path
) -> None:
    """One request in flight at a time, held: the documents behind it wait together in the lanes,
    go out merged, and each chunk still gets the vector of its own text."""
    paths = [tmp_path / f"small-{number}.pdf" for number in range(5)]
    for number, path in enumerate(paths):
        write_text_pdf(path, 2, seed=700 + number, title=f"small {number}")
    embedding_server.answering.clear()
    env = embedding_env(embedding_server, PDFLINE_EMBEDDING_CONCURRENCY="1", PDFLINE_EMBEDDING_DIMENSIONS="32")
    stack.start(threads=8, **env)
    ids = [stack.upload(path).json()["id"] for path in paths]

    def all_waiting_on_the_provider() -> bool:
        stages = [stack.client.get(f"/documents/{i}").json()["stage"] for i in ids]
        return stages == ["embed"] * len(ids) and embedding_server.in_flight == 1

    wait_until(all_waiting_on_the_provider, timeout=60, what="every document to wait on the held request")
    embedding_server.answering.set()
    for document_id in ids:
        assert stack.wait_for(document_id)["status"] == "completed"

    owner = {c["text"]: i for i in ids for c in stack.chunks(i)}
    per_request = [{owner[text] for text in request.body["input"]} for request in embedding_server.requests]
    assert len(per_request) < len(ids), per_request
    assert any(len(documents) > 1 for documents in per_request)
    hashing = HashingEmbedder(32)
    for document_id in ids:
        for chunk in stack.chunks(document_id, include="embedding"):
            assert chunk["embedding"] == pytest.approx(hashing.embed_one(chunk["text"]), abs=1e-6)
