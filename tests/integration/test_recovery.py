"""Recovery for real: a worker SIGKILLed mid-parse, a Redis that lost its queue; and the schedule."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from sqlmodel import Session, func, select

from fixtures.make_fixtures import write_text_pdf
from pipeline import lifecycle
from pipeline.messages import Step
from pipeline.models import Chunk, Event, Page, Stage
from tests.conftest import FIXTURES
from tests.integration.conftest import Stack
from tests.support.processes import stop_process_group
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

PDFLINE = str(Path(sys.executable).with_name("pdfline"))
PERIODIQ = str(Path(sys.executable).with_name("periodiq"))
FAST_RECOVERY = {
    "PDFLINE_HEARTBEAT_S": "0.3",
    "PDFLINE_STALLED_AFTER_S": "2",
    "PDFLINE_WORKER_HEARTBEAT_TIMEOUT_S": "3",
    "PDFLINE_PROGRESS_INTERVAL_S": "0.05",
}


def recover(stack: Stack) -> dict[str, int]:
    done = subprocess.run(
        [PDFLINE, "recover"], env={**os.environ, **stack.env}, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_document_whose_worker_was_killed_mid_parse_completes_after_recovery(stack: Stack, tmp_path: Path) -> None:
    stack.start(**FAST_RECOVERY)
    long_pdf = write_text_pdf(tmp_path / "long.pdf", 600, seed=6)
    document = stack.upload(long_pdf).json()
    wait_until(
        lambda: stack.client.get(f"/documents/{document['id']}").json()["pages_parsed"] >= 60,
        timeout=60,
        what="parsing to be well under way",
    )
    assert stack.worker is not None
    assert stack.worker.process is not None
    os.killpg(stack.worker.process.pid, signal.SIGKILL)
    stack.worker.process.wait()
    killed_at = stack.client.get(f"/documents/{document['id']}").json()
    assert killed_at["status"] == "running"
    assert killed_at["stage"] == "parse"

    summary = wait_until(lambda: (r := recover(stack))["requeued"] and r, timeout=30, what="recovery to requeue")
    assert summary["requeued"] == 1

    stack.start_worker()
    final = stack.wait_for(document["id"], timeout=120)
    assert final["status"] == "completed", final
    assert final["pages_parsed"] == final["pages_total"] == 600
    assert final["attempts"] >= 1

    events = stack.events(document["id"])
    progress = [event.data["progress"] for event in events]
    assert progress == sorted(progress), "progress never went backwards across the recovery"
    assert any(e.name == "retrying" and e.data["retry_reason"]["type"] == "stalled" for e in events)
    engine = stack.client.app.state.context.engine  # type: ignore[attr-defined]
    with Session(engine) as session:
        chunk_count = session.exec(select(func.count()).where(Chunk.document_id == document["id"])).one()
        page_count = session.exec(select(func.count()).where(Page.document_id == document["id"])).one()
        last_seq = session.exec(select(func.max(Event.seq)).where(Event.document_id == document["id"])).one()
    assert chunk_count == final["chunks_total"], "no duplicate chunks"
    assert page_count == 600
    assert last_seq == len(events)


def test_queued_documents_whose_message_was_lost_are_requeued_and_waiting_ones_left_alone(stack: Stack) -> None:
    stack.configure(**FAST_RECOVERY)
    from fastapi.testclient import TestClient

    from api.main import create_app

    with TestClient(create_app()) as client:
        lost = client.post("/documents", files={"file": ("a.pdf", (FIXTURES / "plain.pdf").read_bytes())}).json()
        redis.Redis.from_url(stack.env["PDFLINE_REDIS_URL"]).flushall()  # Redis restarted without its data
        waiting = client.post("/documents", files={"file": ("b.pdf", (FIXTURES / "multipage.pdf").read_bytes())}).json()
        # One pass must see both past the window; a pass between the two uploads' ages sees only the first.
        waiting_since = datetime.fromisoformat(waiting["updated_at"])
        window = timedelta(seconds=float(FAST_RECOVERY["PDFLINE_STALLED_AFTER_S"]))
        wait_until(lambda: datetime.now(UTC) - waiting_since > window, timeout=10, what="both to be waiting too long")
        summary = recover(stack)
        assert summary["checked"] == 2
        assert summary["requeued"] == 1
        assert summary["left_alone"] == 1, "the document whose message is still queued is not duplicated"

        stack.start_worker()
        for document in (lost, waiting):

            def finished(document_id: str = document["id"]) -> bool:
                return client.get(f"/documents/{document_id}").json()["status"] == "completed"

            wait_until(finished, timeout=60, what=f"{document['filename']} to complete")


def test_an_embed_ahead_message_does_not_keep_a_document_whose_parse_was_lost_waiting(stack: Stack) -> None:
    """It only fills the embedding cache: the document still needs its parse back."""
    stack.configure(**FAST_RECOVERY)
    from fastapi.testclient import TestClient

    from api.main import create_app

    with TestClient(create_app()) as client:
        ctx = client.app.state.context  # type: ignore[attr-defined]
        document = client.post("/documents", files={"file": ("a.pdf", (FIXTURES / "plain.pdf").read_bytes())}).json()
        redis.Redis.from_url(stack.env["PDFLINE_REDIS_URL"]).flushall()  # the parse message is lost...
        with ctx.session() as session:
            lifecycle.begin_stage(session, document["id"], Stage.PARSE)  # ...by a worker that had begun it
        ctx.send(Step.EMBED_AHEAD, document["id"], 1)

        summary = wait_until(lambda: (r := recover(stack))["requeued"] and r, timeout=30, what="the parse requeued")
        assert summary["requeued"] == 1


def test_two_ticks_of_one_schedule_run_the_job_once(stack: Stack) -> None:
    stack.start()
    ctx = stack.client.app.state.context  # type: ignore[attr-defined]
    tick = datetime.now(UTC).replace(microsecond=0)
    for _ in range(2):  # two schedulers, same minute
        ctx.broker.get_actor("cleanup").send_with_options(scheduled_at=str(tick))
    late = tick.replace(year=tick.year - 1)
    ctx.broker.get_actor("cleanup").send_with_options(scheduled_at=str(late))
    client = redis.Redis.from_url(stack.env["PDFLINE_REDIS_URL"])
    assert stack.worker is not None
    wait_until(lambda: "skipped the cleanup tick" in stack.worker.log(), timeout=30, what="the late tick to be logged")
    wait_until(lambda: "already ran elsewhere" in stack.worker.log(), timeout=30, what="the duplicate tick skipped")
    assert int(client.get("pdfline:jobs:cleanup:runs") or 0) == 1


def test_periodiq_starts_and_lists_the_schedules(stack: Stack) -> None:
    stack.configure(PDFLINE_CLEANUP_CRON="30 2 * * *")
    log_path = stack.tmp_path / "periodiq.log"
    with log_path.open("wb") as log:
        scheduler = subprocess.Popen(
            [PERIODIQ, "pipeline.worker"],
            env={**os.environ, **stack.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until(lambda: "pipeline.jobs:recovery" in log_path.read_text(), timeout=30, what="the schedule listing")
        listing = log_path.read_text()
        assert re.search(r"30 2 \* \* \*\s+pipeline\.jobs:cleanup@pdfline\.jobs", listing)
        assert re.search(r"\* \* \* \* \*\s+pipeline\.jobs:recovery@pdfline\.jobs", listing)
    finally:
        stop_process_group(scheduler, grace=10)
