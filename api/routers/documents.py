"""/documents: upload, list, read, chunks, delete."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import and_, or_, select

from api import control
from api.auth import require_api_key
from api.deps import ContextDep, SessionDep
from api.errors import APIError, not_found
from api.ingest import ingest, validate
from api.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor
from api.schemas import chunk_out, document_out
from api.uploads import receive_form
from pipeline.messages import Priority
from pipeline.models import Chunk, Document, Status
from pipeline.purge import purge_document

router = APIRouter(prefix="/documents", tags=["documents"], dependencies=[Depends(require_api_key)])

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


@router.post("", status_code=202)
async def upload_documents(request: Request, ctx: ContextDep, reprocess: bool = False) -> JSONResponse:
    """Multipart ``file`` (one document back) or several ``files`` (``{"documents": [...]}``), and an
    optional ``password`` field for encrypted PDFs and ``priority`` (high, normal or low)."""
    settings = ctx.settings
    if request.app.state.upload_limit is not None:
        await run_in_threadpool(request.app.state.upload_limit.check, request)
    form = await receive_form(
        request,
        incoming_dir=settings.incoming_dir,
        max_file_bytes=settings.max_upload_bytes,
        max_files=settings.max_files_per_upload,
    )
    try:
        if not form.files:
            raise APIError(422, "missing_file", "no file found: send it as a multipart part named 'file'")
        for received in form.files:
            validate(received)
        password = form.fields.get("password") or None
        priority = _priority(form.fields.get("priority"))
        # One hop to a worker thread for all the files, not one each.
        results = await run_in_threadpool(
            lambda: [
                ingest(ctx, received, reprocess=reprocess, password=password, priority=priority)
                for received in form.files
            ]
        )
    finally:
        form.discard()

    status = 202 if any(result.created for result in results) else 200
    documents = [document_out(result.document, request) for result in results]
    single = len(results) == 1 and form.files[0].field == "file"
    body: dict[str, Any] = documents[0] if single else {"documents": documents}
    return JSONResponse(body, status_code=status, headers={"Location": documents[0]["links"]["self"]})


@router.get("")
def list_documents(
    request: Request,
    session: SessionDep,
    status: Status | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Newest first."""
    query = select(Document).order_by(Document.created_at.desc(), Document.id.desc())  # type: ignore[attr-defined]
    if status is not None:
        query = query.where(Document.status == status)
    if cursor:
        created, last_id = decode_cursor(cursor, 2)
        try:
            created_at = datetime.fromisoformat(created)
        except (TypeError, ValueError) as exc:
            raise APIError(422, "invalid_cursor", "the cursor is not one this API issued") from exc
        query = query.where(
            or_(
                Document.created_at < created_at,
                and_(Document.created_at == created_at, Document.id < last_id),
            )
        )
    rows = list(session.scalars(query.limit(limit + 1)))
    page, more = rows[:limit], len(rows) > limit
    next_cursor = encode_cursor(page[-1].created_at.isoformat(), page[-1].id) if more else None
    return {"items": [document_out(d, request) for d in page], "next_cursor": next_cursor}


@router.get("/{document_id}")
def get_document(document_id: str, request: Request, session: SessionDep) -> dict[str, Any]:
    return document_out(_find(session, document_id), request)


@router.get("/{document_id}/chunks")
def list_chunks(
    document_id: str,
    session: SessionDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: str | None = None,
    include: str | None = Query(default=None, description="'embedding' to add the vectors"),
) -> dict[str, Any]:
    _find(session, document_id)
    included = {part.strip() for part in (include or "").split(",") if part.strip()}
    if included - {"embedding"}:
        raise APIError(422, "invalid_request", "include accepts only 'embedding'")
    query = select(Chunk).where(Chunk.document_id == document_id).order_by(Chunk.index)  # type: ignore[arg-type]
    if cursor:
        (after,) = decode_cursor(cursor, 1)
        if not isinstance(after, int):
            raise APIError(422, "invalid_cursor", "the cursor is not one this API issued")
        query = query.where(Chunk.index > after)
    rows = list(session.scalars(query.limit(limit + 1)))
    page, more = rows[:limit], len(rows) > limit
    return {
        "items": [chunk_out(c, with_embedding="embedding" in included) for c in page],
        "next_cursor": encode_cursor(page[-1].index) if more else None,
    }


@router.post("/{document_id}/cancel")
async def cancel_document(document_id: str, request: Request, ctx: ContextDep) -> dict[str, Any]:
    """A queued document is canceled at once; a running one stops at its next page or batch."""
    return document_out(await run_in_threadpool(control.cancel, ctx, document_id), request)


@router.post("/{document_id}/retry", status_code=202)
async def retry_document(document_id: str, request: Request, ctx: ContextDep) -> dict[str, Any]:
    """A failed or canceled document runs again from the stage that failed, reusing finished work."""
    return document_out(await run_in_threadpool(control.retry, ctx, document_id), request)


@router.delete("/{document_id}", status_code=204)
async def delete_document(document_id: str, ctx: ContextDep) -> Response:
    if not await run_in_threadpool(purge_document, ctx, document_id):
        raise not_found("document", document_id)
    return Response(status_code=204)


def _priority(value: str | None) -> Priority:
    try:
        return Priority(value or Priority.NORMAL)
    except ValueError:
        raise APIError(422, "invalid_priority", f"priority must be high, normal or low, not {value!r}") from None


def _find(session: SessionDep, document_id: str) -> Document:
    document = session.get(Document, document_id)
    if document is None:
        raise not_found("document", document_id)
    return document
