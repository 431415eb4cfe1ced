"""embed_ahead: a big document's opening pages embedded while the rest is read, on the StubBroker."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import pytest
from dramatiq import Message, Worker
from sqlalchemy import delete, update
from sqlmodel import Session, select

from pipeline import lifecycle
from pipeline.context import Context
from pipeline.embedders import Embedder
from pipeline.errors import EmbeddingUnavailable
from pipeline.messages import Priority, Route, Step
from pipeline.models import CachedEmbedding, Chunk, Document, Event, Stage, Status
from pipeline.stages import embed_ahead, parse
from pipeline.stages.embed_ahead import run_embed_ahead
from pipeline.stages.pacing import Deadline
from pipeline.stages.parse import run_parse, run_parse_range
from pipeline.stages.run import StageRun
from tests.unit.test_stages import add_document, run


class RecordingEmbedder:
    """The context's embedder, remembering every text it was asked for; or failing, when told to."""

    def __init__(self, inner: Embedder, failure: Exception | None = None) -> None:
        self.inner = inner
        self.model, self.dimensions = inner.model, inner.dimensions
        self.failure = failure
        self.texts: list[str] = []

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if self.failure is not None:
            raise self.failure
        self.texts.extend(texts)
        return self.inner.embed(texts)


def record_embeddings(ctx: Context, failure: Exception | None = None) -> RecordingEmbedder:
    current = ctx.embedder
    recording = RecordingEmbedder(current.inner if isinstance(current, RecordingEmbedder) else current, failure)
    ctx.__dict__["embedder"] = recording  # the cached property's slot
    return recording


def stage_run(ctx: Context, document_id: str) -> StageRun:
    return StageRun(ctx, document_id, "normal", Deadline("embed", 60))


def parsed_then_back_in_parse(ctx: Context) -> tuple[str, list[Chunk]]:
    """A completed 30-page document put back as if still being read, with an empty embedding cache;
    and the chunks the whole document has."""
    document_id = add_document(ctx, "thirty_pages.pdf")
    run(ctx, Stage.PARSE, document_id)
    with ctx.session() as session:
        chunks = list(session.scalars(select(Chunk).where(Chunk.document_id == document_id)))
        session.execute(delete(CachedEmbedding))
        session.execute(
            update(Document).where(Document.id == document_id).values(status=Status.RUNNING, stage=Stage.PARSE)  # type: ignore[arg-type]
        )
    return document_id, chunks


def snapshot(ctx: Context, document_id: str) -> dict[str, Any]:
    with Session(ctx.engine) as session:
        document = session.get(Document, document_id)
        assert document is not None
        events = len(list(session.scalars(select(Event).where(Event.document_id == document_id))))
        return {"document": document.model_dump(), "events": events}


def cached(ctx: Context) -> set[str]:
    with Session(ctx.engine) as session:
        return set(session.scalars(select(CachedEmbedding.text_sha256)))


def test_the_opening_pages_chunks_are_embedded_and_only_chunks_the_document_will_have(
    ctx: Context, worker: Worker
) -> None:
    document_id, chunks = parsed_then_back_in_parse(ctx)
    before = snapshot(ctx, document_id)
    recording = record_embeddings(ctx)

    run_embed_ahead(stage_run(ctx, document_id), 20)

    within_twenty = {c.text_sha256 for c in chunks if c.page_end <= 20}
    assert within_twenty
    assert within_twenty <= cached(ctx) <= {c.text_sha256 for c in chunks}
    assert len(recording.texts) == len(cached(ctx))
    assert snapshot(ctx, document_id) == before  # nothing moved on the document, no event


def test_what_is_cached_already_is_not_asked_for_again(ctx: Context, worker: Worker) -> None:
    document_id, _ = parsed_then_back_in_parse(ctx)
    first = record_embeddings(ctx)
    run_embed_ahead(stage_run(ctx, document_id), 10)
    second = record_embeddings(ctx)

    run_embed_ahead(stage_run(ctx, document_id), 20)

    assert first.texts
    assert second.texts
    assert not set(first.texts) & set(second.texts)
    assert len(cached(ctx)) == len(first.texts) + len(second.texts)


def test_only_the_chunks_ending_past_the_covered_pages_are_asked_for(ctx: Context, worker: Worker) -> None:
    """The earlier message covered them; the cache is not even asked."""
    document_id, chunks = parsed_then_back_in_parse(ctx)
    recording = record_embeddings(ctx)

    run_embed_ahead(stage_run(ctx, document_id), 20, 10)

    asked = {hashlib.sha256(text.encode()).hexdigest() for text in recording.texts}
    assert asked == {c.text_sha256 for c in chunks if 10 < c.page_end <= 20}
    assert asked == cached(ctx)


@pytest.mark.parametrize(("status", "stage"), [(Status.RUNNING, Stage.EMBED), (Status.CANCELED, Stage.PARSE)])
def test_a_document_no_longer_being_read_is_left_to_embed(
    ctx: Context, worker: Worker, status: Status, stage: Stage
) -> None:
    document_id, _ = parsed_then_back_in_parse(ctx)
    with ctx.session() as session:
        session.execute(update(Document).where(Document.id == document_id).values(status=status, stage=stage))  # type: ignore[arg-type]
    recording = record_embeddings(ctx)

    run_embed_ahead(stage_run(ctx, document_id), 20)

    assert recording.texts == []
    assert cached(ctx) == set()


def test_a_failing_provider_is_logged_and_leaves_the_document_alone(ctx: Context, worker: Worker) -> None:
    document_id, _ = parsed_then_back_in_parse(ctx)
    before = snapshot(ctx, document_id)
    record_embeddings(ctx, failure=EmbeddingUnavailable("the embedding server did not answer"))

    run_embed_ahead(stage_run(ctx, document_id), 20)  # no exception

    assert cached(ctx) == set()
    assert snapshot(ctx, document_id) == before


def test_a_message_that_fails_is_not_retried_and_does_not_fail_its_document(
    ctx: Context, worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    document_id, _ = parsed_then_back_in_parse(ctx)
    before = snapshot(ctx, document_id)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug in embed_ahead")

    monkeypatch.setattr(embed_ahead, "chunk_pages", broken)
    ctx.send(Step.EMBED_AHEAD, document_id, 20)
    queue = Route(Step.EMBED_AHEAD, Priority.NORMAL).queue_name(ctx.settings.queue_name)
    ctx.broker.join(queue, fail_fast=False)  # type: ignore[attr-defined]
    worker.join()

    assert snapshot(ctx, document_id) == before
    assert len(ctx.broker.dead_letters) == 1  # type: ignore[attr-defined]


def sent_ahead(ctx: Context) -> list[tuple[Any, ...]]:
    queue = Route(Step.EMBED_AHEAD, Priority.NORMAL).queue_name(ctx.settings.queue_name)
    messages = [Message.decode(data) for data in ctx.broker.queues[queue].queue]  # type: ignore[attr-defined]
    return [tuple(message.args) for message in messages if message.actor_name == Step.EMBED_AHEAD.value]


def test_parse_sends_embed_ahead_while_many_pages_remain(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every page is committed on its own here (no progress interval): with a step of 10 pages, the
    first 10 and the first 20 go ahead (the second says the first 10 are covered); after 20, fewer
    than 10 pages are left to read."""
    monkeypatch.setattr(parse, "EMBED_AHEAD_PAGES", 10)
    document_id = add_document(ctx, "thirty_pages.pdf")
    with ctx.session() as session:
        lifecycle.begin_stage(session, document_id, Stage.PARSE)

    run_parse(stage_run(ctx, document_id))

    assert sent_ahead(ctx) == [(document_id, 10, 0), (document_id, 20, 10)]


def test_embed_ahead_goes_out_at_its_step_without_waiting_for_the_progress_interval(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no progress write due, parse still commits its pages at each step and sends them ahead:
    one sent at the interval's first commit found a 300-page PDF already handed over."""
    monkeypatch.setattr(parse, "EMBED_AHEAD_PAGES", 10)
    monkeypatch.setattr(ctx.settings, "progress_interval_s", 3600)
    document_id = add_document(ctx, "thirty_pages.pdf")
    with ctx.session() as session:
        lifecycle.begin_stage(session, document_id, Stage.PARSE)

    run_parse(stage_run(ctx, document_id))

    assert sent_ahead(ctx) == [(document_id, 10, 0), (document_id, 20, 10)]


def test_a_later_range_continues_the_opening_pages_once_every_page_before_it_is_stored(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parse, "EMBED_AHEAD_PAGES", 5)
    document_id = add_document(ctx, "thirty_pages.pdf")
    with ctx.session() as session:
        lifecycle.begin_stage(session, document_id, Stage.PARSE)
        lifecycle.advance(session, document_id, pages_total=30)  # as parse writes it before sending ranges

    run_parse_range(stage_run(ctx, document_id), 21, 30)  # pages 1-20 are not there yet
    assert sent_ahead(ctx) == []
    run_parse_range(stage_run(ctx, document_id), 1, 10)
    assert sent_ahead(ctx) == [(document_id, 5, 0), (document_id, 10, 5)]
    run_parse_range(stage_run(ctx, document_id), 11, 20)  # 5 pages left after page 15; none after 20
    assert sent_ahead(ctx)[2:] == [(document_id, 15, 10)]


def test_parse_sends_nothing_ahead_for_a_document_read_in_no_time(ctx: Context) -> None:
    document_id = add_document(ctx, "thirty_pages.pdf")
    with ctx.session() as session:
        lifecycle.begin_stage(session, document_id, Stage.PARSE)

    run_parse(stage_run(ctx, document_id))

    assert sent_ahead(ctx) == []


def test_a_document_embedded_ahead_ends_as_one_that_was_not(
    ctx: Context, worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = add_document(ctx, "thirty_pages.pdf")
    run(ctx, Stage.PARSE, plain)
    with ctx.session() as session:
        session.execute(delete(CachedEmbedding))
        # The same file again, as another document (a document's content hash is unique).
        session.execute(update(Document).where(Document.id == plain).values(sha256="the first upload"))  # type: ignore[arg-type]
    monkeypatch.setattr(parse, "EMBED_AHEAD_PAGES", 10)
    ahead = add_document(ctx, "thirty_pages.pdf")

    run(ctx, Stage.PARSE, ahead)

    def outcome(document_id: str) -> tuple[Any, ...]:
        with Session(ctx.engine) as session:
            document = session.get(Document, document_id)
            assert document is not None
            chunks = session.scalars(select(Chunk).where(Chunk.document_id == document_id).order_by(Chunk.index))
            stages = session.scalars(
                select(Event.data).where(Event.document_id == document_id, Event.name == "stage").order_by(Event.seq)
            )
            return (
                document.status,
                document.chunks_embedded,
                document.chunks_stored,
                [(c.text_sha256, c.embedding) for c in chunks],
                [data["stage"] for data in stages],
            )

    assert outcome(ahead) == outcome(plain)
    assert outcome(ahead)[0] == Status.COMPLETED


def test_a_worker_runs_embed_ahead_before_the_other_messages_it_has_fetched() -> None:
    """It is of use only while its document is still being read; behind a worker's fetched embed
    messages it found the document handed over."""
    for priority in Priority:
        steps = (Step.EMBED_AHEAD, Step.EMBED, Step.STORE, Step.PARSE)
        ahead, embed, store, parse_ = (Route(step, priority).actor_priority for step in steps)
        assert ahead < embed == store < parse_
    assert Route(Step.PARSE, Priority.HIGH).actor_priority < Route(Step.EMBED_AHEAD, Priority.NORMAL).actor_priority
