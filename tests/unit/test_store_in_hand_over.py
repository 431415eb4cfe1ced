"""A document whose chunks fit one store batch is stored by embed's last commit, on the StubBroker."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import pytest
from dramatiq import Message, Worker
from sqlalchemy import text
from sqlmodel import Session, select

from pipeline.context import Context
from pipeline.messages import route_of
from pipeline.models import Chunk, Event, Stage, Status
from pipeline.stages import store
from tests.unit.test_embed_ahead import record_embeddings
from tests.unit.test_stages import add_document, rows, run

FULL_SEQUENCE = [("stage", "parse"), ("stage", "embed"), ("stage", "store"), ("completed", None)]


def record_steps(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The step of every message sent from now on."""
    steps: list[str] = []
    enqueue = ctx.broker.enqueue

    def recording(message: Message[Any], *, delay: int | None = None) -> Message[Any]:
        route = route_of(message.actor_name)
        steps.append(route.step.value if route else message.actor_name)
        return enqueue(message, delay=delay)

    monkeypatch.setattr(ctx.broker, "enqueue", recording)
    return steps


def stored(
    ctx: Context, monkeypatch: pytest.MonkeyPatch, fixture: str
) -> tuple[dict[str, Any], list[tuple[str, str | None]], list[str]]:
    """A document run through the chain and checked to be completed with every chunk stored: its
    rows, its events but progress, and the steps of the messages sent meanwhile."""
    steps = record_steps(ctx, monkeypatch)
    document_id = add_document(ctx, fixture)
    run(ctx, Stage.PARSE, document_id)
    found = rows(ctx, document_id)
    document = found["document"]
    assert document.status == Status.COMPLETED
    assert document.chunks_total == document.chunks_stored == len(found["chunks"]) > 0
    assert all(chunk["embedding"] and chunk["embedding_model"] for chunk in found["chunks"])
    with Session(ctx.engine) as session:
        events = list(session.scalars(select(Event).where(Event.document_id == document_id).order_by(Event.seq)))
    return found, [(e.name, e.data["stage"]) for e in events if e.name != "progress"], steps


def test_a_small_document_is_stored_by_embeds_last_commit_even_as_its_process_first(
    ctx: Context, worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No store message: SQLite has no vector index to make, so the process need not wait for a
    store message of its own (which the broker may give to another process every time)."""
    _, events, steps = stored(ctx, monkeypatch, "plain.pdf")
    assert "store" not in steps
    assert ctx.indexed_dimensions == {ctx.embedder.dimensions}
    assert events == FULL_SEQUENCE  # the store stage is still announced, then the completion


@pytest.mark.usefixtures("worker")
def test_a_document_with_more_chunks_than_a_store_batch_gets_its_store_message(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "STORE_BATCH", 3)
    found, events, steps = stored(ctx, monkeypatch, "thirty_pages.pdf")
    assert found["document"].chunks_total > 3
    assert steps.count("store") == 1
    assert events == FULL_SEQUENCE


def first_copy(monkeypatch: pytest.MonkeyPatch, change: Callable[[Any], Any]) -> None:
    """The first store statements built (those of embed's last commit) copy with ``change(copy)``."""
    real_statements, calls = store._statements, []

    def statements(*, fixed_dimensions: bool) -> Any:
        calls.append(fixed_dimensions)
        real = real_statements(fixed_dimensions=fixed_dimensions)
        return dataclasses.replace(real, copy=change(real.copy)) if len(calls) == 1 else real

    monkeypatch.setattr(store, "_statements", statements)


@pytest.mark.usefixtures("worker")
def test_a_copy_that_fails_at_the_hand_over_keeps_the_vectors_and_leaves_the_work_to_the_store_message(
    ctx: Context, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The savepoint undoes the copy alone: the vectors and the hand-over commit, no text is embedded
    twice, and no event of the failed attempt is written or published."""
    first_copy(monkeypatch, lambda _: text("UPDATE chunks SET no_such_column = 1"))
    published: list[dict[str, Any]] = []
    publish = ctx.publisher.publish
    monkeypatch.setattr(ctx.publisher, "publish", lambda events: (published.extend(events), publish(events)))
    embedder = record_embeddings(ctx)
    with caplog.at_level(logging.WARNING, logger=store.__name__):
        found, events, steps = stored(ctx, monkeypatch, "thirty_pages.pdf")
    assert "could not store document" in caplog.text
    assert steps.count("store") == 1
    assert len(embedder.texts) == len(set(embedder.texts)) == found["document"].chunks_total
    assert events == FULL_SEQUENCE
    assert [(e["name"], e["data"]["stage"]) for e in published if e["name"] != "progress"] == FULL_SEQUENCE


@pytest.mark.usefixtures("worker")
def test_a_chunk_left_without_its_vector_leaves_the_document_to_the_store_message(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As when the cache lost a vector between embed's read and its commit: the document is not
    completed with a chunk unstored, and the store message finds what is left to do."""
    first_copy(monkeypatch, lambda copy: copy.where(Chunk.index != 0))
    _, events, steps = stored(ctx, monkeypatch, "thirty_pages.pdf")
    assert steps.count("store") == 1
    assert events == FULL_SEQUENCE
