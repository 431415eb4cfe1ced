"""Prometheus metrics shared by the worker and the API (each process exports its own)."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge
from sqlalchemy import Engine, event

DB_QUERIES = Counter("pdfline_db_queries_total", "SQL statements sent to the database by this process.")
SSE_CLIENTS = Gauge("pdfline_sse_clients", "Event-stream clients connected to this API process.")
EVENTS_FANNED_OUT = Counter("pdfline_events_fanned_out_total", "Events delivered to stream subscribers.")


def count_queries(engine: Engine) -> None:
    def _count(*_: Any) -> None:
        DB_QUERIES.inc()

    event.listen(engine, "before_cursor_execute", _count)
