"""Big PDFs fan out as page ranges; hostile pages are skipped and recorded; absurd ones refused."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from fixtures.make_fixtures import write_text_pdf
from pipeline.models import Chunk, Page
from tests.conftest import FIXTURES
from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration


def _pages(stack: Stack, document_id: str) -> list[Page]:
    engine = stack.client.app.state.context.engine  # type: ignore[attr-defined]
    with Session(engine) as session:
        return list(session.exec(select(Page).where(Page.document_id == document_id).order_by(Page.number)))


def test_a_big_pdf_is_parsed_as_ranges_across_worker_processes_and_a_failing_range_is_retried_alone(
    stack: Stack, tmp_path: Path
) -> None:
    # One thread each: a process then holds at most two messages, and both get ranges.
    stack.start(
        processes=2, threads=1, probe=True, PDFLINE_PARSE_RANGE_PAGES="25", PDFLINE_TEST_FAIL_FIRST="parse_range:51"
    )
    big = write_text_pdf(tmp_path / "big.pdf", 400, seed=400)
    document = stack.upload(big).json()

    final = stack.wait_for(document["id"], timeout=120)
    assert final["status"] == "completed", final
    assert final["pages_total"] == final["pages_parsed"] == 400
    assert len(_pages(stack, document["id"])) == 400

    ran = [m for m in stack.message_log() if m["actor"] in ("parse", "parse_range")]
    ranges = Counter(tuple(m["args"][1:]) for m in ran if m["actor"] == "parse_range")
    assert sorted(ranges) == [(first, first + 24) for first in range(26, 400, 25)], (
        "fifteen ranges of 25 pages as messages; parse reads the first itself"
    )
    assert ranges[(51, 75)] == 2, "the failing range ran again"
    assert all(count == 1 for key, count in ranges.items() if key != (51, 75)), "and only that range did"
    assert [m["actor"] for m in ran].count("parse") == 1, "the document's parse did not start over"
    assert len({m["pid"] for m in ran if m["actor"] == "parse_range"}) == 2, "both worker processes took ranges"

    events = stack.events(document["id"])
    parsed = [e.data["pages_parsed"] for e in events if e.name == "progress" and e.data["stage"] == "parse"]
    assert parsed == sorted(parsed), "the ranges' progress adds up in one count"
    assert parsed[-1] == 400
    assert len([p for p in parsed if 0 < p < 400]) >= 4, "and moves while the ranges run"
    assert [e.name for e in events].count("retrying") == 1
    assert [e.data["stage"] for e in events if e.name == "stage"] == ["parse", "embed", "store"]

    engine = stack.client.app.state.context.engine  # type: ignore[attr-defined]
    with Session(engine) as session:
        chunk_count = session.exec(select(func.count()).where(Chunk.document_id == document["id"])).one()
    assert chunk_count == final["chunks_total"] > 0


def test_a_page_that_hangs_pypdf_is_skipped_and_recorded_and_the_rest_goes_on(stack: Stack) -> None:
    stack.start(PDFLINE_PAGE_TIME_LIMIT_S="1")
    document = stack.upload(FIXTURES / "slow_page.pdf").json()
    final = stack.wait_for(document["id"], timeout=60)
    assert final["status"] == "completed", final
    assert final["pages_total"] == 4
    assert final["pages_skipped"] == 1
    pages = _pages(stack, document["id"])
    assert [p.skipped_reason for p in pages] == [None, "reading it took longer than 1s", None, None]
    texts = " ".join(c["text"] for c in stack.chunks(document["id"]))
    assert "Page 1 of slow page" in texts
    assert "Page 3 of slow page" in texts
    assert texts.count("slow") < 10, "none of the hanging page's 350,000 words"
    assert stack.worker is not None
    assert stack.worker.alive


def test_a_decompression_bomb_page_is_skipped_within_the_limit(stack: Stack) -> None:
    stack.start(PDFLINE_MAX_STREAM_MB="8")
    document = stack.upload(FIXTURES / "bomb_page.pdf").json()
    final = stack.wait_for(document["id"], timeout=60)
    assert final["status"] == "completed", final
    assert final["pages_skipped"] == 1
    reason = _pages(stack, document["id"])[1].skipped_reason
    assert reason is not None
    assert "safety limit" in reason
    assert "boom" not in " ".join(c["text"] for c in stack.chunks(document["id"]))


def test_a_pdf_with_more_pages_than_allowed_fails_clearly(stack: Stack) -> None:
    stack.start(PDFLINE_MAX_PAGES="20")
    document = stack.upload(FIXTURES / "thirty_pages.pdf").json()
    final = stack.wait_for(document["id"], timeout=60)
    assert final["status"] == "failed"
    assert final["error"]["type"] == "too_many_pages"
    assert "30 pages" in final["error"]["message"]
    assert "at most 20" in final["error"]["message"]
    assert _pages(stack, document["id"]) == []
