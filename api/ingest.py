"""Turning received files into documents: dedup by content, store the file, queue the parse."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from api.errors import APIError
from api.uploads import ReceivedFile
from pipeline import lifecycle
from pipeline.context import Context
from pipeline.messages import Priority
from pipeline.models import Document, Stage, Status
from pipeline.pdf import looks_like_pdf, remove_password
from pipeline.purge import purge_document

log = logging.getLogger(__name__)

# Built once and run on the session's connection: an upload's ORM read and insert (the unit of work,
# instance state) cost more than the rest of its bookkeeping, for rows that are plain values.
_DOCUMENTS = Document.__table__  # type: ignore[attr-defined]
_BY_CONTENT = select(_DOCUMENTS).where(_DOCUMENTS.c.sha256 == bindparam("sha256"))
_INSERT = insert(_DOCUMENTS)


@dataclass
class Ingested:
    document: Document
    created: bool


def validate(received: ReceivedFile) -> None:
    if received.size == 0:
        raise APIError(422, "empty_file", f"{received.filename!r} is empty")
    if not looks_like_pdf(received.head):
        raise APIError(415, "not_a_pdf", f"{received.filename!r} is not a PDF (no %PDF- header)")


def ingest(
    ctx: Context,
    received: ReceivedFile,
    *,
    reprocess: bool,
    password: str | None = None,
    priority: Priority = Priority.NORMAL,
) -> Ingested:
    existing = _by_content(ctx, received.sha256)
    if existing is not None:
        if not reprocess:
            received.path.unlink(missing_ok=True)
            return Ingested(existing, created=False)
        if password:
            remove_password(received.path, password)
        return Ingested(_reprocess(ctx, existing, received, priority), created=True)

    if password:
        remove_password(received.path, password)
    document = Document.model_construct(
        filename=received.filename, sha256=received.sha256, size_bytes=received.size, priority=priority.value
    )
    target = ctx.upload_path(document.id)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(received.path, target)
    try:
        with ctx.session() as session:
            session.connection().execute(
                _INSERT, {column.name: getattr(document, column.name) for column in _DOCUMENTS.c}
            )
    except IntegrityError:
        # The same bytes were uploaded concurrently and the other request won.
        target.unlink(missing_ok=True)
        winner = _by_content(ctx, received.sha256)
        if winner is None:
            raise
        return Ingested(winner, created=False)
    _enqueue_or_undo(ctx, document)
    return Ingested(document, created=True)


def _by_content(ctx: Context, sha256: str) -> Document | None:
    with ctx.session() as session:
        row = session.connection().execute(_BY_CONTENT, {"sha256": sha256}).first()
    return None if row is None else Document.model_construct(**row._mapping)


def _reprocess(ctx: Context, existing: Document, received: ReceivedFile, priority: Priority) -> Document:
    if existing.status in (Status.QUEUED, Status.RUNNING):
        received.path.unlink(missing_ok=True)
        raise APIError(409, "already_processing", f"document {existing.id} is {existing.status}; wait or cancel it")
    os.replace(received.path, ctx.upload_path(existing.id))
    with ctx.session() as session:
        document = lifecycle.requeue_from_scratch(session, existing.id, priority=priority.value)
    if document is None:
        raise APIError(409, "already_processing", f"document {existing.id} changed state; try again")
    _send(ctx, document)
    return document


def _enqueue_or_undo(ctx: Context, document: Document) -> None:
    try:
        _send(ctx, document)
    except APIError:
        purge_document(ctx, document.id)
        raise


def _send(ctx: Context, document: Document) -> None:
    try:
        ctx.send(Stage.PARSE, document.id, priority=document.priority)
    except Exception as exc:
        log.error("could not queue document %s: %s", document.id, exc)
        raise APIError(503, "queue_unavailable", "the job queue is unreachable; try again shortly") from exc
