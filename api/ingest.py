"""Turning received files into documents: dedup by content, store the file, queue the parse."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import bindparam, select

from api.errors import APIError
from api.uploads import ReceivedFile
from pipeline import lifecycle
from pipeline.context import Context
from pipeline.db import insert_if_new
from pipeline.messages import Priority
from pipeline.models import Document, Stage, Status
from pipeline.pdf import looks_like_pdf, remove_password
from pipeline.purge import purge_document

log = logging.getLogger(__name__)

# Built once and run on the session's connection: an upload's ORM read and insert (the unit of work,
# instance state) cost more than the rest of its bookkeeping, for rows that are plain values.
_DOCUMENTS = Document.__table__  # type: ignore[attr-defined]
_BY_CONTENT = select(_DOCUMENTS).where(_DOCUMENTS.c.sha256 == bindparam("sha256"))


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
    """A new document for new content; the known one for content seen before (queued again from
    scratch with ``reprocess``). New content is the common case, so it is inserted first, and only a
    row with the same hash already there costs a read."""
    if password:
        remove_password(received.path, password)
    document = Document.model_construct(
        filename=received.filename, sha256=received.sha256, size_bytes=received.size, priority=priority.value
    )
    target = ctx.upload_path(document.id)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(received.path, target)
    for _ in range(2):  # the known row may be deleted between the insert and the read: insert again
        with ctx.session() as session:
            created = insert_if_new(
                session, Document, {column.name: getattr(document, column.name) for column in _DOCUMENTS.c}
            )
        if created:
            _enqueue_or_undo(ctx, document)
            return Ingested(document, created=True)
        existing = _by_content(ctx, received.sha256)
        if existing is not None:
            if not reprocess:
                target.unlink(missing_ok=True)
                return Ingested(existing, created=False)
            return Ingested(_reprocess(ctx, existing, target, priority), created=True)
    target.unlink(missing_ok=True)
    raise APIError(409, "upload_conflict", "a document with the same content was being deleted meanwhile; try again")


def _by_content(ctx: Context, sha256: str) -> Document | None:
    with ctx.session() as session:
        row = session.connection().execute(_BY_CONTENT, {"sha256": sha256}).first()
    return None if row is None else Document.model_construct(**row._mapping)


def _reprocess(ctx: Context, existing: Document, upload: Path, priority: Priority) -> Document:
    if existing.status in (Status.QUEUED, Status.RUNNING):
        upload.unlink(missing_ok=True)
        raise APIError(409, "already_processing", f"document {existing.id} is {existing.status}; wait or cancel it")
    os.replace(upload, ctx.upload_path(existing.id))
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
