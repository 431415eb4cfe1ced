"""embed: vectors for every chunk text not yet in the embedding cache, in batches.

Vectors go to the ``embeddings`` table keyed by (model, dimensions, text hash) and never travel in
messages; a retried or redelivered message only embeds what is still missing. An ``embed_ahead``
step still running for the document is waited for first: its texts would be missing too. A document
too short ever to have one (``EMBED_AHEAD_PAGES`` pages or fewer) skips that look, a round trip to
Redis on every small document's way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, select
from sqlmodel import Session

from pipeline import lifecycle
from pipeline.db import insert_ignoring_duplicates
from pipeline.embedders import Embedder
from pipeline.errors import StopProcessing
from pipeline.messages import Step
from pipeline.metrics import CHUNKS_EMBEDDED, CHUNKS_STORED, STAGE_SECONDS
from pipeline.models import CachedEmbedding, Chunk, Document, Stage
from pipeline.stages.ahead_claims import AheadClaims
from pipeline.stages.pacing import Pacer
from pipeline.stages.parse import EMBED_AHEAD_PAGES
from pipeline.stages.run import StageRun
from pipeline.stages.store import store_in_hand_over

log = logging.getLogger(__name__)

#: Keeps ``IN (...)`` lists well under every database's parameter limit.
LOOKUP_BATCH = 500

# Reads made by every embed message, built once (see ``pipeline.lifecycle``).
_CHUNKS = Chunk.__table__  # type: ignore[attr-defined]
_CACHE = CachedEmbedding.__table__  # type: ignore[attr-defined]
_DOCUMENTS = Document.__table__  # type: ignore[attr-defined]
_CHUNK_TEXTS = (
    select(_CHUNKS.c.text_sha256, _CHUNKS.c.text)
    .where(_CHUNKS.c.document_id == bindparam("document_id"))
    .order_by(_CHUNKS.c.index)
)
_COUNTS = select(_DOCUMENTS.c.chunks_embedded, _DOCUMENTS.c.pages_total).where(
    _DOCUMENTS.c.id == bindparam("document_id")
)
_CACHED = select(_CACHE.c.text_sha256).where(
    _CACHE.c.model == bindparam("model"), _CACHE.c.text_sha256.in_(bindparam("hashes", expanding=True))
)
_CACHED_OF_DIMENSIONS = _CACHED.where(_CACHE.c.dimensions == bindparam("dimensions"))


def run_embed(run: StageRun) -> None:
    ctx, document_id, deadline = run.ctx, run.document_id, run.deadline
    embedder = ctx.embedder
    with ctx.session() as session:
        hashes_and_texts = session.execute(_CHUNK_TEXTS, {"document_id": document_id}).all()
        counts = session.execute(_COUNTS, {"document_id": document_id}).first()
        reported, pages_total = counts if counts is not None else (None, 0)  # deleted: stopped below
        chunk_hashes = [row[0] for row in hashes_and_texts]
        ahead_steps_possible = pages_total > EMBED_AHEAD_PAGES
        cached = set() if ahead_steps_possible else cached_hashes(session, embedder, chunk_hashes)
    if ahead_steps_possible:  # the cache is read once no step embedding ahead is left
        AheadClaims.of(ctx, document_id).wait(deadline.check)
        with ctx.session() as session:
            cached = cached_hashes(session, embedder, chunk_hashes)
    missing = {h: t for h, t in hashes_and_texts if h not in cached}

    def embedded_count() -> int:
        return sum(1 for h in chunk_hashes if h in cached)

    if embedded_count() != reported:
        with ctx.session() as session:
            lifecycle.advance(session, document_id, chunks_embedded=embedded_count())

    pacer = Pacer(ctx.settings.progress_interval_s)
    pending: list[dict[str, Any]] = []
    handed_over = stored = False

    def keep_paid_vectors(*, announce: bool, last: bool = False) -> None:
        """Vectors are committed before anything else can fail, and a cancel cannot roll them back:
        the progress written beside them does not raise, and a stop is raised after the commit. The
        last batch's commit hands the document over to store, and stores it too when that is one
        statement (``store_in_hand_over``)."""
        nonlocal handed_over, stored
        storing_since = 0.0
        with ctx.session() as session:
            save_vectors(session, pending)
            cached.update(str(row["text_sha256"]) for row in pending)
            still_running = True
            if announce:
                counted = (
                    lifecycle.hand_over(session, document_id, Stage.STORE, chunks_embedded=embedded_count())
                    if last
                    else lifecycle.report_progress(session, document_id, chunks_embedded=embedded_count())
                )
                still_running = counted is not None
                handed_over = last and still_running
                storing_since = time.monotonic()
                stored = handed_over and store_in_hand_over(ctx, session, document_id, len(chunk_hashes))
        CHUNKS_EMBEDDED.inc(len(pending))
        if stored:  # counted as the store message would have
            CHUNKS_STORED.inc(len(chunk_hashes))
            STAGE_SECONDS.labels(Stage.STORE.value, "ok").observe(time.monotonic() - storing_since)
        pending.clear()
        if not still_running:
            raise StopProcessing(document_id)

    items = list(missing.items())
    size = ctx.settings.embedding_batch_size
    batches = [items[start : start + size] for start in range(0, len(items), size)]

    def take(batch: Sequence[tuple[str, str]], vectors: list[list[float]]) -> None:
        pending.extend(cache_row(embedder, h, vector) for (h, _), vector in zip(batch, vectors, strict=True))

    calls = ctx.provider.batches(batches, deadline)
    try:
        for number, (batch, vectors) in enumerate(calls, start=1):
            take(batch, vectors)
            if number == len(batches) or pacer.due():
                keep_paid_vectors(announce=True, last=number == len(batches))
    finally:
        for batch, vectors in calls.close():  # answered, not yet taken: paid for all the same
            take(batch, vectors)
        if pending:
            try:
                keep_paid_vectors(announce=False)
            except Exception as exc:  # the original failure matters more; these texts get embedded again
                log.warning("could not keep %d embedded vectors: %s", len(pending), exc)
    if not stored:
        run.send(Step.STORE, handed_over=handed_over)


def cached_hashes(session: Session, embedder: Embedder, hashes: Sequence[str]) -> set[str]:
    found: set[str] = set()
    unique = sorted(set(hashes))
    query = _CACHED_OF_DIMENSIONS if embedder.dimensions else _CACHED
    for start in range(0, len(unique), LOOKUP_BATCH):
        params = {
            "model": embedder.model,
            "dimensions": embedder.dimensions,
            "hashes": unique[start : start + LOOKUP_BATCH],
        }
        found.update(session.scalars(query, params))
    return found


def save_vectors(session: Session, rows: list[dict[str, Any]]) -> None:
    """Two documents may embed the same text at once: the first vector stays."""
    insert_ignoring_duplicates(session, CachedEmbedding, rows)


def cache_row(embedder: Embedder, text_hash: str, vector: list[float]) -> dict[str, Any]:
    return {
        "model": embedder.model,
        "dimensions": embedder.dimensions or len(vector),
        "text_sha256": text_hash,
        "vector": vector,
    }
