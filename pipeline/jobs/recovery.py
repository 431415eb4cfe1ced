"""recovery: the database row is the truth; make the queue agree with it.

A ``running`` document whose heartbeat is older than ``stalled_after_s``, or a ``queued`` one that
has waited that long, gets back the messages a dead worker held for it, or, when it has no message
in Redis at all, a new one at its stage; after ``max_recoveries`` it fails with ``stalled``. Live
work (a fresh heartbeat, messages waiting or held by live workers) is left alone.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import and_, or_, select

from pipeline import lifecycle
from pipeline.context import Context
from pipeline.jobs.broker_view import BrokerView
from pipeline.models import Document, Stage, Status
from pipeline.models.types import utcnow

log = logging.getLogger(__name__)


def run_recovery(ctx: Context, now: datetime | None = None) -> dict[str, int]:
    now = now or utcnow()
    silent_since = now - timedelta(seconds=ctx.settings.stalled_after_s)
    with ctx.session() as session:
        candidates = list(
            session.scalars(
                select(Document).where(
                    or_(
                        and_(
                            Document.status == Status.RUNNING,
                            or_(Document.heartbeat_at.is_(None), Document.heartbeat_at < silent_since),  # type: ignore[union-attr,operator]
                        ),
                        and_(Document.status == Status.QUEUED, Document.updated_at < silent_since),  # type: ignore[operator]
                    )
                )
            )
        )
    summary = {"checked": len(candidates), "left_alone": 0, "requeued": 0, "failed": 0}
    if not candidates:
        return summary
    broker = ctx.broker
    view = BrokerView.load(broker, ctx.settings.queue_name) if isinstance(broker, RedisBroker) else None
    for document in candidates:
        lost = view is not None and document.id not in view.alive and document.id not in view.dead
        if view is None or not (lost or document.id in view.dead):
            summary["left_alone"] += 1
            continue
        if document.recoveries >= ctx.settings.max_recoveries:
            with ctx.session() as session:
                lifecycle.fail(
                    session,
                    document.id,
                    error_type="stalled",
                    message=f"its worker stopped responding {document.recoveries + 1} times",
                )
            summary["failed"] += 1
            continue
        _requeue(ctx, view, document)
        summary["requeued"] += 1
    log.info("recovery: %s", " ".join(f"{name}={value}" for name, value in summary.items()))
    return summary


def _requeue(ctx: Context, view: BrokerView, document: Document) -> None:
    """Messages a dead worker held are sent again as they were (one range of a big parse, say); a
    document with no message at all starts again at its stage, which resumes from stored work."""
    assert isinstance(ctx.broker, RedisBroker)
    with ctx.session() as session:
        if document.status == Status.RUNNING:
            updated = lifecycle.recover(session, document)
        else:
            updated = lifecycle.transition(
                session, document.id, event=None, allowed_from=(Status.QUEUED,), recoveries=lifecycle.ONE_MORE_RECOVERY
            )
    if updated is None:
        return  # it moved on meanwhile
    if resent := view.resend_dead(ctx.broker, document.id):
        log.warning("document %s: re-sent %d message(s) its dead worker held", document.id, resent)
        return
    stage = Stage(document.stage) if document.stage else Stage.PARSE
    log.warning("document %s was %s with no live message; re-enqueued at %s", document.id, document.status, stage)
    ctx.send(stage, document.id, priority=document.priority)
