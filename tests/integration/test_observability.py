"""Health, stats and metrics of a real deployment: the API's /readyz, /stats and /metrics, and the
worker processes' own metrics from dramatiq's exposition server."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from tests.conftest import FIXTURES
from tests.integration.conftest import Stack, embedding_env
from tests.support.embedding_server import FakeEmbeddingServer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one Prometheus sample, whatever the order of its labels."""
    for line in text.splitlines():
        match = re.match(rf"^{name}(?:\{{(.*)\}})? (\S+)$", line)
        if not match:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if all(found.get(key) == value for key, value in labels.items()):
            return float(match.group(2))
    return None


def test_readiness_stats_and_metrics_follow_a_document_and_the_worker(
    stack: Stack, embedding_server: FakeEmbeddingServer
) -> None:
    embedding_server.fail_next(1, status=500)
    stack.start(
        **embedding_env(embedding_server, PDFLINE_EMBEDDING_MAX_RETRIES="0", PDFLINE_WORKER_HEARTBEAT_TIMEOUT_S="3")
    )
    ready = stack.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": True, "redis": True, "workers": True}

    document = stack.wait_for(stack.upload(FIXTURES / "thirty_pages.pdf").json()["id"])
    assert document["status"] == "completed", document

    stats = stack.client.get("/stats").json()
    assert stats["documents"]["completed"] == 1
    assert stats["workers"] == 1
    assert stats["queues"]["pdfline"] == {"ready": 0, "delayed": 0, "dead": 0}
    assert set(stats["queues"]) == {
        *("pdfline.high", "pdfline", "pdfline.low"),
        *("pdfline.high.vectors", "pdfline.vectors", "pdfline.low.vectors"),
        "pdfline.jobs",
    }
    assert stats["last_hour"] == {"completed": 1, "failed": 0, "pages": 30, "chunks": document["chunks_total"]}

    api = stack.client.get("/metrics").text
    assert sample(api, "pdfline_documents", status="completed") == 1
    assert sample(api, "pdfline_queue_messages", queue="pdfline", state="ready") == 0
    assert sample(api, "pdfline_workers") == 1
    assert sample(api, "pdfline_sse_clients") == 0

    port = stack.env["dramatiq_prom_port"]
    worker = httpx.get(f"http://127.0.0.1:{port}/", timeout=5).text
    assert sample(worker, "pdfline_pages_total", outcome="read") == 30
    assert sample(worker, "pdfline_chunks_stored_total") == document["chunks_total"]
    assert sample(worker, "pdfline_chunks_embedded_total") == document["chunks_total"]
    assert sample(worker, "pdfline_embedding_requests_total", outcome="embedding_unavailable") == 1
    assert sample(worker, "pdfline_embedding_inputs_total") == document["chunks_total"]
    assert sample(worker, "pdfline_stage_retries_total", stage="embed", error_type="embedding_unavailable") == 1
    for stage in ("parse", "embed", "store"):
        assert sample(worker, "pdfline_stage_duration_seconds_count", stage=stage, outcome="ok") == 1
    assert sample(worker, "dramatiq_messages_total", actor_name="parse", queue_name="pdfline") == 1

    # The worker's own log lines are JSON objects; those written while a stage ran say which.
    lines = [json.loads(line) for line in stack.worker.log().splitlines() if line.startswith("{")]  # type: ignore[union-attr]
    assert any("ready for action" in line["message"] for line in lines)
    retry = next(line for line in lines if "will be retried" in line["message"])
    assert retry["document_id"] == document["id"]
    assert retry["stage"] == "embed"
    assert retry["message_id"]
    assert retry["level"] == "info"

    assert stack.worker is not None
    stack.worker.stop()
    not_ready = wait_until(
        lambda: (r := stack.client.get("/readyz")).status_code == 503 and r,
        timeout=30,
        what="/readyz to notice that no worker is left",
    )
    assert not_ready.json()["error"] == {"type": "not_ready", "message": "unavailable: workers"}
