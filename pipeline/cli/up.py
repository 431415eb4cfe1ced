"""``pdfline up``: Redis (unless configured), the workers, the scheduler and the API, on embedded defaults."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from pipeline.cli.local_redis import LocalRedis, free_port
from pipeline.cli.supervisor import Supervisor
from pipeline.db import create_db_engine
from pipeline.messages import parse_queue_names, vectors_queue_names
from pipeline.queues import JOBS_QUEUE_SUFFIX
from pipeline.schema import upgrade as upgrade_schema
from pipeline.settings import Settings

#: With a single worker process no other process takes the parses a PDF with slow pages would hold
#: up at a prefetch of 1; with two, they share its core instead.
SINGLE_PROCESS_PARSE_PREFETCH = 2


def parse_prefetch_override(settings: Settings, processes: int) -> dict[str, str]:
    """The worker's environment additions for ``processes``: none if the user chose a prefetch."""
    if processes == 1 and "parse_prefetch" not in settings.model_fields_set:
        return {"PDFLINE_PARSE_PREFETCH": str(SINGLE_PROCESS_PARSE_PREFETCH)}
    return {}


#: Threads of each parsing worker process: it takes one parse at a time (two alone), and nothing else.
PARSE_THREADS = 2
#: The vector worker's threads for each embedding request the provider allows in flight.
VECTOR_THREADS_PER_SLOT = 4


@dataclass(frozen=True)
class WorkerCommand:
    name: str
    processes: int
    threads: int
    queues: list[str]

    @property
    def argv(self) -> list[str]:
        return [sys.executable, "-m", "dramatiq", "pipeline.worker", "--processes", str(self.processes),
                "--threads", str(self.threads), "--queues", *self.queues]  # fmt: skip


def worker_commands(
    settings: Settings, processes: int, threads: int | None, vector_threads: int | None
) -> list[WorkerCommand]:
    """Two workers: ``processes`` processes that parse, and one that embeds and stores (and runs the
    periodic jobs). Embed and store mostly wait on the provider and on the database; in a process
    that is also parsing, each step of handing a provider slot on (the answer read, the slot freed,
    the next request sent) waited for the parsing thread to let go of the GIL. In a process of their
    own they keep the provider busier: on the mixed benchmark corpus, 456-488 pages/s against
    423-454 with every process taking every queue (tests/benchmarks/README.md). Its threads:
    ``VECTOR_THREADS_PER_SLOT`` for each request the provider allows in flight. An embed message
    holds its thread while its batches wait for a lane, and the lanes merge the batches that wait
    together (``pipeline.stages.provider_lanes``): with a thread per slot and two, 240 five-page
    PDFs took 227 requests of the 240 the floor makes; with four per slot, 151."""
    base = settings.queue_name
    return [
        WorkerCommand("parse-worker", processes, threads or PARSE_THREADS, parse_queue_names(base)),
        WorkerCommand(
            "vector-worker",
            1,
            vector_threads or settings.embedding_concurrency * VECTOR_THREADS_PER_SLOT,
            [*vectors_queue_names(base), base + JOBS_QUEUE_SUFFIX],
        ),
    ]


def run_up(host: str, port: int, processes: int, threads: int | None, vector_threads: int | None) -> int:
    console = Console(stderr=True)
    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_db_engine(settings)
    upgrade_schema(engine)
    engine.dispose()

    env = dict(os.environ)
    env["PDFLINE_DATA_DIR"] = str(settings.data_dir.resolve())
    env.update(parse_prefetch_override(settings, processes))
    parses = int(env.get("PDFLINE_PARSE_PREFETCH", settings.parse_prefetch))
    workers = worker_commands(settings, processes, threads, vector_threads)
    # dramatiq's worker metrics server: on this machine only, on a free port of each worker's own.
    env.setdefault("dramatiq_prom_host", "127.0.0.1")
    metrics = {worker.name: _metrics_env(env, settings, worker.name) for worker in workers}
    redis: LocalRedis | None = None
    if settings.redis_url is None:
        redis = LocalRedis(Path(settings.data_dir) / "redis").start()
        env["PDFLINE_REDIS_URL"] = redis.url

    supervisor = Supervisor()
    supervisor.install_signal_handlers()
    try:
        for worker in workers:
            supervisor.start(worker.name, worker.argv, {**env, **metrics[worker.name]})
        supervisor.start("scheduler", [_console_script("periodiq"), "pipeline.worker"], env)
        supervisor.start(
            "api", [sys.executable, "-m", "uvicorn", "api.main:app", "--host", host, "--port", str(port)], env
        )
        console.print(f"[bold green]pdfline is up[/] — API http://{host}:{port}  (Ctrl-C stops everything)")
        console.print(f"  data      {settings.data_dir.resolve()}")
        console.print(f"  database  {_redact(settings.resolved_database_url)}")
        console.print(f"  redis     {env['PDFLINE_REDIS_URL']}{' (local, started by pdfline)' if redis else ''}")
        parsing, vectors = workers
        console.print(f"  parsing   {parsing.processes} process(es), {parses} parse(s) at a time each")
        console.print(f"  vectors   {vectors.processes} process, {vectors.threads} threads")
        worker_metrics = ", ".join(f"http://127.0.0.1:{metrics[w.name]['dramatiq_prom_port']}/" for w in workers)
        console.print(f"  metrics   http://{host}:{port}/metrics (API), {worker_metrics} (workers)")
        console.print(f"  schedule  cleanup '{settings.cleanup_cron}', recovery '{settings.recovery_cron}'")
        console.print(f"  embedder  {settings.resolved_embedding_provider}")
        exited = supervisor.wait()
        if exited is not None:
            console.print(f"[bold red]{exited.name} exited with {exited.process.returncode}; stopping[/]")
            return 1
        console.print("stopping…")
        return 0
    finally:
        supervisor.stop_all()
        if redis is not None:
            redis.stop()


def _metrics_env(env: dict[str, str], settings: Settings, name: str) -> dict[str, str]:
    """A port and a folder of its own for each worker's metrics; the parse worker keeps a port the
    user chose."""
    chosen = env.get("dramatiq_prom_port") if name == "parse-worker" else None
    return {
        "dramatiq_prom_port": chosen or str(free_port()),
        "dramatiq_prom_db": str((settings.data_dir / f"worker-metrics-{name}").resolve()),
    }


def _console_script(name: str) -> str:
    """The script installed next to this interpreter (a venv's bin/), else whatever is on PATH."""
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else name


def _redact(url: str) -> str:
    if "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
