"""Cancel and retry, with a real worker; and the embedding cache that makes retries free."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from pipeline import lifecycle
from pipeline.models import Stage
from tests.conftest import FIXTURES
from tests.integration.conftest import Stack, embedding_env
from tests.support.embedding_server import FakeEmbeddingServer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def inputs(server: FakeEmbeddingServer) -> int:
    return sum(len(r.body.get("input", [])) for r in server.requests if r.status == 200)


def test_a_queued_document_is_canceled_at_once_and_never_runs(stack: Stack) -> None:
    stack.configure()
    from fastapi.testclient import TestClient

    from api.main import create_app

    with TestClient(create_app()) as client:
        document = client.post("/documents", files={"file": ("a.pdf", (FIXTURES / "plain.pdf").read_bytes())}).json()
        canceled = client.post(f"/documents/{document['id']}/cancel")
        assert canceled.status_code == 200
        assert canceled.json()["status"] == "canceled"
        stack.start_worker()
        stack._client = client
        # parse finds the document canceled before it reads a page or writes anything
        stopped = f"document {document['id']} is no longer active"
        wait_until(lambda: stopped in stack.worker.log(), timeout=30, what="the worker to stop its parse")  # type: ignore[union-attr]
        assert client.get(f"/documents/{document['id']}").json()["status"] == "canceled"
        assert [e.name for e in stack.events(document["id"])] == ["canceled"]
        stack._client = None


def test_a_cancel_that_read_the_clock_before_a_progress_write_is_still_ordered_after_it(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transition reads the clock before its ``UPDATE`` waits for the row's lock, so a cancel can
    commit after a worker's progress write stamped later than the cancel's clock. Its time then must
    not go back: the dashboard, ordering by time, kept showing such a document running."""
    stack.configure()
    from fastapi.testclient import TestClient

    from api.main import create_app

    with TestClient(create_app()) as client:
        document = client.post("/documents", files={"file": ("a.pdf", (FIXTURES / "plain.pdf").read_bytes())}).json()
        ctx = client.app.state.context  # type: ignore[attr-defined]
        with ctx.session() as session:
            assert lifecycle.begin_stage(session, document["id"], Stage.PARSE) is not None
        with ctx.session() as session:
            assert lifecycle.report_progress(session, document["id"], pages_total=1) is not None
        stack._client = client
        written = stack.events(document["id"])[-1]
        monkeypatch.setattr(lifecycle, "utcnow", lambda: written.at - timedelta(seconds=5))
        canceled = client.post(f"/documents/{document['id']}/cancel").json()
        events = stack.events(document["id"])
        stack._client = None

    assert [e.name for e in events[-2:]] == [written.name, "canceled"]
    assert events[-1].at >= written.at
    assert events[-1].data["at"] >= written.data["at"]
    assert canceled["updated_at"] == canceled["finished_at"] == events[-1].data["at"]
    assert canceled["last_event_id"] == events[-1].data["last_event_id"] == events[-1].seq


def test_a_running_document_stops_within_seconds_and_its_partial_rows_go(
    stack: Stack, embedding_server: FakeEmbeddingServer
) -> None:
    embedding_server.delay_s = 0.2
    stack.start(**embedding_env(embedding_server, PDFLINE_EMBEDDING_DIMENSIONS="16", PDFLINE_EMBEDDING_BATCH_SIZE="2"))
    document = stack.upload(FIXTURES / "thirty_pages.pdf").json()
    wait_until(lambda: len(embedding_server.requests) >= 3, timeout=60, what="embedding to be under way")
    response = stack.client.post(f"/documents/{document['id']}/cancel")
    assert response.status_code == 200
    canceled_at = time.monotonic()

    def quiet() -> bool:
        before = len(embedding_server.requests)
        time.sleep(0.5)  # the provider is polled, not waited on: a settled count means the stage stopped
        return len(embedding_server.requests) == before

    wait_until(quiet, timeout=5, what="embedding calls to stop after the cancel")
    assert time.monotonic() - canceled_at < 5.5
    final = stack.client.get(f"/documents/{document['id']}").json()
    assert final["status"] == "canceled"
    assert stack.chunks(document["id"]) == []
    names = [e.name for e in stack.events(document["id"])]
    assert names[-1] == "canceled"
    assert names.count("canceled") == 1
    assert stack.client.post(f"/documents/{document['id']}/cancel").status_code == 409

    embedding_server.delay_s = 0
    retried = stack.client.post(f"/documents/{document['id']}/retry")
    assert retried.status_code == 202
    assert stack.wait_for(document["id"])["status"] == "completed"
    completed = stack.client.get(f"/documents/{document['id']}").json()
    assert inputs(embedding_server) == completed["chunks_total"], "no chunk text was paid for twice"


def test_a_failed_document_retries_from_its_failed_stage_without_paying_twice(
    stack: Stack, embedding_server: FakeEmbeddingServer
) -> None:
    embedding_server.succeed_then_fail(3, 100, status=503)
    stack.start(
        **embedding_env(
            embedding_server,
            PDFLINE_EMBEDDING_DIMENSIONS="16",
            PDFLINE_EMBEDDING_BATCH_SIZE="4",
            PDFLINE_MAX_RETRIES="1",
            # Its batches fail four at a time; the circuit would make the document wait, not fail.
            PDFLINE_CIRCUIT_FAILURE_THRESHOLD="100",
        )
    )
    document = stack.upload(FIXTURES / "thirty_pages.pdf").json()
    failed = stack.wait_for(document["id"])
    assert failed["status"] == "failed"
    assert failed["error"]["type"] == "embedding_unavailable"
    assert failed["stage"] == "embed"

    embedding_server.script.clear()
    events_before = len(stack.events(document["id"]))
    assert stack.client.post(f"/documents/{document['id']}/retry").status_code == 202
    done = stack.wait_for(document["id"])
    assert done["status"] == "completed", done
    after = stack.events(document["id"])[events_before:]
    first_stage = next(e.data["stage"] for e in after if e.name == "stage")
    assert first_stage == "embed", "parsed pages are not parsed again"
    assert inputs(embedding_server) == done["chunks_total"], "every chunk text was embedded exactly once"

    again = stack.upload(FIXTURES / "thirty_pages.pdf", reprocess="true")
    assert again.status_code == 202
    assert stack.wait_for(document["id"])["status"] == "completed"
    assert inputs(embedding_server) == done["chunks_total"], "reprocessing paid for nothing"


def test_cancel_and_retry_refuse_what_does_not_apply(stack: Stack) -> None:
    stack.start()
    document = stack.upload(FIXTURES / "plain.pdf").json()
    assert stack.wait_for(document["id"])["status"] == "completed"
    finished = stack.client.post(f"/documents/{document['id']}/cancel")
    assert finished.status_code == 409
    assert finished.json()["error"]["type"] == "not_cancelable"
    not_failed = stack.client.post(f"/documents/{document['id']}/retry")
    assert not_failed.status_code == 409
    assert not_failed.json()["error"]["type"] == "not_retryable"
    assert stack.client.post("/documents/nope/cancel").status_code == 404
    assert stack.client.post("/documents/nope/retry").status_code == 404
