"""cleanup removes exactly what its retentions say, with time passed in rather than waited for."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select

from pipeline.context import Context
from pipeline.jobs.cleanup import run_cleanup
from pipeline.models import Chunk, Document, Event, Status

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def make(ctx: Context, name: str, status: Status, finished_days_ago: float | None, *, with_file: bool = True) -> str:
    finished = NOW - timedelta(days=finished_days_ago) if finished_days_ago is not None else None
    document = Document(filename=name, sha256=name, size_bytes=1, status=status, finished_at=finished)
    with ctx.session() as session:
        session.add(document)
        session.flush()
        session.add(Event(document_id=document.id, seq=1, name="stage", data={}, at=NOW - timedelta(days=40)))
        session.add(
            Chunk(document_id=document.id, index=0, page_start=1, page_end=1, text="t", token_count=1, text_sha256="h")
        )
    if with_file:
        ctx.upload_path(document.id).parent.mkdir(parents=True, exist_ok=True)
        ctx.upload_path(document.id).write_bytes(b"%PDF-1.4")
    return document.id


def age(path: os.PathLike[str], seconds: float) -> None:
    stamp = NOW.timestamp() - seconds
    os.utime(path, (stamp, stamp))


def test_cleanup_removes_exactly_what_is_past_its_retention(ctx: Context) -> None:
    old_done = make(ctx, "old-done", Status.COMPLETED, 31)
    new_done = make(ctx, "new-done", Status.COMPLETED, 29)
    old_failed = make(ctx, "old-failed", Status.FAILED, 31)
    new_failed = make(ctx, "new-failed", Status.FAILED, 2)
    old_canceled = make(ctx, "old-canceled", Status.CANCELED, 45)
    running = make(ctx, "running", Status.RUNNING, None)
    queued = make(ctx, "queued", Status.QUEUED, None)
    for document_id in (new_done, new_failed, running, queued):
        age(ctx.upload_path(document_id), 90 * 86400)  # old files of live documents stay, whatever their age

    uploads, incoming = ctx.settings.uploads_dir, ctx.settings.incoming_dir
    incoming.mkdir(parents=True, exist_ok=True)
    stale_part, fresh_part = incoming / "stale.part", incoming / "fresh.part"
    orphan, fresh_orphan = uploads / "no-such-document.pdf", uploads / "just-arriving.pdf"
    for path in (stale_part, fresh_part, orphan, fresh_orphan):
        path.write_bytes(b"x")
    age(stale_part, 2 * 3600)
    age(orphan, 2 * 3600)
    age(fresh_part, 60)
    age(fresh_orphan, 60)

    summary = run_cleanup(ctx, now=NOW)

    assert summary == {"files_removed": 3, "events_pruned": 4, "documents_removed": 2, "orphans_removed": 2}
    assert not ctx.upload_path(old_done).exists()
    for document_id in (new_done, new_failed, running, queued):
        assert ctx.upload_path(document_id).exists(), document_id
    assert not stale_part.exists()
    assert not orphan.exists()
    assert fresh_part.exists()
    assert fresh_orphan.exists()
    with Session(ctx.engine) as session:
        remaining = {d.id for d in session.exec(select(Document))}
        assert remaining == {old_done, new_done, new_failed, running, queued}
        assert not remaining & {old_failed, old_canceled}
        assert {c.document_id for c in session.exec(select(Chunk))} == remaining, "chunks and vectors stay"
        events = {e.document_id for e in session.exec(select(Event))}
        assert events == {new_failed, running, queued}, "old events of documents finished over 7 days ago go"
    assert run_cleanup(ctx, now=NOW) == dict.fromkeys(summary, 0), "a second run finds nothing left"


def test_admin_cleanup_runs_it_now_and_answers_with_the_summary(client, ctx: Context) -> None:  # type: ignore[no-untyped-def]
    ctx.settings.incoming_dir.mkdir(parents=True, exist_ok=True)
    stray = ctx.settings.incoming_dir / "stray.part"
    stray.write_bytes(b"x")
    age(stray, 10 * 86400 + (datetime.now(UTC) - NOW).total_seconds())
    response = client.post("/admin/cleanup")
    assert response.status_code == 200
    assert response.json() == {"files_removed": 0, "events_pruned": 0, "documents_removed": 0, "orphans_removed": 1}
    assert not stray.exists()
