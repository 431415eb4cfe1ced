"""cleanup: keep the disk and the tables from growing forever. Never touches an active document."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, select

from pipeline.context import Context
from pipeline.models import Document, Event, Status
from pipeline.models.types import utcnow
from pipeline.purge import purge_document

log = logging.getLogger(__name__)

FINISHED = (Status.COMPLETED, Status.FAILED, Status.CANCELED)


def run_cleanup(ctx: Context, now: datetime | None = None) -> dict[str, int]:
    now = now or utcnow()
    settings = ctx.settings
    summary = {
        "files_removed": _remove_finished_files(ctx, now - timedelta(days=settings.file_retention_days)),
        "events_pruned": _prune_events(ctx, now - timedelta(days=settings.event_retention_days)),
        "documents_removed": _remove_failed(ctx, now - timedelta(days=settings.failed_retention_days)),
        "orphans_removed": _remove_orphans(ctx, now - timedelta(seconds=settings.orphan_grace_s)),
    }
    log.info("cleanup: %s", " ".join(f"{name}={value}" for name, value in summary.items()))
    return summary


def _finished_before(cutoff: datetime, statuses: tuple[Status, ...]):  # type: ignore[no-untyped-def]
    return select(Document.id).where(
        Document.status.in_(statuses),  # type: ignore[attr-defined]
        Document.finished_at < cutoff,  # type: ignore[operator]
    )


def _remove_finished_files(ctx: Context, cutoff: datetime) -> int:
    """The PDF goes; its chunks and vectors stay searchable."""
    with ctx.session() as session:
        ids = list(session.scalars(_finished_before(cutoff, FINISHED)))
    removed = 0
    for document_id in ids:
        path = ctx.upload_path(document_id)
        if path.exists():
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _prune_events(ctx: Context, cutoff: datetime) -> int:
    """Only finished documents' events: an active document's stream may still replay them."""
    with ctx.session() as session:
        finished = _finished_before(cutoff, FINISHED)
        result = session.execute(delete(Event).where(Event.at < cutoff, Event.document_id.in_(finished)))  # type: ignore[attr-defined,operator]
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _remove_failed(ctx: Context, cutoff: datetime) -> int:
    with ctx.session() as session:
        ids = list(session.scalars(_finished_before(cutoff, (Status.FAILED, Status.CANCELED))))
    return sum(purge_document(ctx, document_id) for document_id in ids)


def _remove_orphans(ctx: Context, cutoff: datetime) -> int:
    """Half-written uploads, and stored files no document owns, once older than the grace period
    (an upload in flight writes its file a moment before its row exists)."""
    removed = 0
    candidates = [*_old_files(ctx.settings.incoming_dir, cutoff)]
    stored = {path.stem: path for path in _old_files(ctx.settings.uploads_dir, cutoff)}
    if stored:
        with ctx.session() as session:
            known = set(session.scalars(select(Document.id).where(Document.id.in_(list(stored)))))  # type: ignore[attr-defined]
        candidates += [path for stem, path in stored.items() if stem not in known]
    for path in candidates:
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def _old_files(directory: Path, cutoff: datetime) -> list[Path]:
    if not directory.exists():
        return []
    limit = cutoff.timestamp()
    return [path for path in directory.iterdir() if path.is_file() and path.stat().st_mtime < limit]
