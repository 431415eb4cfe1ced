"""Prometheus metrics. Each process counts its own: the API serves its registry on ``/metrics``;
worker processes write theirs to dramatiq's multiprocess directory, served by dramatiq's Prometheus
exposition server (``pipeline.worker`` sets that up before this module is imported)."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import Engine, event

DB_QUERIES = Counter("pdfline_db_queries_total", "SQL statements sent to the database by this process.")
SSE_CLIENTS = Gauge(
    "pdfline_sse_clients", "Event-stream clients connected to this API process.", multiprocess_mode="livesum"
)
EVENTS_FANNED_OUT = Counter("pdfline_events_fanned_out_total", "Events delivered to stream subscribers.")

STAGE_SECONDS = Histogram(
    "pdfline_stage_duration_seconds",
    "Time one stage message took, by stage and outcome (ok, retry, failed).",
    ["stage", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
)
PAGES = Counter("pdfline_pages_total", "Pages parsed, by outcome (read, skipped).", ["outcome"])
CHUNKS_EMBEDDED = Counter("pdfline_chunks_embedded_total", "Chunk texts embedded (paid for; cache hits excluded).")
CHUNKS_STORED = Counter("pdfline_chunks_stored_total", "Chunk vectors written onto their chunks.")
STAGE_RETRIES = Counter("pdfline_stage_retries_total", "Stage messages sent back for a retry.", ["stage", "error_type"])
EMBEDDING_REQUESTS = Counter(
    "pdfline_embedding_requests_total",
    "Embedding requests to the provider, by outcome (ok, embedding_unavailable, embedding_rejected).",
    ["outcome"],
)
EMBEDDING_INPUTS = Counter("pdfline_embedding_inputs_total", "Texts sent in successful embedding requests.")


def count_queries(engine: Engine) -> None:
    def _count(*_: Any) -> None:
        DB_QUERIES.inc()

    event.listen(engine, "before_cursor_execute", _count)
