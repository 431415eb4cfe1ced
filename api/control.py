"""Cancel and retry: state changes a user asks for, checked against where the document stands.

Each reads in one transaction and writes in another, guarded by the status it read: on SQLite a
transaction that reads and then writes fails outright if anything committed in between.
"""

from __future__ import annotations

from api.errors import APIError, not_found
from pipeline import lifecycle
from pipeline.context import Context
from pipeline.models import Document, Stage, Status


def _current(ctx: Context, document_id: str) -> Document:
    with ctx.session() as session:
        document = session.get(Document, document_id)
    if document is None:
        raise not_found("document", document_id)
    return document


def cancel(ctx: Context, document_id: str) -> Document:
    current = _current(ctx, document_id)
    with ctx.session() as session:
        canceled = lifecycle.cancel(session, document_id)
    if canceled is None:
        raise APIError(409, "not_cancelable", f"document {document_id} is already {current.status}")
    return canceled


def retry(ctx: Context, document_id: str) -> Document:
    current = _current(ctx, document_id)
    if current.status not in (Status.FAILED, Status.CANCELED):
        raise APIError(
            409, "not_retryable", f"document {document_id} is {current.status}; only failed or canceled ones can be"
        )
    stage = Stage(current.stage) if current.status == Status.FAILED and current.stage else Stage.PARSE
    if stage == Stage.PARSE and not ctx.upload_path(document_id).exists():
        raise APIError(409, "file_gone", "the stored PDF of this document was removed by cleanup; upload it again")
    with ctx.session() as session:
        document = lifecycle.requeue_for_retry(session, current)
    if document is None:
        raise APIError(409, "not_retryable", f"document {document_id} changed state meanwhile; look again")
    try:
        ctx.send(stage, document_id, priority=document.priority)
    except Exception as exc:
        # The row says queued: the recovery job enqueues it once the queue is back.
        raise APIError(503, "queue_unavailable", "the queue is unreachable; the retry starts when it is back") from exc
    return document
