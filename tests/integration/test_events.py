"""Event streams through a real uvicorn, fed by a real worker through Redis."""

from __future__ import annotations

import asyncio
import re
import signal
from pathlib import Path

import httpx
import pytest

from tests.conftest import FIXTURES
from tests.integration.conftest import Stack, embedding_env
from tests.support.embedding_server import FakeEmbeddingServer
from tests.support.sse import StreamReader, read_until_terminal
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def upload(url: str, path: Path) -> dict:  # type: ignore[type-arg]
    with path.open("rb") as handle:
        response = httpx.post(f"{url}/documents", files={"file": (path.name, handle)}, timeout=30)
    assert response.status_code == 202, response.text
    return response.json()


def slow_pipeline(stack: Stack, server: FakeEmbeddingServer) -> None:
    """Many small, slow embedding batches, one at a time, and frequent progress: a long, eventful
    stream however fast the machine parses."""
    server.delay_s = 0.05
    stack.configure(
        **embedding_env(
            server,
            PDFLINE_EMBEDDING_BATCH_SIZE="4",
            PDFLINE_EMBEDDING_CONCURRENCY="1",
            PDFLINE_PROGRESS_INTERVAL_S="0.02",
            PDFLINE_EMBEDDING_DIMENSIONS="16",
        )
    )


def watch(url: str, document: dict) -> StreamReader:  # type: ignore[type-arg]
    """A reader on the document's stream, started, with its snapshot already in."""
    reader = StreamReader(f"{url}/documents/{document['id']}/events")
    reader.start()
    assert reader.first.wait(30)
    return reader


def sse_clients(url: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    match = re.search(r"^pdfline_sse_clients (\S+)$", text, re.MULTILINE)
    assert match, text
    return float(match.group(1))


def test_a_watcher_sees_snapshot_then_every_stage_to_completed(stack: Stack) -> None:
    api = stack.configure().start_api_process()
    document = upload(api.url, FIXTURES / "thirty_pages.pdf")
    reader = watch(api.url, document)
    stack.start_worker()
    assert reader.done.wait(60), reader.events
    assert reader.error is None
    assert reader.status == 200

    ids = [int(event_id) for event_id, _, _ in reader.events]
    assert reader.names[0] == "snapshot"
    assert ids[0] == 0
    assert ids[1:] == list(range(1, len(ids))), "ids increase by one from 1, none missing"
    assert reader.names[-1] == "completed"
    assert [data["stage"] for _, name, data in reader.events if name == "stage"] == ["parse", "embed", "store"]
    progress = [data["progress"] for _, _, data in reader.events[1:]]
    assert progress == sorted(progress), "progress never goes backwards"
    assert progress[-1] == 1.0
    snapshot = reader.events[0][2]
    assert snapshot["status"] == "queued"
    assert snapshot["links"]["events"].endswith(f"/documents/{document['id']}/events")
    for _, _, data in reader.events[1:]:
        assert data["document_id"] == document["id"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", data["at"])

    finished = StreamReader(f"{api.url}/documents/{document['id']}/events")
    finished.run()
    assert finished.names == ["snapshot", "completed"], "a finished document: snapshot, terminal, end"
    assert finished.events[0][0] == finished.events[1][0] == str(ids[-1])
    wait_until(lambda: sse_clients(api.url) == 0, timeout=10, what="stream subscriptions to be released")


def test_reconnecting_with_last_event_id_misses_nothing_and_repeats_nothing(
    stack: Stack, embedding_server: FakeEmbeddingServer
) -> None:
    slow_pipeline(stack, embedding_server)
    api = stack.start_api_process()
    document = upload(api.url, FIXTURES / "thirty_pages.pdf")
    url = f"{api.url}/documents/{document['id']}/events"
    steady = StreamReader(url)
    flaky = StreamReader(url, stop_after=5)
    steady.start()
    flaky.start()
    assert steady.first.wait(30)
    assert flaky.first.wait(30)
    stack.start_worker()
    assert flaky.done.wait(60)
    assert flaky.error is None
    last_id = flaky.events[-1][0]
    assert not steady.done.is_set(), "the document should still be running when the flaky client drops"

    resumed = StreamReader(url, headers={"Last-Event-ID": last_id})
    resumed.run()
    assert resumed.error is None
    assert resumed.names[0] != "snapshot", "a resumed stream sends no new snapshot"
    assert steady.done.wait(60)

    union = flaky.events[1:] + resumed.events
    assert union == steady.events[1:]
    assert "progress" in resumed.names, "the client dropped mid-stream, so the resume carries progress"
    assert resumed.names[-1] == "completed"
    assert [int(i) for i, _, _ in union] == list(range(1, len(union) + 1))

    by_query = StreamReader(f"{url}?last_event_id={len(union) - 2}")
    by_query.run()
    assert by_query.events == steady.events[-2:]


def test_two_hundred_concurrent_watchers_all_see_the_end(stack: Stack, embedding_server: FakeEmbeddingServer) -> None:
    slow_pipeline(stack, embedding_server)
    api = stack.start_api_process()
    document = upload(api.url, FIXTURES / "multipage.pdf")
    url = f"{api.url}/documents/{document['id']}/events"

    async def scenario() -> list[list[tuple[str, str, dict]]]:  # type: ignore[type-arg]
        snapshots = [0]
        limits = httpx.Limits(max_connections=260, max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=120), limits=limits) as client:
            watchers = [asyncio.create_task(read_until_terminal(client, url, counter=snapshots)) for _ in range(200)]
            deadline = asyncio.get_running_loop().time() + 60
            while snapshots[0] < 200:
                assert asyncio.get_running_loop().time() < deadline, f"only {snapshots[0]} watchers connected"
                await asyncio.sleep(0.05)
            assert sse_clients(api.url) == 200
            await asyncio.to_thread(stack.start_worker)
            return await asyncio.wait_for(asyncio.gather(*watchers), timeout=120)

    results = asyncio.run(scenario())
    assert len(results) == 200
    assert all(events[-1][1] == "completed" for events in results)
    assert all(events == results[0] for events in results), "every watcher saw the same stream"
    wait_until(lambda: sse_clients(api.url) == 0, timeout=10, what="all 200 subscriptions to be released")


def test_stream_errors_come_before_the_stream(stack: Stack) -> None:
    api = stack.configure().start_api_process()
    missing = httpx.get(f"{api.url}/documents/nope/events")
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "not_found"
    document = upload(api.url, FIXTURES / "plain.pdf")
    bad = httpx.get(f"{api.url}/documents/{document['id']}/events", headers={"Last-Event-ID": "x1"})
    assert bad.status_code == 422
    assert bad.json()["error"]["type"] == "invalid_last_event_id"
    assert httpx.get(f"{api.url}/events", headers={"Last-Event-ID": "nocolon"}).status_code == 422
    assert httpx.get(f"{api.url}/events", params={"status": "bogus"}).status_code == 422


def test_the_all_documents_stream_and_its_resume(stack: Stack) -> None:
    api = stack.configure().start_api_process()
    everything = StreamReader(f"{api.url}/events")
    only_done = StreamReader(f"{api.url}/events?status=completed", stop_after=3)
    everything.start()
    only_done.start()
    assert everything.first.wait(30)
    assert only_done.first.wait(30)
    first = upload(api.url, FIXTURES / "plain.pdf")
    second = upload(api.url, FIXTURES / "multipage.pdf")
    stack.start_worker()
    assert only_done.done.wait(60), only_done.events
    assert {data["document_id"] for _, name, data in only_done.events[1:]} == {first["id"], second["id"]}
    assert all(name == "completed" for _, name, _ in only_done.events[1:])

    def both_completed() -> bool:
        done = {data["document_id"] for _, name, data in list(everything.events) if name == "completed"}
        return done == {first["id"], second["id"]}

    wait_until(both_completed, timeout=60, what="both documents to complete on /events")
    assert everything.names[0] == "snapshot"
    for document in (first, second):
        ids = [i for i, _, data in list(everything.events)[1:] if data["document_id"] == document["id"]]
        assert ids == [f"{document['id']}:{n}" for n in range(1, len(ids) + 1)]

    resumed = StreamReader(f"{api.url}/events", headers={"Last-Event-ID": f"{first['id']}:2"}, stop_after=3)
    resumed.run()
    replayed = [i for i, _, _ in resumed.events]
    assert replayed[0] != f"{first['id']}:1"
    assert f"{first['id']}:2" not in replayed
    assert f"{first['id']}:3" in replayed or f"{second['id']}:1" in replayed


def test_server_shutdown_ends_open_streams_and_uvicorn_exits(stack: Stack) -> None:
    api = stack.configure().start_api_process()
    document = upload(api.url, FIXTURES / "plain.pdf")
    reader = watch(api.url, document)
    assert api.process is not None
    api.process.send_signal(signal.SIGTERM)
    assert reader.done.wait(15), "the open stream should end when the server shuts down"
    wait_until(lambda: api.process is not None and api.process.poll() is not None, timeout=15, what="uvicorn to exit")
    assert api.process.returncode in (0, -signal.SIGTERM), "uvicorn re-raises the signal it shut down on"
    log = (stack.tmp_path / "api.log").read_text()
    assert "Finished server process" in log
    assert "ERROR" not in log


def test_a_retry_shows_retrying_and_progress_carries_on(stack: Stack, embedding_server: FakeEmbeddingServer) -> None:
    embedding_server.fail_next(2, status=503)
    stack.configure(
        **embedding_env(
            embedding_server,
            PDFLINE_EMBEDDING_BATCH_SIZE="4",
            PDFLINE_PROGRESS_INTERVAL_S="0",
            PDFLINE_EMBEDDING_CONCURRENCY="1",  # one request at a time: each failure is one attempt
        )
    )
    api = stack.start_api_process()
    document = upload(api.url, FIXTURES / "thirty_pages.pdf")
    reader = watch(api.url, document)
    stack.start_worker()
    assert reader.done.wait(60), reader.names
    assert reader.names.count("retrying") == 2
    assert reader.names[-1] == "completed"
    retry_at = reader.names.index("retrying")
    assert "progress" in reader.names[retry_at:], "after a retry the stream carries on"
    progress = [data["progress"] for _, _, data in reader.events[1:]]
    assert progress == sorted(progress), "progress never goes backwards, even across retries"
    assert reader.events[-1][2]["attempts"] == 2
