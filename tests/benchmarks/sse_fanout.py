"""SSE fan-out benchmark: many watchers of one document on one API process.

    python tests/benchmarks/sse_fanout.py --subscribers 10 1000

For each subscriber count it starts a private Redis and one uvicorn API process, connects the
watchers (spread over client processes), then plays a worker: it writes progress events through
the real path (database commit, then Redis publish) at a steady rate, and a terminal event. Each
watcher records when each event arrived; the delay is arrival minus the moment the event was handed
to Redis (publication), and, for reference, minus the moment the driver began writing it (adding
the database commit). The API's ``pdfline_db_queries_total`` is read before and after the events,
less what a read adds by itself, to show that watchers cost no database queries while they watch.
Not part of the test run; figures go in the README.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
#: How long a watcher may wait for the terminal event before it is counted as unfinished.
WATCH_TIMEOUT_S = 120
sys.path.insert(0, str(ROOT))

from pipeline import lifecycle  # noqa: E402
from pipeline.broker import build_context  # noqa: E402
from pipeline.cli.local_redis import LocalRedis, free_port  # noqa: E402
from pipeline.events import EventPublisher  # noqa: E402
from pipeline.models import Document, Stage  # noqa: E402
from pipeline.schema import upgrade as upgrade_schema  # noqa: E402
from pipeline.settings import Settings  # noqa: E402

FRAME = re.compile(rb"id: (\d+)\r\nevent: (\w+)\r\n")


def _client_process(
    port: int, path: str, count: int, connected: multiprocessing.Queue, results: multiprocessing.Queue
) -> None:
    """Raw sockets and a regex, so the clients' own cost stays small next to the server's. Their
    garbage collector is off: its full pass over a process's streams and arrivals stalled every
    watcher at once (280-340 ms, all client processes at the same event), which read as the server's
    delay."""
    gc.disable()

    async def watch() -> tuple[list[tuple[int, float]], bool]:
        arrivals: list[tuple[int, float]] = []
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode())
        await reader.readuntil(b"\r\n\r\n")
        pending = b""
        try:
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    return arrivals, False
                arrived = time.time()
                pending += chunk
                last_end = 0
                for match in FRAME.finditer(pending):
                    last_end = match.end()
                    if match.group(2) == b"snapshot":
                        connected.put(1)
                        continue
                    arrivals.append((int(match.group(1)), arrived))
                    if match.group(2) == b"completed":
                        return arrivals, True
                pending = pending[last_end:]
        finally:
            writer.close()

    async def main() -> None:
        tasks = [asyncio.create_task(watch()) for _ in range(count)]
        done, pending = await asyncio.wait(tasks, timeout=WATCH_TIMEOUT_S)
        for task in pending:
            task.cancel()
        finished = [task.result() for task in done if not task.exception()]
        results.put(([a for arrivals, _ in finished for a in arrivals], sum(ok for _, ok in finished)))

    asyncio.run(main())


class _TimedPublisher:
    """Notes when each event is handed to Redis: the start of the delay being measured."""

    def __init__(self, inner: EventPublisher, published: dict[int, float]) -> None:
        self.inner = inner
        self.published = published

    def publish(self, events: list[dict[str, Any]]) -> None:
        now = time.time()
        for event in events:
            self.published[event["seq"]] = now
        self.inner.publish(events)


def _queries(url: str) -> float:
    """The API's statement count so far. Each ``/metrics`` scrape runs statements of its own (the
    documents-by-status gauge) before it reports the count, so two scrapes differ by at least those."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    match = re.search(r"^pdfline_db_queries_total (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else float("nan")


def run(subscribers: int, events: int, rate: float, client_processes: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="pdfline-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        redis = LocalRedis(Path(tmp) / "redis").start()
        # The API's own log lines (its schema check at start) would land in the middle of the table.
        env = {**os.environ, "PDFLINE_DATA_DIR": str(data_dir), "PDFLINE_REDIS_URL": redis.url}
        env.setdefault("PDFLINE_LOG_LEVEL", "WARNING")
        os.environ.update({"PDFLINE_DATA_DIR": str(data_dir), "PDFLINE_REDIS_URL": redis.url})
        port = free_port()
        api = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.main:app", "--port", str(port), "--log-level", "warning"],
            env=env,
            cwd=ROOT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            ctx = build_context(Settings())
            upgrade_schema(ctx.engine)
            document = Document(filename="bench.pdf", sha256=f"bench-{time.time()}", size_bytes=1)
            with ctx.session() as session:
                session.add(document)
            with ctx.session() as session:
                lifecycle.begin_stage(session, document.id, Stage.PARSE)

            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the API did not start")
                time.sleep(0.1)

            connected: multiprocessing.Queue = multiprocessing.Queue()
            results: multiprocessing.Queue = multiprocessing.Queue()
            base, extra = divmod(subscribers, client_processes)
            shares = [base + (i < extra) for i in range(client_processes)]
            stream = f"/documents/{document.id}/events"
            clients = [
                multiprocessing.Process(target=_client_process, args=(port, stream, n, connected, results))
                for n in shares
                if n
            ]
            for client in clients:
                client.start()
            for _ in range(subscribers):
                connected.get(timeout=120)

            first_scrape = _queries(url)
            queries_before = _queries(url)
            scrape_queries = queries_before - first_scrape  # what one scrape adds by itself
            started = time.monotonic()
            changed: dict[int, float] = {}
            published: dict[int, float] = {}
            ctx.publisher = _TimedPublisher(ctx.publisher, published)
            for i in range(1, events + 1):
                changed[i + 1] = time.time()  # event 1 was the stage event, before the watchers came
                with ctx.session() as session:
                    lifecycle.advance(session, document.id, pages_total=events, pages_parsed=i)
                time.sleep(max(0.0, started + i / rate - time.monotonic()))
            changed[events + 2] = time.time()
            with ctx.session() as session:
                lifecycle.complete(session, document.id)
            duration = time.monotonic() - started
            outcomes = [results.get(timeout=WATCH_TIMEOUT_S + 30) for _ in clients]
            queries_after = _queries(url)
            delays = [(arrived - published[seq]) * 1000 for arrivals, _ in outcomes for seq, arrived in arrivals]
            from_change = sorted(
                (arrived - changed[seq]) * 1000 for arrivals, _ in outcomes for seq, arrived in arrivals
            )
            finished = sum(ok for _, ok in outcomes)
            for client in clients:
                client.join(30)
        finally:
            api.terminate()
            api.wait(30)
            redis.stop()

    delays.sort()
    return {
        "subscribers": subscribers,
        "finished": finished,
        "events": events + 1,
        "deliveries": len(delays),
        "p50_ms": statistics.median(delays),
        "p99_ms": delays[int(0.99 * (len(delays) - 1))],
        "max_ms": delays[-1],
        "api_db_queries_per_s": (queries_after - queries_before - scrape_queries) / duration,
        "p99_from_change_ms": from_change[int(0.99 * (len(from_change) - 1))],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, nargs="+", default=[1, 10, 1000])
    parser.add_argument("--events", type=int, default=150, help="progress events per run")
    parser.add_argument("--rate", type=float, default=10.0, help="events per second")
    parser.add_argument("--client-processes", type=int, default=4)
    args = parser.parse_args()

    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    report(args.subscribers, args.events, args.rate, args.client_processes)


def report(subscribers: list[int], events: int = 150, rate: float = 10.0, client_processes: int = 4) -> None:
    print("subscribers  finished  deliveries  p50 ms  p99 ms  max ms  API DB queries/s  p99 ms from the change")
    for count in subscribers:
        result = run(count, events, rate, min(client_processes, count))
        print(
            f"{result['subscribers']:>11}  {result['finished']:>8}  {result['deliveries']:>10}  "
            f"{result['p50_ms']:>6.1f}  {result['p99_ms']:>6.1f}  {result['max_ms']:>6.1f}  "
            f"{result['api_db_queries_per_s']:>17.2f}  {result['p99_from_change_ms']:.1f}"
        )


if __name__ == "__main__":
    main()
