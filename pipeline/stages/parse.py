"""parse: pypdf page by page into ``pages``, then chunks with their page ranges into ``chunks``.

``parse`` opens the file, checks it and counts its pages. A small document is read right there; a
big one is split into page ranges (``pipeline.stages.page_ranges``), each but the first sent as a
``parse_range`` message, so every free worker process takes a share and a failing range is retried
alone; ``parse`` reads the first with the file it already has open. Each batch of pages is
committed with the document's ``pages_parsed`` counter, so the ranges' progress adds up, and the
one commit that brings it to ``pages_total`` makes the chunks and hands on to embed. A document
read whole in one batch (most small ones) has its pages stored in the transaction that writes its
chunks and hands it over: one commit, where a separate one for the pages would add a write
transaction and a read of the pages back. While many pages remain unread, a range that extends the
document's opening pages (the one from page 1, or one that starts where the stored pages end)
sends ``embed_ahead`` for them, so that a big document's embedding overlaps its reading
(``pipeline.stages.embed_ahead``).

Pages already stored are not read again: a redelivered or retried message resumes where the last
attempt stopped.

The stage begins in parse's first write (``StageRun.write``), not before the file is opened: for a
document read whole, that is the commit that hands it over. A small document's opening read looks
at its status too, so a document canceled or deleted while queued stops before its first page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pypdf import PdfReader
from sqlalchemy import bindparam, delete, func, insert, select

from pipeline import lifecycle
from pipeline.chunking import ChunkSpec, chunk_pages
from pipeline.db import insert_ignoring_duplicates
from pipeline.errors import CorruptPdf, NoText, StopProcessing, TooManyPages
from pipeline.messages import Step
from pipeline.metrics import PAGES
from pipeline.models import Chunk, Page, Stage
from pipeline.pdf import decompression_limits, open_pdf, page_count, read_page
from pipeline.stages.pacing import Pacer
from pipeline.stages.page_ranges import other_workers, plan_ranges, splittable
from pipeline.stages.run import StageRun

#: A range that extends the document's opening pages sends ``embed_ahead`` each time it has read this
#: many more pages (and when it is done), while at least this many of the document's pages are still
#: unread: enough left to read for the early embedding to be done before the hand-over, and not so
#: often that each message re-reads and re-chunks the opening pages for little. It commits its pages
#: then, without waiting for the progress interval: a 300-page PDF is read in about half a second,
#: and one sent at the interval's first commit came too late to be of use (see tests/benchmarks/README.md).
EMBED_AHEAD_PAGES = 50
#: The document's page counters, recounted from the stored pages by the same statement that sets them.
PAGE_COUNTS = {
    "pages_parsed": lifecycle.reusable(
        select(func.count()).where(Page.document_id == lifecycle.DOCUMENT_ID).scalar_subquery()
    ),
    "pages_skipped": lifecycle.reusable(
        select(func.count())
        .where(Page.document_id == lifecycle.DOCUMENT_ID, Page.skipped_reason.is_not(None))  # type: ignore[union-attr]
        .scalar_subquery()
    ),
}

_PAGES = Page.__table__  # type: ignore[attr-defined]
#: The numbers of the pages stored already (a redelivered message resumes after them); built once,
#: as a fresh ORM query cost twice as much as the read.
_STORED = select(_PAGES.c.number).where(_PAGES.c.document_id == bindparam("document_id"))
_STORED_IN_RANGE = _STORED.where(_PAGES.c.number.between(bindparam("first"), bindparam("last")))
#: Pages stored before a range: all of them, and the range extends the document's opening pages.
_STORED_BEFORE = select(func.count()).where(
    _PAGES.c.document_id == bindparam("document_id"), _PAGES.c.number < bindparam("first")
)
_CHUNKS = Chunk.__table__  # type: ignore[attr-defined]
#: A retried hand-over replaces the chunks an earlier attempt wrote. Core statements built once: the
#: ORM's bulk paths cost as much again as the writes themselves for a small document's rows.
_DELETE_CHUNKS = delete(_CHUNKS).where(_CHUNKS.c.document_id == bindparam("document_id"))
_INSERT_CHUNKS = insert(_CHUNKS)


def run_parse(run: StageRun) -> None:
    ctx, settings = run.ctx, run.ctx.settings
    reader = _open(run)
    total = page_count(reader)
    if total == 0:
        raise CorruptPdf("the PDF has no pages")
    if total > settings.max_pages:
        raise TooManyPages(f"the PDF has {total} pages; this service takes at most {settings.max_pages}")

    big = splittable(total, settings.parse_range_pages)
    others = other_workers(ctx) if big else 0
    # A big document's transaction writes; a small one's only reads, and its stage begins with its
    # first write (``StageRun.write``).
    with run.write(Stage.PARSE) if big else ctx.session() as session:
        # The write lock first: parses deciding how to split decide one after the other (on SQLite;
        # on Postgres this locks only the row), each seeing the totals sent before it.
        held = lifecycle.hold(session, run.document_id) if big else None
        if not big and not lifecycle.is_active(session, run.document_id):
            raise StopProcessing(run.document_id)
        done = set(session.scalars(_STORED, {"document_id": run.document_id}))
        ranges = plan_ranges(session, held, total, done, most=settings.parse_range_pages, others=others)
        if big:
            # Ranges commit in any order: the total goes out before any of them. A big document
            # read in one range sends it too, so that parses deciding beside it see the work it
            # holds (and its progress has a total from the start).
            lifecycle.advance(session, run.document_id, pages_total=total, **PAGE_COUNTS)
    if not ranges:  # every page stored already: a redelivered message
        if not big:
            with run.write(Stage.PARSE) as session:
                lifecycle.advance(session, run.document_id, pages_total=total, **PAGE_COUNTS)
        _hand_over(run, _stored_pages(run))
        return
    # The other ranges go out first, to run beside this one; this one uses the file already open.
    for first, last in ranges[1:]:
        run.send(Step.PARSE_RANGE, first, last)
    first, last = ranges[0]
    _parse_pages(run, reader, first, last, done=done, total=total)


def run_parse_range(run: StageRun, first: int, last: int) -> None:
    _parse_pages(run, _open(run), first, last)


def _open(run: StageRun) -> PdfReader:
    path = run.ctx.upload_path(run.document_id)
    if not path.exists():
        with run.ctx.session() as session:  # deleted with its document since the message went out
            if not lifecycle.is_active(session, run.document_id):
                raise StopProcessing(run.document_id)
        raise CorruptPdf("the uploaded file is no longer on disk")
    with decompression_limits(run.ctx.settings.max_stream_bytes):  # the page tree may be compressed too
        return open_pdf(path)


def _parse_pages(
    run: StageRun, reader: PdfReader, first: int, last: int, *, done: set[int] | None = None, total: int | None = None
) -> None:
    """Read pages ``first..last`` not in ``done`` (the stored ones, looked up if not given); the call
    that completes the document hands it over to embed. ``total`` goes out with the first commit."""
    ctx, settings, document_id = run.ctx, run.ctx.settings, run.document_id
    opening_stored = first == 1
    if done is None:
        with ctx.session() as session:
            params = {"document_id": document_id, "first": first, "last": last}
            done = set(session.scalars(_STORED_IN_RANGE, params))
            opening_stored = session.scalar(_STORED_BEFORE, params) == first - 1
    todo = [number for number in range(first, last + 1) if number not in done]
    pacer = Pacer(settings.progress_interval_s)
    pending: list[dict[str, object]] = []
    # With every page before this range stored, every page up to the last one committed is stored:
    # the document's opening pages, which can be embedded ahead.
    sent_ahead = first - 1 if opening_stored else None
    pages_in_document = page_count(reader)
    with decompression_limits(settings.max_stream_bytes):
        for number in todo:
            run.deadline.check()
            page = read_page(reader, number, settings.page_time_limit_s)
            pending.append(
                {"document_id": document_id, "number": number, "text": page.text, "skipped_reason": page.skipped}
            )
            if number == todo[-1] and len(pending) == total:  # the whole document in one batch
                _hand_over(run, pending, store=True)
                _count_pages(pending)
                return
            ahead_due = sent_ahead is not None and _worth_embedding_ahead(
                number - sent_ahead, pages_in_document - number, range_done=False
            )
            if number == todo[-1] or pacer.due() or ahead_due:
                unread = _commit_pages(run, pending, total)
                if unread is None:
                    _hand_over(run, _stored_pages(run))
                    return
                if sent_ahead is not None and _worth_embedding_ahead(
                    number - sent_ahead, unread, range_done=number == todo[-1]
                ):
                    run.send(Step.EMBED_AHEAD, number, sent_ahead)
                    sent_ahead = number
                pending, total = [], None


def _worth_embedding_ahead(new_pages: int, unread: int, *, range_done: bool) -> bool:
    """Enough of the document left to read, and enough newly read: a step's worth, or whatever this
    message read since it last sent, once it has read its whole range."""
    return unread >= EMBED_AHEAD_PAGES and (new_pages >= EMBED_AHEAD_PAGES or (range_done and new_pages > 0))


def _commit_pages(run: StageRun, rows: list[dict[str, object]], total: int | None) -> int | None:
    """Store pages and recount in one transaction that holds the document's row, so exactly one
    commit, whichever range makes it, sees the count reach the total: that one gets ``None``, the
    others how many of the document's pages are still unread."""
    document_id = run.document_id
    with run.write(Stage.PARSE) as session:
        before = lifecycle.hold(session, document_id).pages_parsed
        insert_ignoring_duplicates(session, Page, rows)
        after = lifecycle.advance(session, document_id, **PAGE_COUNTS, **({"pages_total": total} if total else {}))
    _count_pages(rows)
    if before < after.pages_total <= after.pages_parsed:
        return None
    return max(after.pages_total - after.pages_parsed, 0)


def _count_pages(rows: list[dict[str, object]]) -> None:
    skipped = _skipped(rows)
    PAGES.labels("read").inc(len(rows) - skipped)
    PAGES.labels("skipped").inc(skipped)


def _skipped(rows: Sequence[Mapping[str, object]]) -> int:
    return sum(1 for row in rows if row["skipped_reason"])


def _stored_pages(run: StageRun) -> list[Mapping[str, object]]:
    with run.ctx.session() as session:
        query = select(Page.text, Page.skipped_reason).where(Page.document_id == run.document_id).order_by(Page.number)  # type: ignore[arg-type]
        return [row._mapping for row in session.execute(query)]


def _hand_over(run: StageRun, pages: Sequence[Mapping[str, object]], *, store: bool = False) -> None:
    """Chunk every page of the document, then write the chunks and their counters in one short
    transaction that also hands the document over to embed (and stores ``pages`` first when
    ``store``), and send embed its message. The pages are chunked before the write lock is taken,
    not while holding it."""
    settings, document_id = run.ctx.settings, run.document_id
    unstored = pages if store else []
    page_counters = (
        {"pages_total": len(pages), "pages_parsed": len(pages), "pages_skipped": _skipped(pages)} if store else {}
    )
    texts = [str(page["text"]) for page in pages]
    skipped = [str(page["skipped_reason"]) for page in pages if page["skipped_reason"]]
    if pages and len(skipped) == len(pages):
        _record(run, unstored, page_counters)
        raise CorruptPdf(f"none of the {len(pages)} pages could be read; the first: {skipped[0]}")
    without_text = sum(1 for text in texts if not text or text.isspace())
    if without_text == len(texts):
        _record(run, unstored, {**page_counters, "pages_without_text": without_text})
        raise NoText(f"none of the {len(texts)} pages has extractable text; it is probably a scan")
    specs = chunk_pages(texts, size=settings.chunk_size, overlap=settings.chunk_overlap)
    chunk_rows = [_chunk_row(document_id, spec) for spec in specs]  # never empty
    with run.write(Stage.PARSE) as session:
        handed_over = lifecycle.hand_over(
            session,
            document_id,
            Stage.EMBED,
            **page_counters,
            pages_without_text=without_text,
            chunks_total=len(specs),
            chunks_embedded=0,
            chunks_stored=0,
        )
        if handed_over is None:
            raise StopProcessing(document_id)
        insert_ignoring_duplicates(session, Page, [dict(page) for page in unstored])
        connection = session.connection()
        connection.execute(_DELETE_CHUNKS, {"document_id": document_id})
        connection.execute(_INSERT_CHUNKS, chunk_rows)
    run.send(Step.EMBED, handed_over=True)


def _record(run: StageRun, pages: Sequence[Mapping[str, object]], counters: Mapping[str, int]) -> None:
    """The pages and counters a failing document is reported with."""
    if counters:
        with run.write(Stage.PARSE) as session:
            lifecycle.advance(session, run.document_id, **counters)
            insert_ignoring_duplicates(session, Page, [dict(page) for page in pages])


def _chunk_row(document_id: str, spec: ChunkSpec) -> dict[str, object]:
    return {
        "document_id": document_id,
        "index": spec.index,
        "page_start": spec.page_start,
        "page_end": spec.page_end,
        "text": spec.text,
        "token_count": spec.token_count,
        "text_sha256": spec.text_sha256,
    }
