"""How parse splits a big document: a range for this worker process and one for each other process
free to take one, on the StubBroker (the live processes are made up; the database is real)."""

from __future__ import annotations

from typing import Any

import pytest
from dramatiq import Message
from sqlalchemy import update
from sqlmodel import Session

from pipeline import lifecycle
from pipeline.context import Context
from pipeline.messages import Priority, Route, Step
from pipeline.models import Document, Stage, Status
from pipeline.stages import page_ranges, parse
from pipeline.stages.pacing import Deadline
from pipeline.stages.page_ranges import range_size
from pipeline.stages.parse import run_parse
from pipeline.stages.run import StageRun
from tests.conftest import FIXTURES
from tests.unit.test_stages import add_document


@pytest.mark.parametrize(
    ("total", "most", "free", "size"),
    [
        (30, 500, 1, 30),  # small: one range, no second opening of the file
        (300, 500, 1, 150),  # a share for this process and one for the free one
        (1000, 500, 1, 500),
        (1000, 500, 7, 125),
        (150, 500, 7, 100),  # never under the fewest worth a message
        (5000, 500, 1, 500),  # never over the most
        (300, 500, 0, 300),  # no other process free, or no Redis to count them on: one range
        (1000, 500, 0, 500),  # but still never over the most
        (30, 25, 1, 25),  # the setting wins over the fewest
    ],
)
def test_a_big_document_gets_a_range_per_free_worker_process(total: int, most: int, free: int, size: int) -> None:
    assert range_size(total, most, free) == size


@pytest.fixture
def two_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two live worker processes that parse (and one that does not), and ranges from 10 pages: the
    30-page fixture splits in two."""
    monkeypatch.setattr(page_ranges, "live_workers", lambda broker, timeout_s, parsing=False: 2 if parsing else 3)
    monkeypatch.setattr(page_ranges, "FEWEST_PAGES_PER_RANGE", 10)


#: The 30-page fixture's size in bytes: a document that size has about 30 pages' worth of work.
FIXTURE_BYTES = (FIXTURES / "thirty_pages.pdf").stat().st_size


def parse_begun(ctx: Context) -> str:
    document_id = add_document(ctx, "thirty_pages.pdf")
    with ctx.session() as session:
        session.execute(update(Document).where(Document.id == document_id).values(size_bytes=FIXTURE_BYTES))  # type: ignore[arg-type]
        lifecycle.begin_stage(session, document_id, Stage.PARSE)
    return document_id


def ranges_sent(ctx: Context) -> list[tuple[Any, ...]]:
    queue = Route(Step.PARSE_RANGE, Priority.NORMAL).queue_name(ctx.settings.queue_name)
    messages = [Message.decode(data) for data in ctx.broker.queues[queue].queue]  # type: ignore[attr-defined]
    return [tuple(message.args[1:]) for message in messages if message.actor_name == Step.PARSE_RANGE.value]


def another_document(ctx: Context, **values: Any) -> None:
    with ctx.session() as session:
        session.add(Document(filename="other.pdf", sha256="other", **{"size_bytes": 1, **values}))


@pytest.mark.parametrize(
    ("other", "split"),
    [
        ({}, True),
        ({"status": Status.COMPLETED, "stage": Stage.STORE, "pages_total": 300, "pages_parsed": 300}, True),
        ({"status": Status.RUNNING, "stage": Stage.EMBED, "pages_total": 300, "pages_parsed": 300}, True),
        ({"status": Status.RUNNING, "stage": Stage.PARSE, "pages_total": 300, "pages_parsed": 295}, True),
        ({"status": Status.QUEUED}, False),
        ({"status": Status.RUNNING, "stage": Stage.PARSE, "pages_total": 300, "pages_parsed": 100}, False),
        ({"status": Status.RUNNING, "stage": Stage.PARSE, "pages_total": 300, "pages_parsed": 0}, False),
        ({"status": Status.RUNNING, "stage": Stage.PARSE, "size_bytes": FIXTURE_BYTES // 10}, True),
        ({"status": Status.RUNNING, "stage": Stage.PARSE, "size_bytes": FIXTURE_BYTES}, False),
    ],
    ids=[
        "alone",
        "beside-a-finished-one",
        "beside-one-in-embed",
        "beside-one-nearly-read",
        "behind-a-queued-one",
        "beside-one-being-read",
        "beside-one-just-begun",
        "beside-one-opening-a-small-file",
        "beside-one-opening-a-file-as-big",
    ],
)
def test_ranges_go_only_to_a_process_with_no_parse_work_of_its_own(
    ctx: Context, two_workers: None, other: dict[str, Any], split: bool
) -> None:
    """The other process will take the queued document, or is still reading a range's worth of pages
    (or opening a file as big as that), before it could take a range: sent anyway, the range would
    wait, and cost a second opening."""
    if other:
        another_document(ctx, **other)
    document_id = parse_begun(ctx)

    run_parse(StageRun(ctx, document_id, "normal", Deadline("parse", 60)))

    assert ranges_sent(ctx) == ([(16, 30)] if split else [])
    with Session(ctx.engine) as session:
        document = session.get(Document, document_id)
    assert document is not None
    assert document.pages_parsed == (15 if split else 30)


def test_a_big_document_read_in_one_range_has_its_page_count_stored_before_its_first_page(
    ctx: Context, two_workers: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """So that a parse deciding how to split beside it sees the work it holds, and its progress has
    a total from the start."""
    another_document(ctx, status=Status.QUEUED)
    document_id = parse_begun(ctx)
    seen: list[int] = []
    read_page = parse.read_page

    def reading(reader: Any, number: int, limit_s: float) -> Any:
        if not seen:
            with Session(ctx.engine) as session:
                document = session.get(Document, document_id)
                assert document is not None
                seen.append(document.pages_total)
        return read_page(reader, number, limit_s)

    monkeypatch.setattr(parse, "read_page", reading)
    run_parse(StageRun(ctx, document_id, "normal", Deadline("parse", 60)))

    assert ranges_sent(ctx) == []
    assert seen == [30]
