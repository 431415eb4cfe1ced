"""embed_ahead: a big document's opening pages embedded while the rest of it is still being read.

Chunks are cut at hand-over, once every page is read, so a big document's embedding used to start
only then, with no parsing left to overlap it. But chunks are windows over the document's words
counted from page 1: every full window within pages 1..N is a chunk the whole document will have.
So while many pages remain, parse sends this step for the pages it has stored from page 1 on, and
the embed that follows the hand-over finds those texts in the embedding cache. Each message asks
only for the windows that end past the pages the last one covered.

Best effort: it writes only to the cache, moves nothing on the document, is never retried, and
anything it leaves undone, embed does. A failure here is logged and dropped. While it runs it holds
a claim that embed waits on (``pipeline.stages.ahead_claims``), so a text is not paid for twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import bindparam, select

from pipeline.chunking import chunk_pages
from pipeline.metrics import CHUNKS_EMBEDDED
from pipeline.models import Document, Page, Stage, Status
from pipeline.stages.ahead_claims import AheadClaims
from pipeline.stages.embed import cache_row, cached_hashes, save_vectors
from pipeline.stages.run import StageRun

log = logging.getLogger(__name__)

_DOCUMENTS = Document.__table__  # type: ignore[attr-defined]
_PAGES = Page.__table__  # type: ignore[attr-defined]
_STILL_PARSING = select(_DOCUMENTS.c.id).where(
    _DOCUMENTS.c.id == bindparam("document_id"),
    _DOCUMENTS.c.status == Status.RUNNING,
    _DOCUMENTS.c.stage == Stage.PARSE,
)
_OPENING_TEXTS = (
    select(_PAGES.c.text)
    .where(_PAGES.c.document_id == bindparam("document_id"), _PAGES.c.number <= bindparam("last_page"))
    .order_by(_PAGES.c.number)
)


def run_embed_ahead(run: StageRun, last_page: int, covered_page: int = 0) -> None:
    """Embed the full chunks within pages ``1..last_page`` that end past ``covered_page`` (those
    ending earlier were an earlier message's) and that the cache lacks."""
    with AheadClaims.of(run.ctx, run.document_id).held():  # taken before the document is checked
        _embed_ahead(run, last_page, covered_page)


def _embed_ahead(run: StageRun, last_page: int, covered_page: int) -> None:
    ctx, settings, document_id = run.ctx, run.ctx.settings, run.document_id
    params = {"document_id": document_id, "last_page": last_page}
    with ctx.session() as session:
        if session.scalar(_STILL_PARSING, params) is None:
            return  # handed over (embed does it all now), canceled, or gone
        texts = [str(text) for text in session.scalars(_OPENING_TEXTS, params)]
        if len(texts) != last_page:
            return
        windows = chunk_pages(
            texts, size=settings.chunk_size, overlap=settings.chunk_overlap, ending_after=covered_page
        )
        # The last window may be cut short by the end of these pages; the full ones are final.
        full = {spec.text_sha256: spec.text for spec in windows if spec.token_count == settings.chunk_size}
        cached = cached_hashes(session, ctx.embedder, list(full))
    missing = [(text_hash, text) for text_hash, text in full.items() if text_hash not in cached]
    if not missing:
        return
    try:
        _embed(run, missing)
    except Exception as exc:
        log.warning("embedding ahead of document %s stopped (embed will do the rest): %s", document_id, exc)


def _embed(run: StageRun, items: list[tuple[str, str]]) -> None:
    ctx, embedder = run.ctx, run.ctx.embedder
    size = ctx.settings.embedding_batch_size
    batches = [items[start : start + size] for start in range(0, len(items), size)]

    rows: list[dict[str, object]] = []

    def take(batch: Sequence[tuple[str, str]], vectors: list[list[float]]) -> None:
        rows.extend(cache_row(embedder, h, v) for (h, _), v in zip(batch, vectors, strict=True))

    calls = ctx.provider.batches(batches, run.deadline)
    try:
        for batch, vectors in calls:
            take(batch, vectors)
    finally:
        for batch, vectors in calls.close():  # answered, not yet taken: paid for all the same
            take(batch, vectors)
        if rows:  # one write: the page commits of the parse still going on wait for the same lock
            with ctx.session() as session:
                save_vectors(session, rows)
            CHUNKS_EMBEDDED.inc(len(rows))
