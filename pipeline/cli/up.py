"""``pdfline up``: Redis (unless configured), the worker and the API, on embedded defaults."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from rich.console import Console

from pipeline.cli.local_redis import LocalRedis, free_port
from pipeline.cli.supervisor import Supervisor
from pipeline.db import create_db_engine
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


#: Threads per worker process when there are several: each keeps one for its parse (see
#: ``pipeline.broker.queue_prefetch``), and together their embed messages fill the provider's slots.
DEFAULT_THREADS = 4


def worker_threads(settings: Settings, processes: int, parses: int, chosen: int | None) -> int:
    """The threads the user chose; by default 4, or, for a single process, one for every embedding
    request the provider allows in flight and one for each parse it holds: with 4 it was held to
    3 requests at a time, and 240 five-page PDFs took 9.9-11.0 s where 6 threads took 9.1-9.7."""
    if chosen is not None:
        return chosen
    return settings.embedding_concurrency + parses if processes == 1 else DEFAULT_THREADS


def run_up(host: str, port: int, processes: int, threads: int | None) -> int:
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
    threads = worker_threads(settings, processes, parses, threads)
    # dramatiq's worker metrics server: on this machine only, on a free port unless one is set.
    env.setdefault("dramatiq_prom_host", "127.0.0.1")
    env.setdefault("dramatiq_prom_port", str(free_port()))
    env.setdefault("dramatiq_prom_db", str((settings.data_dir / "worker-metrics").resolve()))
    redis: LocalRedis | None = None
    if settings.redis_url is None:
        redis = LocalRedis(Path(settings.data_dir) / "redis").start()
        env["PDFLINE_REDIS_URL"] = redis.url

    supervisor = Supervisor()
    supervisor.install_signal_handlers()
    try:
        supervisor.start(
            "worker",
            [sys.executable, "-m", "dramatiq", "pipeline.worker", "--processes", str(processes),
             "--threads", str(threads)],
            env,
        )  # fmt: skip
        supervisor.start("scheduler", [_console_script("periodiq"), "pipeline.worker"], env)
        supervisor.start(
            "api", [sys.executable, "-m", "uvicorn", "api.main:app", "--host", host, "--port", str(port)], env
        )
        console.print(f"[bold green]pdfline is up[/] — API http://{host}:{port}  (Ctrl-C stops everything)")
        console.print(f"  data      {settings.data_dir.resolve()}")
        console.print(f"  database  {_redact(settings.resolved_database_url)}")
        console.print(f"  redis     {env['PDFLINE_REDIS_URL']}{' (local, started by pdfline)' if redis else ''}")
        console.print(f"  worker    {processes} process(es) x {threads} thread(s), {parses} parse(s) at a time each")
        console.print(
            f"  metrics   http://{host}:{port}/metrics (API), http://127.0.0.1:{env['dramatiq_prom_port']}/ (workers)"
        )
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


def _console_script(name: str) -> str:
    """The script installed next to this interpreter (a venv's bin/), else whatever is on PATH."""
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else name


def _redact(url: str) -> str:
    if "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
