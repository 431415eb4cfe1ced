"""Removing a document for good: its rows, its events and its file."""

from __future__ import annotations

from sqlalchemy import delete

from pipeline.context import Context
from pipeline.models import Chunk, Document, Event, Page


def purge_document(ctx: Context, document_id: str) -> bool:
    """Delete everything of one document; ``False`` when there was nothing to delete.

    A stage still running on it notices at its next progress write and stops quietly.
    """
    with ctx.session() as session:
        for table in (Chunk, Page, Event):
            session.execute(delete(table).where(table.document_id == document_id))  # type: ignore[attr-defined]
        removed = session.execute(delete(Document).where(Document.id == document_id)).rowcount  # type: ignore[arg-type]
    ctx.upload_path(document_id).unlink(missing_ok=True)
    return bool(removed)
