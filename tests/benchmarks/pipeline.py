"""Throughput benchmark: pdfline end to end against the same work done with no queue (the floor).

    python tests/benchmarks/pipeline.py [--small 60 --medium 10 --large 2] [--repeat 3] [--big-pages 1000]
                                        [--by-size 1200]

- Corpus: text PDFs from the fixtures' prose generator, deterministic: many of 5 pages, some of 30,
  a few of 300 (written once to a cache folder).
- Embeddings: an OpenAI-compatible server on 127.0.0.1 costing 80 ms a request plus 0.5 ms an input,
  answering concurrent requests concurrently (tests/support/embedding_server.py).
- pdfline: ``pdfline up`` with its defaults (a fresh data folder, SQLite, a local Redis), every
  document uploaded at once, timed to the last one completed (seen on ``/events``).
- The floor and pdfline take turns ``--repeat`` times; the run with the median wall time of each is
  compared (a shared 2-core machine is noisy: single runs of the same code vary by a third).
- Floor: the same work in one program with no queue: a process per core parsing (pypdf with
  pdfline's fast paths), batched embedding requests with pdfline's batch size and concurrency
  limit, bulk inserts into SQLite. Each document's batches go out on their own, as the issue's floor
  does; a second floor (``floor-m``) sends them through pdfline's own lanes with no gate, which
  merge the batches that wait together as pdfline does, so that what merging gains is not counted
  as the queue's.
- Busy cores: how many of the machine's cores were busy during each run, on average (every
  process's work, from ``/proc/stat``): what a side left idle it spent waiting, not computing.
  Stolen cores beside it: the time the hypervisor gave other guests (steal), a CPU the run lacked.
- Overhead per document: small documents sent one at a time through an idle pipeline, and the same
  work done in this process; the difference of their medians is what the queue adds (the upload,
  hops between stages, progress and event writes). The end is seen on ``/events``, as a user would;
  both sides are warmed up first with documents not timed. Also reported: the part from the
  document's row to its completion in the database (``created_at`` to ``finished_at``), which
  leaves out the upload request and the event's way to the client.
- SSE: ``tests/benchmarks/sse_fanout.py`` for ``--sse-subscribers`` watchers of one document.
- By size (``--by-size PAGES``): the same comparison on three corpora of one document size each
  (5, 30 and 300 pages), about PAGES pages apiece.
- Big: one PDF of ``--big-pages`` pages through pdfline: peak RSS per worker process, and the
  longest the document's progress stood still.
Not part of the test run; figures go in the README. For tuning: ``BENCH_UP_ARGS="--threads 2"``
passes flags to ``pdfline up``, ``BENCH_VERBOSE=1`` prints the CPU each pdfline process used, and
``PDFLINE_*`` variables in the environment reach pdfline.
"""

from __future__ import annotations

import argparse
import array
import concurrent.futures
import contextlib
import functools
import json
import os
import platform
import resource
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from httpx_sse import connect_sse

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from fixtures.make_fixtures import write_text_pdf  # noqa: E402
from pipeline import pypdf_speedups  # noqa: E402
from pipeline.chunking import chunk_pages  # noqa: E402
from pipeline.cli.local_redis import free_port  # noqa: E402
from pipeline.embedders import OpenAIEmbedder  # noqa: E402
from pipeline.settings import Settings  # noqa: E402
from pipeline.stages.provider_lanes import ProviderLanes  # noqa: E402
from tests.benchmarks import sse_fanout  # noqa: E402
from tests.support.embedding_server import FakeEmbeddingServer, encode_cheap_vectors  # noqa: E402

DIMENSIONS = 384
#: Extra ``pdfline up`` flags, for tuning experiments (the figures use the defaults).
UP_ARGS = os.environ.get("BENCH_UP_ARGS", "").split()
CACHE = Path(tempfile.gettempdir()) / "pdfline-bench-corpus"


@dataclass
class Run:
    name: str
    documents: int
    pages: int
    wall_s: float
    cpu_s: float
    latencies_s: list[float]
    peak_rss_mb: list[float]
    #: The machine's cores kept busy during the run, on average (every process, the stand-in server's too).
    busy_cores: float
    #: The cores' time the hypervisor gave to other guests (steal), on average: CPU the run asked for and lacked.
    stolen_cores: float

    def report(self) -> str:
        latencies = sorted(self.latencies_s)
        p50 = latencies[len(latencies) // 2] if latencies else float("nan")
        p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))] if latencies else float("nan")
        return (
            f"{self.name:8} {self.documents / self.wall_s:6.2f} docs/s {self.pages / self.wall_s:7.1f} pages/s  "
            f"wall {self.wall_s:6.1f}s  latency p50 {p50:5.2f}s p95 {p95:5.2f}s  "
            f"CPU {1000 * self.cpu_s / self.pages:5.1f} ms/page  busy {self.busy_cores:4.2f} cores "
            f"(stolen {self.stolen_cores:4.2f})  "
            f"peak RSS {', '.join(f'{rss:.0f}' for rss in self.peak_rss_mb)} MB"
        )


def corpus(small: int, medium: int, large: int) -> list[tuple[Path, int]]:
    CACHE.mkdir(exist_ok=True)
    plan = [(5, small), (30, medium), (300, large)]
    out = []
    for pages, count in plan:
        for number in range(count):
            path = CACHE / f"p{pages}-{number}.pdf"
            if not path.exists():
                write_text_pdf(path, pages, seed=pages * 1000 + number, title=f"bench {pages}-{number}")
            out.append((path, pages))
    return out


def embedding_server() -> FakeEmbeddingServer:
    server = FakeEmbeddingServer()
    server.delay_s, server.delay_per_input_s, server.cheap_vectors = 0.080, 0.0005, True
    encode_cheap_vectors(DIMENSIONS)
    return server.start()


# --- the floor -------------------------------------------------------------------------------


def _parse(path: str) -> tuple[str, list[str]]:
    from pypdf import PdfReader

    pypdf_speedups.install()  # the pypdf pdfline reads with: the comparison is about the queue
    return path, [page.extract_text() or "" for page in PdfReader(path).pages]


class Floor:
    """The work of one document with no queue: chunking, batched embedding requests, a bulk insert."""

    def __init__(self, server: FakeEmbeddingServer, workdir: Path, *, merging: bool) -> None:
        self.settings = Settings()
        # pdfline's own client, so both sides pay the same for each answer.
        self.embedder = OpenAIEmbedder(
            model="bench", dimensions=DIMENSIONS, api_key="bench", base_url=server.base_url, timeout_s=60, max_retries=0
        )
        self.database = sqlite3.connect(workdir / f"floor-{time.monotonic_ns()}.db", check_same_thread=False)
        self.database.execute("CREATE TABLE chunks (doc TEXT, idx INT, text TEXT, vector BLOB, PRIMARY KEY (doc, idx))")
        self.lock = threading.Lock()
        #: Every embedding request goes through here: pdfline's concurrency limit, shared by all documents.
        self.requests = concurrent.futures.ThreadPoolExecutor(self.settings.embedding_concurrency)
        #: Or pdfline's lanes with no gate: as wide, and merging the batches that wait together.
        self.lanes = (
            ProviderLanes(
                None,
                self.settings.embedding_concurrency,
                merged=self.embedder.embed,
                max_inputs=self.settings.embedding_batch_size,
            )
            if merging
            else None
        )

    def embed_and_store(self, path: str, texts: list[str]) -> None:
        settings = self.settings
        specs = chunk_pages(texts, size=settings.chunk_size, overlap=settings.chunk_overlap)
        size = settings.embedding_batch_size
        batches = [[s.text for s in specs[start : start + size]] for start in range(0, len(specs), size)]
        if self.lanes is not None:
            calls = [functools.partial(self.embedder.embed, batch) for batch in batches]
            answers = self.lanes.submit(calls, inputs=batches)
        else:
            answers = [self.requests.submit(self.embedder.embed, batch) for batch in batches]
        vectors = [vector for answer in answers for vector in answer.result()]
        rows = [(path, s.index, s.text, array.array("f", v).tobytes()) for s, v in zip(specs, vectors, strict=True)]
        with self.lock, self.database:
            self.database.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?)", rows)

    def close(self) -> None:
        self.requests.shutdown()
        self.database.close()


def run_floor(
    documents: list[tuple[Path, int]], server: FakeEmbeddingServer, workdir: Path, *, merging: bool = False
) -> Run:
    """A process per core parsing; each parsed document's batches all requested at once, through
    one pool as wide as pdfline's embedding concurrency (or lanes as wide, ``merging``)."""
    floor = Floor(server, workdir, merging=merging)
    cpu_before = _own_cpu_s()
    busy = BusyCores()
    latencies: list[float] = []

    def embed_and_store(path: str, texts: list[str]) -> None:
        floor.embed_and_store(path, texts)
        latencies.append(time.perf_counter() - busy.started)

    documents_pool = concurrent.futures.ThreadPoolExecutor(16)
    futures = []
    with concurrent.futures.ProcessPoolExecutor(os.cpu_count()) as parsers:
        for path, texts in parsers.map(_parse, [str(p) for p, _ in documents]):
            futures.append(documents_pool.submit(embed_and_store, path, texts))
        parser_rss = [_peak_rss_mb(pid) for pid in parsers._processes]  # type: ignore[attr-defined]
    for future in futures:
        future.result()
    wall, busy_cores, stolen_cores = busy.until(time.perf_counter())
    documents_pool.shutdown()
    floor.close()
    name, pages = "floor-m" if merging else "floor", sum(p for _, p in documents)
    return Run(
        name, len(documents), pages, wall, _own_cpu_s() - cpu_before, latencies, parser_rss, busy_cores, stolen_cores
    )


def compare(
    documents: list[tuple[Path, int]], server: FakeEmbeddingServer, workdir: Path, repeat: int
) -> tuple[Run, Run, Run]:
    """The floor, the merging floor and pdfline taking turns, so all see the same noise from
    neighbours; the runs with the median wall time of each."""
    floors, merging_floors, pdflines = [], [], []
    for _ in range(repeat):
        floors.append(run_floor(documents, server, workdir))
        print(floors[-1].report())
        requests_before = len(server.requests)
        merging_floors.append(run_floor(documents, server, workdir, merging=True))
        print(merging_floors[-1].report())
        print(f"  embedding requests: {len(server.requests) - requests_before}")
        requests_before = len(server.requests)
        pdflines.append(run_pdfline(documents, server, workdir))
        print(pdflines[-1].report())
        print(f"  embedding requests: {len(server.requests) - requests_before}, max in flight {server.max_in_flight}")
    return _median_run(floors), _median_run(merging_floors), _median_run(pdflines)


def by_size(pages: int, server: FakeEmbeddingServer, workdir: Path, repeat: int) -> str:
    """The same comparison on corpora of one document size each, about ``pages`` pages apiece: what
    the queue costs a document weighs against how much reading that document is."""
    lines = [f"by document size, about {pages} pages each (medians of {repeat}):"]
    for plan in ((pages // 5, 0, 0), (0, pages // 30, 0), (0, 0, max(1, pages // 300))):
        documents = corpus(*plan)
        floor, merging_floor, pdfline = compare(documents, server, workdir, repeat)
        lines.append(
            f"  {len(documents):4} of {documents[0][1]:3} pages: floor {_rates(floor)}; pdfline {_rates(pdfline)}; "
            f"pdfline / floor {floor.wall_s / pdfline.wall_s:.2f}; "
            f"pdfline / merging floor {merging_floor.wall_s / pdfline.wall_s:.2f}"
        )
    return "\n".join(lines)


def _rates(run: Run) -> str:
    return f"{run.pages / run.wall_s:4.0f} pages/s, {1000 * run.cpu_s / run.pages:4.1f} ms CPU/page"


def _own_cpu_s() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


# --- pdfline ---------------------------------------------------------------------------------


class Pdfline:
    """``pdfline up`` on its defaults, in a fresh data folder, stopped by pid."""

    def __init__(self, workdir: Path, server: FakeEmbeddingServer, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "PDFLINE_DATA_DIR": str(workdir),
            "OPENAI_BASE_URL": server.base_url,
            "OPENAI_API_KEY": "bench",
            "PDFLINE_EMBEDDING_DIMENSIONS": str(DIMENSIONS),
            "PDFLINE_LOG_LEVEL": "WARNING",
            **env,
        }
        log = (workdir.parent / f"{workdir.name}.log").open("wb")
        self.process = subprocess.Popen(
            [str(Path(sys.executable).with_name("pdfline")), "up", "--port", str(self.port), *UP_ARGS],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.http = httpx.Client(base_url=self.url, timeout=60)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if self.http.get("/readyz").status_code == 200:
                    self._settle(deadline)
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError("pdfline up did not become ready")

    def _settle(self, deadline: float) -> None:
        """Ready is one live worker; the other processes may still be booting, and would share the
        cores with what is measured. Wait until the whole tree is idle: under 5% of a core for 0.5 s."""
        before = sum(_cpu_s(pid) for pid in self.tree())
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = sum(_cpu_s(pid) for pid in self.tree())
            if now - before < 0.025:
                return
            before = now
        raise RuntimeError("pdfline up did not settle")

    def tree(self) -> list[int]:
        return [self.process.pid, *_descendants(self.process.pid)]

    def workers(self) -> list[int]:
        """dramatiq's worker processes: the ones that import pipeline.worker and process messages."""
        return [pid for pid in self.tree() if "dramatiq" in _cmdline(pid) and _children_count(pid) == 0]

    def upload(self, paths: list[Path]) -> list[str]:
        ids = []
        for start in range(0, len(paths), 20):
            files = [("files", (p.name, p.read_bytes(), "application/pdf")) for p in paths[start : start + 20]]
            response = self.http.post("/documents", files=files)
            response.raise_for_status()
            ids.extend(d["id"] for d in response.json()["documents"])
        return ids

    def wait_all(self, ids: list[str], finishes: Finishes, timeout: float = 3600) -> float:
        """When the last of ``ids`` was seen to finish (``time.perf_counter()``)."""
        return max(finishes.wait(document_id, timeout) for document_id in ids)

    def documents(self, ids: list[str]) -> list[dict]:  # type: ignore[type-arg]
        return [self.http.get(f"/documents/{i}").json() for i in ids]

    def stop(self) -> None:
        pids = self.tree()
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(60)
        finally:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def run_pdfline(documents: list[tuple[Path, int]], server: FakeEmbeddingServer, workdir: Path) -> Run:
    up = Pdfline(Path(tempfile.mkdtemp(prefix="pdfline-", dir=workdir)), server)  # a fresh database each run
    try:
        per_pid_before = {pid: _cpu_s(pid) for pid in up.tree()}
        cpu_before = sum(per_pid_before.values())
        finishes = Finishes(up.url)
        busy = BusyCores()
        ids = up.upload([path for path, _ in documents])
        wall, busy_cores, stolen_cores = busy.until(up.wait_all(ids, finishes))
        cpu = sum(_cpu_s(pid) for pid in up.tree()) - cpu_before
        finals = up.documents(ids)  # after the clock: reading the results back is not the work
        if os.environ.get("BENCH_VERBOSE"):  # where the CPU went, process by process
            for pid in up.tree():
                print(f"    {_cpu_s(pid) - per_pid_before.get(pid, 0):6.2f}s CPU  {_cmdline(pid)[:70]}")
        failed = [d for d in finals if d["status"] != "completed"]
        if failed:
            print(f"  {len(failed)} documents did not complete: {failed[0]['error']}")
        latencies = [_seconds(d["finished_at"]) - _seconds(d["created_at"]) for d in finals if d["finished_at"]]
        return Run("pdfline", len(documents), sum(p for _, p in documents), wall, cpu, latencies,
                   [_peak_rss_mb(pid) for pid in up.workers()], busy_cores, stolen_cores)  # fmt: skip
    finally:
        up.stop()


class Finishes:
    """Terminal events from ``/events``: a user's way to learn a document is done, and one that adds
    no load while waiting (polling every few milliseconds would take a core from the pipeline). A
    stream that fails or ends fails the waits at once, with its cause, instead of leaving them to
    their timeouts."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.lock = threading.Lock()
        self.finished: dict[str, threading.Event] = {}
        self.seen_at: dict[str, float] = {}
        self.connected = threading.Event()
        self.closed = threading.Event()
        self.error: BaseException | None = None
        threading.Thread(target=self._listen, daemon=True).start()
        if not self.connected.wait(30) or self.closed.is_set():
            raise RuntimeError(f"could not open /events: {self.error or 'no answer in 30 s'}")

    def _listen(self) -> None:
        try:
            with (
                httpx.Client(timeout=httpx.Timeout(10, read=None)) as client,
                connect_sse(client, "GET", f"{self.url}/events") as source,
            ):
                source.response.raise_for_status()
                self.connected.set()
                for sse in source.iter_sse():
                    if sse.event in ("completed", "failed", "canceled"):
                        document_id = json.loads(sse.data)["document_id"]
                        self.seen_at.setdefault(document_id, time.perf_counter())
                        self._event(document_id).set()
        except Exception as exc:
            self.error = exc
        finally:
            self.closed.set()
            self.connected.set()

    def _event(self, document_id: str) -> threading.Event:
        with self.lock:
            return self.finished.setdefault(document_id, threading.Event())

    def wait(self, document_id: str, timeout: float = 120) -> float:
        """When the document's end was seen (``time.perf_counter()``)."""
        finished, deadline = self._event(document_id), time.monotonic() + timeout
        while not finished.wait(min(1.0, max(0.0, deadline - time.monotonic()))):
            if self.closed.is_set():
                raise RuntimeError(f"/events ended before document {document_id} finished: {self.error}")
            if time.monotonic() >= deadline:
                raise RuntimeError(f"document {document_id} did not finish in {timeout:g}s")
        return self.seen_at[document_id]


#: Documents sent through first, untimed: each worker process's first messages pay for imports,
#: connections and SQLAlchemy's statement compilation.
WARM_UP = 8


def overhead(documents: list[tuple[Path, int]], server: FakeEmbeddingServer, workdir: Path, count: int) -> str:
    """One small document at a time through an idle pipeline, against the same work done in this
    process (parse, chunk, embed, insert); the difference of the medians is what the queue adds:
    the upload, the hops between stages, the progress and event writes."""
    small = [path for path, pages in documents if pages == 5]
    warm_up, small = small[count : count + WARM_UP], small[:count]
    floor = Floor(server, workdir, merging=False)
    direct_times = []
    for number, path in enumerate([*warm_up, *small]):
        started = time.perf_counter()
        floor.embed_and_store(*_parse(str(path)))
        if number >= len(warm_up):
            direct_times.append(time.perf_counter() - started)
    floor.close()
    up = Pdfline(workdir / "overhead", server)
    try:
        finishes = Finishes(up.url)
        pdfline_times, timed = [], []
        for number, path in enumerate([*warm_up, *small]):
            started = time.perf_counter()
            (document_id,) = up.upload([path])
            finished = finishes.wait(document_id)
            if number >= len(warm_up):
                pdfline_times.append(finished - started)
                timed.append(document_id)
        # The database's own clock: from the row the upload wrote to the commit that completed it.
        in_queue = [_seconds(d["finished_at"]) - _seconds(d["created_at"]) for d in up.documents(timed)]
    finally:
        up.stop()
    direct, pdfline = statistics.median(direct_times), statistics.median(pdfline_times)
    queued = statistics.median(in_queue)
    return (
        f"one 5-page document at a time (median of {count}): pdfline {1000 * pdfline:.0f} ms upload to completed, "
        f"the same work in one process {1000 * direct:.0f} ms; the queue adds {1000 * (pdfline - direct):.0f} ms\n"
        f"  in the database, from the document's row to its completion: {1000 * queued:.0f} ms, "
        f"{1000 * (queued - direct):.0f} ms more than the same work (the upload request and the event's way "
        f"to the client left out)"
    )


#: The large document's run gives up after this long, as ``Finishes.wait`` does for the others.
BIG_TIMEOUT_S = 600


def big(pages: int, server: FakeEmbeddingServer, workdir: Path) -> str:
    path = CACHE / f"big-{pages}.pdf"
    if not path.exists():
        write_text_pdf(path, pages, seed=pages, title=f"big {pages}")
    up = Pdfline(workdir / "big", server)
    try:
        started = time.perf_counter()
        (document_id,) = up.upload([path])
        last_state, last_change, longest_still = None, time.perf_counter(), 0.0
        deadline = started + BIG_TIMEOUT_S
        while True:
            document = up.http.get(f"/documents/{document_id}").json()
            state = (
                document["pages_parsed"],
                document["chunks_embedded"],
                document["chunks_stored"],
                document["stage"],
            )
            now = time.perf_counter()
            if state != last_state:
                longest_still = max(longest_still, now - last_change)
                last_state, last_change = state, now
            if document["status"] in ("completed", "failed", "canceled"):
                break
            if now > deadline:
                raise RuntimeError(f"the {pages}-page PDF did not finish in {BIG_TIMEOUT_S:g}s: {document['status']}")
            time.sleep(0.05)
        wall = time.perf_counter() - started
        rss = [_peak_rss_mb(pid) for pid in up.workers()]
    finally:
        up.stop()
    return (
        f"one {pages}-page PDF: {document['status']} in {wall:.1f}s ({pages / wall:.0f} pages/s), "
        f"{document['chunks_total']} chunks; progress stood still at most {longest_still:.2f}s; "
        f"peak RSS per worker process {', '.join(f'{r:.0f}' for r in rss)} MB"
    )


# --- /proc helpers ---------------------------------------------------------------------------


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _children_count(pid: int) -> int:
    return len(_descendants(pid))


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class BusyCores:
    """How many of the machine's cores were busy from now to a moment soon after (``/proc/stat``:
    user, system and interrupt time), and how many the hypervisor kept for other guests (steal). A
    run that keeps fewer busy than there are cores waited on something besides the CPU; if cores
    were stolen, part of that wait was for a CPU the machine did not have."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self._busy_before, self._stolen_before = self._busy_and_stolen_s()

    def until(self, end: float) -> tuple[float, float, float]:
        """Wall seconds to ``end`` (``time.perf_counter()``, in the past), and the busy and stolen
        cores from the start to now."""
        (busy, stolen), now = self._busy_and_stolen_s(), time.perf_counter()
        elapsed = now - self.started
        return end - self.started, (busy - self._busy_before) / elapsed, (stolen - self._stolen_before) / elapsed

    @staticmethod
    def _busy_and_stolen_s() -> tuple[float, float]:
        try:
            user, nice, system, _idle, _iowait, irq, softirq, steal = map(
                int, Path("/proc/stat").read_text().split()[1:9]
            )
        except (OSError, ValueError):
            return float("nan"), float("nan")
        tick = os.sysconf("SC_CLK_TCK")
        return (user + nice + system + irq + softirq) / tick, steal / tick


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _median_run(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda run: run.wall_s)[len(runs) // 2]


def _seconds(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=60, help="documents of 5 pages")
    parser.add_argument("--medium", type=int, default=10, help="documents of 30 pages")
    parser.add_argument("--large", type=int, default=2, help="documents of 300 pages")
    parser.add_argument("--big-pages", type=int, default=1000, help="the single large document (0: skip)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the floor and pdfline, taking turns")
    parser.add_argument(
        "--by-size", type=int, default=0, metavar="PAGES",
        help="also compare on corpora of one size each (5, 30, 300 pages), about PAGES pages apiece (0: skip)",
    )  # fmt: skip
    parser.add_argument("--overhead-runs", type=int, default=15)
    parser.add_argument("--sse-subscribers", type=int, nargs="*", default=[1, 10, 1000], help="(none: skip)")
    args = parser.parse_args()
    print(f"{platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    documents = corpus(args.small, args.medium, args.large)
    print(f"corpus: {len(documents)} PDFs, {sum(p for _, p in documents)} pages")
    server = embedding_server()
    try:
        with tempfile.TemporaryDirectory(prefix="pdfline-bench-") as workdir:
            floor, merging_floor, pdfline = compare(documents, server, Path(workdir), args.repeat)
            print(f"median of {args.repeat}:\n{floor.report()}\n{merging_floor.report()}\n{pdfline.report()}")
            print(f"pdfline / floor throughput: {floor.wall_s / pdfline.wall_s:.2f}")
            print(f"pdfline / merging floor throughput: {merging_floor.wall_s / pdfline.wall_s:.2f}")
            if args.by_size:
                print(by_size(args.by_size, server, Path(workdir), args.repeat))
            if args.overhead_runs:
                print(overhead(documents, server, Path(workdir), args.overhead_runs))
            if args.big_pages:
                print(big(args.big_pages, server, Path(workdir)))
    finally:
        server.stop()
    if args.sse_subscribers:
        print("SSE fan-out (tests/benchmarks/sse_fanout.py): watchers of one document on one API process")
        sse_fanout.report(args.sse_subscribers)


if __name__ == "__main__":
    main()
