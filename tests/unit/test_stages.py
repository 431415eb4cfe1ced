"""The stage chain in-process on dramatiq's StubBroker: idempotency and quiet stops."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from dramatiq import Worker
from sqlalchemy import delete, update
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from pipeline import lifecycle
from pipeline.broker import build_broker, build_context
from pipeline.context import Context
from pipeline.errors import StageNotStarted, StopProcessing
from pipeline.messages import queue_names
from pipeline.models import CachedEmbedding, Chunk, Document, Event, Page, Stage, Status
from pipeline.models.types import utcnow
from pipeline.schema import upgrade as upgrade_schema
from pipeline.settings import Settings
from pipeline.stages.embed import run_embed
from pipeline.stages.pacing import Deadline
from pipeline.stages.run import StageRun
from tests.conftest import FIXTURES


def add_document(ctx: Context, fixture: str) -> str:
    document = Document(filename=fixture, sha256=fixture, size_bytes=1)
    ctx.upload_path(document.id).parent.mkdir(parents=True, exist_ok=True)
    ctx.upload_path(document.id).write_bytes((FIXTURES / fixture).read_bytes())
    with ctx.session() as session:
        session.add(document)
    return document.id


def run(ctx: Context, stage: Stage, document_id: str) -> None:
    ctx.send(stage, document_id)
    while any(ctx.broker.queues[name].unfinished_tasks for name in queue_names(ctx.settings.queue_name)):  # type: ignore[attr-defined]
        for name in queue_names(ctx.settings.queue_name):
            ctx.broker.join(name, fail_fast=True)  # type: ignore[attr-defined]


def rows(ctx: Context, document_id: str) -> dict[str, Any]:
    with Session(ctx.engine) as session:
        chunks = session.scalars(select(Chunk).where(Chunk.document_id == document_id).order_by(Chunk.index))
        return {
            "chunks": [c.model_dump() for c in chunks],
            "pages": [p.model_dump() for p in session.scalars(select(Page).where(Page.document_id == document_id))],
            "cache": len(list(session.scalars(select(CachedEmbedding)))),
            "document": session.get(Document, document_id),
        }


def set_running(ctx: Context, document_id: str) -> None:
    with ctx.session() as session:
        session.execute(update(Document).where(Document.id == document_id).values(status=Status.RUNNING))


def test_chain_completes_and_redelivered_messages_leave_the_same_rows(ctx: Context, worker: Worker) -> None:
    document_id = add_document(ctx, "thirty_pages.pdf")
    run(ctx, Stage.PARSE, document_id)
    before = rows(ctx, document_id)
    assert before["document"].status == Status.COMPLETED
    assert len(before["pages"]) == 30
    assert before["chunks"]
    assert all(c["embedding"] is not None for c in before["chunks"])

    for stage in (Stage.STORE, Stage.EMBED, Stage.PARSE):
        set_running(ctx, document_id)
        run(ctx, stage, document_id)
        after = rows(ctx, document_id)
        assert after["document"].status == Status.COMPLETED, stage
        assert after["chunks"] == before["chunks"], stage
        assert after["pages"] == before["pages"], stage
        assert after["cache"] == before["cache"], stage


def test_a_message_for_a_finished_or_deleted_document_is_skipped(ctx: Context, worker: Worker) -> None:
    document_id = add_document(ctx, "plain.pdf")
    run(ctx, Stage.PARSE, document_id)
    with Session(ctx.engine) as session:
        events_before = len(list(session.scalars(select(Event).where(Event.document_id == document_id))))
    run(ctx, Stage.PARSE, document_id)
    run(ctx, Stage.PARSE, "no-such-document")
    with Session(ctx.engine) as session:
        events_after = len(list(session.scalars(select(Event).where(Event.document_id == document_id))))
    assert events_after == events_before


def test_progress_on_a_deleted_document_stops_the_stage(ctx: Context) -> None:
    document_id = add_document(ctx, "plain.pdf")
    set_running(ctx, document_id)
    with ctx.session() as session:
        lifecycle.advance(session, document_id, pages_parsed=1)
    with ctx.session() as session:
        session.delete(session.get(Document, document_id))
    with pytest.raises(StopProcessing), ctx.session() as session:
        lifecycle.advance(session, document_id, pages_parsed=2)


def test_embed_handed_a_deleted_document_stops(ctx: Context) -> None:
    """Handed-over messages start with no read of the document: embed meets the deletion itself."""
    with pytest.raises(StopProcessing):
        run_embed(StageRun(ctx, "no-such-document", "normal", Deadline("embed", 60)))


def test_events_number_from_one_and_carry_the_counters(ctx: Context, worker: Worker) -> None:
    document_id = add_document(ctx, "multipage.pdf")
    run(ctx, Stage.PARSE, document_id)
    with Session(ctx.engine) as session:
        events = list(session.scalars(select(Event).where(Event.document_id == document_id).order_by(Event.seq)))
        document = session.get(Document, document_id)
    assert document is not None
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[-1].seq == document.last_event_id
    assert [e.data["stage"] for e in events if e.name == "stage"] == ["parse", "embed", "store"]
    assert events[-1].name == "completed"
    progress = [e.data["progress"] for e in events]
    assert progress == sorted(progress)
    for event in events:
        assert {"document_id", "status", "stage", "progress", "pages_parsed", "chunks_stored", "at"} <= set(event.data)
        assert event.data["at"].endswith("Z")
        assert event.data["last_event_id"] == event.seq
    assert [e.data["at"] for e in events] == sorted(e.data["at"] for e in events)


def test_embed_and_store_begin_without_a_write_of_their_own(
    ctx: Context, worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each stage's last commit hands the document over to the next, and its message says so: the
    next stage neither writes nor reads to begin. A message sent otherwise (the first, a retry, a
    recovery) checks, and marks the document itself when it was not handed over."""
    begun: list[Stage] = []
    checked: list[Stage] = []

    def spy(calls: list[Stage], real: Any) -> Any:
        def call(session: Session, document_id: str, stage: Stage, **options: Any) -> Any:
            calls.append(stage)
            return real(session, document_id, stage, **options)

        return call

    monkeypatch.setattr(lifecycle, "begin_stage", spy(begun, lifecycle.begin_stage))
    monkeypatch.setattr(lifecycle, "handed_over", spy(checked, lifecycle.handed_over))
    document_id = add_document(ctx, "multipage.pdf")
    run(ctx, Stage.PARSE, document_id)
    assert rows(ctx, document_id)["document"].status == Status.COMPLETED
    assert (begun, checked) == ([Stage.PARSE], [])
    with ctx.session() as session:  # as after a failed attempt: the stage marks the document again
        session.execute(update(Document).where(Document.id == document_id).values(status=Status.QUEUED))
    run(ctx, Stage.STORE, document_id)
    assert (begun, checked) == ([Stage.PARSE, Stage.STORE], [Stage.STORE])
    assert rows(ctx, document_id)["document"].status == Status.COMPLETED


def test_a_document_that_cannot_be_marked_running_fails_instead_of_staying_queued(
    ctx: Context, worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise ValueError("mapper not ready")

    document_id = add_document(ctx, "plain.pdf")
    run(ctx, Stage.PARSE, document_id)
    with ctx.session() as session:  # as after a failed attempt at store
        session.execute(update(Document).where(Document.id == document_id).values(status=Status.QUEUED))
    monkeypatch.setattr(lifecycle, "begin_stage", broken)
    with pytest.raises(StageNotStarted):  # the message fails like a stage's; the actor never ran
        run(ctx, Stage.STORE, document_id)
    document = rows(ctx, document_id)["document"]
    assert (document.status, document.error_type) == (Status.FAILED, "internal_error")
    assert "mapper not ready" in document.error_message


def events_of(ctx: Context, document_id: str) -> list[Event]:
    with Session(ctx.engine) as session:
        return list(session.scalars(select(Event).where(Event.document_id == document_id).order_by(Event.seq)))


def test_a_small_documents_parse_begins_in_the_commit_that_hands_it_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read in one batch, a document's parse writes once: the stage's beginning, dated when the
    message started, goes in with the hand-over, where a transaction of its own used to come first."""
    sessions: dict[str, Session] = {}

    def spy(name: str, real: Any) -> Any:
        def call(session: Session, *args: Any, **kwargs: Any) -> Any:
            sessions.setdefault(name, session)
            return real(session, *args, **kwargs)

        return call

    monkeypatch.setattr(lifecycle, "begin_stage", spy("begin", lifecycle.begin_stage))
    monkeypatch.setattr(lifecycle, "hand_over", spy("hand_over", lifecycle.hand_over))
    with own_context(tmp_path, progress_interval_s=3600.0) as ctx:
        document_id = add_document(ctx, "multipage.pdf")
        sent_at = utcnow()
        run(ctx, Stage.PARSE, document_id)
        document = rows(ctx, document_id)["document"]
        events = events_of(ctx, document_id)
    assert document.status == Status.COMPLETED
    assert sessions["begin"] is sessions["hand_over"]
    begun, handed_over = events[0], events[1]
    assert [(e.name, e.data["status"], e.data["stage"]) for e in (begun, handed_over)] == [
        ("stage", "running", "parse"), ("stage", "running", "embed"),
    ]  # fmt: skip
    assert sent_at <= document.started_at == begun.at <= handed_over.at


@pytest.mark.parametrize(
    ("error", "last_event"),
    [
        (ValueError("mapper not ready"), "failed"),
        (OperationalError("UPDATE documents", {}, sqlite3.OperationalError("database is locked")), "retrying"),
    ],
)
def test_a_parse_whose_first_write_fails_shows_the_document_running_not_queued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception, last_event: str
) -> None:
    """Its stage was to begin with that write: the failure, or the retry, is reported with it."""
    real, calls = lifecycle.hand_over, []

    def broken_once(*args: Any, **kwargs: Any) -> Document | None:
        calls.append(args[2])
        if len(calls) == 1:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(lifecycle, "hand_over", broken_once)
    with own_context(tmp_path, progress_interval_s=3600.0, retry_min_backoff_s=60) as ctx:
        document_id = add_document(ctx, "plain.pdf")
        ctx.send(Stage.PARSE, document_id)
        deadline = time.monotonic() + 10
        while not (events := events_of(ctx, document_id)) or events[-1].name != last_event:
            assert time.monotonic() < deadline, [e.name for e in events]
            time.sleep(0.01)
        document = rows(ctx, document_id)["document"]
    assert [(e.name, e.data["stage"]) for e in events] == [("stage", "parse"), (last_event, "parse")]
    retried = last_event == "retrying"
    expected = (Status.RUNNING, 1) if retried else (Status.FAILED, 0)
    assert (document.status, document.attempts) == expected
    assert document.stage == Stage.PARSE
    reason = events[-1].data["retry_reason"]["message"] if retried else document.error_message
    assert str(error.orig if retried else error) in reason  # type: ignore[attr-defined]


@contextmanager
def own_context(tmp_path: Path, **settings: Any) -> Iterator[Context]:
    """A context and a running worker on settings of the test's own."""
    chosen = Settings(data_dir=tmp_path / "data", **settings)
    ctx = build_context(chosen, broker=build_broker(chosen, stub=True))
    upgrade_schema(ctx.engine)
    running = Worker(ctx.broker, worker_timeout=50, worker_threads=1)
    running.start()
    try:
        yield ctx
    finally:
        running.stop()
        ctx.broker.close()
        ctx.engine.dispose()


def test_a_database_error_while_marking_it_running_is_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real, calls = lifecycle.begin_stage, []

    def flaky(*args: Any, **kwargs: Any) -> Document | None:
        calls.append(args[2])
        if len(calls) == 1:
            raise OperationalError("UPDATE documents", {}, sqlite3.OperationalError("database is locked"))
        return real(*args, **kwargs)

    monkeypatch.setattr(lifecycle, "begin_stage", flaky)
    with own_context(tmp_path, progress_interval_s=0, retry_min_backoff_s=0.01) as ctx:
        document_id = add_document(ctx, "plain.pdf")
        run(ctx, Stage.PARSE, document_id)
        document = rows(ctx, document_id)["document"]
    assert document.status == Status.COMPLETED
    assert calls[:2] == [Stage.PARSE, Stage.PARSE]


@pytest.mark.parametrize(("progress_interval_s", "one_batch"), [(3600.0, True), (0.0, False)])
def test_a_document_read_in_one_batch_is_handed_over_with_its_pages_in_one_commit(
    tmp_path: Path, progress_interval_s: float, one_batch: bool
) -> None:
    """Read in one batch, the pages go in with the chunks: one event per stage and the completion.
    Read in several (a progress write after each page here), each batch makes a progress event."""
    with own_context(tmp_path, progress_interval_s=progress_interval_s) as ctx:
        document_id = add_document(ctx, "thirty_pages.pdf")
        run(ctx, Stage.PARSE, document_id)
        found = rows(ctx, document_id)
        with Session(ctx.engine) as session:
            events = list(session.scalars(select(Event).where(Event.document_id == document_id).order_by(Event.seq)))
    document = found["document"]
    assert document.status == Status.COMPLETED
    assert sorted(page["number"] for page in found["pages"]) == list(range(1, 31))
    assert (document.pages_total, document.pages_parsed, document.pages_skipped) == (30, 30, 0)
    assert len(found["chunks"]) == document.chunks_total == document.chunks_stored > 0
    parse_progress = [e for e in events if e.name == "progress" and e.data["stage"] == "parse"]
    embed = next(e for e in events if e.name == "stage" and e.data["stage"] == "embed")
    assert embed.data["pages_parsed"] == 30
    if one_batch:
        assert [(e.name, e.data["stage"]) for e in events] == [
            ("stage", "parse"), ("stage", "embed"), ("stage", "store"), ("completed", None),
        ]  # fmt: skip
    else:
        assert [e.data["pages_parsed"] for e in parse_progress] == list(range(1, 31))


def test_store_sends_back_to_embed_what_the_cache_no_longer_has(ctx: Context, worker: Worker) -> None:
    document_id = add_document(ctx, "multipage.pdf")
    run(ctx, Stage.PARSE, document_id)
    before = rows(ctx, document_id)
    with ctx.session() as session:  # the cache pruned, and the chunks back to carrying no vector
        session.execute(delete(CachedEmbedding))
        session.execute(update(Chunk).where(Chunk.document_id == document_id).values(embedding_model=None))
    set_running(ctx, document_id)
    run(ctx, Stage.STORE, document_id)
    after = rows(ctx, document_id)
    assert after["document"].status == Status.COMPLETED
    assert after["cache"] == before["cache"], "embedded again"
    assert after["chunks"] == before["chunks"]
