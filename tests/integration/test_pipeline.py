"""Through the API, with a real Redis and a real ``dramatiq pipeline.worker`` process."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from fixtures.make_fixtures import image_only_pdf_bytes, text_pdf_bytes, write_text_pdf
from pipeline.settings import Settings
from tests.conftest import FIXTURES
from tests.integration.conftest import Stack, embedding_env
from tests.support.embedding_server import FakeEmbeddingServer

pytestmark = pytest.mark.integration

GOOD = ["plain.pdf", "multipage.pdf", "thirty_pages.pdf", "encrypted_empty_password.pdf"]


def expected_chunks(path: Path, size: int, overlap: int) -> list[tuple[str, int, int]]:
    """What the chunks must be, computed independently from pypdf's own extraction of each page."""
    reader = PdfReader(path)
    if reader.is_encrypted:
        reader.decrypt("")
    words: list[tuple[str, int]] = []
    for number, page in enumerate(reader.pages, start=1):
        words.extend((word, number) for word in page.extract_text().split())
    out, start = [], 0
    while True:
        window = words[start : start + size]
        out.append((" ".join(w for w, _ in window), window[0][1], window[-1][1]))
        if start + size >= len(words):
            return out
        start += size - overlap


def test_fixtures_complete_with_chunks_matching_pypdf(stack: Stack) -> None:
    stack.start()
    settings = Settings()
    ids = {}
    for name in GOOD:
        response = stack.upload(FIXTURES / name)
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "queued"
        ids[name] = response.json()["id"]

    for name, document_id in ids.items():
        document = stack.wait_for(document_id)
        assert document["status"] == "completed", document
        assert document["progress"] == 1.0
        assert document["error"] is None
        assert document["pages_parsed"] == document["pages_total"] == len(PdfReader(FIXTURES / name).pages)
        chunks = stack.chunks(document_id, include="embedding")
        want = expected_chunks(FIXTURES / name, settings.chunk_size, settings.chunk_overlap)
        got = [(c["text"], c["page_start"], c["page_end"]) for c in chunks]
        assert got == want, name
        assert [c["index"] for c in chunks] == list(range(len(want)))
        assert document["chunks_total"] == document["chunks_stored"] == len(want)
        assert all(len(c["embedding"]) == 384 and c["embedding_model"] for c in chunks)

    thirty = stack.client.get(f"/documents/{ids['thirty_pages.pdf']}").json()
    assert thirty["pages_total"] == 30
    names = [event.name for event in stack.events(ids["thirty_pages.pdf"])]
    assert names[0] == "stage"
    assert names[-1] == "completed"
    assert names.count("stage") == 3
    seqs = [event.seq for event in stack.events(ids["thirty_pages.pdf"])]
    assert seqs == list(range(1, len(seqs) + 1))


def test_pages_without_text_are_counted_and_the_rest_completes(stack: Stack, tmp_path: Path) -> None:
    writer = PdfWriter()
    for part in (text_pdf_bytes(3, seed=3), image_only_pdf_bytes(2)):
        writer.append(PdfReader(io.BytesIO(part)))
    mixed = tmp_path / "mixed.pdf"
    with mixed.open("wb") as out:
        writer.write(out)
    stack.start()
    document = stack.wait_for(stack.upload(mixed).json()["id"])
    assert document["status"] == "completed"
    assert (document["pages_total"], document["pages_without_text"]) == (5, 2)
    assert stack.events(document["id"])[-1].data["pages_without_text"] == 2
    image_only = stack.wait_for(stack.upload(FIXTURES / "image_only.pdf").json()["id"])
    assert (image_only["error"]["type"], image_only["pages_without_text"]) == ("no_text", 2)


@pytest.mark.parametrize(
    ("name", "error_type"),
    [("encrypted.pdf", "encrypted"), ("truncated.pdf", "corrupt_pdf"), ("image_only.pdf", "no_text")],
)
def test_bad_pdf_fails_its_document_and_the_worker_carries_on(stack: Stack, name: str, error_type: str) -> None:
    stack.start()
    bad = stack.upload(FIXTURES / name).json()
    failed = stack.wait_for(bad["id"])
    assert failed["status"] == "failed"
    assert failed["error"]["type"] == error_type
    assert failed["error"]["message"]
    assert failed["attempts"] == 0, "permanent errors are not retried"
    assert failed["finished_at"] is not None

    assert stack.worker is not None
    assert stack.worker.alive
    good = stack.upload(FIXTURES / "plain.pdf").json()
    assert stack.wait_for(good["id"])["status"] == "completed"


def test_garbage_behind_a_pdf_header_is_corrupt(stack: Stack, tmp_path: Path) -> None:
    stack.start()
    garbage = tmp_path / "garbage.pdf"
    garbage.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 40)
    document = stack.wait_for(stack.upload(garbage).json()["id"])
    assert document["error"]["type"] == "corrupt_pdf"
    assert stack.worker is not None
    assert stack.worker.alive


def test_stage_over_its_time_limit_fails_with_time_limit(stack: Stack, tmp_path: Path) -> None:
    stack.start(PDFLINE_PARSE_TIME_LIMIT_S="0.3")
    long_pdf = write_text_pdf(tmp_path / "long.pdf", 800, seed=8)
    document = stack.wait_for(stack.upload(long_pdf).json()["id"])
    assert document["status"] == "failed"
    assert document["error"]["type"] == "time_limit"
    assert "parse" in document["error"]["message"]
    assert document["pages_parsed"] < 800, "stopped before the end"

    assert stack.worker is not None
    assert stack.worker.alive
    assert stack.wait_for(stack.upload(FIXTURES / "plain.pdf").json()["id"])["status"] == "completed"


def test_embedding_server_failing_twice_then_succeeding_completes_with_attempts(
    stack: Stack, embedding_server: FakeEmbeddingServer
) -> None:
    embedding_server.fail_next(2, status=500)
    stack.start(
        **embedding_env(
            embedding_server,
            OPENAI_API_KEY="test-key",
            PDFLINE_EMBEDDING_MODEL="fake-embed",
            PDFLINE_EMBEDDING_DIMENSIONS="32",
        )
    )
    document = stack.wait_for(stack.upload(FIXTURES / "multipage.pdf").json()["id"])
    assert document["status"] == "completed", document
    assert document["attempts"] == 2
    names = [event.name for event in stack.events(document["id"])]
    assert names.count("retrying") == 2
    retry = next(e for e in stack.events(document["id"]) if e.name == "retrying")
    assert retry.data["retry_reason"]["type"] == "embedding_unavailable"
    assert [r.status for r in embedding_server.requests[:3]] == [500, 500, 200]
    assert all(r.body["encoding_format"] == "float" for r in embedding_server.requests)
    chunks = stack.chunks(document["id"], include="embedding")
    assert {c["embedding_model"] for c in chunks} == {"fake-embed"}
    assert {len(c["embedding"]) for c in chunks} == {32}


def test_embedding_provider_down_past_the_retry_budget_fails_the_document(
    stack: Stack, embedding_server: FakeEmbeddingServer
) -> None:
    embedding_server.fail_next(50, status=503)
    stack.start(**embedding_env(embedding_server, PDFLINE_MAX_RETRIES="2"))
    document = stack.wait_for(stack.upload(FIXTURES / "plain.pdf").json()["id"])
    assert document["status"] == "failed"
    assert document["error"]["type"] == "embedding_unavailable"
    assert document["attempts"] == 2
    assert document["stage"] == "embed"


def test_reupload_returns_the_existing_document(stack: Stack) -> None:
    stack.start()
    first = stack.upload(FIXTURES / "multipage.pdf")
    assert first.status_code == 202
    document = stack.wait_for(first.json()["id"])

    again = stack.upload(FIXTURES / "multipage.pdf")
    assert again.status_code == 200
    assert again.json()["id"] == document["id"]
    assert again.json()["status"] == "completed"

    reprocessed = stack.upload(FIXTURES / "multipage.pdf", reprocess="true")
    assert reprocessed.status_code == 202
    assert reprocessed.json()["id"] == document["id"]
    redone = stack.wait_for(document["id"])
    assert redone["status"] == "completed"
    assert redone["chunks_total"] == document["chunks_total"]
    assert len(stack.chunks(document["id"])) == document["chunks_total"]
    listed = stack.client.get("/documents").json()["items"]
    assert [d["id"] for d in listed] == [document["id"]]


def test_an_encrypted_pdf_opens_with_its_password_and_fails_with_a_wrong_one(stack: Stack) -> None:
    stack.start()
    data = (FIXTURES / "encrypted.pdf").read_bytes()
    wrong = stack.client.post("/documents", files={"file": ("locked.pdf", data)}, data={"password": "nope"}).json()
    assert stack.wait_for(wrong["id"])["error"]["type"] == "encrypted"

    right = stack.client.post(
        "/documents", params={"reprocess": "true"}, files={"file": ("locked.pdf", data)}, data={"password": "s3cret"}
    )
    assert right.status_code == 202
    assert right.json()["id"] == wrong["id"], "the same bytes: the same document, processed again"
    done = stack.wait_for(wrong["id"])
    assert done["status"] == "completed", done
    assert done["chunks_total"] >= 1
    if stack.database == "sqlite":
        assert b"s3cret" not in (stack.tmp_path / "data" / "pdfline.db").read_bytes(), "the password is never stored"
