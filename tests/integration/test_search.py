"""Search on the fixtures with the hashing embedder, on SQLite or Postgres (``--database``): a query
made of a passage's words finds the passage; vectors of another model are never compared."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from tests.conftest import FIXTURES
from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration

PDFLINE = str(Path(sys.executable).with_name("pdfline"))


def _stored(stack: Stack) -> dict[str, str]:
    ids = {}
    for name in ("thirty_pages.pdf", "multipage.pdf", "plain.pdf"):
        document = stack.wait_for(stack.upload(FIXTURES / name).json()["id"])
        assert document["status"] == "completed", document
        ids[name] = document["id"]
    return ids


def _passage(text: str, words: int = 25) -> str:
    """Words from the middle of a chunk: they fall only in that chunk, not in its overlapping neighbours."""
    tokens = text.split()
    middle = len(tokens) // 2
    return " ".join(tokens[middle - words // 2 : middle + words // 2])


def test_a_query_made_of_a_passages_words_finds_that_passages_chunk(stack: Stack) -> None:
    stack.start()
    ids = _stored(stack)
    chunks = stack.chunks(ids["thirty_pages.pdf"])
    for target in (chunks[3], chunks[len(chunks) // 2], chunks[-2]):
        response = stack.client.get("/search", params={"q": _passage(target["text"]), "k": 3})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model"] == "pdfline-hashing-v2"
        assert body["dimensions"] == 384
        top3 = [(hit["document_id"], hit["chunk_index"]) for hit in body["hits"]]
        assert (ids["thirty_pages.pdf"], target["index"]) in top3, body["hits"]
        first = body["hits"][0]
        assert first["filename"] == "thirty_pages.pdf"
        assert first["page_start"] <= first["page_end"]
        assert first["text"]
        scores = [hit["score"] for hit in body["hits"]]
        assert scores == sorted(scores, reverse=True)

    only = stack.client.get("/search", params={"q": "the river", "k": 5, "document_id": ids["multipage.pdf"]})
    assert only.status_code == 200
    assert {hit["document_id"] for hit in only.json()["hits"]} == {ids["multipage.pdf"]}
    assert stack.client.get("/search", params={"q": "", "k": 3}).status_code == 422
    missing = stack.client.get("/search", params={"q": "river", "document_id": "00000000-0000-0000-0000-000000000000"})
    assert missing.status_code == 404


def test_vectors_of_another_model_or_dimension_are_never_compared(stack: Stack) -> None:
    stack.start()
    _stored(stack)
    for override in ({"PDFLINE_EMBEDDING_MODEL": "another-model"}, {"PDFLINE_EMBEDDING_DIMENSIONS": "64"}):
        stack.configure(**override)
        with TestClient(create_app()) as other:
            response = other.get("/search", params={"q": "the river", "k": 3})
        assert response.status_code == 409
        error = response.json()["error"]
        assert error["type"] == "model_mismatch"
        assert "pdfline-hashing-v2 (384 dimensions)" in error["message"], "says what is stored"
        stack.monkeypatch.delenv(next(iter(override)))
        del stack.env[next(iter(override))]


def test_pdfline_search_prints_the_hits_readably(stack: Stack) -> None:
    stack.start()
    ids = _stored(stack)
    api = stack.start_api_process()
    target = stack.chunks(ids["thirty_pages.pdf"])[4]
    done = subprocess.run(
        [PDFLINE, "search", _passage(target["text"]), "-k", "3", "--api", api.url],
        env={**os.environ, **stack.env, "COLUMNS": "120"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 hits · pdfline-hashing-v2 (384 dimensions)" in done.stdout
    assert "thirty_pages.pdf" in done.stdout
    assert f"{ids['thirty_pages.pdf']} #{target['index']}" in done.stdout
