"""Limits at the door: API keys, the per-client upload rate, and priority routing, with a real worker."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from fixtures.make_fixtures import write_text_pdf
from tests.conftest import FIXTURES
from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration


def _upload(client: TestClient, path: Path, headers: dict[str, str] | None = None, **fields: str):  # type: ignore[no-untyped-def]
    return client.post("/documents", files={"file": (path.name, path.read_bytes())}, data=fields, headers=headers)


def test_api_keys_guard_everything_but_health_and_event_streams_take_the_key_as_a_query_parameter(
    stack: Stack,
) -> None:
    stack.start(PDFLINE_API_KEYS="first-key, second-key")
    client = stack.client

    missing = _upload(client, FIXTURES / "plain.pdf")
    assert missing.status_code == 401
    assert missing.json()["error"]["type"] == "unauthorized"
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = _upload(client, FIXTURES / "plain.pdf", {"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["message"] == "the API key is not valid"
    assert client.post("/admin/cleanup").status_code == 401
    assert client.get("/documents").status_code == 401

    accepted = _upload(client, FIXTURES / "plain.pdf", {"Authorization": "Bearer second-key"})
    assert accepted.status_code == 202
    document_id = accepted.json()["id"]
    final = stack.wait_for(document_id, headers={"X-API-Key": "first-key"})
    assert final["status"] == "completed"

    assert client.get(f"/documents/{document_id}/events").status_code == 401
    with client.stream("GET", f"/documents/{document_id}/events", params={"api_key": "first-key"}) as stream:
        assert stream.status_code == 200
        body = "".join(stream.iter_text())
    assert "event: snapshot" in body
    assert "event: completed" in body
    assert client.get("/healthz").status_code == 200


def test_uploads_over_a_clients_rate_get_429_with_retry_after_and_other_clients_go_on(stack: Stack) -> None:
    stack.start(PDFLINE_API_KEYS="alice,bob", PDFLINE_UPLOAD_RATE_LIMIT="2/minute")
    alice, bob = {"X-API-Key": "alice"}, {"X-API-Key": "bob"}
    for name in ("plain.pdf", "multipage.pdf"):
        assert _upload(stack.client, FIXTURES / name, alice).status_code == 202
    refused = _upload(stack.client, FIXTURES / "thirty_pages.pdf", alice)
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "rate_limited"
    assert "2/minute" in refused.json()["error"]["message"]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert _upload(stack.client, FIXTURES / "thirty_pages.pdf", bob).status_code == 202


def test_high_priority_documents_overtake_queued_ones_and_low_ones_wait(stack: Stack, tmp_path: Path) -> None:
    stack.configure()
    with TestClient(create_app()) as client:
        uploads = {"low": [], "normal": [], "high": []}  # type: dict[str, list[str]]
        for seed, priority in enumerate(["low"] * 4 + ["normal"] * 4 + ["high"]):
            pdf = write_text_pdf(tmp_path / f"{priority}-{seed}.pdf", 5, seed=1000 + seed)
            response = _upload(client, pdf, priority=priority)
            assert response.status_code == 202
            assert response.json()["priority"] == priority
            uploads[priority].append(response.json()["id"])
        assert _upload(client, FIXTURES / "plain.pdf", priority="urgent").json()["error"]["type"] == "invalid_priority"

        stack._client = client
        stack.start_worker(processes=1, threads=1)
        finished = {
            priority: [datetime.fromisoformat(stack.wait_for(i, timeout=120)["finished_at"]) for i in ids]
            for priority, ids in uploads.items()
        }
        stack._client = None
    assert finished["high"][0] < min(finished["low"]), "uploaded last, the high one finished before any low one"
    assert max(finished["normal"]) < max(finished["low"]), "the low ones wait for the normal ones"
