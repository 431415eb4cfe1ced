"""parse: pypdf page by page into ``pages``, then chunks with their page ranges into ``chunks``.

Pages already stored are not read again, so a redelivered or retried message resumes where the
last attempt stopped.
"""

from __future__ import annotations

from sqlalchemy import delete, select

from pipeline import lifecycle
from pipeline.chunking import chunk_pages
from pipeline.context import Context
from pipeline.errors import CorruptPdf, NoText
from pipeline.models import Chunk, Page, Stage
from pipeline.pdf import extract_page_text, open_pdf, page_count
from pipeline.stages.pacing import Deadline, Pacer


def run_parse(ctx: Context, document_id: str, deadline: Deadline) -> None:
    path = ctx.upload_path(document_id)
    if not path.exists():
        raise CorruptPdf("the uploaded file is no longer on disk")
    reader = open_pdf(path)
    total = page_count(reader)
    if total == 0:
        raise CorruptPdf("the PDF has no pages")

    with ctx.session() as session:
        done = set(session.scalars(select(Page.number).where(Page.document_id == document_id)))
    with ctx.session() as session:
        lifecycle.advance(session, document_id, pages_total=total, pages_parsed=len(done))

    pacer = Pacer(ctx.settings.progress_interval_s)
    pending: list[Page] = []
    parsed = len(done)
    unreadable = 0
    for index in range(total):
        if index + 1 in done:
            continue
        deadline.check()
        text = extract_page_text(reader, index)
        if text is None:
            unreadable += 1
        pending.append(Page(document_id=document_id, number=index + 1, text=text or ""))
        parsed += 1
        if parsed == total or pacer.due():
            with ctx.session() as session:
                lifecycle.advance(session, document_id, pages_parsed=parsed)
                session.add_all(pending)
            pending = []

    if unreadable and unreadable == total - len(done):
        raise CorruptPdf(f"pypdf could not read any of the {unreadable} pages")
    _write_chunks(ctx, document_id, total)
    ctx.send(Stage.EMBED, document_id)


def _write_chunks(ctx: Context, document_id: str, total: int) -> None:
    settings = ctx.settings
    with ctx.session() as session:
        texts = list(session.scalars(select(Page.text).where(Page.document_id == document_id).order_by(Page.number)))
        without_text = sum(1 for text in texts if not text.split())
    if without_text == len(texts):
        with ctx.session() as session:  # reported on the failed document too
            lifecycle.advance(session, document_id, pages_without_text=without_text)
        raise NoText(f"none of the {total} pages has extractable text; it is probably a scan")
    specs = chunk_pages(texts, size=settings.chunk_size, overlap=settings.chunk_overlap)
    with ctx.session() as session:
        lifecycle.advance(
            session,
            document_id,
            pages_without_text=without_text,
            chunks_total=len(specs),
            chunks_embedded=0,
            chunks_stored=0,
        )
        session.execute(delete(Chunk).where(Chunk.document_id == document_id))  # type: ignore[arg-type]
        session.add_all(
            Chunk(
                document_id=document_id,
                index=spec.index,
                page_start=spec.page_start,
                page_end=spec.page_end,
                text=spec.text,
                token_count=spec.token_count,
                text_sha256=spec.text_sha256,
            )
            for spec in specs
        )
