"""Numbers about the whole service, read on request: documents by status, the queues, recent
throughput. Shared by ``GET /stats`` and the ``/metrics`` collectors."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from pipeline.context import Context
from pipeline.models import Document, Status
from pipeline.models.types import utcnow
from pipeline.queues import live_workers, queue_depths


def documents_by_status(ctx: Context) -> dict[str, int]:
    with ctx.session() as session:
        rows = session.execute(select(Document.status, func.count()).group_by(Document.status)).all()
    counts = dict.fromkeys((status.value for status in Status), 0)
    counts.update({status: count for status, count in rows})
    return counts


def last_hour(ctx: Context) -> dict[str, Any]:
    since = utcnow() - timedelta(hours=1)
    finished = Document.finished_at >= since  # type: ignore[operator]
    with ctx.session() as session:
        completed, pages, chunks = session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(Document.pages_total), 0),
                func.coalesce(func.sum(Document.chunks_total), 0),
            ).where(finished, Document.status == Status.COMPLETED)
        ).one()
        failed = session.scalar(select(func.count()).where(finished, Document.status == Status.FAILED))
    return {"completed": completed, "failed": failed or 0, "pages": int(pages), "chunks": int(chunks)}


def service_stats(ctx: Context) -> dict[str, Any]:
    queues = queue_depths(ctx.broker, ctx.settings.queue_name)
    return {
        "documents": documents_by_status(ctx),
        "queues": {q.queue: {k: v for k, v in asdict(q).items() if k != "queue"} for q in queues},
        "dead_letters": sum(q.dead for q in queues),
        "workers": live_workers(ctx.broker, ctx.settings.worker_heartbeat_timeout_s),
        "last_hour": last_hour(ctx),
    }
